"""The account-level liquidation move: all prices together, against the book."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

from cockpit.domain.risk import assess
from cockpit.domain.stress import account_liquidation_move, nearest_liquidation
from cockpit.domain.tiers import DEFAULT_TIERS
from cockpit.domain.types import Balance, Instrument, Position, State

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
INSTRUMENTS = {s: Instrument(s, s[:3], 0.001, 5.0, 0.1, DEFAULT_TIERS) for s in (BTC, ETH)}


def state(wallet, positions, marks):
    return State(0.0, Balance(wallet), {p.symbol: p for p in positions}, marks, INSTRUMENTS)


def test_flat_account_cannot_be_liquidated():
    assert account_liquidation_move(state(10_000.0, [], {})) == math.inf


def test_single_3x_long_matches_the_hand_worked_distance():
    # 1/6 BTC at 60,000 = 10,000 notional on 3,333.33 wallet; mmr 0.4%, cum 0 (tier 1).
    # LP = (3,333.33 - 10,000) / (1/6 * (0.004 - 1)) = 40,160.64; distance = 1 - 40,160.64/60,000.
    s = state(10_000.0 / 3, [Position(BTC, 1 / 6, 60_000.0)], {BTC: 60_000.0})
    assert account_liquidation_move(s) == pytest.approx(1 - 40_160.642570281 / 60_000.0, rel=1e-9)


def test_two_longs_fall_together_sooner_than_either_alone():
    # 1.6x in two longs: BTC alone would have to fall ~100%, together ~62%.
    s = state(
        9_984.0,
        [Position(BTC, 0.166, 60_030.0), Position(ETH, 2.0, 3_001.5)],
        {BTC: 60_000.0, ETH: 3_000.0},
    )
    together = account_liquidation_move(s)
    alone = assess(s).nearest_liquidation_distance
    assert 0.55 < together < 0.65
    assert together < alone
    assert nearest_liquidation(s, assess(s)) == together


def test_a_short_is_liquidated_by_a_common_rise():
    # 0.5 BTC short at 60,000 on 10,000: equity hits maintenance near +33% (mmr 0.4%).
    s = state(10_000.0, [Position(BTC, -0.5, 60_000.0)], {BTC: 60_000.0})
    # (10,000 + 0.5*60,000) / (0.5 * 1.004) = 79,681.27 -> +32.8%
    assert account_liquidation_move(s) == pytest.approx(79_681.274900398 / 60_000.0 - 1, rel=1e-9)


def test_an_account_already_below_maintenance_is_at_zero():
    s = state(10.0, [Position(BTC, 1.0, 60_000.0)], {BTC: 50_000.0})
    assert account_liquidation_move(s) == 0.0


@settings(max_examples=200, deadline=None)
@given(
    side=st.sampled_from([1.0, -1.0]),
    leverage=st.floats(1.1, 50.0),
    notional=st.floats(1_000.0, 5_000_000.0),
    price=st.floats(100.0, 200_000.0),
)
def test_for_one_cross_position_the_common_move_is_its_own_distance(side, leverage, notional, price):
    quantity = side * notional / price
    s = state(notional / leverage, [Position(BTC, quantity, price)], {BTC: price})
    own = assess(s).positions[0].liquidation_distance
    assert account_liquidation_move(s) == pytest.approx(own, rel=1e-6, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(
    btc=st.floats(-3.0, 3.0).filter(lambda q: abs(q) > 1e-3),
    eth=st.floats(-60.0, 60.0).filter(lambda q: abs(q) > 1e-2),
    wallet=st.floats(2_000.0, 200_000.0),
)
def test_at_the_common_move_the_book_sits_exactly_on_maintenance(btc, eth, wallet):
    from cockpit.domain.stress import _cross_book, _surplus

    s = state(wallet, [Position(BTC, btc, 60_000.0), Position(ETH, eth, 3_000.0)], {BTC: 60_000.0, ETH: 3_000.0})
    move = account_liquidation_move(s)
    book_wallet, legs = _cross_book(s)
    if move == 0.0 or math.isinf(move):
        return
    scale = 1.0 - move if _surplus(book_wallet, legs, 1.0 - move) == pytest.approx(0.0, abs=1e-6 * wallet) else 1.0 + move
    assert _surplus(book_wallet, legs, scale) == pytest.approx(0.0, abs=1e-6 * wallet)
    # No smaller common move, either way, reaches maintenance (sampled).
    for fraction in (0.25, 0.5, 0.75, 0.99):
        if move * fraction < 1.0:  # prices cannot fall below zero: a move over 100% is a rise
            assert _surplus(book_wallet, legs, 1.0 - move * fraction) > 0
        assert _surplus(book_wallet, legs, 1.0 + move * fraction) > 0
