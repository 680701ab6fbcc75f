"""Asked before quitting while orders are in flight."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label


class QuitConfirm(ModalScreen[bool]):
    """Dismisses with True on `y`, False on `n` or Escape."""

    DEFAULT_CSS = """
    QuitConfirm { align: center middle; }
    QuitConfirm > Vertical { width: 60; height: auto; border: thick $warning; background: $surface; padding: 1 2; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Quit anyway", id="quit-yes"),
        Binding("n,escape", "answer(False)", "Stay", id="quit-no"),
    ]

    def __init__(self, in_flight: int) -> None:
        super().__init__()
        self._in_flight = in_flight

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"[b]{self._in_flight} order(s) in flight.[/b]")
            yield Label("Their outcome is journaled and reconciled at the next start.")
            yield Label("Quit anyway? y / n")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
