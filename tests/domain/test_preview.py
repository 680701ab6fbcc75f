"""The trade preview (risk before and after a batch) and the sizes a person types (manual orders,
a proposal scaled by a factor): hand-worked cases and properties."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit.domain.order_size import OrderSizeError, manual_order, resolve_symbol, scale_orders
from cockpit.domain.pretrade import PretradeLimits, pretrade_denial
from cockpit.domain.preview import preview_orders
from cockpit.domain.rebalance import current_weights
from cockpit.domain.risk import assess, simulate_fills
from cockpit.domain.stress import nearest_liquidation
from cockpit.domain.types import Balance, Gate, Instrument, Order, Position, State

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
BTC_I = Instrument(BTC, "BTC", step_size=0.001, min_notional=5.0, tick_size=0.1, tiers=())
ETH_I = Instrument(ETH, "ETH", step_size=0.01, min_notional=5.0, tick_size=0.01, tiers=())
FREE = PretradeLimits(slippage=0.0, fee_rate=0.0)


def state(wallet, positions=(), marks=None):
    return State(0.0, Balance(wallet), {p.symbol: p for p in positions},
                 marks if marks is not None else {BTC: 50_000.0, ETH: 2_000.0}, {BTC: BTC_I, ETH: ETH_I})


# ---- preview: hand-worked --------------------------------------------------------------------


def test_preview_of_a_buy_on_a_flat_account():
    # 10,000 USDT, buy 0.4 BTC at 50,000 with no costs: 20,000 notional / 10,000 equity = 2x;
    # weight at a 2x aim: 20,000 / (2 x 10,000) = 1.0 of levered capital.
    preview = preview_orders(state(10_000.0), [Order(BTC, "buy", 0.4)], limits=FREE, gate=Gate.ACTIVE,
                             target_leverage=2.0)
    assert preview.leverage_before == 0.0 and preview.leverage_after == pytest.approx(2.0)
    assert preview.weights_before == {} and preview.weights_after == {BTC: pytest.approx(1.0)}
    assert preview.liquidation_distance_before == math.inf
    assert 0 < preview.liquidation_distance_after < 1
    assert preview.estimated_cost == 0.0 and preview.denial is None and preview.allowed


def test_preview_says_the_ceiling_denial_of_the_pretrade_check():
    # 0.7 BTC = 35,000 / 10,000 = 3.5x > 3x.
    preview = preview_orders(state(10_000.0), [Order(BTC, "buy", 0.7)], limits=FREE, gate=Gate.ACTIVE,
                             target_leverage=2.0)
    assert preview.denial == "DENIED leverage_after=3.50 > ceiling=3.00"
    assert preview.leverage_after == pytest.approx(3.5)


def test_preview_costs_count_trading_orders_only():
    # Buy 0.1 BTC at 50,000 with 0.1% slippage and 0.1% fee: 0.1 x 50 slippage + 0.1% x 5,005 fee.
    limits = PretradeLimits(slippage=0.001, fee_rate=0.001)
    stop = Order(BTC, "sell", 0.1, reduce_only=True, order_type="stop_market", stop_price=45_000.0)
    preview = preview_orders(state(10_000.0), [Order(BTC, "buy", 0.1), stop], limits=limits, gate=Gate.ACTIVE,
                             target_leverage=1.0)
    assert preview.estimated_cost == pytest.approx(5.0 + 5.005)


def test_an_empty_batch_is_never_denied_even_over_the_ceiling():
    over = state(1_000.0, [Position(BTC, 0.1, 50_000.0)])  # 5,000 / 1,000 = 5x
    preview = preview_orders(over, [], limits=FREE, gate=Gate.HALTED, target_leverage=1.0)
    assert preview.denial is None and preview.leverage_after == preview.leverage_before == pytest.approx(5.0)


# ---- preview: properties ---------------------------------------------------------------------


@st.composite
def books(draw):
    marks = {BTC: draw(st.floats(10_000, 100_000)), ETH: draw(st.floats(500, 5_000))}
    positions = []
    for symbol, instrument in ((BTC, BTC_I), (ETH, ETH_I)):
        steps = draw(st.integers(-400, 400))
        if steps:
            positions.append(Position(symbol, steps * instrument.step_size, marks[symbol] * draw(st.floats(0.8, 1.2))))
    held = state(draw(st.floats(1_000, 100_000)), positions, marks)
    orders = []
    for _ in range(draw(st.integers(0, 3))):
        symbol, instrument = draw(st.sampled_from([(BTC, BTC_I), (ETH, ETH_I)]))
        orders.append(Order(symbol, draw(st.sampled_from(["buy", "sell"])),
                            draw(st.integers(1, 500)) * instrument.step_size, reduce_only=draw(st.booleans())))
    limits = PretradeLimits(leverage_ceiling=draw(st.floats(0.5, 5.0)), slippage=draw(st.floats(0.0, 0.002)),
                            fee_rate=draw(st.floats(0.0, 0.001)))
    return held, orders, limits, draw(st.floats(0.5, 3.0))


@settings(max_examples=200, deadline=None)
@given(books(), st.sampled_from(list(Gate)))
def test_property_after_state_risk_is_assess_of_the_state_with_the_fills_applied(book, gate):
    held, orders, limits, aim = book
    preview = preview_orders(held, orders, limits=limits, gate=gate, target_leverage=aim)
    after_state = simulate_fills(held, orders, slippage=limits.slippage, fee_rate=limits.fee_rate)
    after = assess(after_state)
    assert preview.after == after and preview.before == assess(held)
    assert preview.leverage_after == after.effective_leverage
    assert preview.liquidation_distance_after == nearest_liquidation(after_state, after)
    assert preview.weights_after == current_weights(after_state, aim)
    expected = pretrade_denial(held, orders, gate=gate, limits=limits, rate_limiter=None) if orders else None
    assert preview.denial == expected


# ---- manual orders -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["btc", "BTC", " Btc ", "BTCUSDT", "btc/usdt", BTC])
def test_symbols_are_found_by_any_name_a_trader_types(text):
    assert resolve_symbol(text, {BTC: BTC_I, ETH: ETH_I}) == BTC


@pytest.mark.parametrize("text, expected", [("DOGE", "unknown symbol 'DOGE': tradable here: BTC, ETH"),
                                            ("", "no symbol: type one of BTC, ETH")])
def test_an_unknown_symbol_names_the_tradable_ones(text, expected):
    with pytest.raises(OrderSizeError) as raised:
        resolve_symbol(text, {BTC: BTC_I, ETH: ETH_I})
    assert str(raised.value) == expected


def test_a_notional_becomes_a_quantity_at_the_mark_rounded_down_to_the_step():
    # 1,234 USDT / 50,000 = 0.02468 BTC -> 0.024 on the 0.001 step.
    assert manual_order(state(10_000.0), BTC, "buy", notional=1_234.0) == Order(BTC, "buy", 0.024)
    assert manual_order(state(10_000.0), ETH, "sell", quantity=1.239) == Order(ETH, "sell", 1.23)


@pytest.mark.parametrize("kwargs, expected", [
    ({"quantity": 0.0}, "quantity must be a number above zero, not 0.0"),
    ({"quantity": -0.1}, "quantity must be a number above zero"),
    ({"quantity": math.inf}, "quantity must be a number above zero"),
    ({"notional": math.nan}, "notional must be a number above zero"),
    ({"quantity": 0.0009}, "0.0009 BTC rounds down to nothing: the step is 0.001"),
    ({"quantity": 0.1, "notional": 100.0}, "give a quantity or a notional, not both"),
    ({}, "give a quantity or a notional, not both"),
    ({"quantity": 0.1, "reduce_only": True}, "reduce-only buy needs a short BTC position to reduce; none is held"),
])
def test_a_size_that_cannot_be_an_order_is_one_line(kwargs, expected):
    with pytest.raises(OrderSizeError) as raised:
        manual_order(state(10_000.0), BTC, "buy", **kwargs)
    assert expected in str(raised.value) and "\n" not in str(raised.value)


def test_reduce_only_cannot_exceed_the_position():
    held = state(10_000.0, [Position(BTC, 0.1, 50_000.0)])
    assert manual_order(held, BTC, "sell", quantity=0.1, reduce_only=True) == Order(BTC, "sell", 0.1, reduce_only=True)
    with pytest.raises(OrderSizeError, match="reduce-only sell 0.2 BTC is more than the 0.1 held"):
        manual_order(held, BTC, "sell", quantity=0.2, reduce_only=True)


def test_no_mark_no_order():
    with pytest.raises(OrderSizeError, match="no price for BTC yet"):
        manual_order(state(10_000.0, marks={}), BTC, "buy", quantity=0.1)


# ---- scaling a proposal ----------------------------------------------------------------------


def test_scaling_rounds_down_drops_stops_and_caps_reduce_only_at_the_position():
    held = state(10_000.0, [Position(ETH, 1.0, 2_000.0)])
    orders = (Order(BTC, "buy", 0.166), Order(ETH, "sell", 0.6, reduce_only=True),
              Order(BTC, "sell", 0.166, reduce_only=True, order_type="stop_market", stop_price=45_000.0))
    # 0.166 x 0.5 = 0.083; ETH 0.6 x 0.5 = 0.3.
    assert scale_orders(held, orders, 0.5) == (Order(BTC, "buy", 0.083), Order(ETH, "sell", 0.3, reduce_only=True))
    # x3: 0.498 BTC; the ETH cut would be 1.8 of a 1.0 position: capped at 1.0, never a flip.
    assert scale_orders(held, orders, 3) == (Order(BTC, "buy", 0.498), Order(ETH, "sell", 1.0, reduce_only=True))


@pytest.mark.parametrize("factor", [0.0, -1.0, math.nan, math.inf, True])
def test_a_bad_scale_is_refused(factor):
    with pytest.raises(OrderSizeError, match="scale must be a number above zero"):
        scale_orders(state(10_000.0), (Order(BTC, "buy", 0.1),), factor)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 5_000), st.floats(0.001, 10.0))
def test_property_scaled_quantity_is_on_step_and_within_one_step_below_the_exact_product(steps, factor):
    quantity = steps * 0.001
    try:
        (scaled,) = scale_orders(state(10_000.0), (Order(BTC, "buy", quantity),), factor)
    except OrderSizeError:
        assert quantity * factor < 0.001 + 1e-12  # nothing left only when below one step
        return
    exact = Decimal(repr(quantity)) * Decimal(repr(factor))
    size = Decimal(repr(scaled.quantity))
    assert size <= exact + Decimal("1e-12") and exact - size < Decimal("0.001")
    assert (size / Decimal("0.001")) == (size / Decimal("0.001")).to_integral_value()


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 2_000_000), st.floats(1_000.0, 100_000.0))
def test_property_a_notional_buys_whole_steps_worth_at_most_the_notional(cents, mark):
    notional = cents / 100
    held = state(10_000.0, marks={BTC: mark, ETH: 2_000.0})
    try:
        order = manual_order(held, BTC, "buy", notional=notional)
    except OrderSizeError as problem:
        assert "rounds down to nothing" in str(problem)
        assert Decimal(repr(notional)) / Decimal(repr(mark)) < Decimal("0.001") + Decimal("1e-12")
        return
    exact = Decimal(repr(notional)) / Decimal(repr(mark))
    size = Decimal(repr(order.quantity))
    assert size <= exact + Decimal("1e-12") and exact - size < Decimal("0.001")
    assert size / Decimal("0.001") == (size / Decimal("0.001")).to_integral_value()
