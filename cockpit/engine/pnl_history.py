"""The PnL history the position screen charts: each position's unrealized PnL and mark, and the
account's equity, over the prices this process has seen since it started.

The journal keeps marks once a minute and every fill, but replaying them to rebuild a curve on
every redraw is more than a chart needs; the engine keeps a bounded sample here instead. It
covers the whole run at any length: when full, every other sample is dropped and the sampling
interval doubles, so the points stay evenly spread from the start to now.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cockpit.domain.risk import RiskSnapshot

MAX_SAMPLES = 480
FIRST_INTERVAL_SECONDS = 1.0  # market time between samples until the store first fills


@dataclass(frozen=True, slots=True)
class PnlSeries:
    """One position's samples, oldest first. Times in epoch seconds (market time), money USDT."""

    symbol: str
    times: tuple[float, ...]
    unrealized_pnl: tuple[float, ...]  # NaN where the position was flat at that sample
    marks: tuple[float, ...]  # NaN where the symbol had no mark yet
    equity: tuple[float, ...]  # the account's, at the same samples

    def __len__(self) -> int:
        return len(self.times)


class PnlHistory:
    """Samples a RiskSnapshot per market-time interval; answers a PnlSeries per symbol."""

    def __init__(self, *, max_samples: int = MAX_SAMPLES, first_interval: float = FIRST_INTERVAL_SECONDS) -> None:
        if max_samples < 4:
            raise ValueError(f"max_samples: expected at least 4, got {max_samples!r}")
        self._max = max_samples
        self._interval = first_interval
        self._times: list[float] = []
        self._equity: list[float] = []
        self._rows: list[dict[str, tuple[float, float]]] = []  # symbol -> (unrealized PnL, mark)

    def observe(self, market_time: float, risk: RiskSnapshot) -> None:
        """Takes a sample when `interval` seconds of market time passed since the last one (a
        clock that steps back is ignored). O(positions); cheap enough for every tick."""
        if not math.isfinite(market_time):
            return
        if self._times and market_time - self._times[-1] < self._interval:
            return
        self._times.append(market_time)
        self._equity.append(risk.equity)
        self._rows.append({row.symbol: (row.unrealized_pnl, row.mark_price) for row in risk.positions})
        if len(self._times) >= self._max:
            # Keep every other sample from the first (the chart spans the whole run) and the
            # newest (it shows now), and sample half as often from here on.
            keep = list(range(0, len(self._times), 2))
            if keep[-1] != len(self._times) - 1:
                keep.append(len(self._times) - 1)
            self._times = [self._times[i] for i in keep]
            self._equity = [self._equity[i] for i in keep]
            self._rows = [self._rows[i] for i in keep]
            self._interval *= 2.0

    def series(self, symbol: str) -> PnlSeries:
        """Returns the samples of `symbol` (every sample; NaN where it was not held)."""
        pnl, marks = [], []
        for row in self._rows:
            upnl, mark = row.get(symbol, (math.nan, math.nan))
            pnl.append(upnl)
            marks.append(mark)
        return PnlSeries(symbol, tuple(self._times), tuple(pnl), tuple(marks), tuple(self._equity))
