"""The size editor: scale a pending proposal's orders, watch leverage and liquidation distance
after them update as you type, and apply the edit. Applying sends nothing: the edited proposal
waits for its approval (a) like any other."""

from __future__ import annotations

import math
from dataclasses import replace

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from cockpit.domain.order_size import OrderSizeError
from cockpit.domain.types import Proposal
from cockpit.tui.widgets.proposals_panel import describe_orders
from cockpit.tui.widgets.steady_input import SteadyInput
from cockpit.tui.widgets.trade_preview import TradePreviewPanel


def parse_scale(text: str) -> float:
    """Returns the factor typed: "0.5", "x0.5" and "50%" all mean half. Raises OrderSizeError
    (one line) for an empty or non-numeric entry; the sign and size are checked by the engine."""
    raw = text.strip().lower().replace(",", ".")
    if not raw:
        raise OrderSizeError("type a scale: 0.5 or 50% halves every order, 2 doubles it")
    percent = raw.endswith("%")
    number = raw.rstrip("%").lstrip("x×").strip()
    try:
        value = float(number)
    except ValueError:
        raise OrderSizeError(f"{text.strip()!r} is not a number: type a scale like 0.5 or 50%") from None
    if not math.isfinite(value):
        raise OrderSizeError(f"{text.strip()!r} is not a number: type a scale like 0.5 or 50%")
    return value / 100 if percent else value


class EditSize(ModalScreen[str | None]):
    """Dismisses with the engine's one-line outcome once an edit is applied, or with None on
    Escape. A scale the checks refuse is said on the error line and changes nothing."""

    DEFAULT_CSS = """
    EditSize { align: center middle; }
    EditSize > Vertical { width: 78; max-width: 100%; height: auto; max-height: 100%;
                          border: round $warning; background: $surface; padding: 0 1; }
    EditSize Label, EditSize Static { width: 100%; }
    EditSize #edit-scale { width: 24; margin: 0 0 0 1; background: $boost; }
    EditSize #edit-error { color: $error; }
    EditSize .edit-muted { color: $text-muted; }
    """
    HELP_TITLE = "Editing a proposal's size (e)"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="edit-cancel")]

    def __init__(self, proposal_id: str, *, leverage_ceiling: float, watch_distance: float,
                 danger_distance: float) -> None:
        super().__init__()
        self.proposal_id = proposal_id
        self._preview_args = dict(leverage_ceiling=leverage_ceiling, watch_distance=watch_distance,
                                  danger_distance=danger_distance)
        self._applying = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"[b]Edit the size of {self.proposal_id}[/b]", id="edit-title")
            yield Static("", id="edit-proposed", classes="edit-muted")
            yield Label("Scale of the proposal as proposed (0.5 or 50% halves it, 1 restores it):")
            yield SteadyInput(placeholder="e.g. 0.5 or 50%", id="edit-scale", compact=True)
            yield Static("", id="edit-orders")
            yield TradePreviewPanel(id="edit-preview", **self._preview_args)
            yield Label("", id="edit-error")
            yield Label("Enter applies the edit (then a approves it) · Escape leaves it as it was",
                        classes="edit-muted")

    def on_mount(self) -> None:
        engine = self.app.engine
        proposed: Proposal | None = engine.as_proposed(self.proposal_id)
        if proposed is not None:
            self.query_one("#edit-proposed", Static).update(
                Text(f"as proposed ({proposed.kind}): {describe_orders(proposed)}"))
        self._update_preview("")
        self.query_one(Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._update_preview(event.value)

    def _update_preview(self, text: str) -> None:
        engine = self.app.engine
        panel = self.query_one(TradePreviewPanel)
        orders_line = self.query_one("#edit-orders", Static)
        self.query_one("#edit-error", Label).update("")
        current = engine.proposal(self.proposal_id)
        if current is None:
            orders_line.update("")
            panel.show(None, problem=f"{self.proposal_id} is no longer pending: Escape returns")
            return
        if not text.strip():
            # Nothing typed yet: the proposal as it stands, so the edit has something to beat.
            orders_line.update(Text(f"now: {describe_orders(current)}"))
            panel.show(engine.preview(current.orders), targets=engine.target_weights())
            return
        try:
            orders = engine.edited_orders(self.proposal_id, parse_scale(text))
        except OrderSizeError as problem:
            orders_line.update("")
            panel.show(None, problem=str(problem))
            return
        orders_line.update(Text(f"edited: {describe_orders(replace(current, orders=orders))}"))
        panel.show(engine.preview(orders), targets=engine.target_weights())

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        if self._applying:
            return
        engine = self.app.engine
        error = self.query_one("#edit-error", Label)
        try:
            scale = parse_scale(event.value)
            orders = engine.edited_orders(self.proposal_id, scale)
        except OrderSizeError as problem:
            error.update(Text(f"{problem}: nothing changed"))
            return
        preview = engine.preview(orders)
        if preview.denial:
            error.update(Text(f"refused: {preview.denial}: nothing changed"))
            return
        self._applying = True
        try:
            outcome = await engine.edit(self.proposal_id, scale, key="e")
        finally:
            self._applying = False
        applied = engine.proposal(self.proposal_id)
        if applied is not None and applied.reason_numbers.get("edit_scale") == scale:
            self.dismiss(outcome)
        else:
            error.update(Text(outcome))  # refused at the last moment (prices moved): still here

    def action_cancel(self) -> None:
        self.dismiss(None)
