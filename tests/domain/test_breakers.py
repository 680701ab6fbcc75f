"""The breaker latch and the figures each breaker reads."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit.domain import breakers as b
from cockpit.domain.breakers import BreakerStatus, Reading
from cockpit.domain.types import Gate


def reading(value, threshold=0.08, breaker=b.PORTFOLIO_DAY_LOSS, subject=b.PORTFOLIO):
    return Reading(breaker, subject, value, threshold)


def step(states, value, now=0.0, **kw):
    return b.advance(states, [reading(value, **kw)], now)


KEY = (b.PORTFOLIO_DAY_LOSS, b.PORTFOLIO)


def test_trip_latch_and_reset_cycle():
    states, trips = step({}, 0.05, now=1)
    assert trips == [] and states[KEY].status is BreakerStatus.ARMED

    states, trips = step(states, 0.09, now=2)
    assert [t.key for t in trips] == [KEY]
    assert states[KEY].status is BreakerStatus.TRIPPED
    assert states[KEY].tripped_value == 0.09 and states[KEY].tripped_at == 2

    # Still breached: no second trip event.
    states, trips = step(states, 0.12, now=3)
    assert trips == [] and states[KEY].status is BreakerStatus.TRIPPED

    # Cleared: it stays latched, keeping the trip's numbers.
    states, trips = step(states, 0.01, now=4)
    assert trips == [] and states[KEY].status is BreakerStatus.LATCHED
    assert states[KEY].tripped_value == 0.09

    # Breached again while latched: tripped, but not a new trip.
    states, trips = step(states, 0.10, now=5)
    assert trips == [] and states[KEY].status is BreakerStatus.TRIPPED

    states = b.reset(states)
    assert states[KEY].status is BreakerStatus.ARMED


def test_reset_while_breached_rearms_above_the_acknowledged_value():
    states, _ = step({}, 0.10)
    states = b.reset(states)
    assert states[KEY].rearm_above == 0.10
    # 0.10 + half of 0.08 = 0.14 is the new trip point.
    states, trips = step(states, 0.13)
    assert trips == [] and states[KEY].status is BreakerStatus.ARMED
    states, trips = step(states, 0.141)
    assert [t.key for t in trips] == [KEY]


def test_clearing_after_a_reset_restores_the_plain_threshold():
    states, _ = step({}, 0.10)
    states = b.reset(states)
    states, _ = step(states, 0.02)
    assert states[KEY].rearm_above is None
    states, trips = step(states, 0.081)
    assert trips


def test_unknown_value_never_trips_and_missing_reading_keeps_the_latch():
    states, trips = step({}, None)
    assert trips == [] and states[KEY].status is BreakerStatus.ARMED
    states, _ = step(states, 0.2)
    states, trips = b.advance(states, [], 9.0)
    assert states[KEY].status is BreakerStatus.TRIPPED


def test_threshold_is_strict():
    states, trips = step({}, 0.08)
    assert trips == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(-1, 1)), min_size=1, max_size=60), st.integers(0, 59))
def test_once_tripped_only_a_reset_rearms(values, reset_at):
    """Breakers latch: after the first breach the latch is never ARMED again until reset()."""
    states: dict = {}
    tripped = False
    for index, value in enumerate(values):
        if index == reset_at:
            states = b.reset(states)
            tripped = False
            assert all(s.status is BreakerStatus.ARMED for s in states.values())
        before = states.get(KEY)
        states, trips = step(states, value, now=float(index))
        now_state = states[KEY]
        if trips:
            assert before is None or before.status is BreakerStatus.ARMED
            tripped = True
        if tripped:
            assert now_state.engaged
        if value is not None and value <= 0.08:
            assert now_state.status is not BreakerStatus.TRIPPED


def test_gate_after_trip_never_loosens():
    assert b.gate_after_trip(Gate.ACTIVE, b.STALE_DATA) is Gate.HALTED
    assert b.gate_after_trip(Gate.ACTIVE, b.PORTFOLIO_DAY_LOSS) is Gate.REDUCING
    assert b.gate_after_trip(Gate.HALTED, b.PORTFOLIO_DAY_LOSS) is Gate.HALTED
    assert b.gate_after_trip(Gate.REDUCING, b.POSITION_DAY_LOSS) is Gate.REDUCING
    for breaker in b.ALL_BREAKERS:
        for gate in Gate:
            assert b._STRICTNESS[b.gate_after_trip(gate, breaker)] >= b._STRICTNESS[gate]


def test_position_day_loss_is_the_move_against_the_position():
    # Long from 10,000 to 8,000: down 20 %. A short gains the same.
    assert b.position_day_loss(1.5, 8_000, 10_000) == pytest.approx(0.20)
    assert b.position_day_loss(-1.5, 8_000, 10_000) == pytest.approx(-0.20)
    assert b.position_day_loss(-2.0, 11_500, 10_000) == pytest.approx(0.15)
    assert b.position_day_loss(1.0, 8_000, None) is None
    assert b.position_day_loss(0.0, 8_000, 10_000) is None


def test_portfolio_day_loss():
    assert b.portfolio_day_loss(9_100, 10_000) == pytest.approx(0.09)
    assert b.portfolio_day_loss(11_000, 10_000) == pytest.approx(-0.10)
    assert b.portfolio_day_loss(5_000, 0.0) is None


def test_funding_against_the_position():
    # 2020-03-13: -0.3 % per 8h, shorts pay.
    assert b.funding_against(-1.0, -0.003) == pytest.approx(0.003)
    assert b.funding_against(1.0, -0.003) == pytest.approx(-0.003)
    assert b.funding_against(1.0, 0.0025) == pytest.approx(0.0025)
    assert b.funding_against(0.0, 0.01) == 0.0


def test_describe_names_the_numbers():
    states, _ = step({}, 0.091)
    assert b.describe(states[KEY]) == "portfolio_day_loss portfolio tripped 9.10% > 8.00%"
    stale, _ = b.advance({}, [Reading(b.STALE_DATA, b.PORTFOLIO, 42.0, 30.0)], 0)
    assert "42s > 30s" in b.describe(stale[(b.STALE_DATA, b.PORTFOLIO)])
    assert not math.isnan(stale[(b.STALE_DATA, b.PORTFOLIO)].threshold)
