"""Target weights, drift, rounding and rebalance orders under the leverage ceiling."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cockpit.domain.rebalance import (
    breaches_band,
    current_weights,
    plan_rebalance,
    rebalance_orders,
    round_quantity,
    weight_drift,
)
from cockpit.domain.risk import account_equity, assess, simulate_fills
from cockpit.domain.tiers import DEFAULT_TIERS
from cockpit.domain.types import Balance, Instrument, Order, Position, State

BTC, ETH, SOL = "BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"
INSTRUMENTS = {
    BTC: Instrument(BTC, "BTC", 0.001, 5.0, 0.1, DEFAULT_TIERS),
    ETH: Instrument(ETH, "ETH", 0.001, 5.0, 0.01, DEFAULT_TIERS),
    SOL: Instrument(SOL, "SOL", 0.01, 5.0, 0.01, DEFAULT_TIERS),
}
FREE = dict(slippage=0.0, fee_rate=0.0)


def make_state(wallet, positions=(), marks=None, instruments=INSTRUMENTS):
    return State(0.0, Balance(wallet), {p.symbol: p for p in positions}, marks or {}, instruments)


def leverage_after(state, orders, slippage, fee_rate):
    return assess(simulate_fills(state, orders, slippage=slippage, fee_rate=fee_rate)).effective_leverage


# --- weights and drift ------------------------------------------------------------------------------

def test_weights_are_fractions_of_levered_capital():
    # equity 10000 (entry = mark), 2x target -> levered capital 20000.
    # 0.2 BTC * 50000 = 10000 -> 0.5; short 2 ETH * 2500 = -5000 -> -0.25
    state = make_state(10_000.0, [Position(BTC, 0.2, 50_000.0), Position(ETH, -2.0, 2_500.0)],
                       {BTC: 50_000.0, ETH: 2_500.0})
    assert current_weights(state, 2.0) == pytest.approx({BTC: 0.5, ETH: -0.25})
    # targets BTC 0.5, SOL 0.2 (not held); ETH held but untargeted -> target 0
    drift = weight_drift(state, {BTC: 0.5, SOL: 0.2}, 2.0)
    assert drift == pytest.approx({BTC: 0.0, ETH: -0.25, SOL: -0.2})
    assert breaches_band(drift, 0.2)  # |-0.25| > 0.2
    assert not breaches_band(drift, 0.25)


def test_weights_undefined_when_equity_not_positive():
    # long 1 BTC @ 30000 marked 20000, wallet 5000: equity -5000
    state = make_state(5_000.0, [Position(BTC, 1.0, 30_000.0)], {BTC: 20_000.0})
    drift = weight_drift(state, {BTC: 0.5}, 2.0)
    assert math.isnan(drift[BTC])
    assert not breaches_band(drift, 0.05)
    assert rebalance_orders(state, {BTC: 0.5}, target_leverage=2.0, ceiling=3.0, **FREE) == ()


# --- rounding ---------------------------------------------------------------------------------------

def test_round_quantity_hand_worked():
    assert round_quantity(0.30000000000000004, 0.1) == 0.3
    assert round_quantity(0.1 + 0.2, 0.001) == 0.3
    assert round_quantity(12.34567, 0.001) == 12.345
    assert round_quantity(-0.0379, 0.01) == -0.03  # toward zero, not floor
    assert round_quantity(0.0009, 0.001) == 0.0
    with pytest.raises(ValueError):
        round_quantity(1.0, 0.0)


@settings(max_examples=300, deadline=None)
@given(quantity=st.floats(-1e6, 1e6),
       step=st.sampled_from([1e-8, 1e-5, 0.001, 0.003, 0.01, 0.1, 0.25, 1.0, 5.0, 100.0]))
def test_round_quantity_never_grows_and_lands_on_steps(quantity, step):
    rounded = round_quantity(quantity, step)
    assert abs(rounded) <= abs(quantity)
    assert Decimal(repr(rounded)) % Decimal(repr(step)) == 0
    assert abs(quantity) - abs(rounded) < step * (1 + 1e-9)
    assert rounded == 0 or math.copysign(1, rounded) == math.copysign(1, quantity)


# --- orders -----------------------------------------------------------------------------------------

def test_design_example_from_flat():
    # 50 % BTC / 30 % ETH / 20 % reserve at 2x on 10000: BTC notional 0.5*2*10000 = 10000
    # -> 0.2 BTC at 50000; ETH 0.3*2*10000 = 6000 -> 2.4 ETH at 2500; leverage 16000/10000 = 1.6
    state = make_state(10_000.0, marks={BTC: 50_000.0, ETH: 2_500.0})
    orders = rebalance_orders(state, {BTC: 0.5, ETH: 0.3}, target_leverage=2.0, ceiling=3.0, **FREE)
    assert orders == (Order(BTC, "buy", 0.2), Order(ETH, "buy", 2.4))
    assert leverage_after(state, orders, 0.0, 0.0) == pytest.approx(1.6)


def test_quantities_round_toward_zero_and_tiny_orders_drop():
    # BTC 1/3 * 1 * 10000 = 3333.33 / 10000 = 0.33333 -> 0.333.
    # ETH: held 1.0 at 2500 = weight 0.25; target 0.2504 -> +4 USDT = 0.0016 ETH -> 0.001 ETH
    #   = 2.5 USDT < 5 minimum: dropped.
    state = make_state(10_000.0, [Position(ETH, 1.0, 2_500.0)], {BTC: 10_000.0, ETH: 2_500.0})
    orders = rebalance_orders(state, {BTC: 1 / 3, ETH: 0.2504}, target_leverage=1.0, ceiling=3.0,
                              **FREE)
    assert orders == (Order(BTC, "buy", 0.333),)


def test_reductions_come_first_and_are_reduce_only():
    # Hold 0.4 BTC (20000 = weight 1.0 at 2x on 10000). Targets BTC 0.5 -> 0.2 BTC: sell 0.2
    # reduce-only; ETH 0.3 -> 6000/2500 = 2.4: buy.
    state = make_state(10_000.0, [Position(BTC, 0.4, 50_000.0)], {BTC: 50_000.0, ETH: 2_500.0})
    orders = rebalance_orders(state, {BTC: 0.5, ETH: 0.3}, target_leverage=2.0, ceiling=3.0, **FREE)
    assert orders == (Order(BTC, "sell", 0.2, reduce_only=True), Order(ETH, "buy", 2.4))


def test_flip_is_split_into_close_then_open():
    # Hold 0.2 BTC long; target -0.25 at 2x on 10000 = -5000 -> -0.1 BTC.
    state = make_state(10_000.0, [Position(BTC, 0.2, 50_000.0)], {BTC: 50_000.0})
    orders = rebalance_orders(state, {BTC: -0.25}, target_leverage=2.0, ceiling=3.0, **FREE)
    assert orders == (Order(BTC, "sell", 0.2, reduce_only=True), Order(BTC, "sell", 0.1))


def test_targets_above_the_ceiling_are_scaled_under_it():
    # 80 % BTC + 20 % ETH at 5x asks for 5x > 3x: scale = 3*0.995/5 = 0.597.
    # BTC 0.8*5*10000*0.597 = 23880 -> 0.4776 -> 0.477 BTC; ETH 5970 / 2400 = 2.4875 -> 2.487.
    # Leverage (23850 + 5968.8) / 10000 = 2.98188
    state = make_state(10_000.0, marks={BTC: 50_000.0, ETH: 2_400.0})
    orders = rebalance_orders(state, {BTC: 0.8, ETH: 0.2}, target_leverage=5.0, ceiling=3.0, **FREE)
    assert orders == (Order(BTC, "buy", 0.477), Order(ETH, "buy", 2.487))
    assert leverage_after(state, orders, 0.0, 0.0) == pytest.approx(2.98188)


def test_fees_that_would_push_over_the_ceiling_are_scaled_out():
    # Exactly 3x asked, but 1 % slippage + 0.1 % fee cost equity, so the plain targets end above 3x.
    state = make_state(10_000.0, marks={BTC: 50_000.0})
    orders = rebalance_orders(state, {BTC: 1.0}, target_leverage=3.0, ceiling=3.0,
                              slippage=0.01, fee_rate=0.001)
    assert orders and orders[0].quantity < 0.6  # 0.6 BTC would be the unscaled 30000 target
    assert leverage_after(state, orders, 0.01, 0.001) <= 3.0


def test_no_orders_without_marks():
    state = make_state(10_000.0)
    assert rebalance_orders(state, {BTC: 0.5}, target_leverage=2.0, ceiling=3.0, **FREE) == ()


def test_plan_rebalance_inside_band_is_none_and_outside_has_cost():
    state = make_state(10_000.0, [Position(BTC, 0.2, 50_000.0)], {BTC: 50_000.0, ETH: 2_500.0})
    # BTC weight 0.5 at 2x, target 0.52: drift -0.02 within a 5-point band
    assert plan_rebalance(state, {BTC: 0.52}, target_leverage=2.0, band=0.05, ceiling=3.0,
                          **FREE) is None
    flat = make_state(10_000.0, marks={BTC: 50_000.0, ETH: 2_500.0})
    plan = plan_rebalance(flat, {BTC: 0.5, ETH: 0.3}, target_leverage=2.0, band=0.05,
                          ceiling=3.0, slippage=0.001, fee_rate=0.0005)
    assert plan.orders == (Order(BTC, "buy", 0.2), Order(ETH, "buy", 2.4))
    assert plan.drift == pytest.approx({BTC: -0.5, ETH: -0.3})
    # BTC: slippage 0.2*50 = 10, fee 0.0005*0.2*50050 = 5.005
    # ETH: slippage 2.4*2.5 = 6, fee 0.0005*2.4*2502.5 = 3.003 -> total 24.008
    assert plan.estimated_cost == pytest.approx(24.008)
    # equity after 10000 - 24.008 = 9975.992; gross at marks 16000
    assert plan.leverage_after == pytest.approx(16_000 / 9_975.992)
    assert 0 < plan.liquidation_distance_after < 1


# --- the guarantee ---------------------------------------------------------------------------------

SYMBOLS = (BTC, ETH, SOL)


@st.composite
def accounts(draw):
    wallet = draw(st.floats(1_000.0, 1e6))
    marks, positions = {}, []
    for symbol in SYMBOLS:
        if not draw(st.booleans()):
            continue
        mark = draw(st.floats(1.0, 1e5))
        marks[symbol] = mark
        exposure = draw(st.floats(-3.0, 3.0))  # this position's leverage at the mark
        step = INSTRUMENTS[symbol].step_size
        quantity = round(round(exposure * wallet / mark / step) * step, 8)
        if quantity:
            entry = mark * draw(st.floats(0.8, 1.25))
            positions.append(Position(symbol, quantity, entry))
    instruments = INSTRUMENTS if draw(st.booleans()) else {}
    state = make_state(wallet, positions, marks, instruments)
    assume(marks and account_equity(state) > 0)
    return state


@settings(max_examples=200, deadline=None)
@given(state=accounts(),
       weights=st.dictionaries(st.sampled_from(SYMBOLS), st.floats(-1.0, 1.0), max_size=3),
       target_leverage=st.floats(0.5, 10.0), ceiling=st.floats(1.0, 5.0),
       slippage=st.floats(0.0, 0.01), fee_rate=st.floats(0.0, 0.001))
def test_rebalance_never_ends_above_the_ceiling(state, weights, target_leverage, ceiling,
                                                slippage, fee_rate):
    orders = rebalance_orders(state, weights, target_leverage=target_leverage, ceiling=ceiling,
                              slippage=slippage, fee_rate=fee_rate)
    if orders:
        assert leverage_after(state, orders, slippage, fee_rate) <= ceiling + 1e-9
    for order in orders:
        step = state.instruments[order.symbol].step_size if state.instruments else 0.001
        assert Decimal(repr(order.quantity)) % Decimal(repr(step)) == 0
