"""Help: every key, read from the BINDINGS of the app and of each screen (so it cannot drift from
what the keys do), and the safety model in a few lines."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from cockpit.tui.keys import BoundKey, bound_keys, cockpit_screens, help_title

SAFETY = (
    "No order leaves without your keystroke: proposals wait, expire, and are re-checked against the "
    "current state (gate, leverage ceiling after the fill, limits) when you approve.",
    "An edited size (e) or a manual order (n) only waits in the queue: it is sent on a (or A then y), "
    "after the same checks as any proposal. Each edit and each decision is journaled with its key.",
    "The risk gate: ACTIVE lets checked orders through, REDUCING only those that shrink positions, "
    "HALTED only cancels and flatten. Only you move it back: R, then type RESUME.",
    "Circuit breakers (day losses, correlation spike, extreme funding, stale data) latch, may move the "
    "gate, and propose cuts that wait for your approval; a trip is also a notification. s shows them.",
    "Flatten all: F, then type FLATTEN; it cancels, halts and closes everything reduce-only. From "
    "another shell: cockpit flatten.",
    "The journal: every proposal, decision, order and fill is written before anything is sent; j "
    "browses it, cockpit journal verify checks it.",
)
KEY_WIDTH = 11


def _key_lines(keys: list[BoundKey] | list[tuple[str, str]]) -> Text:
    out = Text()
    for key in keys:
        shown, description = (key.keys, key.description) if isinstance(key, BoundKey) else key
        out.append(f"  {shown:>{KEY_WIDTH}}", style="bold")
        out.append(f"  {description}\n")
    return out


class HelpScreen(ModalScreen[None]):
    """Lists the app's keys, each screen's keys under its heading, and the safety model."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90%; max-width: 100; height: 90%; border: round $primary; background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,question_mark,q", "app.pop_screen", "Close", id="help-close")]
    HELP_TITLE = "On this help"

    def __init__(self, keys: list[tuple[str, str]] | None = None) -> None:
        """`keys`: the app's (key, description) pairs; None reads them from the app's BINDINGS."""
        super().__init__()
        self._keys = keys

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self.text(), id="help-text")

    def text(self) -> Text:
        """Returns the whole help text: keys first, then the safety model."""
        app = self.app
        out = Text()
        out.append("Keys on the dashboard (most work everywhere)\n", style="bold")
        out.append_text(_key_lines(self._keys if self._keys is not None else bound_keys(type(app), app)))
        palette = app.get_key_display(Binding(app.COMMAND_PALETTE_BINDING, "command_palette"))
        out.append_text(_key_lines([(palette, "command palette: every action above by name, the Theme "
                                              "picker, and Open backtest results…")]))
        for screen in cockpit_screens():
            keys = bound_keys(screen, app)
            if keys:
                out.append(f"\n{help_title(screen)}\n", style="bold")
                out.append_text(_key_lines(keys))
        out.append("\nIn fields: ", style="bold")
        out.append("Tab and shift+Tab move between them, Enter applies, Escape leaves.\n")
        out.append("Liquidation distance ", style="bold")
        out.append("carries its band as text as well as colour: ok safe · ! watch · !! danger.\n")
        out.append("\nWhat cockpit never does without you\n", style="bold")
        for line in SAFETY:
            out.append(f"• {line}\n")
        out.append("\nEscape closes this.")
        return out
