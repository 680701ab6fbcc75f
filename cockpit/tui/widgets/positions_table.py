"""The positions table: size, entry, mark, PnL, leverage and, above all, liquidation distance."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from cockpit.domain.liquidation import liquidation_price_mismatch
from cockpit.engine.snapshot import EngineSnapshot
from cockpit.tui import format as fmt

# Fits 80 columns: the distance, the column that matters most, must never scroll off.
COLUMNS = ("Sym", "Side", "Size", "Entry", "Mark", "PnL", "Lev", "Liq price", "Liq dist")


class PositionsTable(DataTable):
    """One row per open position; the distance cell is coloured safe / watch / danger and marked
    "ok" / "!" / "!!" so the band reads without colour."""

    DEFAULT_CSS = """
    PositionsTable { height: auto; max-height: 10; border-top: solid $primary; }
    """

    def __init__(self, *, watch_distance: float, danger_distance: float, **kwargs) -> None:
        super().__init__(cursor_type="none", zebra_stripes=False, **kwargs)
        self._watch = watch_distance
        self._danger = danger_distance
        self._shown: tuple | None = None

    def on_mount(self) -> None:
        self.add_columns(*COLUMNS)

    def show(self, snapshot: EngineSnapshot) -> None:
        """Redraws the rows when anything visible changed (not on every tick)."""
        reported = {s: p.exchange_liquidation_price for s, p in snapshot.state.positions.items()}
        rows = tuple(self._row(p, reported.get(p.symbol)) for p in snapshot.risk.positions)
        # The theme is part of what is shown: after a switch the same figures are redrawn in its colours.
        key = (self.app.theme, tuple(tuple(cell.plain if isinstance(cell, Text) else cell for cell in row) for row in rows))
        if key == self._shown:
            return
        self._shown = key
        # Columns are rebuilt so their widths follow what is shown now, not the widest ever.
        self.clear(columns=True)
        self.add_columns(*COLUMNS)
        for row in rows:
            self.add_row(*row)
        count = f"{len(rows)} open" if rows else "none open"
        self.border_title = f"Positions · {snapshot.account} · {count}"

    def _liquidation_cell(self, ours: float, exchange: float | None) -> Text:
        text = fmt.price(ours) if ours > 0 else "none"
        if exchange is None:
            return Text(text, justify="right")
        # Both figures, ours first; a gap beyond 0.5 % is flagged in the danger colour.
        theirs = fmt.price(exchange) if exchange > 0 else "none"
        if liquidation_price_mismatch(ours, exchange) is None:
            return Text(f"{text} = {theirs}", justify="right")
        return Text(f"{text} ≠ {theirs}!", style=f"bold {self.app.theme_variables.get('liq-danger', '')}", justify="right")

    def _row(self, position, exchange_liquidation_price: float | None = None) -> tuple:
        band = fmt.distance_band(position.liquidation_distance, watch=self._watch, danger=self._danger)
        colour = self.app.theme_variables.get(f"liq-{band}", "")
        distance = Text(fmt.with_band_mark(fmt.percent(position.liquidation_distance), band),
                        style=f"bold {colour}", justify="right")
        pnl = Text(fmt.money(position.unrealized_pnl, signed=True), justify="right")
        return (
            position.symbol.split("/")[0],
            position.side,
            Text(f"{abs(position.quantity):g}", justify="right"),
            Text(fmt.price(position.entry_price), justify="right"),
            Text(fmt.price(position.mark_price), justify="right"),
            pnl,
            Text(fmt.leverage(position.leverage), justify="right"),
            self._liquidation_cell(position.liquidation_price, exchange_liquidation_price),
            distance,
        )
