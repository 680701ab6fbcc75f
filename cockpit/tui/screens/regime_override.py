"""A small dialog to set or clear the trader's regime override with one digit."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

# The digit for each regime, mildest first; 0 clears.
REGIMES = {"1": "bull", "2": "consolidation", "3": "bear", "4": "crisis"}
# What the dialog dismisses with for 0: the override is to be cleared (None means cancelled).
CLEAR = "clear"


class RegimeOverride(ModalScreen[str | None]):
    """Dismisses with a regime ("bull", "consolidation", "bear", "crisis"), with CLEAR for 0, or
    with None on Escape. Every other key does nothing."""

    DEFAULT_CSS = """
    RegimeOverride { align: center middle; }
    RegimeOverride > Vertical { width: 64; height: auto; border: thick $warning; background: $surface; padding: 1 2; }
    RegimeOverride Label { width: 100%; }
    """
    BINDINGS = [
        *(Binding(digit, f"choose('{regime}')", regime, id=f"regime-{regime}") for digit, regime in REGIMES.items()),
        Binding("0", f"choose('{CLEAR}')", "clear", id="regime-clear"),
        Binding("escape", "cancel", "Cancel", id="regime-cancel"),
        # The app's q would quit from under the dialog: here it is a wrong key like any other.
        Binding("q", "nothing", show=False, id="regime-no-quit"),
    ]

    def __init__(self, current: str | None) -> None:
        super().__init__()
        self._current = current

    def compose(self) -> ComposeResult:
        now = f"now: {self._current.upper()}" if self._current else "now: none, the models and rules decide"
        with Vertical():
            yield Label(f"[b]Regime override[/b] ({now})")
            yield Label("It replaces every learned or rule regime in sizing until cleared.")
            yield Label("")
            yield Label("  ".join(f"[b]{digit}[/b] {regime}" for digit, regime in REGIMES.items()))
            yield Label("[b]0[/b] clears the override · [b]Escape[/b] cancels")

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_nothing(self) -> None:
        pass
