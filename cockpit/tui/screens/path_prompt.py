"""A dialog that asks for a file path and acts on it: the journal's CSV export, a backtest
result to open."""

from __future__ import annotations

from typing import Awaitable, Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

# What the dialog does with the typed path: (done, one line). Not done: the line says why, the
# dialog stays open with the path as typed, and nothing has changed.
PathAction = Callable[[str], Awaitable[tuple[bool, str]]]


class PathPrompt(ModalScreen[str | None]):
    """Dismisses with the action's line once the action is done with the typed path; Escape
    dismisses with None (nothing done). An empty path is refused without calling the action."""

    DEFAULT_CSS = """
    PathPrompt { align: center middle; }
    PathPrompt > Vertical { width: 90%; max-width: 100; height: auto; border: thick $primary; background: $surface; padding: 0 1; }
    PathPrompt Label { width: 100%; }
    PathPrompt #path-problem { color: $error; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="path-cancel")]
    HELP_TITLE = "In the file path dialog (journal export, backtest results)"

    def __init__(self, title: str, explanation: str, action: PathAction, *, default: str = "") -> None:
        super().__init__()
        self._title = title
        self._explanation = explanation
        self._action = action
        self._default = default

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self._title, style="bold"))
            yield Label(Text(self._explanation))
            yield Input(value=self._default, placeholder="a file path", id="path-input")
            yield Static("", id="path-problem")
            yield Label("Enter: go ahead · Escape: cancel, nothing is done")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        path = event.value.strip()
        problem = self.query_one("#path-problem", Static)
        if not path:
            problem.update("type a file path first (Escape cancels)")
            return
        done, line = await self._action(path)
        if done:
            self.dismiss(line)
        else:
            problem.update(Text(line))  # plain: a path may hold brackets that markup would eat

    def action_cancel(self) -> None:
        self.dismiss(None)
