"""Help: every key, and the safety model in a few lines."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

SAFETY = "\n".join(
    [
        "[b]What cockpit never does without you[/b]",
        "• It sends no order you did not approve by keystroke. Proposals wait, expire, and are "
        "re-checked against the current state when you approve.",
        "• The leverage ceiling is checked on the state after the orders, fees and slippage included.",
        "• Every proposal, decision, order and fill is written to the journal before anything is sent.",
        "• Flatten (F, then type FLATTEN) cancels, halts automation and closes everything "
        "reduce-only. From another shell: cockpit flatten.",
        "• After a halt the gate stays HALTED, across restarts, until you press R and type RESUME.",
        "• Circuit breakers (day losses, correlation spike, extreme funding, stale data) latch, move "
        "the gate and propose cuts; nothing is sent until you approve. R re-arms them. s shows them.",
        "• Every position a rebalance opens or enlarges gets a reduce-only stop in the same proposal.",
    ]
)


# Keys that belong to one screen, so they are not in the app's bindings.
SCREEN_KEYS = "\n".join(
    [
        "[b]On the models screen (f)[/b]: forecasts, regimes, drift",
        f"  [b]{'↑ ↓':>8}[/b]  choose the asset the chart shows",
        f"  [b]{'o':>8}[/b]  set or clear the regime override, which sizing uses",
        f"  {'':>8}  then 1-4: bull, consolidation, bear, crisis; 0 clears",
        f"  [b]{'Esc / f':>8}[/b]  back",
        "",
        "[b]Everywhere[/b]",
        f"  [b]{'ctrl+p':>8}[/b]  command palette; its Theme command picks a theme by name",
        "",
        "[b]Liquidation distance[/b]: each figure carries its band as text as well as colour:",
        "  [b]ok[/b] safe · [b]![/b] watch (below ui.watch_distance) · [b]!![/b] danger (below ui.danger_distance)",
    ]
)


class HelpScreen(ModalScreen[None]):
    """Lists the app's bindings with their descriptions, and the safety model."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90%; max-width: 96; height: 90%; border: round $primary; background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,question_mark,q", "app.pop_screen", "Close", id="help-close")]

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self._keys = keys

    def compose(self) -> ComposeResult:
        lines = "\n".join(f"  [b]{key:>8}[/b]  {description}" for key, description in self._keys)
        with VerticalScroll():
            yield Static(f"[b]Keys[/b]\n{lines}\n\n{SCREEN_KEYS}\n\n{SAFETY}\n\nEscape closes this.")
