"""Circuit breakers: what each one measures, and the latch that holds a trip until a person resets it.

Every breaker reads one number where larger is worse and compares it with a threshold:

| breaker             | value (unit)                                              | default threshold |
|---------------------|-----------------------------------------------------------|-------------------|
| position_day_loss   | the position's loss over the rolling 24h, fraction of its | 0.15              |
|                     | value 24h ago (price move against it; fees and funding    |                   |
|                     | are in the portfolio figure)                              |                   |
| portfolio_day_loss  | equity loss over the rolling 24h, fraction of equity 24h  | 0.08              |
|                     | ago (mark-to-market, not only closed trades)              |                   |
| correlation_spike   | average pairwise correlation of returns                   | its rolling band  |
| funding_extreme     | funding rate per 8h *against* the position (what it pays) | 0.002             |
| stale_data          | seconds since the last fresh price; for a real account    | market.stale_after|
|                     | also (subject "exchange account") seconds since its last  | (+ the account    |
|                     | good read while its reads fail: a REST API outage alone   | poll period)      |

The latch (Nautilus Trader's trading-state idea, per breaker):

    armed --breach--> tripped --clears--> latched --reset by a person--> armed
                         ^                   |
                         +-----breach--------+

A reset while the condition still holds re-arms *above* the value at the reset: the breaker trips
again only when the value gets worse by half a threshold more, or after it has cleared and comes
back. Otherwise a trader who acknowledged an 8% day loss could never resume until the 24h window
rolled past it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import Enum
from typing import Iterable, Mapping

from cockpit.domain.types import Gate

POSITION_DAY_LOSS = "position_day_loss"
PORTFOLIO_DAY_LOSS = "portfolio_day_loss"
CORRELATION_SPIKE = "correlation_spike"
FUNDING_EXTREME = "funding_extreme"
STALE_DATA = "stale_data"
ALL_BREAKERS = (POSITION_DAY_LOSS, PORTFOLIO_DAY_LOSS, CORRELATION_SPIKE, FUNDING_EXTREME, STALE_DATA)

PORTFOLIO = "portfolio"  # the subject of account-wide breakers
EXCHANGE_ACCOUNT = "exchange account"  # the stale-data subject of a real account's own reads
REARM_STEP = 0.5  # after a reset with the condition still on, re-trip only this many thresholds worse


class BreakerStatus(str, Enum):
    """Where one breaker is in its latch."""

    ARMED = "armed"  # watching, not tripped
    TRIPPED = "tripped"  # the condition holds now
    LATCHED = "latched"  # it tripped, has cleared since, and waits for a person's reset


@dataclass(frozen=True, slots=True)
class Reading:
    """One measurement of one breaker for one subject (a symbol, or "portfolio").

    `value` is None when there is not enough data yet (a warming-up breaker never trips)."""

    breaker: str
    subject: str
    value: float | None
    threshold: float

    @property
    def breached(self) -> bool:
        """Returns True when the value is known and strictly above the threshold."""
        return self.value is not None and self.value > self.threshold


@dataclass(frozen=True, slots=True)
class BreakerState:
    """The latch of one breaker for one subject. `value` and `threshold` are the last reading's;
    `tripped_value`/`tripped_at` (epoch seconds) are those of the trip that latched it."""

    breaker: str
    subject: str
    status: BreakerStatus = BreakerStatus.ARMED
    value: float | None = None
    threshold: float = math.nan
    tripped_value: float | None = None
    tripped_at: float | None = None
    rearm_above: float | None = None  # set by a reset while breached; see the module docstring

    @property
    def key(self) -> tuple[str, str]:
        """Returns (breaker, subject), the latch's identity."""
        return (self.breaker, self.subject)

    @property
    def engaged(self) -> bool:
        """Returns True when tripped or latched: a person has something to acknowledge."""
        return self.status is not BreakerStatus.ARMED


def _counts_as_breach(state: BreakerState, reading: Reading) -> bool:
    if not reading.breached:
        return False
    if state.rearm_above is None:
        return True
    assert reading.value is not None
    return reading.value > state.rearm_above + REARM_STEP * reading.threshold


def advance(
    states: Mapping[tuple[str, str], BreakerState], readings: Iterable[Reading], now: float
) -> tuple[dict[tuple[str, str], BreakerState], list[BreakerState]]:
    """Returns (the new latches keyed by (breaker, subject), the latches that tripped just now).

    Breakers without a reading this round keep their state: a missing reading is not a recovery.
    """
    updated = dict(states)
    trips = []
    for reading in readings:
        key = (reading.breaker, reading.subject)
        state = updated.get(key) or BreakerState(reading.breaker, reading.subject)
        breach = _counts_as_breach(state, reading)
        rearm_above = state.rearm_above if reading.breached else None  # cleared: a clean re-arm
        status, tripped_value, tripped_at = state.status, state.tripped_value, state.tripped_at
        fresh_trip = breach and status is BreakerStatus.ARMED
        if fresh_trip:
            tripped_value, tripped_at, rearm_above = reading.value, now, None
        if breach:
            status = BreakerStatus.TRIPPED
        elif status is BreakerStatus.TRIPPED:
            status = BreakerStatus.LATCHED
        state = replace(
            state,
            status=status,
            value=reading.value,
            threshold=reading.threshold,
            tripped_value=tripped_value,
            tripped_at=tripped_at,
            rearm_above=rearm_above,
        )
        updated[key] = state
        if fresh_trip:
            trips.append(state)
    return updated, trips


def reset(states: Mapping[tuple[str, str], BreakerState]) -> dict[tuple[str, str], BreakerState]:
    """Returns every latch re-armed, as a person's reset does. A breaker whose condition still
    holds remembers the value it was reset at (see the module docstring)."""
    out = {}
    for key, state in states.items():
        still_on = state.status is BreakerStatus.TRIPPED and state.value is not None
        out[key] = replace(
            state,
            status=BreakerStatus.ARMED,
            tripped_value=None,
            tripped_at=None,
            rearm_above=state.value if still_on else None,
        )
    return out


_STRICTNESS = {Gate.ACTIVE: 0, Gate.REDUCING: 1, Gate.HALTED: 2}


def gate_after_trip(gate: Gate, breaker: str) -> Gate:
    """Returns the gate a trip of `breaker` leaves behind: stale data halts automation, a
    portfolio day loss moves ACTIVE to REDUCING, the others leave it be. A trip never loosens the
    gate; only a person's reset does."""
    wanted = {STALE_DATA: Gate.HALTED, PORTFOLIO_DAY_LOSS: Gate.REDUCING}.get(breaker, Gate.ACTIVE)
    return wanted if _STRICTNESS[wanted] > _STRICTNESS[gate] else gate


# ---- what each breaker measures --------------------------------------------------------------


def position_day_loss(quantity: float, mark_price: float, price_day_ago: float | None) -> float | None:
    """Returns the position's loss over the rolling day as a fraction of its value then
    (0.15 = down 15 %; negative = a gain), or None without a positive price from 24h ago.

    It is the price move against the position, so a long loses when the price falls and a short
    when it rises; leverage does not change it."""
    if price_day_ago is None or not price_day_ago > 0 or quantity == 0:
        return None
    direction = 1.0 if quantity > 0 else -1.0
    return -direction * (mark_price - price_day_ago) / price_day_ago


def portfolio_day_loss(equity: float, equity_day_ago: float | None) -> float | None:
    """Returns the equity lost over the rolling day as a fraction of equity 24h ago (0.08 = down
    8 %; negative = a gain), or None without a positive equity from 24h ago."""
    if equity_day_ago is None or not equity_day_ago > 0:
        return None
    return (equity_day_ago - equity) / equity_day_ago


def funding_against(quantity: float, funding_rate: float) -> float:
    """Returns the funding rate per 8h the position pays (positive) or receives (negative): a
    long pays a positive rate, a short pays a negative one. 0.0 when flat."""
    if quantity == 0:
        return 0.0
    return funding_rate if quantity > 0 else -funding_rate


def describe(state: BreakerState) -> str:
    """Returns a short line for the screen and the journal, e.g.
    `portfolio_day_loss portfolio tripped 9.10% > 8.00%`."""
    value, threshold = state.value, state.threshold
    if state.breaker == STALE_DATA:
        shown = "n/a" if value is None else f"{value:.0f}s"
        limit = f"{threshold:.0f}s"
    elif state.breaker == CORRELATION_SPIKE:
        shown = "n/a" if value is None else f"{value:.2f}"
        limit = "n/a (warming up)" if math.isnan(threshold) else f"{threshold:.2f}"
    else:
        shown = "n/a" if value is None else f"{value:.2%}"
        limit = f"{threshold:.2%}"
    subject = state.subject.split("/")[0]  # "BTC/USDT:USDT" reads as BTC
    if state.engaged:
        return f"{state.breaker} {subject} {state.status.value} {shown} > {limit}"
    return f"{state.breaker} {subject} armed {shown} (limit {limit})"
