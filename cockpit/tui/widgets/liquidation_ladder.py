"""The liquidation ladder table: price levels from the mark to the liquidation price, each with
the move, the distance still left, the PnL, the margin ratio and the maintenance bracket."""

from __future__ import annotations

import math

from rich.text import Text
from textual.widgets import DataTable

from cockpit.domain.ladder import Ladder
from cockpit.tui import format as fmt

# Fits 80 columns with the label last, where a long one may be cut.
COLUMNS = ("Price", "Move", "To liq", "uPnL", "Margin ratio", "MMR", "")


class LiquidationLadder(DataTable):
    """One row per rung; the distance is coloured and marked ok / ! / !! like the positions
    table, a margin ratio of 100 % or more in the danger colour."""

    DEFAULT_CSS = """
    LiquidationLadder { height: auto; max-height: 12; }
    """

    def __init__(self, *, watch_distance: float, danger_distance: float, **kwargs) -> None:
        super().__init__(cursor_type="none", zebra_stripes=False, **kwargs)
        self._watch = watch_distance
        self._danger = danger_distance
        self._shown: object = None

    def on_mount(self) -> None:
        self.add_columns(*COLUMNS)

    def show(self, ladder: Ladder | None) -> None:
        """Redraws for `ladder` (None: no rows) when what it shows changed."""
        key = (self.app.theme, ladder)
        if key == self._shown:
            return
        self._shown = key
        self.clear(columns=True)
        self.add_columns(*COLUMNS)
        if ladder is None:
            return
        danger = self.app.theme_variables.get("liq-danger", "")
        for rung in ladder.rungs:
            band = fmt.distance_band(rung.to_liquidation, watch=self._watch, danger=self._danger)
            to_liquidation = "none" if math.isinf(rung.to_liquidation) else fmt.percent(rung.to_liquidation)
            ratio = fmt.percent(rung.margin_ratio) if math.isfinite(rung.margin_ratio) else "bust"
            label = rung.label
            if label == "liquidation":
                label = "LIQUIDATION"
            self.add_row(
                Text(fmt.price(rung.price), justify="right", style="bold" if rung.label == "mark" else ""),
                Text(fmt.percent(rung.move, signed=True), justify="right"),
                Text(fmt.with_band_mark(to_liquidation, band), justify="right",
                     style=self.app.theme_variables.get(f"liq-{band}", "")),
                Text(fmt.money(rung.unrealized_pnl, signed=True), justify="right"),
                Text(ratio, justify="right", style=danger if not rung.margin_ratio < 1.0 else ""),
                Text(f"{rung.maintenance_rate * 100:.2f}%", justify="right"),
                Text(label, style=f"bold {danger}" if rung.label == "liquidation" else ""),
            )
