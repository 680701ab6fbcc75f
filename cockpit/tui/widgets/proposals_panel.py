"""The proposal queue: each proposal's orders, cost, effect and expiry, and the selected one's reason."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from cockpit.domain.types import Proposal
from cockpit.engine.snapshot import EngineSnapshot
from cockpit.tui import format as fmt

# Short headers so the row fits 80 columns; the reason line below spells everything out.
COLUMNS = ("Id", "Orders", "Cost", "Lev→", "Liq→", "Exp")


def describe_orders(proposal: Proposal, *, stop_prices: bool = True) -> str:
    """Returns the orders in one short line: "sell 0.01 BTC, buy 0.5 ETH", with the protective
    stops last as "stops BTC@56,040 ETH@2,802" (each covers its whole position), or just
    "+2 stops" when `stop_prices` is False (the table row, where width is scarce)."""
    parts, stops = [], []
    for order in proposal.orders:
        base = order.symbol.split("/")[0]
        if order.order_type == "stop_market" and order.stop_price is not None:
            stops.append(f"{base}@{fmt.price(order.stop_price)}")
            continue
        parts.append(f"{order.side} {order.quantity:g} {base}" + (" (reduce)" if order.reduce_only else ""))
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

    def compose(self) -> ComposeResult:
        yield DataTable(id="proposal-list", cursor_type="row")
        yield Static("No proposals. cockpit proposes when a weight leaves its band.", id="proposal-reason")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)
        self.border_title = "Proposals"
        self._proposals: dict[str, Proposal] = {}
        self._shown: tuple = ()

    @property
    def selected_id(self) -> str | None:
        """Returns the id of the proposal under the cursor, or None when the queue is empty."""
        table = self.query_one(DataTable)
        if not self._proposals or table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key((table.cursor_row, 0))
        return row_key.value

    def show(self, snapshot: EngineSnapshot) -> None:
        """Redraws the queue when it changed, keeping the cursor on the same proposal; otherwise
        only the countdown cells move."""
        self._proposals = {p.id: p for p in snapshot.proposals}
        table = self.query_one(DataTable)
        now = snapshot.taken_at
        rows = tuple(
            (p.id, describe_orders(p, stop_prices=False), fmt.money(p.estimated_cost), fmt.leverage(p.leverage_after),
             fmt.percent(p.liquidation_distance_after))
            for p in snapshot.proposals
        )
        if rows != self._shown:
            selected = self.selected_id
            self._shown = rows
            table.clear(columns=True)
            self._expiry_column = table.add_columns(*COLUMNS)[-1]
            for row, proposal in zip(rows, snapshot.proposals):
                table.add_row(*row, fmt.duration(proposal.expires_at - now), key=proposal.id)
            if selected in self._proposals:
                table.move_cursor(row=table.get_row_index(selected))
            self._show_reason()
            return
        for proposal in snapshot.proposals:
            table.update_cell(proposal.id, self._expiry_column, fmt.duration(proposal.expires_at - now))

    def _show_reason(self) -> None:
        proposal = self._proposals.get(self.selected_id or "")
        reason = self.query_one("#proposal-reason", Static)
        if proposal is None:
            reason.update("No proposals. cockpit proposes when a weight leaves its band.")
            return
        numbers = "  ".join(f"{k}={fmt.reason_number(k, v)}" for k, v in proposal.reason_numbers.items())
        text = Text()
        text.append(f"{proposal.id} {proposal.kind}: ", style="bold")
        text.append(f"{proposal.reason}\n{describe_orders(proposal)}\n{numbers}")
        reason.update(text)

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_reason()
