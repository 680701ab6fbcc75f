"""Redraw throttling for widgets: at most a few redraws a second each, only when what they show
changed, and never losing the newest state. Over a slow SSH link every redraw is bytes on the
wire; a burst of prices must cost a handful of redraws, not one per price."""

from __future__ import annotations

import math
import time
from typing import Callable, Generic, TypeVar

from textual.timer import Timer
from textual.widget import Widget

# The cap: at most 10 redraws a second per widget. The dashboard polls the engine four
# times a second (cockpit.tui.app.REFRESH_SECONDS), so this cap binds on the other callers: a
# keystroke's immediate refresh, a theme switch, the arrow keys moving a chart.
MAX_REDRAWS_PER_SECOND = 10.0

View = TypeVar("View")
_NOTHING = object()


class RedrawThrottle(Generic[View]):
    """Coalesces one widget's redraws. `submit(view)` with a view equal to the newest one
    submitted does nothing; a new view is drawn at once if the last draw was at least
    1/`per_second` ago, otherwise it is held (replacing any held one) and the newest held view
    is drawn when that interval is up. So the final state is always drawn, at most 1/`per_second`
    late, and `draw` runs at most `per_second` times a second.

    `draw(view)` does the widget's actual work (update cells, refresh); it is called only with
    views that differ from the one drawn before."""

    def __init__(
        self,
        widget: Widget,
        draw: Callable[[View], None],
        *,
        per_second: float = MAX_REDRAWS_PER_SECOND,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_second <= 0:
            raise ValueError(f"per_second must be positive, got {per_second!r}")
        self._widget = widget
        self._draw = draw
        self._gap = 1.0 / per_second
        self._clock = clock
        self._last_draw = -math.inf
        self._newest: object = _NOTHING  # the key of the newest view submitted, drawn or held
        self._drawn: object = _NOTHING  # the key of the view on screen
        self._held: object = _NOTHING  # (view, key) waiting for the interval to end
        self._timer: Timer | None = None
        self.redraws = 0
        """How many times `draw` ran: what tests count instead of timing redraws."""

    @property
    def holding(self) -> bool:
        """Returns True while a view waits for its turn to be drawn."""
        return self._held is not _NOTHING

    def submit(self, view: View, key: object = _NOTHING) -> None:
        """Draws `view` now, or holds it for the end of the current interval; nothing when its
        `key` (what decides whether the screen would change; the view itself by default) equals
        the newest one already submitted."""
        key = view if key is _NOTHING else key
        if self._newest is not _NOTHING and key == self._newest:
            return
        self._newest = key
        self._held = (view, key)
        if self._timer is not None:
            return  # the pending timer draws the newest held view
        wait = self._last_draw + self._gap - self._clock()
        if wait <= 0:
            self._flush()
        else:
            self._timer = self._widget.set_timer(wait, self._flush, name="redraw-throttle")

    def _flush(self) -> None:
        self._timer = None
        held, self._held = self._held, _NOTHING
        if held is _NOTHING:
            return
        view, key = held  # type: ignore[misc]
        if self._drawn is not _NOTHING and key == self._drawn:
            return  # back to what is on screen already: nothing to send
        self._drawn = key
        self._last_draw = self._clock()
        self.redraws += 1
        self._draw(view)
