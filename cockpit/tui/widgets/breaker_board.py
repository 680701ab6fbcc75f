"""Every circuit breaker with its status: armed, tripped (with its value) or latched."""

from __future__ import annotations

from textual.widgets import Static

from cockpit.domain.breakers import BreakerState
from cockpit.tui.risk_tables import breaker_table


class BreakerBoard(Static):
    """The full breaker table; the dashboard shows only a one-line summary (BreakerLine)."""

    DEFAULT_CSS = """
    BreakerBoard { height: auto; padding: 0 1; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self._shown: tuple[tuple[BreakerState, ...], str] | None = None

    def _palette(self, band: str) -> str:
        return self.app.theme_variables.get(f"liq-{band}", "")

    def show(self, latches: tuple[BreakerState, ...]) -> None:
        """Redraws when any breaker's status or figures changed, or the theme did."""
        shown = (latches, self.app.theme)
        if shown == self._shown:
            return
        self._shown = shown
        self.update(breaker_table(latches, palette=self._palette))
