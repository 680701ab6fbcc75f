"""A synthetic demo market for when no exchange is reachable: clearly labelled, seeded, and rough
enough to exercise the cockpit (volatility clustering, fat tails, rare correlated crashes)."""

from __future__ import annotations

import asyncio
import math
import time
from typing import AsyncIterator, Awaitable, Callable, Mapping

import numpy as np

from cockpit.domain.types import Instrument, Tick
from cockpit.venues.base import SourceLabel
from cockpit.venues.instruments import DEFAULT_INSTRUMENTS

DEFAULT_START_PRICES = {"BTC": 60_000.0, "ETH": 3_000.0}
_FALLBACK_START = 100.0

# GARCH(1,1): var' = omega + alpha * r^2 + beta * var, with omega set so the long-run variance is
# the baseline. alpha + beta close to 1 gives the slow-decaying volatility clusters of crypto.
_ALPHA = 0.08
_BETA = 0.90
_DF = 4.0  # Student-t degrees of freedom: tails about as fat as BTC's hourly returns
_CORRELATION = 0.8  # BTC/ETH hourly returns correlate about this much
_CRASH_RANGE = (0.08, 0.25)  # fraction lost in a crash step
_POST_CRASH_VARIANCE = 25.0  # after a crash, vol jumps to >= 5x baseline and decays via GARCH
# Crashes partly bounce back (as March 2020 did): this share of the drop is recovered, a little
# each step, so a long demo session drifts down a bit per crash rather than to zero.
_REBOUND_SHARE = 0.6
_REBOUND_SPEED = 0.01  # fraction of the outstanding rebound recovered per step (half-life ~70)
# The demo's past, for the forecasting models: see SyntheticSource.history.
HISTORY_BARS = 3000  # 500 days of 4h bars: enough for every model, the regime classifier included
HISTORY_BAR_SECONDS = 4 * 3600.0
HISTORY_STEP_VOLATILITY = 0.018


class _Path:
    """The price process shared by `ticks()` and `generate()`, so both walk the same path."""

    def __init__(
        self, start: np.ndarray, seed: int, step_vol: float, crash_probability: float
    ) -> None:
        self.rng = np.random.default_rng(seed)
        n = len(start)
        correlation = np.full((n, n), _CORRELATION)
        np.fill_diagonal(correlation, 1.0)
        self.chol = np.linalg.cholesky(correlation)
        self.base_var = step_vol**2
        self.omega = self.base_var * (1.0 - _ALPHA - _BETA)
        self.var = np.full(n, self.base_var)
        self.rebound = np.zeros(n)  # log-return still to be recovered after crashes
        self.prices = start.astype(float).copy()
        self.crash_probability = crash_probability

    def step(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Advances one step; returns (prices, highs, lows)."""
        rng, n = self.rng, len(self.prices)
        normal = self.chol @ rng.standard_normal(n)
        # One chi-square for all symbols makes the shocks multivariate-t: big moves come together.
        shock = normal * math.sqrt((_DF - 2.0) / rng.chisquare(_DF))
        returns = np.sqrt(self.var) * shock
        self.var = self.omega + _ALPHA * returns**2 + _BETA * self.var
        recovered = self.rebound * _REBOUND_SPEED
        self.rebound -= recovered
        returns = returns + recovered
        if rng.random() < self.crash_probability:
            depth = rng.uniform(*_CRASH_RANGE) * rng.uniform(0.8, 1.3, n)
            drop = np.log1p(-np.clip(depth, *_CRASH_RANGE))
            returns = returns + drop
            self.rebound -= _REBOUND_SHARE * drop
            self.var = np.maximum(self.var, _POST_CRASH_VARIANCE * self.base_var)
        previous = self.prices
        self.prices = previous * np.exp(returns)
        wick = np.abs(rng.standard_normal((2, n))) * np.sqrt(self.var) * 0.5
        highs = np.maximum(previous, self.prices) * (1.0 + wick[0])
        lows = np.minimum(previous, self.prices) * (1.0 - wick[1])
        return self.prices, highs, lows


class SyntheticSource:
    """A seeded random market (label "SYNTHETIC"): GARCH(1,1) volatility with Student-t shocks
    correlated across symbols, and rare market-wide crashes of 8-25 %."""

    label: SourceLabel = "SYNTHETIC"

    def __init__(
        self,
        instruments: Mapping[str, Instrument] | None = None,
        *,
        seed: int = 7,
        start_prices: Mapping[str, float] | None = None,
        interval: float = 1.0,
        bar_seconds: float = 3600.0,
        start_time: float | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        step_volatility: float = 0.0004,
        crash_probability: float = 1 / 2000,
    ) -> None:
        """`interval`: wall-clock seconds between steps (tick timestamps advance by it too, so
        funding and expiries behave as in a live market). `bar_seconds`: market time one step
        stands for; the long-run per-step stdev is `step_volatility * sqrt(bar_seconds / 3600)`,
        0.04 % by default: lively to watch, yet calm enough that a 2-minute proposal usually
        survives the 1 % price-move expiry (at 0.15 % per step nearly every one expired).
        `start_prices` are keyed by symbol or base (default BTC 60000, ETH 3000 USDT)."""
        self._instruments = dict(instruments if instruments is not None else DEFAULT_INSTRUMENTS)
        if not self._instruments:
            raise ValueError("synthetic market needs at least one instrument")
        given = dict(start_prices or {})
        self._start = {}
        for symbol, instrument in self._instruments.items():
            fallback = DEFAULT_START_PRICES.get(instrument.base, _FALLBACK_START)
            price = given.get(symbol, given.get(instrument.base, fallback))
            if not (math.isfinite(price) and price > 0):
                raise ValueError(f"start price for {symbol} must be positive, got {price!r}")
            self._start[symbol] = float(price)
        if bar_seconds <= 0:
            raise ValueError(f"bar_seconds must be positive, got {bar_seconds!r}")
        self.seed = seed
        self.interval = interval
        self.step_vol = step_volatility * math.sqrt(bar_seconds / 3600.0)
        self.crash_probability = crash_probability
        self.start_time = time.time() if start_time is None else float(start_time)
        self._sleep = sleep
        self._closed = False

    def start_prices(self) -> dict[str, float]:
        """Returns the first price of every symbol, in USDT (the market opens here)."""
        return dict(self._start)

    def instruments(self) -> dict[str, Instrument]:
        """Returns the instruments this market prices, keyed by ccxt symbol."""
        return dict(self._instruments)

    def _path(self) -> _Path:
        start = np.array([self._start[s] for s in self._instruments])
        return _Path(start, self.seed, self.step_vol, self.crash_probability)

    def generate(self, steps: int) -> dict[str, np.ndarray]:
        """Returns `steps` prices (USDT) per symbol, starting with the start price: exactly the
        prices `ticks()` yields, step by step. Same seed -> same path."""
        symbols = list(self._instruments)
        out = np.empty((max(steps, 0), len(symbols)))
        path = self._path()
        for i in range(len(out)):
            out[i] = path.prices if i == 0 else path.step()[0]
        return {symbol: out[:, j].copy() for j, symbol in enumerate(symbols)}

    def history(self, bars: int = HISTORY_BARS) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Returns a made-up past per symbol, (4h bar close times, closes USDT), oldest first,
        ending one bar before the stream starts at its start price: what the forecasting models
        are fitted on in the demo. The same process as the stream at a 4h step (~1.8 %, about
        BTC's) with a crash every ~80 days on average, so the demo's models have something to
        fit. Same seed -> same past."""
        start = np.array([self._start[s] for s in self._instruments])
        path = _Path(start, self.seed + 1, HISTORY_STEP_VOLATILITY, 1 / 480)
        prices = np.array([path.prices if i == 0 else path.step()[0] for i in range(bars)])
        prices *= start / prices[-1]  # walked forward from the start price, then scaled to end there
        last_close = math.floor(self.start_time / HISTORY_BAR_SECONDS) * HISTORY_BAR_SECONDS
        times = last_close - HISTORY_BAR_SECONDS * np.arange(bars - 1, -1, -1, dtype=np.float64)
        return {symbol: (times, prices[:, j].copy()) for j, symbol in enumerate(self._instruments)}

    async def ticks(self) -> AsyncIterator[Tick]:
        """Yields one Tick per symbol per step (timestamp = start_time + step * interval, epoch
        seconds; high/low = the step's range), sleeping `interval` between steps, until closed."""
        symbols = list(self._instruments)
        path = self._path()
        step = 0
        while not self._closed:
            if step == 0:
                prices = highs = lows = path.prices
            else:
                prices, highs, lows = path.step()
            timestamp = self.start_time + step * self.interval
            for j, symbol in enumerate(symbols):
                yield Tick(symbol, timestamp, float(prices[j]), float(highs[j]), float(lows[j]))
            step += 1
            await self._sleep(self.interval)

    async def close(self) -> None:
        """Stops the stream; ticks() ends at its next step."""
        self._closed = True
