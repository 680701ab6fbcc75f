"""Asked before approving or vetoing every pending proposal at once: how many, and what each is."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from cockpit.domain.types import Proposal
from cockpit.tui import format as fmt
from cockpit.tui.widgets.proposals_panel import describe_orders

SHOWN = 8  # proposals listed by name; the rest are counted (the dialog must fit 80x24)


def proposal_line(proposal: Proposal) -> str:
    """Returns one proposal in one line: "P-3 rebalance: buy 0.166 BTC, +2 stops · lev→ 1.60x"."""
    return (f"{proposal.id} {proposal.kind}: {describe_orders(proposal, stop_prices=False) or 'no orders'}"
            f" · lev→ {fmt.leverage(proposal.leverage_after)}")


class BulkConfirm(ModalScreen[bool]):
    """Dismisses with True on `y`, False on `n` or Escape; every other key does nothing."""

    DEFAULT_CSS = """
    BulkConfirm { align: center middle; }
    BulkConfirm > Vertical { width: 78; max-width: 100%; height: auto; max-height: 100%;
                             border: thick $warning; background: $surface; padding: 0 1; }
    BulkConfirm Label, BulkConfirm Static { width: 100%; }
    BulkConfirm #bulk-list { color: $text-muted; }
    """
    HELP_TITLE = "Approve or veto all (A / V)"
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="bulk-yes"),
        Binding("n,escape", "answer(False)", "No", id="bulk-no"),
        # The app's q would quit from under the dialog: here it is a wrong key like any other.
        Binding("q", "nothing", show=False, id="bulk-no-quit"),
    ]

    def __init__(self, decision: str, proposals: tuple[Proposal, ...], key: str) -> None:
        """`decision` is "approve" or "veto"; `key` the key that asked (A or V), journaled."""
        super().__init__()
        self.decision = decision
        self.proposals = proposals
        self._key = key

    def compose(self) -> ComposeResult:
        count = len(self.proposals)
        what = "Approve" if self.decision == "approve" else "Veto"
        lines = [proposal_line(p) for p in self.proposals[:SHOWN]]
        if count > SHOWN:
            lines.append(f"… and {count - SHOWN} more")
        with Vertical():
            yield Label(f"[b]{what} all {count} pending proposal{'s' if count != 1 else ''}?[/b]")
            yield Static(Text("\n".join(lines)), id="bulk-list")
            if self.decision == "approve":
                yield Label("Each is re-checked in turn, against the state the ones before it leave, and "
                            "may be refused on its own. Orders are sent for each one that passes.")
            else:
                yield Label("Nothing is sent. Nothing identical is proposed again until the drift moves.")
            yield Label(f"Each decision is journaled on its own, with key {self._key}.")
            yield Label("[b]y[/b] yes · [b]n[/b] or Escape: no, nothing is done")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    def action_nothing(self) -> None:
        pass


async def decide_all(engine, decision: str, proposals: tuple[Proposal, ...], *, key: str) -> str:
    """Approves (decision "approve") or vetoes each of `proposals` in turn through the engine,
    which re-checks and journals each on its own with `key`; returns a one-line summary: how
    many went through, and the first that did not, with its reason."""
    done, others = 0, []
    for proposal in proposals:
        if decision == "approve":
            outcome = await engine.approve(proposal.id, key=key)
            went = outcome.startswith(f"{proposal.id} approved")
        else:
            outcome = await engine.veto(proposal.id, key=key)
            went = outcome.startswith(f"{proposal.id} vetoed")
        done += went
        if not went:
            others.append(outcome)
    past = "approved" if decision == "approve" else "vetoed"
    summary = f"{key}: {done} of {len(proposals)} {past}"
    if others:
        summary += f"; {len(others)} not, first: {others[0]}"
    return summary
