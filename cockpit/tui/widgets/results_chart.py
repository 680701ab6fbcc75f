"""A backtest chart: every strategy's equity (log scale) or drawdown over time, one line each."""

from __future__ import annotations

import math
import time
from typing import Literal, Sequence

from rich.text import Text
from textual.app import RenderResult
from textual.color import Color
from textual_plotext import PlotextPlot

from cockpit.backtest.results_file import SavedStrategy

Figure = Literal["equity", "drawdown"]
# The strategies' lines take these theme colours in turn: no colour is written here.
LINE_VARIABLES = ("primary", "warning", "success", "error", "accent", "secondary", "foreground")
COLUMNS_PER_X_LABEL = 14
ROWS_PER_Y_LABEL = 3
DAY = 86_400.0


def _spread(low: float, high: float, count: int) -> list[float]:
    if count < 2 or high <= low:
        return [low]
    return [low + (high - low) * k / (count - 1) for k in range(count)]


def money(value: float) -> str:
    """Returns a USDT amount for an axis: 950, 12.3k, 1.25M."""
    if value >= 1e6:
        return f"{value / 1e6:.3g}M"
    if value >= 1e4:
        return f"{value / 1e3:.3g}k"
    return f"{value:,.0f}" if value >= 10 else f"{value:.3g}"


def series(strategy: SavedStrategy, figure: Figure) -> tuple[list[float], list[float]]:
    """Returns (times, values) to plot: log10 of equity (the axis is labelled in USDT) or the
    drawdown in percent below the peak, as a negative number; points without a value are left
    out (a wiped-out account is drawn at 0.01 USDT)."""
    assert strategy.curve is not None
    times, values = [], []
    raw = strategy.curve.equity if figure == "equity" else strategy.curve.drawdown
    for t, v in zip(strategy.curve.time, raw):
        if not math.isfinite(v):
            continue
        times.append(t)
        values.append(math.log10(max(v, 0.01)) if figure == "equity" else -100.0 * v)
    return times, values


class ResultsChart(PlotextPlot):
    """Equity or drawdown of each strategy against UTC dates; a one-line message instead when
    the file has no curves."""

    DEFAULT_CSS = """
    ResultsChart { height: 1fr; min-height: 8; }
    ResultsChart.-message { color: $text-muted; padding: 1 2; }
    """

    def __init__(self, figure: Figure, strategies: Sequence[SavedStrategy], **kwargs) -> None:
        super().__init__(**kwargs)
        self._figure = figure
        self._strategies = [s for s in strategies if s.curve is not None and s.curve.time]
        self._message = "" if self._strategies else (
            "no curves in this file: it was written before cockpit saved them; run the backtest again with --json")

    @property
    def message(self) -> str:
        """Returns the line shown instead of a chart ("" while a chart is drawn)."""
        return self._message

    def on_mount(self) -> None:
        super().on_mount()
        self.set_class(bool(self._message), "-message")

    def render(self) -> RenderResult:
        if self._message:
            return Text(self._message)
        self._draw(self.size.width, self.size.height)
        return super().render()

    def _draw(self, width: int, height: int) -> None:
        # Drawn at render time: the tick count follows the widget's size, the colours the theme.
        plt = self.plt
        plt.clear_figure()
        variables = self.app.theme_variables
        low, high, first, last = math.inf, -math.inf, math.inf, -math.inf
        for k, strategy in enumerate(self._strategies):
            times, values = series(strategy, self._figure)
            if not times:
                continue
            colour = variables.get(LINE_VARIABLES[k % len(LINE_VARIABLES)])
            plt.plot(times, values, label=strategy.name, color=Color.parse(colour).rgb if colour else None)
            low, high = min(low, *values), max(high, *values)
            first, last = min(first, times[0]), max(last, times[-1])
        if not math.isfinite(low):
            return
        y_count = max(2, min(6, (height - 4) // ROWS_PER_Y_LABEL))
        ticks = _spread(low, high, y_count)
        labels = [money(10 ** v) for v in ticks] if self._figure == "equity" else [f"{v:.0f}%" for v in ticks]
        wide = max(len(label) for label in labels)
        plt.yticks(ticks, [label.rjust(wide) for label in labels])  # one width: the axis stays straight
        plt.title("equity (USDT, log scale)" if self._figure == "equity" else "drawdown below the running peak (%)")
        x_count = max(2, min(8, width // COLUMNS_PER_X_LABEL))
        stamps = _spread(first, last, x_count)
        style = "%Y-%m-%d" if last - first > 10 * DAY else "%d %b %H:%M"
        plt.xticks(stamps, [time.strftime(style, time.gmtime(t)) for t in stamps])
