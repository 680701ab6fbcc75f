"""One dashboard line for the circuit breakers: quiet when all are armed, loud when one is not."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from cockpit.domain.breakers import BreakerState, BreakerStatus
from cockpit.engine.snapshot import EngineSnapshot
from cockpit.tui.risk_tables import breaker_figure
from cockpit.tui.throttle import RedrawThrottle

# Short names so two engaged breakers still fit in 80 columns.
SHORT_NAMES = {
    "position_day_loss": "pos day loss",
    "portfolio_day_loss": "day loss",
    "correlation_spike": "corr spike",
    "funding_extreme": "funding",
    "stale_data": "stale data",
}


def _figure(state: BreakerState) -> str:
    # A latched breaker has cleared: show the figure it tripped at, not today's harmless one.
    value = state.tripped_value if state.status is BreakerStatus.LATCHED else state.value
    if value is None:
        return ""
    return f"{breaker_figure(state.breaker, value)}>{breaker_figure(state.breaker, state.threshold)}"


def _subject(state: BreakerState) -> str:
    return "" if state.subject == "portfolio" else state.subject.split("/")[0] + " "


class BreakerLine(Widget):
    """`breakers: 5 armed` or, per engaged breaker, `TRIPPED day loss 9.1%>8.0%` / `LATCHED ...`."""

    DEFAULT_CSS = """
    BreakerLine { height: 1; width: 1fr; padding: 0 1; background: $surface; color: $text-muted; }
    """

    def __init__(self, *, enabled: bool = True, **kwargs) -> None:
        """`enabled` False: the config switched the breakers off, and the line says so."""
        super().__init__(**kwargs)
        self._enabled = enabled
        self._content = Text("breakers: waiting for prices")
        self._throttle: RedrawThrottle[Text] = RedrawThrottle(self, self._draw)

    @property
    def throttle(self) -> RedrawThrottle:
        """Returns the throttle that spaces this line's redraws (its count is what tests read)."""
        return self._throttle

    def render(self) -> Text:
        return self._content

    def show(self, snapshot: EngineSnapshot) -> None:
        """Shows the snapshot's breakers; redraws only when the text changed, at most 10 times a
        second."""
        self._throttle.submit(self._line(snapshot.breakers))

    def _draw(self, content: Text) -> None:
        self._content = content
        self.refresh()

    def _line(self, latches: tuple[BreakerState, ...]) -> Text:
        engaged = [latch for latch in latches if latch.engaged]
        if not engaged and not self._enabled:
            danger = self.app.theme_variables.get("liq-danger", "")
            return Text("breakers: OFF ([breakers] enabled = false); only stale data is armed", style=f"bold {danger}")
        if not engaged:
            armed = len(latches)
            return Text(f"breakers: {armed} armed" if armed else "breakers: waiting for prices")
        danger = self.app.theme_variables.get("liq-danger", "")
        watch = self.app.theme_variables.get("liq-watch", "")
        line = Text("breakers: ")
        for latch in engaged:
            tripped = latch.status is BreakerStatus.TRIPPED
            line.append(latch.status.value.upper(), style=f"bold {danger if tripped else watch}")
            line.append(f" {_subject(latch)}{SHORT_NAMES.get(latch.breaker, latch.breaker)} {_figure(latch)}  ")
        line.append("(R re-arms)")
        return line
