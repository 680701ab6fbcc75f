"""The forecast chart: one asset's price and the 24h sigma forecast made at each 4h close."""

from __future__ import annotations

import math
import time

from rich.text import Text
from textual.app import RenderResult
from textual.color import Color
from textual_plotext import PlotextPlot

from cockpit.engine.forecast_board import AssetForecast
from cockpit.tui import format as fmt
from cockpit.tui.throttle import RedrawThrottle

# The x axis is labelled with UTC dates of bar closes, e.g. "14 May 08:00"; one label per this
# many columns so that labels never run into each other.
X_LABEL_FORMAT = "%d %b %H:%M"
COLUMNS_PER_X_LABEL = 20
ROWS_PER_Y_LABEL = 3


def chart_series(asset: AssetForecast) -> tuple[list[float], list[float], list[float], list[float]]:
    """Returns (price times, prices, sigma times, sigma in percent) from the asset's chart points,
    each series without the points where its value is missing (NaN)."""
    price_t, price_y, sigma_t, sigma_y = [], [], [], []
    for t, p, s in zip(asset.chart_times, asset.chart_prices, asset.chart_sigma):
        if math.isfinite(p):
            price_t.append(t)
            price_y.append(p)
        if math.isfinite(s):
            sigma_t.append(t)
            sigma_y.append(s * 100)
    return price_t, price_y, sigma_t, sigma_y


def chart_title(asset: AssetForecast) -> str:
    """Returns the chart's title, e.g. "BTC price and 24h σ forecast"."""
    return f"{asset.asset} price and 24h σ forecast"


def _spread(low: float, high: float, count: int) -> list[float]:
    # Evenly spaced ticks from low to high inclusive (a single tick when the range is empty).
    if count < 2 or high <= low:
        return [low]
    return [low + (high - low) * k / (count - 1) for k in range(count)]


def _nan_free(values: tuple[float, ...]) -> tuple[float | None, ...]:
    # NaN != NaN: without this, an equal series read from a new snapshot would look changed.
    return tuple(v if math.isfinite(v) else None for v in values)


class ForecastChart(PlotextPlot):
    """Price on the left axis, the 24h sigma forecast (percent) on the right, against the UTC
    bar close time; a one-line message instead when there is nothing to draw."""

    DEFAULT_CSS = """
    ForecastChart { height: 1fr; min-height: 8; }
    ForecastChart.-message { color: $text-muted; padding: 1 2; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._shown_asset: AssetForecast | None = None
        self._given: tuple[AssetForecast | None, str] | None = None  # the last asset and theme given
        self._series: tuple[list[float], list[float], list[float], list[float]] | None = None
        self._message = "no forecasts yet"
        self._title = ""
        # Holding an arrow key moves the cursor ~30 times a second; the chart, the largest thing
        # on the screen, is redrawn at most 10 times a second, ending on the asset the cursor rests on.
        self._throttle: RedrawThrottle[AssetForecast | None] = RedrawThrottle(self, self._show_now)

    @property
    def throttle(self) -> RedrawThrottle:
        """Returns the throttle that spaces this chart's redraws (its count is what tests read)."""
        return self._throttle

    @property
    def message(self) -> str:
        """Returns the line shown instead of a plot ("" while a plot is drawn)."""
        return self._message

    @property
    def shown_symbol(self) -> str | None:
        """Returns the symbol of the asset drawn now, or None."""
        return None if self._shown_asset is None else self._shown_asset.symbol

    def show(self, asset: AssetForecast | None) -> None:
        """Shows `asset` (None: no asset to show); redraws only when it differs from what is
        drawn, or the theme changed (the lines take the theme's colours), at most 10 times a second."""
        theme = self.app.theme
        if asset is not None and self._given is not None and self._given[0] is asset and self._given[1] == theme:
            return  # the same board's asset: nothing can have changed
        self._given = (asset, theme)
        key = None if asset is None else (
            theme, asset.symbol, asset.chart_times, _nan_free(asset.chart_prices), _nan_free(asset.chart_sigma))
        self._throttle.submit(asset, key=key)

    def _show_now(self, asset: AssetForecast | None) -> None:
        self._shown_asset = asset
        if asset is None:
            self._series = None
            self._title = ""
            self._message = "no forecasts yet: the first fit runs once enough 4h bars have closed"
        else:
            series = chart_series(asset)
            self._title = chart_title(asset)
            if series[0] or series[2]:
                self._series = series
                self._message = ""
            else:
                self._series = None
                self._message = f"{self._title}: no chart points yet ({asset.bars} bars of history)"
        self.set_class(bool(self._message), "-message")
        self.refresh()

    def render(self) -> RenderResult:
        if self._series is None:
            return Text(self._message)
        self._draw(self.size.width, self.size.height)
        return super().render()

    def _draw(self, width: int, height: int) -> None:
        # Drawn at render time because the tick count follows the widget's size.
        assert self._series is not None
        price_t, price_y, sigma_t, sigma_y = self._series
        plt = self.plt
        plt.clear_figure()
        variables = self.app.theme_variables
        y_labels = max(2, min(6, (height - 4) // ROWS_PER_Y_LABEL))
        if price_t:
            plt.plot(price_t, price_y, label="price", color=self._rgb(variables.get("primary")))
            ticks = _spread(min(price_y), max(price_y), y_labels)
            plt.yticks(ticks, [fmt.price(v) for v in ticks])
        if sigma_t:
            plt.plot(sigma_t, sigma_y, yside="right", label="σ 24h", color=self._rgb(variables.get("warning")))
            ticks = _spread(min(sigma_y), max(sigma_y), y_labels)
            plt.yticks(ticks, [f"{v:.2f}%" for v in ticks], yside="right")
        # x labels sit on bar closes (whole 4h marks), evenly spread over the series.
        times = sorted(set(price_t) | set(sigma_t))
        count = min(len(times), max(2, min(6, width // COLUMNS_PER_X_LABEL)))
        ticks = sorted({times[round(k * (len(times) - 1) / max(count - 1, 1))] for k in range(count)})
        plt.xticks(ticks, [time.strftime(X_LABEL_FORMAT, time.gmtime(t)) for t in ticks])
        plt.title(self._title)

    @staticmethod
    def _rgb(value: str | None) -> tuple[int, int, int] | None:
        # Plotext takes RGB triples; the colours come from the app's theme.
        return Color.parse(value).rgb if value else None
