"""The positions table: size, entry, mark, PnL, leverage and, above all, liquidation distance."""

from __future__ import annotations

from rich.text import Text

from cockpit.domain.liquidation import liquidation_price_mismatch
from cockpit.engine.snapshot import EngineSnapshot
from cockpit.tui import format as fmt
from cockpit.tui.cell_table import CellTable, table_width
from cockpit.tui.throttle import RedrawThrottle

# Fits 80 columns: the distance, the column that matters most, must never scroll off.
COLUMNS = ("Sym", "Side", "Size", "Entry", "Mark", "PnL", "Lev", "Liq price", "Liq dist")
ROW_SHORTENINGS = 3  # how many ever narrower forms a row has (see PositionsTable._row)


class PositionsTable(CellTable):
    """One row per open position; the distance cell is coloured safe / watch / danger and marked
    "ok" / "!" / "!!" so the band reads without colour."""

    DEFAULT_CSS = """
    PositionsTable { height: auto; max-height: 10; border-top: solid $primary; }
    """

    def __init__(self, *, watch_distance: float, danger_distance: float, **kwargs) -> None:
        super().__init__(cursor_type="none", zebra_stripes=False, **kwargs)
        self._watch = watch_distance
        self._danger = danger_distance
        self._throttle: RedrawThrottle[tuple[str, tuple]] = RedrawThrottle(self, self._draw)
        self._snapshot: EngineSnapshot | None = None  # the last one shown, for a resize

    @property
    def throttle(self) -> RedrawThrottle:
        """Returns the throttle that spaces this table's redraws (its count is what tests read)."""
        return self._throttle

    def on_mount(self) -> None:
        self.show_rows(COLUMNS, ())

    def show(self, snapshot: EngineSnapshot) -> None:
        """Shows the snapshot's positions; redraws only when a cell's text, the theme or the
        account changed, at most 10 times a second, and then only the cells that changed."""
        self._snapshot = snapshot
        reported = {s: p.exchange_liquidation_price for s, p in snapshot.state.positions.items()}
        width = self.scrollable_content_region.width
        for shorten in range(ROW_SHORTENINGS):
            rows = tuple((p.symbol, self._row(p, reported.get(p.symbol), shorten)) for p in snapshot.risk.positions)
            # At 80 columns a four-figure PnL and the exchange's own liquidation price would push
            # the distance off the right edge: the cents go first, then the exchange's figure.
            if not width or table_width(COLUMNS, rows, self.cell_padding) <= width:
                break
        # The theme is part of what is shown: after a switch the same figures are redrawn in its colours.
        plain = tuple((key, tuple(cell.plain if isinstance(cell, Text) else cell for cell in row)) for key, row in rows)
        self._throttle.submit((snapshot.account, rows), key=(self.app.theme, snapshot.account, plain))

    def on_resize(self) -> None:
        # Narrower, a row may need its shorter form; wider, its full one.
        if self._snapshot is not None:
            self.show(self._snapshot)

    def _draw(self, view: tuple[str, tuple]) -> None:
        account, rows = view
        self.show_rows(COLUMNS, rows)
        count = f"{len(rows)} open" if rows else "none open"
        title = f"Positions · {account} · {count}"
        if self.border_title != title:
            self.border_title = title

    def _liquidation_cell(self, ours: float, exchange: float | None, *, theirs_shown: bool = True) -> Text:
        text = fmt.price(ours) if ours > 0 else "none"
        if exchange is None:
            return Text(text, justify="right")
        # Both figures, ours first; a gap beyond 0.5 % is flagged in the danger colour. Too
        # narrow for both, ours stays with the sign of the comparison (the notice and the
        # journal name the exchange's figure).
        theirs = (" " + (fmt.price(exchange) if exchange > 0 else "none")) if theirs_shown else ""
        if liquidation_price_mismatch(ours, exchange) is None:
            return Text(f"{text} ={theirs}", justify="right")
        return Text(f"{text} ≠{theirs}!", style=f"bold {self.app.theme_variables.get('liq-danger', '')}", justify="right")

    def _row(self, position, exchange_liquidation_price: float | None = None, shorten: int = 0) -> tuple:
        """Returns one row's cells; `shorten` 1 drops the PnL's cents, 2 also the exchange's
        liquidation price."""
        band = fmt.distance_band(position.liquidation_distance, watch=self._watch, danger=self._danger)
        colour = self.app.theme_variables.get(f"liq-{band}", "")
        distance = Text(fmt.with_band_mark(fmt.percent(position.liquidation_distance), band),
                        style=f"bold {colour}", justify="right")
        pnl = Text(fmt.money(position.unrealized_pnl, signed=True, cents=shorten < 1), justify="right")
        return (
            position.symbol.split("/")[0],
            position.side,
            Text(f"{abs(position.quantity):g}", justify="right"),
            Text(fmt.price(position.entry_price), justify="right"),
            Text(fmt.price(position.mark_price), justify="right"),
            pnl,
            Text(fmt.leverage(position.leverage), justify="right"),
            self._liquidation_cell(position.liquidation_price, exchange_liquidation_price, theirs_shown=shorten < 2),
            distance,
        )
