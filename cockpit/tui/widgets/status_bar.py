"""The header: where prices come from, mode and countdown, gate, equity, leverage vs ceiling."""

from __future__ import annotations

from datetime import datetime, timezone

from rich.cells import cell_len
from rich.text import Text
from textual.widget import Widget

from cockpit.domain.types import Gate, RebalanceMode
from cockpit.engine.snapshot import EngineSnapshot
from cockpit.tui import format as fmt

_SOURCE_VARIABLE = {"LIVE": "source-live", "PAPER": "source-live", "REPLAY": "source-replay", "SYNTHETIC": "source-synthetic"}


class StatusBar(Widget):
    """Two lines that answer: what am I looking at, and how much risk am I carrying."""

    DEFAULT_CSS = """
    StatusBar { height: 2; width: 1fr; background: $panel; color: $foreground; padding: 0 1; }
    """

    def __init__(self, *, watch_distance: float, danger_distance: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self._watch = watch_distance
        self._danger = danger_distance
        self._content = Text()

    def render(self) -> Text:
        return self._content

    def show(self, snapshot: EngineSnapshot | None, starting: str = "") -> None:
        """Redraws from `snapshot` (or a "starting" line before the engine exists), and only
        when the text changed: the size is fixed, so no layout pass is needed."""
        content = Text(f"cockpit — {starting}", style="bold") if snapshot is None else self._render_snapshot(snapshot)
        width = self.content_size.width
        if snapshot is not None and width and max(map(cell_len, content.plain.splitlines())) > width:
            # At 80 columns a five-figure equity pushes the liquidation figure's band mark off
            # the edge: the cents go first, the risk figures stay.
            content = self._render_snapshot(snapshot, cents=False)
        if content == self._content:
            return
        self._content = content
        self.refresh()

    def _colour(self, name: str) -> str:
        return self.app.theme_variables.get(name, "")

    def _render_snapshot(self, snap: EngineSnapshot, *, cents: bool = True) -> Text:
        risk = snap.risk
        source = snap.source_label + (f" ({snap.source_note})" if snap.source_note else "")
        line = Text()
        line.append(f" {source} ", style=f"bold reverse {self._colour(_SOURCE_VARIABLE.get(snap.source_label, 'source-live'))}")
        if snap.market_time is not None:
            # In a replay the date is the point; live, the clock shows the feed is moving.
            shape = "%Y-%m-%d %H:%M" if snap.source_label == "REPLAY" else "%H:%M:%S"
            line.append(f" {datetime.fromtimestamp(snap.market_time, tz=timezone.utc):{shape}}")
        line.append("  ")
        if snap.mode is RebalanceMode.INTERVAL:
            remaining = snap.seconds_to_next_check()
            countdown = fmt.duration(remaining) if remaining is not None else "at first price"
            line.append(f"interval {snap.interval_hours:g}h · next {countdown}")
        else:
            line.append("continuous")
        gate_style = {Gate.ACTIVE: "liq-safe", Gate.REDUCING: "liq-watch", Gate.HALTED: "liq-danger"}[snap.gate]
        line.append("  gate ")
        line.append(snap.gate.value, style=f"bold {self._colour(gate_style)}")
        if snap.gate is not Gate.ACTIVE:
            line.append(" (R resumes)")
        if snap.stale and snap.last_tick_at is not None:
            line.append(f"  STALE {snap.taken_at - snap.last_tick_at:.0f}s", style=f"bold {self._colour('liq-danger')}")
        line.append("\n")
        line.append(f" equity {fmt.money(risk.equity, cents=cents)}  uPnL ")
        line.append(fmt.money(risk.unrealized_pnl, signed=True, cents=cents))
        line.append("  lev ")
        over = risk.effective_leverage > snap.leverage_ceiling
        line.append(fmt.leverage(risk.effective_leverage), style=f"bold {self._colour('liq-danger')}" if over else "bold")
        # A ceiling above 3x is allowed only by explicit setting; it stays in the danger colour.
        ceiling_style = f"bold {self._colour('liq-danger')}" if snap.leverage_ceiling > 3.0 else ""
        line.append("/")
        line.append(f"{snap.leverage_ceiling:.2f}x", style=ceiling_style)
        if snap.aim_leverage is not None:
            line.append(f" aim {snap.aim_leverage:.2f}x")
        if snap.risk.positions:
            move = snap.account_liquidation_move
            band = fmt.distance_band(move, watch=self._watch, danger=self._danger)
            line.append("  liq all ")
            # "none": no common move liquidates the book, which needs no mark to be read.
            figure = fmt.with_band_mark(fmt.percent(-move, signed=True), band) if move < 10 else "none"
            line.append(figure, style=f"bold {self._colour(f'liq-{band}')}")
        if snap.in_flight:
            line.append(f"  {snap.in_flight} in flight", style="bold")
        return line
