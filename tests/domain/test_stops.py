"""Volatility-adjusted stops: the distance formula, the liquidation buffer, the stop order."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit.domain.liquidation import (
    SHORT_LIQUIDATED_AT_ANY_PRICE,
    liquidation_distance,
    liquidation_price,
)
from cockpit.domain.stops import (
    STOP_CAP,
    STOP_FLOOR,
    protective_stop,
    stop_distance,
    stop_price,
)
from cockpit.domain.types import Order

BTC = "BTC/USDT:USDT"


# -- distance --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sigma, expected",
    [
        (0.03, 0.08),  # the anchor: 4h sigma 3 % -> ~8 %
        (0.08, 0.15),  # and 8 % -> ~15 %
        (0.0128, 0.05592),  # BTC's ordinary ~1.3 % 4h sigma: 0.038 + 1.4 * 0.0128
        (0.0, 0.038),  # no volatility at all still leaves 3.8 % of room
        (0.10, 0.178),
        (0.20, 0.25),  # 0.318 capped at 25 %
        (math.inf, 0.25),
    ],
)
def test_stop_distance_hand_worked(sigma, expected):
    assert stop_distance(sigma) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("sigma", [-0.01, float("nan"), -math.inf])
def test_stop_distance_rejects_bad_sigma(sigma):
    with pytest.raises(ValueError):
        stop_distance(sigma)


@settings(max_examples=300, deadline=None)
@given(a=st.floats(0.0, 1.0), b=st.floats(0.0, 1.0))
def test_stop_distance_is_monotone_and_bounded(a, b):
    low, high = sorted((a, b))
    assert stop_distance(low) <= stop_distance(high)
    assert STOP_FLOOR <= stop_distance(low) <= STOP_CAP


# -- price -----------------------------------------------------------------------------------


def test_long_volatility_stop_well_inside_liquidation():
    # Mark 60000, sigma 3 % -> 8 % -> 55200. Liquidation at 40000 (33 % away, ~3x): the
    # buffer floor 40000 + 0.02 * 60000 = 41200 is far below, so volatility decides.
    level = stop_price("long", 60_000.0, 0.03, 40_000.0)
    assert level.price == pytest.approx(55_200.0)
    assert level.distance == pytest.approx(0.08)
    assert level.volatility_distance == pytest.approx(0.08)
    assert level.liquidation_distance == pytest.approx(1 / 3)
    assert (level.pulled_in, level.feasible) == (False, True)


def test_long_stop_pulled_in_to_the_buffer():
    # Sigma 8 % wants 15 % (51000) but liquidation is at 54000 (10 % away, ~10x): the stop may go
    # no lower than 54000 + 0.02 * 60000 = 55200, i.e. 8 % below the mark.
    level = stop_price("long", 60_000.0, 0.08, 54_000.0)
    assert level.price == pytest.approx(55_200.0)
    assert level.distance == pytest.approx(0.08)
    assert level.volatility_distance == pytest.approx(0.15)
    assert (level.pulled_in, level.feasible) == (True, True)


def test_short_stops():
    # Short at 3000, sigma 3 %: 3240. Liquidation 3900: the limit 3900 - 60 = 3840 is above.
    level = stop_price("short", 3_000.0, 0.03, 3_900.0)
    assert level.price == pytest.approx(3_240.0)
    assert level.pulled_in is False
    # Liquidation at 3200: stop no higher than 3200 - 0.02 * 3000 = 3140, 4.67 % above the mark.
    level = stop_price("short", 3_000.0, 0.03, 3_200.0)
    assert level.price == pytest.approx(3_140.0)
    assert level.distance == pytest.approx(140 / 3000)
    assert (level.pulled_in, level.feasible) == (True, True)


def test_custom_buffer():
    # Buffer 5 %: a long liquidating at 54000 may stop no lower than 54000 + 3000 = 57000.
    level = stop_price("long", 60_000.0, 0.08, 54_000.0, buffer=0.05)
    assert level.price == pytest.approx(57_000.0)
    assert level.distance == pytest.approx(0.05)


def test_positions_that_cannot_be_liquidated():
    # A long with LP 0 (fully collateralised) and a short with LP 0: the volatility decides.
    assert stop_price("long", 100.0, 0.08, 0.0).price == pytest.approx(85.0)
    level = stop_price("short", 100.0, 0.08, 0.0)
    assert level.price == pytest.approx(115.0)
    assert level.liquidation_distance == math.inf and level.pulled_in is False


def test_no_room_between_mark_and_liquidation():
    # A long 1 % from liquidation with a 2 % buffer: no stop fits; the caller must cut it.
    level = stop_price("long", 100.0, 0.03, 99.0)
    assert (level.feasible, level.price, level.distance) == (False, 100.0, 0.0)
    assert level.pulled_in is True
    # Exactly at the buffer: the stop would be the mark itself, which is no stop either.
    assert stop_price("long", 100.0, 0.03, 98.0).feasible is False
    # A short already below maintenance at any price.
    assert stop_price("short", 100.0, 0.03, SHORT_LIQUIDATED_AT_ANY_PRICE).feasible is False
    # A long already past its liquidation price.
    assert stop_price("long", 100.0, 0.03, 105.0).feasible is False


def test_tick_rounding_goes_towards_the_mark():
    # 60000.05 * 0.92 = 55200.046: a long's stop rounds *up* to 55200.1 (away from liquidation),
    # a short's 60000.05 * 1.08 = 64800.054 rounds *down* to 64800.0.
    long = stop_price("long", 60_000.05, 0.03, 40_000.0, tick_size=0.1)
    assert long.price == pytest.approx(55_200.1)
    short = stop_price("short", 60_000.05, 0.03, 90_000.0, tick_size=0.1)
    assert short.price == pytest.approx(64_800.0)
    # Already on a tick: unchanged.
    assert stop_price("long", 60_000.0, 0.03, 40_000.0, tick_size=0.1).price == pytest.approx(55_200.0)
    # A coarse tick: 1.00 * 0.962 rounds up onto the mark itself (no stop), so it rounds down to
    # 0.90 instead - allowed while 0.90 is still clear of liquidation + buffer...
    coarse = stop_price("long", 1.0, 0.0, 0.0, tick_size=0.1)
    assert (coarse.price, coarse.feasible) == (pytest.approx(0.9), True)
    # ...and not when liquidation 0.89 + buffer 0.02 = 0.91 is above 0.90: no stop fits.
    assert stop_price("long", 1.0, 0.0, 0.89, tick_size=0.1).feasible is False


@pytest.mark.parametrize(
    "args, kwargs",
    [
        (("long", 0.0, 0.03, 50.0), {}),
        (("long", float("nan"), 0.03, 50.0), {}),
        (("long", 100.0, -0.03, 50.0), {}),
        (("long", 100.0, 0.03, 50.0), {"buffer": -0.01}),
        (("long", 100.0, 0.03, 50.0), {"tick_size": 0.0}),
        (("up", 100.0, 0.03, 50.0), {}),
    ],
)
def test_stop_price_rejects_bad_inputs(args, kwargs):
    with pytest.raises(ValueError):
        stop_price(*args, **kwargs)


@settings(max_examples=500, deadline=None)
@given(
    side=st.sampled_from(["long", "short"]),
    entry=st.floats(1.0, 100_000.0),
    move=st.floats(-0.3, 0.3),
    leverage=st.floats(1.0, 50.0),
    quantity=st.floats(0.001, 100.0),
    rate=st.floats(0.001, 0.05),
    sigma=st.floats(0.0, 0.3),
    buffer=st.floats(0.0, 0.1),
    tick=st.one_of(st.none(), st.sampled_from([0.01, 0.1, 1.0])),
)
def test_stop_always_triggers_before_liquidation(
    side, entry, move, leverage, quantity, rate, sigma, buffer, tick
):
    # A random isolated position, its true liquidation price, and a mark that has moved.
    lp = liquidation_price(
        side=side, quantity=quantity, entry_price=entry, wallet_balance=quantity * entry / leverage,
        maintenance_margin_rate=rate, maintenance_amount=0.0,
    )
    mark = entry * (1 + move)
    level = stop_price(side, mark, sigma, lp, buffer=buffer, tick_size=tick)
    room = liquidation_distance(side, mark, lp)
    if not level.feasible:
        # Only when there is genuinely no room (tick rounding may eat at most one tick of it).
        assert room <= buffer + (tick or 0.0) / mark + 1e-9
        assert level.price == mark
        return
    if side == "long":
        assert level.price >= lp + buffer * mark
        assert level.price < mark
    else:
        assert level.price > mark
        if lp > 0:
            assert level.price <= lp - buffer * mark
    # Never further than the volatility asked for (give or take the tick it was rounded to).
    assert level.distance <= level.volatility_distance + (tick or 0.0) / mark + 1e-9
    if not level.pulled_in and tick is None:
        assert level.distance == pytest.approx(level.volatility_distance)


# -- the order -------------------------------------------------------------------------------


def test_protective_stop_for_a_long_and_a_short():
    assert protective_stop(BTC, 0.5, 55_200.0, client_order_id="s1") == Order(
        BTC, "sell", 0.5, reduce_only=True, order_type="stop_market", client_order_id="s1",
        stop_price=55_200.0,
    )
    order = protective_stop(BTC, -2.0, 64_800.0)
    assert (order.side, order.quantity, order.reduce_only, order.order_type, order.stop_price) == (
        "buy", 2.0, True, "stop_market", 64_800.0
    )
    assert order.signed_quantity == 2.0  # closes the -2.0 short exactly


@pytest.mark.parametrize("quantity, stop", [(0.0, 100.0), (float("nan"), 100.0), (1.0, 0.0),
                                            (1.0, -5.0), (1.0, float("inf"))])
def test_protective_stop_rejects_bad_inputs(quantity, stop):
    with pytest.raises(ValueError):
        protective_stop(BTC, quantity, stop)


def test_existing_order_constructors_still_work():
    # stop_price was added last with a default: positional construction is unchanged.
    order = Order(BTC, "buy", 1.0, False, "limit", 59_000.0, "cid")
    assert (order.limit_price, order.client_order_id, order.stop_price) == (59_000.0, "cid", None)


def test_a_mark_below_one_tick_gets_no_stop_rather_than_a_stop_at_zero():
    # Found by the fuzz drill: a garbage price far below the tick size rounded a long's stop to
    # 0.0, the policy took it as feasible, and protective_stop raised out of Engine.on_tick.
    level = stop_price("long", 1e-12, 0.02, 0.0, tick_size=0.1)
    assert not level.feasible and level.price == 1e-12
    short = stop_price("short", 1e-12, 0.02, 0.0, tick_size=0.1)
    assert not short.feasible
