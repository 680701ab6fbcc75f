"""The liquidation ladder of one position: hand-worked rungs and properties (the last rung is the
liquidation price, where the margin ratio is exactly 1; distances shrink on the way)."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cockpit.domain.ladder import liquidation_ladder
from cockpit.domain.liquidation import liquidation_price
from cockpit.domain.risk import assess
from cockpit.domain.tiers import DEFAULT_TIERS
from cockpit.domain.types import Balance, Instrument, MaintenanceTier, Position, State

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
FLAT = (MaintenanceTier(0.0, math.inf, 0.004, 0.0, 125.0),)


def book(wallet, positions, marks, tiers=FLAT):
    instruments = {s: Instrument(s, s.split("/")[0], 0.001, 5.0, 0.1, tiers) for s in (BTC, ETH)}
    return State(0.0, Balance(wallet), {p.symbol: p for p in positions}, marks, instruments)


def test_an_isolated_3x_long_walks_from_the_mark_to_its_liquidation_price():
    # 1 BTC at 30,000 with 10,000 isolated margin, MMR 0.4 %: LP = 20,000 / 0.996 = 20,080.32.
    state = book(10_000.0, [Position(BTC, 1.0, 30_000.0, "isolated", 10_000.0)], {BTC: 30_000.0})
    ladder = liquidation_ladder(state, BTC, steps=4)
    assert ladder.liquidation_price == pytest.approx(20_000 / 0.996)
    prices = [r.price for r in ladder.rungs]
    step = (30_000 - 20_000 / 0.996) / 4
    assert prices == pytest.approx([30_000 - k * step for k in range(5)])
    assert [r.label for r in ladder.rungs] == ["mark", "", "", "", "liquidation"]
    first, last = ladder.rungs[0], ladder.rungs[-1]
    # At the mark: margin 10,000, maintenance 0.4 % of 30,000 = 120 -> 1.2 %; 33.1 % to go.
    assert first.move == 0.0 and first.margin_ratio == pytest.approx(0.012)
    assert first.to_liquidation == pytest.approx(ladder.liquidation_distance) == pytest.approx(0.3306559, rel=1e-6)
    assert last.move == pytest.approx(20_000 / 0.996 / 30_000 - 1)
    assert last.to_liquidation == 0.0 and last.margin_ratio == pytest.approx(1.0)
    assert last.unrealized_pnl == pytest.approx(20_000 / 0.996 - 30_000)


def test_a_short_climbs_and_the_stop_gets_its_own_rung():
    state = book(10_000.0, [Position(BTC, -1.0, 30_000.0, "isolated", 10_000.0)], {BTC: 30_000.0})
    ladder = liquidation_ladder(state, BTC, steps=2, stop_price=33_000.0)
    assert ladder.liquidation_price == pytest.approx(40_000 / 1.004)
    assert [r.label for r in ladder.rungs] == ["mark", "stop", "", "liquidation"]
    assert [r.move > 0 for r in ladder.rungs[1:]] == [True, True, True]
    stop = ladder.rungs[1]
    assert stop.price == 33_000.0 and stop.unrealized_pnl == pytest.approx(-3_000.0)


def test_tier_steps_show_where_the_maintenance_rate_changes():
    # 2 BTC at 30,000 = 60,000 notional: bracket 2 (from 50,000, 0.5 %). Falling, the notional
    # meets the 50,000 floor at 25,000, where the rate drops to 0.4 % (bracket 1).
    state = book(20_000.0, [Position(BTC, 2.0, 30_000.0, "isolated", 20_000.0)], {BTC: 30_000.0}, DEFAULT_TIERS)
    ladder = liquidation_ladder(state, BTC, steps=3)
    (tier_step,) = [r for r in ladder.rungs if r.label.startswith("tier")]
    assert tier_step.label == "tier 2→1" and tier_step.price == pytest.approx(25_000.0)
    assert ladder.rungs[0].tier == 2 and ladder.rungs[0].maintenance_rate == 0.005
    assert ladder.rungs[-1].tier == 1 and ladder.rungs[-1].maintenance_rate == 0.004
    assert ladder.rungs[-1].margin_ratio == pytest.approx(1.0)


def test_a_long_that_cannot_be_liquidated_walks_fixed_moves_down():
    state = book(100_000.0, [Position(BTC, 1.0, 30_000.0)], {BTC: 30_000.0})
    ladder = liquidation_ladder(state, BTC, steps=6)
    assert ladder.liquidation_price == 0.0 and ladder.liquidation_distance == 1.0
    assert [round(r.move, 2) for r in ladder.rungs] == [0.0, -0.15, -0.3, -0.45, -0.6, -0.75, -0.9]
    assert "liquidation" not in [r.label for r in ladder.rungs]


def test_no_position_no_ladder():
    assert liquidation_ladder(book(1_000.0, [], {BTC: 30_000.0}), BTC) is None
    with pytest.raises(ValueError):
        liquidation_ladder(book(1_000.0, [Position(BTC, 1.0, 30_000.0)], {BTC: 30_000.0}), BTC, steps=0)


@settings(max_examples=200, deadline=None)
@given(
    btc=st.integers(-3_000, 3_000), eth=st.integers(-30_000, 30_000),
    wallet=st.floats(2_000, 200_000), btc_mark=st.floats(20_000, 90_000), eth_mark=st.floats(1_000, 4_000),
    entry_move=st.floats(-0.2, 0.2), isolated=st.booleans(), steps=st.integers(1, 8),
)
def test_property_the_ladder_ends_where_the_margin_runs_out(btc, eth, wallet, btc_mark, eth_mark, entry_move,
                                                           isolated, steps):
    assume(btc != 0)
    marks = {BTC: btc_mark, ETH: eth_mark}
    margin = wallet / 4
    positions = [Position(BTC, btc * 0.001, btc_mark * (1 + entry_move), "isolated" if isolated else "cross",
                          margin if isolated else 0.0)]
    if eth:
        positions.append(Position(ETH, eth * 0.001, eth_mark))
    state = book(wallet, positions, marks, DEFAULT_TIERS)
    ladder = liquidation_ladder(state, BTC, steps=steps)
    row = assess(state).position(BTC)
    assert ladder.liquidation_price == row.liquidation_price
    assert ladder.rungs[0].label == "mark" and ladder.rungs[0].price == row.mark_price
    # At the mark the ratio is the account's (cross) or the position's own margin's (isolated).
    risk = assess(state)
    backing = margin + row.unrealized_pnl if isolated else risk.equity
    if backing > 0:
        maintenance = row.maintenance_margin if isolated else risk.maintenance_margin
        assert ladder.rungs[0].margin_ratio == pytest.approx(maintenance / backing, rel=1e-9)
    away = [abs(r.price - ladder.mark) for r in ladder.rungs]
    assert away == sorted(away)
    liquidation_rungs = [r for r in ladder.rungs if r.label == "liquidation"]
    adverse = 0 < row.liquidation_price and (row.liquidation_price < row.mark_price if btc > 0
                                             else row.liquidation_price > row.mark_price)
    if adverse and row.liquidation_price > 1.0:
        (last,) = liquidation_rungs
        assert last is ladder.rungs[-1] and last.to_liquidation == 0.0
        assert last.margin_ratio == pytest.approx(1.0, rel=1e-6)
        # Between the mark and liquidation the account is still standing.
        assert all(r.margin_ratio < 1.0 + 1e-9 for r in ladder.rungs)
        distances = [r.to_liquidation for r in ladder.rungs]
        assert distances == sorted(distances, reverse=True)
    for rung in ladder.rungs:
        if rung.label.startswith("tier"):
            floor = [t.min_notional for t in DEFAULT_TIERS if t.min_notional > 0]
            assert any(abs(rung.price * abs(btc * 0.001) - f) < 1e-6 * f for f in floor)


def test_the_isolated_liquidation_price_matches_the_one_bracket_formula():
    # Cross-check with the untiered formula inside one bracket: 0.5 BTC at 40,000, margin 5,000.
    state = book(5_000.0, [Position(BTC, 0.5, 40_000.0, "isolated", 5_000.0)], {BTC: 40_000.0})
    expected = liquidation_price(side="long", quantity=0.5, entry_price=40_000.0, wallet_balance=5_000.0,
                                 maintenance_margin_rate=0.004, maintenance_amount=0.0)
    assert liquidation_ladder(state, BTC).rungs[-1].price == pytest.approx(expected)
