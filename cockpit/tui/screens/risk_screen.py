"""The risk screen: the stress panel, the breaker board and the sizing figures, for "what would a
crash do to me now" and "why does the cockpit aim for this much"."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from cockpit.tui.widgets.breaker_board import BreakerBoard
from cockpit.tui.widgets.sizing_panel import SizingPanel
from cockpit.tui.widgets.stress_panel import StressPanel

REFRESH_SECONDS = 1.0


class RiskScreen(Screen[None]):
    """Reads the engine's snapshot once a second; F (flatten) still works from here."""

    DEFAULT_CSS = """
    RiskScreen > VerticalScroll { background: $surface; }
    RiskScreen #risk-hint { height: 1; padding: 0 1; color: $text-muted; }
    """
    BINDINGS = [Binding("escape,s", "app.pop_screen", "Back", id="risk-close")]

    def __init__(self, *, watch_distance: float, danger_distance: float) -> None:
        super().__init__()
        self._watch = watch_distance
        self._danger = danger_distance

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield StressPanel(watch_distance=self._watch, danger_distance=self._danger, id="stress")
            yield Static("", id="risk-gap")
            yield BreakerBoard(id="breaker-board")
            yield Static("", id="risk-gap-2")
            yield SizingPanel(id="sizing")
        # At 80x24 the breakers and the sizing figures are below the fold: say how to get there.
        yield Static("Escape: back to the dashboard · R there re-arms the breakers · PgDn: more", id="risk-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_from_engine()
        self.set_interval(REFRESH_SECONDS, self.refresh_from_engine)

    def refresh_from_engine(self) -> None:
        """Redraws from the engine's newest snapshot (each widget skips an unchanged one)."""
        engine = getattr(self.app, "engine", None)
        if engine is None or not self.is_attached:
            return
        snapshot = engine.snapshot
        self.query_one(StressPanel).show(snapshot.stress)
        self.query_one(BreakerBoard).show(snapshot.breakers)
        self.query_one(SizingPanel).show(snapshot.sizing, snapshot.hedge, snapshot.reserve, snapshot.risk.equity)
