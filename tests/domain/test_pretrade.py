"""Pre-trade checks: gate, precision and minimums, order notional, exposure, order rate, and the
combined `pretrade_denial`. Expected figures are worked by hand in the comments."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit.domain.pretrade import (
    OrderRateLimiter,
    PretradeLimits,
    check_exposure,
    check_gate,
    check_order_notional,
    check_precision,
    pretrade_denial,
)
from cockpit.domain.risk import assess, simulate_fills
from cockpit.domain.types import Balance, Gate, Instrument, Order, Position, State

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
BTC_I = Instrument(BTC, "BTC", step_size=0.001, min_notional=5.0, tick_size=0.1, tiers=())
ETH_I = Instrument(ETH, "ETH", step_size=0.01, min_notional=5.0, tick_size=0.01, tiers=())
FREE = PretradeLimits(slippage=0.0, fee_rate=0.0)  # no costs: the hand arithmetic stays exact


def state(wallet, positions=(), marks=None):
    return State(
        timestamp=0.0,
        balance=Balance(wallet),
        positions={p.symbol: p for p in positions},
        marks=marks if marks is not None else {BTC: 50_000.0, ETH: 2_000.0},
        instruments={BTC: BTC_I, ETH: ETH_I},
    )


class Clock:
    """A clock the test moves by hand, in seconds."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# --- precision and minimums -------------------------------------------------------------------


def test_precision_off_step_is_denied():
    # 0.0015 / 0.001 = 1.5 steps: not whole.
    order = Order(BTC, "buy", 0.0015)
    assert check_precision(order, BTC_I, 50_000.0) == (
        "DENIED precision quantity=0.0015 not a multiple of step=0.001"
    )


def test_precision_accepts_float_residue_on_step():
    # 0.003 / 0.001 = 2.9999999999999996 in floats: 3 steps within 1e-9 relative.
    assert check_precision(Order(BTC, "buy", 0.003), BTC_I, 50_000.0) is None
    # 0.1 + 0.2 = 0.30000000000000004 ETH = 30 steps of 0.01; 30 * 2000 = 600 >= 5.
    assert check_precision(Order(ETH, "sell", 0.1 + 0.2), ETH_I, 2_000.0) is None


def test_precision_rejects_non_positive_quantity_and_bad_mark():
    assert check_precision(Order(BTC, "buy", 0.0), BTC_I, 50_000.0).startswith(
        "DENIED precision quantity=0.0 not positive"
    )
    assert check_precision(Order(BTC, "buy", 0.001), BTC_I, math.nan).startswith("DENIED mark")
    assert check_precision(Order(BTC, "buy", 0.001), BTC_I, 0.0).startswith("DENIED mark")


def test_min_notional_denied_but_reduce_only_passes():
    # 0.001 BTC * 3200 = 3.20 USDT < 5.00 minimum.
    assert check_precision(Order(BTC, "buy", 0.001), BTC_I, 3_200.0) == (
        "DENIED min_notional 3.20 < 5.00"
    )
    # The same order reduce-only (closing dust) is exempt from the minimum.
    assert check_precision(Order(BTC, "sell", 0.001, reduce_only=True), BTC_I, 3_200.0) is None
    # 0.001 * 5000 = 5.00: exactly the minimum passes.
    assert check_precision(Order(BTC, "buy", 0.001), BTC_I, 5_000.0) is None


# --- order notional ---------------------------------------------------------------------------


def test_order_notional_limit():
    # 1.22 BTC * 50000 = 61,000 > 50,000.
    assert check_order_notional(Order(BTC, "buy", 1.22), 50_000.0, 50_000.0) == (
        "DENIED order_notional=61,000.00 > max=50,000.00"
    )
    # 1.0 * 50000 = 50,000: equal to the limit passes; inf means no limit.
    assert check_order_notional(Order(BTC, "buy", 1.0), 50_000.0, 50_000.0) is None
    assert check_order_notional(Order(BTC, "buy", 1e6), 50_000.0, math.inf) is None


# --- exposure ---------------------------------------------------------------------------------


def test_exposure_over_cap_is_denied():
    # Flat, equity 10,000. Buy 0.124 BTC at 50,000 = 6,200 -> 6200/10000 = 0.62 > 0.50.
    limits = PretradeLimits(max_exposure_fraction=0.5, slippage=0.0, fee_rate=0.0)
    assert check_exposure(state(10_000.0), [Order(BTC, "buy", 0.124)], limits=limits) == (
        "DENIED exposure BTC=0.62 > cap=0.50 of equity"
    )
    # 0.1 BTC = 5,000 -> 0.50: at the cap passes.
    assert check_exposure(state(10_000.0), [Order(BTC, "buy", 0.1)], limits=limits) is None


def test_exposure_counts_fees_and_slippage():
    # Buy 0.1 BTC, mark 50,000, slippage 0.1 %, fee 0.1 %: fill 50,050; fee 0.1*50050*0.001 =
    # 5.005; unrealized 0.1*(50000-50050) = -5. Equity 10000 - 5.005 - 5 = 9989.995.
    # Exposure 5000 / 9989.995 = 0.500501 > 0.50.
    limits = PretradeLimits(max_exposure_fraction=0.5, slippage=0.001, fee_rate=0.001)
    assert check_exposure(state(10_000.0), [Order(BTC, "buy", 0.1)], limits=limits) == (
        "DENIED exposure BTC=0.50 > cap=0.50 of equity"
    )


def test_exposure_reduction_is_never_denied():
    # Long 0.2 BTC at 50,000 = 10,000 = 1.0 of equity 10,000, over the 0.5 cap.
    # Selling 0.05 leaves 0.15 * 50000 = 7,500 = 0.75, still over the cap, but smaller: allowed.
    limits = PretradeLimits(max_exposure_fraction=0.5, slippage=0.001, fee_rate=0.001)
    held = state(10_000.0, [Position(BTC, 0.2, 50_000.0)])
    assert check_exposure(held, [Order(BTC, "sell", 0.05)], limits=limits) is None
    # Short 0.2 bought back 0.05 is also a reduction.
    short = state(10_000.0, [Position(BTC, -0.2, 50_000.0)])
    assert check_exposure(short, [Order(BTC, "buy", 0.05)], limits=limits) is None
    # Adding 0.01 to the long grows it: 0.21 * 50000 = 10,500 -> 1.05 (less costs) > 0.5.
    assert check_exposure(held, [Order(BTC, "buy", 0.01)], limits=limits).startswith(
        "DENIED exposure BTC=1.05 > cap=0.50"
    )


def test_exposure_ignores_untouched_assets_over_cap():
    # ETH 5 * 2000 = 10,000 = 1.0 of equity (over 0.5) is untouched; buying 0.01 BTC adds
    # 0.01 * 50000 = 500 = 0.05 of equity: allowed.
    limits = PretradeLimits(max_exposure_fraction=0.5, slippage=0.0, fee_rate=0.001)
    held = state(10_000.0, [Position(ETH, 5.0, 2_000.0)])
    assert check_exposure(held, [Order(BTC, "buy", 0.01)], limits=limits) is None


# --- gate -------------------------------------------------------------------------------------


def test_gate_active_and_halted():
    orders = [Order(BTC, "sell", 0.1, reduce_only=True)]
    held = state(10_000.0, [Position(BTC, 0.2, 50_000.0)])
    assert check_gate(Gate.ACTIVE, held, orders) is None
    assert check_gate(Gate.HALTED, held, orders).startswith("DENIED gate=HALTED")
    assert check_gate("HALTED", held, orders).startswith("DENIED gate=HALTED")
    assert check_gate(Gate.HALTED, held, []) is None  # nothing to send


def test_gate_reducing_allows_only_shrinking_orders():
    held = state(10_000.0, [Position(BTC, 0.2, 50_000.0)])
    # 0.2 -> 0.1: shrinks.  0.2 -> 0.0: closing exactly counts.
    assert check_gate(Gate.REDUCING, held, [Order(BTC, "sell", 0.1)]) is None
    assert check_gate(Gate.REDUCING, held, [Order(BTC, "sell", 0.2)]) is None
    # 0.2 -> 0.3 grows.
    assert check_gate(Gate.REDUCING, held, [Order(BTC, "buy", 0.1)]) == (
        "DENIED gate=REDUCING buy 0.1 BTC/USDT:USDT position=0.2 grows |position|"
    )
    # 0.2 -> -0.1 flips.
    assert check_gate(Gate.REDUCING, held, [Order(BTC, "sell", 0.3)]) == (
        "DENIED gate=REDUCING sell 0.3 BTC/USDT:USDT position=0.2 flips position"
    )
    # A flat symbol can only grow.
    assert check_gate("REDUCING", held, [Order(ETH, "buy", 1.0)]).endswith("grows |position|")
    # Orders apply in turn: 0.2 -> 0.05 -> -0.1, the second one flips.
    two = [Order(BTC, "sell", 0.15), Order(BTC, "sell", 0.15)]
    denial = check_gate(Gate.REDUCING, held, two)
    assert denial.startswith("DENIED gate=REDUCING sell 0.15") and denial.endswith("flips position")


# --- order rate -------------------------------------------------------------------------------


def test_rate_limiter_denies_sixth_order_in_window_and_check_does_not_consume():
    clock = Clock()
    limiter = OrderRateLimiter(clock)  # 5 orders per 1 s
    assert limiter.check(5) is None
    assert limiter.check(5) is None  # check consumed nothing
    limiter.record(5)
    assert limiter.check() == "DENIED order_rate 6 in 1.0s > 5/s"
    assert limiter.check() == "DENIED order_rate 6 in 1.0s > 5/s"


def test_rate_limiter_window_slides():
    clock = Clock()
    limiter = OrderRateLimiter(clock, max_per_second=5.0)
    limiter.record(3)  # t = 0.0
    clock.now = 0.5
    limiter.record(2)  # t = 0.5: 5 in window
    assert limiter.check() == "DENIED order_rate 6 in 1.0s > 5/s"
    clock.now = 0.999  # the three from t=0 are still inside (0.999 - 0 < 1)
    assert limiter.check() is not None
    clock.now = 1.0  # they leave: 2 remain, room for 3
    assert limiter.check(3) is None
    assert limiter.check(4) == "DENIED order_rate 6 in 1.0s > 5/s"
    clock.now = 1.5  # the two from t=0.5 leave too
    assert limiter.check(5) is None


def test_rate_limiter_rejects_bad_settings():
    with pytest.raises(ValueError):
        OrderRateLimiter(Clock(), max_per_second=0.0)
    with pytest.raises(ValueError):
        PretradeLimits(leverage_ceiling=0.0)
    two_per_second = PretradeLimits(max_orders_per_second=2)
    assert OrderRateLimiter.from_limits(Clock(), two_per_second).capacity == 2


# --- the whole pipeline -----------------------------------------------------------------------


def test_pretrade_denial_order_of_checks():
    flat = state(10_000.0)
    limits = PretradeLimits(leverage_ceiling=3.0, max_order_notional=30_000.0,
                            max_exposure_fraction=0.5, slippage=0.0, fee_rate=0.0)

    def run(orders, gate=Gate.ACTIVE, limiter=None):
        return pretrade_denial(flat, orders, gate=gate, limits=limits, rate_limiter=limiter)

    # HALTED wins over an off-step order.
    assert run([Order(BTC, "buy", 0.0015)], gate=Gate.HALTED).startswith("DENIED gate=HALTED")
    # Precision before notional: 1.0005 is off-step and 50,025 over the max.
    assert run([Order(BTC, "buy", 1.0005)]).startswith("DENIED precision")
    # Notional before leverage: 0.7 BTC * 50000 = 35,000 > 30,000 (and 3.5x).
    assert run([Order(BTC, "buy", 0.7)]) == "DENIED order_notional=35,000.00 > max=30,000.00"
    # Leverage before exposure: two BTC orders 0.35 each = 17,500 each, 35,000 total = 3.50x.
    assert run([Order(BTC, "buy", 0.35), Order(BTC, "buy", 0.35)]) == (
        "DENIED leverage_after=3.50 > ceiling=3.00"
    )
    # Exposure: 0.12 BTC = 6,000 = 0.60 of equity, 0.6x leverage.
    assert run([Order(BTC, "buy", 0.12)]) == "DENIED exposure BTC=0.60 > cap=0.50 of equity"
    # Rate last: a full limiter denies an otherwise fine order.
    clock = Clock()
    limiter = OrderRateLimiter(clock)
    limiter.record(5)
    assert run([Order(BTC, "buy", 0.01)], limiter=limiter) == "DENIED order_rate 6 in 1.0s > 5/s"
    # Unknown instrument or missing mark is denied; a good order passes and records nothing.
    assert run([Order("SOL/USDT:USDT", "buy", 1.0)]).startswith("DENIED unknown_instrument")
    no_mark = state(10_000.0, marks={ETH: 2_000.0})
    assert pretrade_denial(no_mark, [Order(BTC, "buy", 0.01)], gate=Gate.ACTIVE, limits=limits,
                           rate_limiter=None).startswith("DENIED mark")
    fresh = OrderRateLimiter(clock)
    assert run([Order(BTC, "buy", 0.01)], limiter=fresh) is None
    assert fresh.check(5) is None


def test_pretrade_reduction_passes_above_ceiling():
    # Long 1 BTC at 50,000 on a 10,000 wallet = 5x, over a 3x ceiling and a 0.5 exposure cap.
    # Selling 0.2 -> 0.8 * 50000 = 40,000 = 4x: still over, but lower, so it goes.
    over = state(10_000.0, [Position(BTC, 1.0, 50_000.0)])
    limits = PretradeLimits(max_exposure_fraction=0.5)
    assert pretrade_denial(over, [Order(BTC, "sell", 0.2)], gate=Gate.REDUCING, limits=limits,
                           rate_limiter=None) is None


# --- property ---------------------------------------------------------------------------------

_quantity = st.integers(-400, 400)


@st.composite
def scenarios(draw):
    marks = {BTC: draw(st.floats(10_000, 100_000)), ETH: draw(st.floats(500, 5_000))}
    positions = []
    for symbol, instrument in ((BTC, BTC_I), (ETH, ETH_I)):
        steps = draw(_quantity)
        if steps:
            entry = marks[symbol] * draw(st.floats(0.8, 1.2))
            positions.append(Position(symbol, steps * instrument.step_size, entry))
    held = state(draw(st.floats(1_000, 100_000)), positions, marks)
    orders = []
    for _ in range(draw(st.integers(0, 3))):
        symbol, instrument = draw(st.sampled_from([(BTC, BTC_I), (ETH, ETH_I)]))
        steps = draw(st.integers(1, 500)) + draw(st.sampled_from([0.0, 0.0, 0.3, 0.5]))
        orders.append(Order(symbol, draw(st.sampled_from(["buy", "sell"])),
                            steps * instrument.step_size, reduce_only=draw(st.booleans())))
    limits = PretradeLimits(
        leverage_ceiling=draw(st.floats(0.5, 5.0)),
        max_order_notional=draw(st.sampled_from([math.inf, 20_000.0])),
        max_exposure_fraction=draw(st.sampled_from([math.inf, 0.5, 2.0])),
        slippage=draw(st.floats(0.0, 0.002)),
        fee_rate=draw(st.floats(0.0, 0.001)),
    )
    return held, orders, limits


def _on_step(quantity: float, step: float) -> bool:
    # Independent of the module: exact decimal quotient within 1e-6 of a whole number.
    steps = Decimal(repr(quantity)) / Decimal(repr(step))
    return abs(steps - steps.to_integral_value()) < Decimal("1e-6")


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_property_allowed_orders_respect_ceiling_and_step(scenario):
    held, orders, limits = scenario
    limiter = OrderRateLimiter(Clock())
    denial = pretrade_denial(held, orders, gate=Gate.ACTIVE, limits=limits, rate_limiter=limiter)
    if denial is not None:
        assert denial.startswith("DENIED ")
        return
    before = assess(held).effective_leverage
    after = assess(simulate_fills(held, orders, slippage=limits.slippage,
                                  fee_rate=limits.fee_rate)).effective_leverage
    assert after <= limits.leverage_ceiling + 1e-9 or after < before
    for order in orders:
        assert _on_step(order.quantity, held.instruments[order.symbol].step_size)
