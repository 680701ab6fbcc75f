"""What must not be missed between two looks at the screen: the risk gate moving and a breaker
tripping. Read off consecutive engine snapshots; the app shows each as a notification (and rings
the terminal bell when `[ui] bell = true`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cockpit.domain.breakers import BreakerStatus
from cockpit.domain.types import Gate
from cockpit.engine.snapshot import EngineSnapshot
from cockpit.tui.risk_tables import breaker_figure
from cockpit.tui.widgets.breaker_line import SHORT_NAMES

Severity = Literal["information", "warning", "error"]
# A trip is read and acted on, not glanced at: its notification stays longer than Textual's 5 s.
ALERT_SECONDS = 20.0

GATE_MEANING: dict[Gate, tuple[Severity, str]] = {
    Gate.ACTIVE: ("information", "every order that passes the checks may go, after your approval"),
    Gate.REDUCING: ("warning", "only orders that shrink positions pass; R resumes"),
    Gate.HALTED: ("error", "only cancels and flatten pass; R resumes"),
}


@dataclass(frozen=True)
class Alert:
    """One notification: its title, its line, and how loud (Textual's notify severities)."""

    title: str
    text: str
    severity: Severity

    @property
    def rings(self) -> bool:
        """Returns True for what is worth the bell: a trip or a tighter gate, not a resume."""
        return self.severity != "information"


class AlertWatch:
    """Compares each snapshot with the previous one. The first is the baseline: a gate or a latch
    that was already so at start is on the header and the breaker line, not news."""

    def __init__(self) -> None:
        self._gate: Gate | None = None
        self._trips: set[tuple[str, str, float | None]] = set()

    def changes(self, snapshot: EngineSnapshot) -> list[Alert]:
        """Returns the alerts for what changed since the last snapshot given, trips first."""
        trips = {(latch.breaker, latch.subject, latch.tripped_at): latch for latch in snapshot.breakers
                 if latch.status is BreakerStatus.TRIPPED}
        first = self._gate is None
        alerts: list[Alert] = []
        if not first:
            for key, latch in trips.items():
                if key in self._trips:
                    continue
                subject = "" if latch.subject == "portfolio" else latch.subject.split("/")[0] + " "
                name = SHORT_NAMES.get(latch.breaker, latch.breaker)
                figure = f"{breaker_figure(latch.breaker, latch.value)} > {breaker_figure(latch.breaker, latch.threshold)}"
                alerts.append(Alert("Breaker tripped", f"{subject}{name} {figure}: its proposal waits for you; s shows it",
                                    "error"))
            if snapshot.gate is not self._gate:
                severity, meaning = GATE_MEANING.get(snapshot.gate, ("warning", ""))
                alerts.append(Alert("Risk gate", f"{self._gate.value} → {snapshot.gate.value}: {meaning}", severity))
        # Remembered, not replaced: a trip that clears and re-latches keeps its time, so it is not news twice.
        self._trips |= set(trips)
        self._gate = snapshot.gate
        return alerts
