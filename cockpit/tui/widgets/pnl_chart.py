"""The PnL chart of one position: its unrealized PnL (USDT) over the prices this cockpit has seen
since it started, against UTC market time. (Its mark is left out: a position's PnL is a straight
line in its own mark, so a second axis would only draw the same curve twice.)"""

from __future__ import annotations

import math
import time

from rich.text import Text
from textual.app import RenderResult
from textual.color import Color
from textual_plotext import PlotextPlot

from cockpit.engine.pnl_history import PnlSeries
from cockpit.tui import format as fmt

# The x labels say what tells the ticks apart: seconds within the hour, minutes within two days.
X_LABEL_FORMAT_SECONDS = "%H:%M:%S"
X_LABEL_FORMAT = "%H:%M"
X_LABEL_FORMAT_DAYS = "%d %b"
COLUMNS_PER_X_LABEL = 16
ROWS_PER_Y_LABEL = 3


def chart_points(series: PnlSeries) -> tuple[list[float], list[float], list[float]]:
    """Returns (times, unrealized PnL in USDT, marks) at the samples where the position was held
    (the NaN samples left out)."""
    times, pnl, marks = [], [], []
    for t, p, m in zip(series.times, series.unrealized_pnl, series.marks):
        if math.isfinite(p) and math.isfinite(m):
            times.append(t)
            pnl.append(p)
            marks.append(m)
    return times, pnl, marks


def _spread(low: float, high: float, count: int) -> list[float]:
    if count < 2 or high <= low:
        return [low]
    return [low + (high - low) * k / (count - 1) for k in range(count)]


class PnlChart(PlotextPlot):
    """Plots a PnlSeries; a one-line message instead while there are fewer than two points."""

    DEFAULT_CSS = """
    PnlChart { height: 1fr; min-height: 6; }
    PnlChart.-message { color: $text-muted; padding: 0 1; min-height: 1; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._shown: object = ()
        self._points: tuple[list[float], list[float], list[float]] | None = None
        self._title = ""
        self.message = "no PnL samples yet"

    def show(self, series: PnlSeries | None) -> None:
        """Redraws for `series` (None: no position) unless it is what is drawn, in this theme."""
        key = None if series is None else (self.app.theme, series.symbol, series.times,
                                           tuple(p if math.isfinite(p) else None for p in series.unrealized_pnl))
        if key == self._shown:
            return
        self._shown = key
        if series is None:
            self._points, self.message = None, "no position"
        else:
            base = series.symbol.split("/")[0]
            points = chart_points(series)
            self._title = f"{base} unrealized PnL since this start (USDT; UTC)"
            if len(points[0]) >= 2:
                self._points, self.message = points, ""
            else:
                self._points = None
                self.message = f"{base} unrealized PnL: not enough prices seen since this start to chart yet"
        self.set_class(bool(self.message), "-message")
        self.refresh()

    def render(self) -> RenderResult:
        if self._points is None:
            return Text(self.message)
        self._draw(self.size.width, self.size.height)
        return super().render()

    def _draw(self, width: int, height: int) -> None:
        assert self._points is not None
        times, pnl, _marks = self._points
        plt = self.plt
        plt.clear_figure()
        variables = self.app.theme_variables
        labels = max(2, min(5, (height - 4) // ROWS_PER_Y_LABEL))
        plt.plot(times, pnl, color=self._rgb(variables.get("primary")))
        ticks = _spread(min(pnl), max(pnl), labels)
        plt.yticks(ticks, [fmt.money(v, signed=True, cents=abs(max(pnl) - min(pnl)) < 100) for v in ticks])
        count = min(len(times), max(2, min(6, width // COLUMNS_PER_X_LABEL)))
        chosen = sorted({times[round(k * (len(times) - 1) / max(count - 1, 1))] for k in range(count)})
        span = times[-1] - times[0]
        form = (X_LABEL_FORMAT_SECONDS if span < 3_600 else X_LABEL_FORMAT if span < 2 * 86_400
                else X_LABEL_FORMAT_DAYS)
        plt.xticks(chosen, [time.strftime(form, time.gmtime(t)) for t in chosen])
        plt.title(self._title)

    @staticmethod
    def _rgb(value: str | None) -> tuple[int, int, int] | None:
        return Color.parse(value).rgb if value else None
