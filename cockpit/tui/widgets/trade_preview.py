"""The account before and after a batch of orders: leverage, liquidation distance, equity,
margin, weights and cost, side by side, with the pre-trade verdict underneath."""

from __future__ import annotations

import math
from typing import Mapping

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from cockpit.domain.preview import TradePreview
from cockpit.tui import format as fmt


def _weight(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value * 100:+.1f}%"


class TradePreviewPanel(Static):
    """Renders a TradePreview; the verdict line reads "allowed" or the denial in the danger
    colour, and leverage over the ceiling or a distance in the danger band are coloured too."""

    DEFAULT_CSS = """
    TradePreviewPanel { height: auto; }
    """

    def __init__(self, *, leverage_ceiling: float, watch_distance: float, danger_distance: float, **kwargs) -> None:
        super().__init__("", **kwargs)
        self._ceiling = leverage_ceiling
        self._watch = watch_distance
        self._danger = danger_distance
        self.verdict = ""  # the last verdict line, as plain text (tests and the dialogs read it)

    def _colour(self, name: str) -> str:
        return self.app.theme_variables.get(name, "")

    def _distance(self, distance: float) -> Text:
        band = fmt.distance_band(distance, watch=self._watch, danger=self._danger)
        figure = "none" if math.isinf(distance) else fmt.percent(distance)
        return Text(fmt.with_band_mark(figure, band), style=self._colour(f"liq-{band}"))

    def _leverage(self, value: float) -> Text:
        over = not value <= self._ceiling + 1e-9
        return Text(fmt.leverage(value), style=f"bold {self._colour('liq-danger')}" if over else "")

    def show(self, preview: TradePreview | None, *, targets: Mapping[str, float] | None = None,
             problem: str = "") -> None:
        """Shows `preview` (None: only `problem`, the line saying why there is nothing to
        preview). `targets` (symbol -> weight) add a target column to the weight rows."""
        if preview is None:
            self.verdict = problem
            self.update(Text(problem, style=self._colour("liq-danger")))
            return
        targets = targets or {}
        table = Table(box=None, padding=(0, 1), show_edge=False, pad_edge=False)
        table.add_column("", no_wrap=True)
        table.add_column("before", justify="right", no_wrap=True)
        table.add_column("", no_wrap=True)
        table.add_column("after", justify="right", no_wrap=True)
        table.add_column("", no_wrap=True, style="dim")
        before, after = preview.before, preview.after
        table.add_row("leverage", self._leverage(preview.leverage_before), "→", self._leverage(preview.leverage_after),
                      f"ceiling {fmt.leverage(self._ceiling)}")
        table.add_row("liq distance", self._distance(preview.liquidation_distance_before), "→",
                      self._distance(preview.liquidation_distance_after), "nearest, or all prices together")
        table.add_row("equity", fmt.money(before.equity), "→", fmt.money(after.equity), "USDT")
        table.add_row("maint margin", fmt.money(before.maintenance_margin), "→", fmt.money(after.maintenance_margin),
                      f"ratio {fmt.percent(before.margin_ratio)} → {fmt.percent(after.margin_ratio)}")
        symbols = sorted(set(preview.weights_before) | set(preview.weights_after) | set(targets))
        for symbol in symbols:
            was, now = preview.weights_before.get(symbol), preview.weights_after.get(symbol)
            if was is None and now is None and not targets.get(symbol):
                continue
            target = targets.get(symbol)
            table.add_row(f"{symbol.split('/')[0]} weight", _weight(was or 0.0), "→", _weight(now or 0.0),
                          "" if target is None else f"target {_weight(target)}")
        table.add_row("cost", "", "", fmt.money(preview.estimated_cost), "fees + slippage, USDT")
        if preview.denial:
            self.verdict = f"refused now: {preview.denial}"
            verdict = Text(self.verdict, style=f"bold {self._colour('liq-danger')}")
        else:
            self.verdict = "passes the pre-trade checks now (re-checked on approval)"
            verdict = Text(self.verdict, style=self._colour("liq-safe"))
        self.update(Group(table, verdict))
