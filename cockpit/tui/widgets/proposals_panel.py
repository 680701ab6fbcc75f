"""The proposal queue: each proposal's orders, cost, effect and expiry, and the selected one's reason."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from cockpit.domain.types import Proposal
from cockpit.engine.snapshot import EngineSnapshot
from cockpit.tui import format as fmt
from cockpit.tui.cell_table import CellTable, table_width
from cockpit.tui.throttle import RedrawThrottle

# Short headers so the row fits 80 columns; the reason line below spells everything out.
COLUMNS = ("Id", "Orders", "Cost", "Lev→", "Liq→", "Exp")
NO_PROPOSALS = "No proposals. cockpit proposes when a weight leaves its band."


def describe_orders(proposal: Proposal, *, stop_prices: bool = True, reduce_mark: str = "(reduce)") -> str:
    """Returns the orders in one short line: "sell 0.01 BTC, buy 0.5 ETH", with the protective
    stops last as "stops BTC@56,040 ETH@2,802" (each covers its whole position), or just
    "+2 stops" when `stop_prices` is False (the table row, where width is scarce). A
    reduce-only order carries `reduce_mark` ("RO" where even less room is left)."""
    parts, stops = [], []
    for order in proposal.orders:
        base = order.symbol.split("/")[0]
        if order.order_type == "stop_market" and order.stop_price is not None:
            stops.append(f"{base}@{fmt.price(order.stop_price)}")
            continue
        parts.append(f"{order.side} {order.quantity:g} {base}" + (f" {reduce_mark}" if order.reduce_only else ""))
    if stops:
        parts.append("stops " + " ".join(stops) if stop_prices else f"+{len(stops)} stop{'s' if len(stops) > 1 else ''}")
    return ", ".join(parts)


class ProposalsPanel(Vertical):
    """A table of pending proposals (the cursor selects one) and the selected one's full reason."""

    DEFAULT_CSS = """
    ProposalsPanel { height: 1fr; border-top: solid $primary; }
    ProposalsPanel > #proposal-list { height: auto; max-height: 8; }
    ProposalsPanel > #proposal-reason { height: auto; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._proposals: dict[str, Proposal] = {}
        self._reason: Text | str = NO_PROPOSALS
        self._throttle: RedrawThrottle[tuple] = RedrawThrottle(self, self._draw)
        self._snapshot: EngineSnapshot | None = None  # the last one shown, for a resize

    def compose(self) -> ComposeResult:
        yield CellTable(id="proposal-list", cursor_type="row")
        yield Static(NO_PROPOSALS, id="proposal-reason")

    def on_mount(self) -> None:
        self.query_one(CellTable).show_rows(COLUMNS, ())
        self.border_title = "Proposals"

    @property
    def throttle(self) -> RedrawThrottle:
        """Returns the throttle that spaces this panel's redraws (its count is what tests read)."""
        return self._throttle

    @property
    def selected_id(self) -> str | None:
        """Returns the id of the proposal under the cursor, or None when the queue is empty."""
        table = self.query_one(DataTable)
        if not self._proposals or table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key((table.cursor_row, 0))
        return row_key.value

    def show(self, snapshot: EngineSnapshot) -> None:
        """Shows the snapshot's queue; redraws only when a cell changed (most often the expiry
        countdown, and then only that cell), at most 10 times a second, keeping the cursor on
        the same proposal."""
        self._snapshot = snapshot
        now = snapshot.taken_at
        table = self.query_one(CellTable)
        width = table.scrollable_content_region.width
        for mark in ("(reduce)", "RO"):
            orders = [describe_orders(p, stop_prices=False, reduce_mark=mark) for p in snapshot.proposals]
            rows = [(p.id, (p.id, o, fmt.money(p.estimated_cost), fmt.leverage(p.leverage_after),
                            fmt.percent(p.liquidation_distance_after), fmt.duration(p.expires_at - now)))
                    for p, o in zip(snapshot.proposals, orders)]
            if not width or table_width(COLUMNS, rows, table.cell_padding) <= width:
                break
        else:
            # Still too wide (many orders at 80 columns): the orders give way, cut with "…", so the
            # cost, the effect and the expiry stay on screen; the reason below lists every order.
            others = table_width(COLUMNS, [(k, (c[0], "", *c[2:])) for k, c in rows], table.cell_padding)
            room = max(8, width - others + cell_len(COLUMNS[1]))  # "Orders" was the empty column's width
            rows = [(k, (c[0], c[1] if cell_len(c[1]) <= room else c[1][:room - 1] + "…", *c[2:])) for k, c in rows]
        rows = tuple(rows)
        self._throttle.submit((snapshot.proposals, rows), key=rows)

    def on_resize(self) -> None:
        # Narrower, the orders may need their shorter form; wider, their full one.
        if self._snapshot is not None:
            self.show(self._snapshot)

    def _draw(self, view: tuple[tuple[Proposal, ...], tuple]) -> None:
        # The proposals drawn, not the newest snapshot's: `a` approves the one the trader sees.
        proposals, rows = view
        self._proposals = {p.id: p for p in proposals}
        self.query_one(CellTable).show_rows(COLUMNS, rows)
        self._show_reason()

    def _show_reason(self) -> None:
        proposal = self._proposals.get(self.selected_id or "")
        if proposal is None:
            reason: Text | str = NO_PROPOSALS
        else:
            numbers = "  ".join(f"{k}={fmt.reason_number(k, v)}" for k, v in proposal.reason_numbers.items())
            reason = Text()
            reason.append(f"{proposal.id} {proposal.kind}: ", style="bold")
            reason.append(f"{proposal.reason}\n{describe_orders(proposal)}\n{numbers}")
        if reason != self._reason:
            self._reason = reason
            self.query_one("#proposal-reason", Static).update(reason)

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_reason()
