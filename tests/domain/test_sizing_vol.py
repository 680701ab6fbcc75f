"""Volatility targeting, the anti-martingale guard, drawdown, and the combined SizingDecision."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit.domain.sizing import (
    REGIME_KELLY_MULTIPLIER,
    SizingDecision,
    anti_martingale_cap,
    drawdown,
    fractional_kelly,
    regime_multiplier,
    target_leverage,
    volatility_target_leverage,
)

NAN = float("nan")
INF = float("inf")


# -- drawdown --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "equity, peak, expected",
    [
        (8_000.0, 10_000.0, 0.2),  # 2000 below a 10000 peak = 20 %
        (10_000.0, 10_000.0, 0.0),
        (11_000.0, 10_000.0, 0.0),  # above the peak (the caller has a stale peak): no drawdown
        (0.0, 10_000.0, 1.0),
        (-1_000.0, 10_000.0, 1.1),  # negative equity: more than everything lost
    ],
)
def test_drawdown_hand_worked(equity, peak, expected):
    assert drawdown(equity, peak) == pytest.approx(expected)


@pytest.mark.parametrize("equity, peak", [(1.0, 0.0), (1.0, -5.0), (1.0, NAN), (NAN, 10.0), (INF, 10.0)])
def test_drawdown_rejects_bad_inputs(equity, peak):
    with pytest.raises(ValueError):
        drawdown(equity, peak)


# -- volatility targeting --------------------------------------------------------------------


@pytest.mark.parametrize(
    "target, forecast, ceiling, expected",
    [
        (0.40, 0.80, 3.0, 0.5),  # 40 % target over 80 % forecast: half of equity
        (0.60, 0.30, 3.0, 2.0),
        (0.60, 0.15, 3.0, 3.0),  # 4x wanted, 3x ceiling
        (0.02, 0.01, 3.0, 2.0),  # 4h sigmas work the same: 2 % target / 1 % forecast
        (0.40, 0.0, 3.0, 3.0),  # no forecast volatility at all: the ceiling
        (0.0, 0.5, 3.0, 0.0),
        (0.40, 0.20, 1.5, 1.5),  # a lower ceiling binds
    ],
)
def test_volatility_target_hand_worked(target, forecast, ceiling, expected):
    assert volatility_target_leverage(target, forecast, ceiling=ceiling) == pytest.approx(expected)


@pytest.mark.parametrize(
    "target, forecast, ceiling",
    [(-0.1, 0.5, 3.0), (0.4, -0.5, 3.0), (0.4, NAN, 3.0), (NAN, 0.5, 3.0), (0.4, 0.5, -1.0),
     (0.4, 0.5, INF), (INF, 0.5, 3.0)],
)
def test_volatility_target_rejects_bad_inputs(target, forecast, ceiling):
    with pytest.raises(ValueError):
        volatility_target_leverage(target, forecast, ceiling=ceiling)


@settings(max_examples=300, deadline=None)
@given(
    target=st.floats(0.0, 10.0),
    forecast=st.floats(0.0, 10.0),
    ceiling=st.floats(0.0, 20.0),
)
def test_volatility_target_never_above_ceiling(target, forecast, ceiling):
    leverage = volatility_target_leverage(target, forecast, ceiling=ceiling)
    assert 0.0 <= leverage <= ceiling
    if forecast > 0 and target / forecast < ceiling:
        assert leverage == pytest.approx(target / forecast)


@settings(max_examples=200, deadline=None)
@given(target=st.floats(0.01, 2.0), f1=st.floats(0.01, 5.0), f2=st.floats(0.01, 5.0))
def test_volatility_target_falls_as_forecast_rises(target, f1, f2):
    calm, wild = sorted((f1, f2))
    assert volatility_target_leverage(target, wild, ceiling=3.0) <= volatility_target_leverage(
        target, calm, ceiling=3.0
    )


# -- anti-martingale -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "proposed, current, dd, expected",
    [
        (2.5, 1.5, 0.15, 1.5),  # 15 % down, limit 10 %: may not go from 1.5x to 2.5x
        (1.0, 1.5, 0.15, 1.0),  # cutting is always allowed
        (2.5, 1.5, 0.05, 2.5),  # 5 % down: within the limit, the proposal stands
        (2.5, 1.5, 0.10, 2.5),  # exactly at the limit is not beyond it
        (2.5, 0.0, 0.50, 0.0),  # flat and deep down: stay flat
        (2.5, INF, 1.2, 2.5),  # equity gone (leverage inf): any finite leverage is a cut
    ],
)
def test_anti_martingale_hand_worked(proposed, current, dd, expected):
    assert anti_martingale_cap(proposed, current, dd, max_drawdown=0.10) == expected


@pytest.mark.parametrize("args", [(-1.0, 1.0, 0.1), (1.0, -1.0, 0.1), (1.0, 1.0, -0.1), (NAN, 1.0, 0.1),
                                  (1.0, NAN, 0.1), (1.0, 1.0, NAN)])
def test_anti_martingale_rejects_bad_inputs(args):
    with pytest.raises(ValueError):
        anti_martingale_cap(*args, max_drawdown=0.1)


@settings(max_examples=300, deadline=None)
@given(
    proposed=st.floats(0.0, 20.0),
    current=st.floats(0.0, 20.0),
    dd=st.floats(0.0, 1.5),
    max_dd=st.floats(0.0, 1.0),
)
def test_anti_martingale_never_raises_leverage_in_deep_drawdown(proposed, current, dd, max_dd):
    allowed = anti_martingale_cap(proposed, current, dd, max_drawdown=max_dd)
    assert allowed <= proposed
    if dd > max_dd:
        assert allowed <= current
    else:
        assert allowed == proposed


# -- the combined decision -------------------------------------------------------------------


def test_regime_multiplier_values_and_unknown():
    assert [regime_multiplier(r) for r in ("bull", "consolidation", "bear", "crisis")] == [1.0, 0.5, 0.25, 0.1]
    with pytest.raises(ValueError, match="unknown regime"):
        regime_multiplier("sideways")


def _decide(**overrides) -> SizingDecision:
    arguments = dict(
        target_volatility=0.6, forecast_volatility=0.3, regime="bull", ceiling=3.0,
        current_leverage=1.0,
    )
    arguments.update(overrides)
    return target_leverage(**arguments)


def test_volatility_sets_the_leverage_in_a_bull_market():
    decision = _decide()  # 0.6 / 0.3 = 2.0x, bull x1.0
    assert decision.leverage == pytest.approx(2.0)
    assert decision.volatility_ratio == pytest.approx(2.0)
    assert decision.binding_cap == "volatility"
    assert decision.kelly_fraction is None and decision.kelly_leverage is None


@pytest.mark.parametrize("regime, expected", [("consolidation", 1.0), ("bear", 0.5), ("crisis", 0.2)])
def test_regime_scales_the_volatility_target(regime, expected):
    decision = _decide(regime=regime)  # 2.0x * 0.5 / 0.25 / 0.1
    assert decision.leverage == pytest.approx(expected)
    assert decision.regime_multiplier == REGIME_KELLY_MULTIPLIER[regime]
    assert decision.binding_cap == "volatility"


def test_ceiling_binds():
    decision = _decide(forecast_volatility=0.15)  # 4.0x wanted
    assert decision.leverage == 3.0
    assert decision.uncapped_leverage == pytest.approx(4.0)
    assert decision.binding_cap == "ceiling"
    # Even a crisis multiplier does not lift an extreme ratio past the ceiling: 40x * 0.1 = 4x.
    crisis = _decide(forecast_volatility=0.015, regime="crisis")
    assert (crisis.leverage, crisis.binding_cap) == (3.0, "ceiling")


def test_kelly_binds_through_the_stop_distance():
    # Half Kelly of p=0.6, b=2: 0.2 of equity per stop-out. Stop 8 % away: 0.2 / 0.08 = 2.5x.
    # Vol target 0.6 / 0.2 = 3.0x, so Kelly is tighter: 2.5x, * consolidation 0.5 = 1.25x.
    kelly = fractional_kelly(0.6, 2.0, 0.5)
    decision = _decide(forecast_volatility=0.2, regime="consolidation", kelly_fraction=kelly,
                       stop_distance=0.08)
    assert decision.kelly_leverage == pytest.approx(2.5)
    assert decision.leverage == pytest.approx(1.25)
    assert decision.binding_cap == "kelly"
    numbers = decision.numbers()
    assert numbers["kelly_fraction"] == pytest.approx(0.2)
    assert numbers["target_leverage"] == pytest.approx(1.25)
    assert numbers["regime_multiplier"] == 0.5


def test_negative_edge_kelly_means_no_position():
    decision = _decide(kelly_fraction=fractional_kelly(0.4, 1.0, 0.5), stop_distance=0.08)
    assert decision.leverage == 0.0 and decision.binding_cap == "kelly"


def test_anti_martingale_binds_in_drawdown():
    # 2.0x wanted, 1.2x now, 15 % below the peak with a 10 % limit: stay at 1.2x.
    decision = _decide(current_leverage=1.2, drawdown=0.15)
    assert (decision.leverage, decision.binding_cap) == (1.2, "anti_martingale")
    # Holding 2.5x in the same drawdown: the 2.0x target is a cut, so it stands.
    cut = _decide(current_leverage=2.5, drawdown=0.15)
    assert (cut.leverage, cut.binding_cap) == (pytest.approx(2.0), "volatility")
    # A looser limit lets it go up again.
    loose = _decide(current_leverage=1.2, drawdown=0.15, max_drawdown=0.2)
    assert loose.leverage == pytest.approx(2.0)


@pytest.mark.parametrize(
    "overrides",
    [
        {"regime": "moon"},
        {"kelly_fraction": 0.2},  # no stop distance to turn it into leverage
        {"kelly_fraction": 0.2, "stop_distance": 0.0},
        {"kelly_fraction": -0.1, "stop_distance": 0.08},
        {"forecast_volatility": NAN},
        {"current_leverage": -1.0},
        {"drawdown": NAN},
    ],
)
def test_target_leverage_rejects_bad_inputs(overrides):
    with pytest.raises(ValueError):
        _decide(**overrides)


@settings(max_examples=400, deadline=None)
@given(
    target=st.floats(0.0, 3.0),
    forecast=st.floats(0.0, 3.0),
    regime=st.sampled_from(sorted(REGIME_KELLY_MULTIPLIER)),
    ceiling=st.floats(0.0, 10.0),
    current=st.floats(0.0, 10.0),
    dd=st.floats(0.0, 1.0),
    max_dd=st.floats(0.0, 0.5),
    kelly=st.one_of(st.none(), st.floats(0.0, 1.0)),
    stop=st.floats(0.01, 0.5),
)
def test_target_leverage_invariants(target, forecast, regime, ceiling, current, dd, max_dd, kelly, stop):
    decision = target_leverage(
        target_volatility=target, forecast_volatility=forecast, regime=regime, ceiling=ceiling,
        current_leverage=current, drawdown=dd, max_drawdown=max_dd, kelly_fraction=kelly,
        stop_distance=stop if kelly is not None else None,
    )
    assert 0.0 <= decision.leverage <= ceiling
    assert decision.leverage <= decision.uncapped_leverage
    if dd > max_dd:
        assert decision.leverage <= current
    if kelly is not None:
        assert decision.leverage <= kelly / stop * REGIME_KELLY_MULTIPLIER[regime] * (1 + 1e-12)
    if forecast > 0:
        assert decision.leverage <= target / forecast * REGIME_KELLY_MULTIPLIER[regime] * (1 + 1e-12)
    # The named cap really is the one that set the answer.
    if decision.binding_cap == "ceiling":
        assert decision.leverage == ceiling
    elif decision.binding_cap == "anti_martingale":
        assert decision.leverage == current
    else:
        assert decision.leverage == pytest.approx(decision.uncapped_leverage)


@settings(max_examples=200, deadline=None)
@given(target=st.floats(0.01, 2.0), forecast=st.floats(0.01, 2.0), current=st.floats(0.0, 5.0))
def test_calmer_regimes_never_get_less(target, forecast, current):
    order = ("crisis", "bear", "consolidation", "bull")
    levels = [
        _decide(target_volatility=target, forecast_volatility=forecast, regime=r,
                current_leverage=current).leverage
        for r in order
    ]
    assert levels == sorted(levels)
