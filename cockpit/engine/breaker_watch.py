"""Feeds the circuit breakers: the rolling-day memory of prices and equity, the correlation
series, the latest funding, and the latches themselves (`cockpit.domain.breakers`).

The engine calls `observe` on every price, `observe_funding` on every settlement, and `check` on
every update and housekeeping round; `check` returns the latches that tripped just now, and the
engine journals them, moves the gate and makes the proposals.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Iterable, Mapping

import numpy as np

from cockpit.config import Config
from cockpit.domain import breakers as b
from cockpit.domain.realized import realized_sigma
from cockpit.domain.hedging import average_pairwise_correlation, correlation_spike
from cockpit.domain.risk import RiskSnapshot

DAY_SECONDS = 24 * 3600.0
SAMPLE_SECONDS = 60.0  # one remembered price per symbol per market minute is plenty for a 24h look-back


class _Series:
    """(market time, value) samples kept for a little more than a day."""

    def __init__(self) -> None:
        self.times: deque[float] = deque()
        self.values: deque[float] = deque()

    def add(self, timestamp: float, value: float) -> None:
        if self.times and timestamp < self.times[-1]:
            return  # out of order: the rolling window only moves forward
        if len(self.times) > 1 and timestamp - self.times[-1] < SAMPLE_SECONDS:
            self.values[-1] = value  # the newest value of the minute; the oldest sample stays put
        else:
            self.times.append(timestamp)
            self.values.append(value)
        # Keep one sample at or before the window's start, so "24h ago" stays answerable.
        while len(self.times) > 1 and self.times[1] <= timestamp - DAY_SECONDS:
            self.times.popleft()
            self.values.popleft()

    def day_ago(self, now: float) -> float | None:
        """The value at the start of the rolling day: the last sample at or before now - 24h, or
        the oldest one when the memory is younger than a day (the day began when we started)."""
        if not self.times:
            return None
        start, index = now - DAY_SECONDS, 0
        while index + 1 < len(self.times) and self.times[index + 1] <= start:
            index += 1  # only when this series was not updated lately: a step or two
        return self.values[index]


class BreakerWatch:
    """Everything the breakers need to know between updates, and their latches."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self.latches: dict[tuple[str, str], b.BreakerState] = {}
        self._prices: dict[str, _Series] = {}
        self._equity = _Series()
        self._funding: dict[str, float] = {}
        self._sample_every = config.breakers.correlation_sample_hours * 3600.0
        self._last_sample_at: float | None = None
        self._samples: deque[dict[str, float]] = deque(maxlen=config.breakers.correlation_window + 1)
        self._correlations: deque[float] = deque(maxlen=config.breakers.correlation_history)
        self._correlation: float | None = None
        self._correlation_band = math.nan

    # ---- what happened -------------------------------------------------------------------

    def observe(self, market_time: float, marks: Mapping[str, float], equity: float) -> None:
        """Remembers the marks and the equity at `market_time` (epoch seconds)."""
        for symbol, price in marks.items():
            if price > 0:
                self._prices.setdefault(symbol, _Series()).add(market_time, price)
        self._equity.add(market_time, equity)
        if self._last_sample_at is None or market_time - self._last_sample_at >= self._sample_every:
            self._last_sample_at = market_time
            self._sample_correlation(dict(marks))

    def sigma_4h(self, symbol: str) -> float | None:
        """Returns the realized 4h volatility of `symbol` over the remembered day (fraction), or
        None while too few prices are remembered."""
        series = self._prices.get(symbol)
        if series is None:
            return None
        return realized_sigma(list(series.times), list(series.values))

    def observe_funding(self, symbol: str, rate: float) -> None:
        """Remembers the latest funding rate per 8h settled on `symbol`."""
        self._funding[symbol] = rate

    def _sample_correlation(self, marks: dict[str, float]) -> None:
        self._samples.append(marks)
        symbols = sorted(set.intersection(*(set(s) for s in self._samples)))
        if len(symbols) < 2 or len(self._samples) < self._samples.maxlen:
            return
        prices = np.array([[sample[s] for s in symbols] for sample in self._samples])
        returns = np.diff(np.log(prices), axis=0)
        current = average_pairwise_correlation(returns)
        if not math.isfinite(current):
            return
        _, band = correlation_spike(
            list(self._correlations), current, band_sigmas=self._config.breakers.correlation_band_sigmas
        )
        self._correlations.append(current)
        self._correlation = current
        self._correlation_band = band  # NaN while the band is warming up

    # ---- the readings --------------------------------------------------------------------

    def readings(self, risk: RiskSnapshot, market_time: float | None,
                 price_age: float | None, account_age: float | None = None) -> list[b.Reading]:
        """Returns one reading per breaker and subject; `price_age` is wall seconds since the last
        price (None before the first), `account_age` wall seconds since a real account was last
        read from its exchange while its reads fail (0 while they succeed; None for a paper account)."""
        limits = self._config.breakers
        stale_after = self._config.market.stale_after_seconds
        out = [b.Reading(b.STALE_DATA, b.PORTFOLIO, price_age, stale_after)]
        if account_age is not None:
            # Prices may stream while the REST API is down (a 429 or 418 ban, 5xx): positions,
            # orders and fills are then unknown, which is as stale as a dead price feed. A read
            # is due every poll period, so that much more is allowed.
            out.append(b.Reading(b.STALE_DATA, b.EXCHANGE_ACCOUNT, account_age,
                                 stale_after + self._config.exchange.account_poll_seconds))
        if market_time is None or not limits.enabled:
            return out
        equity_day_ago = self._equity.day_ago(market_time)
        out.append(b.Reading(b.PORTFOLIO_DAY_LOSS, b.PORTFOLIO,
                             b.portfolio_day_loss(risk.equity, equity_day_ago), limits.portfolio_day_loss))
        for row in risk.positions:
            series = self._prices.get(row.symbol)
            price_day_ago = series.day_ago(market_time) if series else None
            out.append(b.Reading(b.POSITION_DAY_LOSS, row.symbol,
                                 b.position_day_loss(row.quantity, row.mark_price, price_day_ago),
                                 limits.position_day_loss))
            if row.symbol in self._funding:
                out.append(b.Reading(b.FUNDING_EXTREME, row.symbol,
                                     b.funding_against(row.quantity, self._funding[row.symbol]),
                                     limits.funding_extreme))
        band = self._correlation_band
        out.append(b.Reading(b.CORRELATION_SPIKE, b.PORTFOLIO,
                             self._correlation if math.isfinite(band) else None,
                             band))  # NaN while the band warms up: shown as n/a, never trips
        return out

    def check(self, risk: RiskSnapshot, *, now: float, market_time: float | None,
              price_age: float | None, account_age: float | None = None) -> list[b.BreakerState]:
        """Advances every latch with fresh readings; returns those that tripped just now."""
        readings = self.readings(risk, market_time, price_age, account_age)
        self.latches, trips = b.advance(self.latches, readings, now)
        return trips

    def restore(self, latches: Iterable[b.BreakerState]) -> None:
        """Puts latches a restart took back from the journal into place, replacing any latch
        with the same (breaker, subject). Returns nothing; the next `check` advances them like
        any other latch, so one whose condition still holds turns TRIPPED again."""
        for latch in latches:
            self.latches[latch.key] = latch

    def reset(self) -> list[b.BreakerState]:
        """Re-arms every latch (a person's reset); returns the ones that were engaged."""
        engaged = [latch for latch in self.latches.values() if latch.engaged]
        self.latches = b.reset(self.latches)
        return engaged

    def board(self) -> tuple[b.BreakerState, ...]:
        """Returns every latch, engaged ones first, for the screen."""
        return tuple(sorted(self.latches.values(), key=lambda s: (not s.engaged, s.breaker, s.subject)))
