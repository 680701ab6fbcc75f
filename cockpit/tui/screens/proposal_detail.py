"""The proposal screen: the full reason with every number behind it, the orders, and the account
before and after them at the current prices. a approves, v vetoes, e edits the size."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from cockpit.domain.types import Proposal
from cockpit.tui import format as fmt
from cockpit.tui.screens.edit_size import EditSize
from cockpit.tui.widgets.proposals_panel import describe_orders
from cockpit.tui.widgets.trade_preview import TradePreviewPanel

REFRESH_SECONDS = 1.0
EDIT_WORKER = "proposal-edit"


def numbers_text(proposal: Proposal) -> str:
    """Returns the reason's figures, one "name = value" per line, as a trader reads them."""
    width = max((len(name) for name in proposal.reason_numbers), default=0)
    return "\n".join(f"  {name:<{width}} = {fmt.reason_number(name, value)}"
                     for name, value in proposal.reason_numbers.items())


class ProposalDetail(Screen[None]):
    """Reads the pending proposal and its preview from the engine once a second; a, v and e act
    on this proposal only, and only while it is pending."""

    DEFAULT_CSS = """
    ProposalDetail { layout: vertical; background: $surface; }
    ProposalDetail > VerticalScroll { height: 1fr; padding: 0 1; }
    ProposalDetail #proposal-head { text-style: bold; }
    ProposalDetail .proposal-gap { height: 1; }
    ProposalDetail #proposal-hint { height: 1; padding: 0 1; color: $text-muted; }
    """
    HELP_TITLE = "On a proposal (d or Enter)"
    BINDINGS = [
        Binding("escape,d", "app.pop_screen", "Back", id="proposal-back"),
        Binding("a", "decide('approve')", "Approve", id="proposal-approve"),
        Binding("v", "decide('veto')", "Veto", id="proposal-veto"),
        Binding("e", "edit", "Edit size", id="proposal-edit"),
    ]

    def __init__(self, proposal_id: str, *, leverage_ceiling: float, watch_distance: float,
                 danger_distance: float) -> None:
        super().__init__()
        self.proposal_id = proposal_id
        self._preview_args = dict(leverage_ceiling=leverage_ceiling, watch_distance=watch_distance,
                                  danger_distance=danger_distance)
        self._shown: object = None
        self._deciding = False

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="proposal-body"):
            yield Static("", id="proposal-head")
            yield Static("", id="proposal-reason")
            yield Static("", id="proposal-orders")
            yield Static("", classes="proposal-gap")
            yield Static("[b]If approved now[/b] (at the current prices):", id="proposal-preview-title")
            yield TradePreviewPanel(id="proposal-preview", **self._preview_args)
            yield Static("", classes="proposal-gap")
            yield Static("[b]Why[/b]: the figures behind it", id="proposal-numbers-title")
            yield Static("", id="proposal-numbers")
        yield Static("a approve · v veto · e edit the size · Escape back (↑ ↓ scroll)", id="proposal-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()
        self.refresh_from_engine()
        self.set_interval(REFRESH_SECONDS, self.refresh_from_engine)

    @property
    def pending(self) -> Proposal | None:
        """Returns the proposal as pending now (edited, if it was), or None once it is gone."""
        engine = getattr(self.app, "engine", None)
        return None if engine is None else engine.proposal(self.proposal_id)

    def refresh_from_engine(self) -> None:
        """Redraws the proposal and its preview at the newest prices."""
        engine = getattr(self.app, "engine", None)
        if engine is None or not self.is_attached:
            return
        proposal = engine.proposal(self.proposal_id)
        snapshot = engine.snapshot
        head = self.query_one("#proposal-head", Static)
        if proposal is None:
            head.update(Text(f"{self.proposal_id} is no longer pending: approved, vetoed or expired "
                             "(the journal, j, says which)"))
            for part in ("#proposal-reason", "#proposal-orders", "#proposal-numbers"):
                self.query_one(part, Static).update("")
            self.query_one(TradePreviewPanel).show(None, problem="nothing to decide here any more: Escape returns")
            return
        key = (snapshot.version, self.app.theme, proposal)
        if key == self._shown:
            return
        self._shown = key
        edited = proposal.reason_numbers.get("edit_scale")
        head.update(Text(f"{proposal.id} {proposal.kind} · expires in {fmt.duration(proposal.expires_at - snapshot.taken_at)}"
                         + (f" · size edited x{edited:g}" if edited is not None else "")))
        self.query_one("#proposal-reason", Static).update(Text(proposal.reason))
        self.query_one("#proposal-orders", Static).update(Text(f"orders: {describe_orders(proposal)}"))
        self.query_one(TradePreviewPanel).show(engine.preview(proposal.orders), targets=engine.target_weights())
        self.query_one("#proposal-numbers", Static).update(Text(numbers_text(proposal)))

    async def action_decide(self, decision: str) -> None:
        """Approves or vetoes this proposal (journaled with the key), then returns to the
        dashboard with the outcome on its notice line."""
        engine = getattr(self.app, "engine", None)
        if engine is None or self._deciding:
            return
        if engine.proposal(self.proposal_id) is None:
            self._say(f"{self.proposal_id} is no longer pending: nothing to decide")
            return
        self._deciding = True  # a second press while the first is journaled does nothing
        try:
            if decision == "approve":
                self._say(f"approving {self.proposal_id}…")
                outcome = await engine.approve(self.proposal_id, key="a")
            else:
                outcome = await engine.veto(self.proposal_id, key="v")
        finally:
            self._deciding = False
        self._say(outcome)
        if self.is_current:
            self.app.pop_screen()

    def action_edit(self) -> None:
        """Opens the size editor for this proposal."""
        engine = getattr(self.app, "engine", None)
        if engine is None or engine.proposal(self.proposal_id) is None:
            self._say(f"{self.proposal_id} is no longer pending: nothing to edit")
            return
        self.app.push_screen(EditSize(self.proposal_id, **self._preview_args), self._edited)

    def _edited(self, outcome: str | None) -> None:
        self._say(outcome or "edit cancelled: the proposal is unchanged")
        self._shown = None
        self.refresh_from_engine()

    def _say(self, text: str) -> None:
        say = getattr(self.app, "say", None)
        if callable(say):
            say(text)
        if self.is_attached:
            self.query_one("#proposal-hint", Static).update(Text(text))
