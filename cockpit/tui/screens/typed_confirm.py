"""A dialog that goes ahead only when the trader types an exact word (FLATTEN, RESUME)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class TypedConfirm(ModalScreen[bool]):
    """Dismisses with True only if `word` is typed exactly and Enter pressed; Escape cancels."""

    DEFAULT_CSS = """
    TypedConfirm { align: center middle; }
    TypedConfirm > Vertical { width: 60; height: auto; border: thick $error; background: $surface; padding: 1 2; }
    TypedConfirm Label { width: 100%; }
    TypedConfirm #typed-error { color: $error; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel")]

    def __init__(self, title: str, explanation: str, word: str) -> None:
        super().__init__()
        self._title = title
        self._explanation = explanation
        self.word = word

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"[b]{self._title}[/b]")
            yield Label(self._explanation)
            yield Label(f"Type {self.word} and press Enter. Escape cancels.")
            yield Input(placeholder=self.word, id="typed-word")
            yield Label("", id="typed-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip() == self.word:
            self.dismiss(True)
        else:
            self.query_one("#typed-error", Label).update(f"That is not {self.word}. Nothing was done.")
            event.input.value = ""

    def action_cancel(self) -> None:
        self.dismiss(False)
