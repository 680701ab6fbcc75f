"""Feeds the hedge leg: core and hedge prices sampled on a market-time clock, the minimum-variance
hedge ratio and the correlation monitor on their returns (`cockpit.domain.hedging`).

The core is the configured targets, as one basket: its return per sample is the weighted sum of
its assets' log returns, sum(w_i * r_i) / sum(|w_i|). The hedge is a short in `hedge.asset`
sized h = Cov(core, hedge) / Var(hedge) per unit of core notional. Choices where the issue is
silent:

- While the window is filling (after a start) the hedge leg is left where it is: no ratio, so no
  order in it, rather than a plan that closes a hedge the cockpit merely forgot.
- A hedge whose correlation is weak, has flipped sign, or whose ratio came out negative is
  targeted at zero: a hedge that does not move with the core only adds risk.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Collection, Mapping

import numpy as np

from cockpit.config import Config
from cockpit.domain.hedging import CorrelationWarning, correlation, hedge_correlation_warning, min_variance_hedge_ratio


@dataclass(frozen=True, slots=True)
class HedgeReading:
    """The hedge leg's figures over the last window. Ratio: USDT of hedge per USDT of core;
    correlation: Pearson, in [-1, 1]."""

    symbol: str
    ratio: float
    correlation: float
    samples: int
    warning: CorrelationWarning | None

    @property
    def hedges(self) -> bool:
        """Returns True when the hedge tracks the core (no warning, positive ratio)."""
        return self.warning is None and self.ratio > 0


class HedgeWatch:
    """Samples core and hedge prices and answers with a HedgeReading once the window is full."""

    def __init__(self, config: Config, core: Mapping[str, float], *, priced: Collection[str]) -> None:
        hedge = config.hedge
        symbol = f"{hedge.asset}/USDT:USDT" if hedge.asset else None
        self.symbol = symbol if symbol in priced else None  # an unpriced hedge is reported by the engine
        self._core = {s: w for s, w in core.items() if s != self.symbol}
        self._every = hedge.sample_hours * 3600.0
        self._min_correlation = hedge.min_correlation
        self._samples: deque[tuple[float, ...]] = deque(maxlen=hedge.window + 1)
        self._period: int | None = None
        self._closing: tuple[float, ...] | None = None
        self._previous_correlation: float | None = None
        self.reading: HedgeReading | None = None

    def observe(self, market_time: float, marks: Mapping[str, float]) -> CorrelationWarning | None:
        """Takes a sample when one is due; returns a warning that is *new* with this sample (the
        hedge was tracking before), so the engine tells the trader once, not every hour."""
        if self.symbol is None or not self._core:
            return None
        prices = [marks.get(symbol) for symbol in (*self._core, self.symbol)]
        # A sample is a period's close: the prices in force when the first update of the next
        # period arrives, before it, so every symbol of a bar is in it whatever the tick order.
        complete = all(price is not None and price > 0 for price in prices)
        closing, self._closing = self._closing, (tuple(prices) if complete else None)
        period = math.floor(market_time / self._every)
        if self._period is not None and period <= self._period:  # same period, or a clock step back
            return None
        self._period = period
        if closing is None:
            return None
        self._samples.append(closing)
        if len(self._samples) < self._samples.maxlen:
            return None
        was_hedging = self.reading is not None and self.reading.hedges
        self.reading = self._read()
        return self.reading.warning if was_hedging else None

    def _read(self) -> HedgeReading:
        returns = np.diff(np.log(np.array(self._samples)), axis=0)
        weights = np.array(list(self._core.values()))
        core = returns[:, :-1] @ weights / np.abs(weights).sum()
        hedge = returns[:, -1]
        warning = hedge_correlation_warning(core, hedge, min_correlation=self._min_correlation,
                                            previous_correlation=self._previous_correlation)
        if warning is not None and warning.kind == "undefined":
            return HedgeReading(self.symbol, 0.0, math.nan, len(returns), warning)
        rho = correlation(core, hedge)
        self._previous_correlation = rho
        return HedgeReading(self.symbol, min_variance_hedge_ratio(core, hedge), rho, len(returns), warning)

    def targets(self, current_weight: float | None) -> dict[str, float]:
        """Returns the hedge leg's target weight (fraction of levered capital, negative = short),
        keyed by symbol; `current_weight` (None = not held) is kept while the window fills.
        Empty when no hedge is configured."""
        if self.symbol is None:
            return {}
        if self.reading is None:
            return {self.symbol: current_weight} if current_weight else {}
        if not self.reading.hedges:
            return {self.symbol: 0.0}
        return {self.symbol: -self.reading.ratio * sum(self._core.values())}
