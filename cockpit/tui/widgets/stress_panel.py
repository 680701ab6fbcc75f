"""The stress panel: what liquidates each position and the book, and what each crash would do."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from cockpit.domain.scenarios import StressReport
from cockpit.tui.risk_tables import liquidation_table, scenario_table, stress_heading


class StressPanel(Static):
    """Redrawn only when the engine recomputed its stress report (positions changed, or a held
    price moved 1 %), never per tick."""

    DEFAULT_CSS = """
    StressPanel { height: auto; padding: 0 1; }
    """

    def __init__(self, *, watch_distance: float, danger_distance: float, **kwargs) -> None:
        super().__init__("computing…", **kwargs)
        self._watch = watch_distance
        self._danger = danger_distance
        self._shown: tuple[StressReport, str] | None = None

    def _palette(self, band: str) -> str:
        return self.app.theme_variables.get(f"liq-{band}", "")

    def show(self, report: StressReport) -> None:
        """Redraws from `report` unless it is the one already shown, in the theme shown."""
        # The theme is part of what is shown: after a switch the same report is redrawn in its colours.
        shown = (report, self.app.theme)
        if self._shown is not None and self._shown[0] is report and self._shown[1] == shown[1]:
            return
        self._shown = shown
        self.update(
            Group(
                Text(stress_heading(report), style="bold"),
                liquidation_table(report, watch=self._watch, danger=self._danger, palette=self._palette),
                Text(""),
                scenario_table(report, palette=self._palette),
            )
        )
