"""The header: where prices come from, mode and countdown, gate, equity, leverage vs ceiling."""

from __future__ import annotations

from datetime import datetime, timezone

from rich.cells import cell_len
from rich.text import Text
from textual.geometry import Region
from textual.widget import Widget

from cockpit.domain.types import Gate, RebalanceMode
from cockpit.engine.snapshot import EngineSnapshot
from cockpit.tui import format as fmt
from cockpit.tui.throttle import RedrawThrottle

# How many ever shorter forms each header line has (see _gate_line and _money_line).
GATE_SHORTENINGS = 4
MONEY_SHORTENINGS = 3
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
        self._throttle: RedrawThrottle[Text] = RedrawThrottle(self, self._draw)
        self._shown: tuple[EngineSnapshot | None, str] | None = None  # the last show's arguments, for a resize

    @property
    def throttle(self) -> RedrawThrottle:
        """Returns the throttle that spaces this bar's redraws (its count is what tests read)."""
        return self._throttle

    def render(self) -> Text:
        return self._content

    def show(self, snapshot: EngineSnapshot | None, starting: str = "") -> None:
        """Shows `snapshot` (or a "starting" line before the engine exists); redraws only when
        the text changed, at most 10 times a second, and then only the line that changed."""
        self._shown = (snapshot, starting)
        if snapshot is None:
            self._throttle.submit(Text(f"cockpit — {starting}", style="bold"))
            return
        width = self.content_size.width
        # Each line in its fullest form that fits the width, so at 80 columns the words give way
        # and the figures stay: the gate, STALE, the liquidation figure and its band mark.
        gate = self._fitting([self._gate_line(snapshot, shorten) for shorten in range(GATE_SHORTENINGS)], width)
        money = self._fitting([self._money_line(snapshot, shorten) for shorten in range(MONEY_SHORTENINGS)], width)
        self._throttle.submit(Text("\n").join([gate, money]))

    def on_resize(self) -> None:
        # Narrower, a line may need its shorter form; wider, its full one.
        if self._shown is not None:
            self.show(*self._shown)

    @staticmethod
    def _fitting(lines: list[Text], width: int) -> Text:
        # The first that fits, else the shortest: before the first layout the width is 0.
        return next((line for line in lines if not width or cell_len(line.plain) <= width), lines[-1])

    def _draw(self, content: Text) -> None:
        before, self._content = self._content, content
        old, new = before.split("\n"), content.split("\n")
        if len(old) != len(new) or before.style != content.style:
            self.refresh()
            return
        # The clock moves every second, the money line only when prices do: the size is fixed,
        # so repainting the changed line alone is enough, and the other is not sent again.
        width = self.size.width
        for y, (was, now) in enumerate(zip(old, new)):
            if was != now or was.style != now.style:
                self.refresh(Region(0, y, width, 1))

    def _colour(self, name: str) -> str:
        return self.app.theme_variables.get(name, "")

    def _gate_line(self, snap: EngineSnapshot, shorten: int) -> Text:
        """Returns line 1: source, market time, rebalancing mode, gate, STALE. `shorten` 1 drops
        the word "interval" and its hours, 2 also the source's note (but not "testnet") and 3
        says "(R)" for "(R resumes)"."""
        note = snap.source_note
        if shorten >= 2:
            # Whether a live account is the exchange's testnet must stay on screen.
            note = "testnet" if "testnet" in note.split() else ""
        source = snap.source_label + (f" ({note})" if note else "")
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
            line.append(f"next {countdown}" if shorten >= 1 else f"interval {snap.interval_hours:g}h · next {countdown}")
        else:
            line.append("continuous")
        gate_style = {Gate.ACTIVE: "liq-safe", Gate.REDUCING: "liq-watch", Gate.HALTED: "liq-danger"}[snap.gate]
        line.append("  gate ")
        line.append(snap.gate.value, style=f"bold {self._colour(gate_style)}")
        if snap.gate is not Gate.ACTIVE:
            line.append(" (R)" if shorten >= 3 else " (R resumes)")
        if snap.stale and snap.last_tick_at is not None:
            line.append(f"  STALE {snap.taken_at - snap.last_tick_at:.0f}s", style=f"bold {self._colour('liq-danger')}")
        return line

    def _money_line(self, snap: EngineSnapshot, shorten: int) -> Text:
        """Returns line 2: equity, uPnL, leverage against the ceiling, aim, liq all, in flight.
        `shorten` 1 drops the cents of equity and uPnL, 2 also the aim."""
        risk = snap.risk
        cents = shorten < 1
        line = Text()
        line.append(f" equity {fmt.money(risk.equity, cents=cents)}  uPnL ")
        line.append(fmt.money(risk.unrealized_pnl, signed=True, cents=cents))
        line.append("  lev ")
        over = risk.effective_leverage > snap.leverage_ceiling
        line.append(fmt.leverage(risk.effective_leverage), style=f"bold {self._colour('liq-danger')}" if over else "bold")
        # A ceiling above 3x is allowed only by explicit setting; it stays in the danger colour.
        ceiling_style = f"bold {self._colour('liq-danger')}" if snap.leverage_ceiling > 3.0 else ""
        line.append("/")
        line.append(f"{snap.leverage_ceiling:.2f}x", style=ceiling_style)
        if snap.aim_leverage is not None and shorten < 2:
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
