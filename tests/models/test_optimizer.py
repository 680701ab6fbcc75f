"""Target-weight optimiser and moment estimates: closed forms, constraints, fallbacks, real data."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cockpit.models import optimizer
from cockpit.models.optimizer import (
    OBJECTIVES,
    PERIODS_PER_YEAR,
    estimate_moments,
    optimize_weights,
)


def cov(vols, corr):
    vols = np.asarray(vols, dtype=float)
    return np.outer(vols, vols) * np.asarray(corr, dtype=float)


THREE_MU = np.array([0.5, 0.3, 0.2])
THREE_COV = cov([0.8, 0.9, 0.5], [[1, 0.8, 0.3], [0.8, 1, 0.4], [0.3, 0.4, 1]])


def sharpe(w, mu, sigma):
    return float(w @ mu) / math.sqrt(float(w @ sigma @ w))


# ---- closed forms --------------------------------------------------------------------------------


def test_min_variance_two_uncorrelated_assets_hand_worked():
    # w_i ∝ 1/sigma_i^2: 1/0.04 = 25, 1/0.09 = 11.11 -> 0.6923, 0.3077 of the budget 2 * (1 - 0.2) = 1.6
    result = optimize_weights([0.1, 0.1], np.diag([0.04, 0.09]), objective="min_variance",
                              leverage_ceiling=2.0, asset_cap=2.0, reserve_fraction=0.2)
    assert result.converged and result.fallback is None
    assert result.budget == pytest.approx(1.6)
    assert result.weights == pytest.approx((1.6 * 25 / (25 + 100 / 9), 1.6 * (100 / 9) / (25 + 100 / 9)), rel=1e-6)
    assert result.gross == pytest.approx(1.6)


@settings(max_examples=60, deadline=None)
@given(vols=st.lists(st.floats(0.05, 2.0), min_size=2, max_size=5), budget=st.floats(0.2, 3.0))
def test_min_variance_uncorrelated_matches_closed_form(vols, budget):
    sigma = np.diag(np.square(vols))
    result = optimize_weights(np.zeros(len(vols)), sigma, objective="min_variance",
                              leverage_ceiling=budget, asset_cap=budget, reserve_fraction=0.0)
    inverse = 1 / np.square(vols)
    expected = budget * inverse / inverse.sum()
    assert result.converged
    assert np.asarray(result.weights) == pytest.approx(expected, rel=1e-4, abs=1e-6 * budget)


def test_min_variance_cap_binds():
    # alone, BTC-like asset of vol 0.1 would take 0.99 of 1.0; capped at 0.6, the rest goes to the other
    result = optimize_weights([0, 0], np.diag([0.01, 1.0]), objective="min_variance",
                              leverage_ceiling=1.0, asset_cap=0.6, reserve_fraction=0.0)
    assert result.weights == pytest.approx((0.6, 0.4), abs=1e-7)


def test_max_sharpe_two_uncorrelated_assets_hand_worked():
    # tangency w ∝ S^-1 mu = (0.1/0.04, 0.2/0.16) = (2.5, 1.25) -> 2/3, 1/3 of the budget 1.5
    result = optimize_weights([0.1, 0.2], np.diag([0.04, 0.16]), objective="max_sharpe",
                              leverage_ceiling=3.0, asset_cap=3.0, reserve_fraction=0.5)
    assert result.converged
    assert result.weights == pytest.approx((1.0, 0.5), rel=1e-5)
    # Sharpe of the tangency portfolio = sqrt(mu' S^-1 mu) = sqrt(0.25 + 0.25)
    assert result.sharpe == pytest.approx(math.sqrt(0.5), rel=1e-9)
    assert result.expected_return == pytest.approx(0.2)
    assert result.volatility == pytest.approx(math.sqrt(0.04 + 0.04))


def test_max_sharpe_with_risk_free_rate():
    # excess (0.1 - 0.05, 0.2 - 0.05) = (0.05, 0.15): tangency ∝ (1.25, 0.9375) -> 4/7, 3/7
    result = optimize_weights([0.1, 0.2], np.diag([0.04, 0.16]), objective="max_sharpe",
                              leverage_ceiling=1.0, asset_cap=1.0, reserve_fraction=0.0, risk_free=0.05)
    assert result.weights == pytest.approx((4 / 7, 3 / 7), rel=1e-5)


def test_max_sharpe_beats_a_grid_of_feasible_portfolios():
    result = optimize_weights(THREE_MU, THREE_COV, objective="max_sharpe",
                              leverage_ceiling=2.0, asset_cap=0.8, reserve_fraction=0.25)
    w = np.asarray(result.weights)
    assert w.sum() == pytest.approx(1.5) and np.all(w <= 0.8 + 1e-12)
    best = -math.inf
    for a in np.linspace(0, 0.8, 81):
        for b in np.linspace(0, 0.8, 81):
            c = 1.5 - a - b
            if 0 <= c <= 0.8:
                best = max(best, sharpe(np.array([a, b, c]), THREE_MU, THREE_COV))
    assert result.sharpe >= best - 1e-6
    assert result.sharpe == pytest.approx(sharpe(w, THREE_MU, THREE_COV))


def test_max_sharpe_with_nothing_worth_holding_keeps_the_reserve():
    result = optimize_weights([-0.1, -0.2], np.diag([0.04, 0.16]), objective="max_sharpe",
                              leverage_ceiling=2.0, asset_cap=1.0, reserve_fraction=0.2)
    assert result.weights == (0.0, 0.0) and result.converged
    assert "reserve" in result.note
    assert math.isnan(result.sharpe) and all(math.isnan(v) for v in result.risk_contributions)


def test_risk_parity_uncorrelated_is_inverse_volatility():
    # w_i ∝ 1/sigma_i: 1/0.2 = 5, 1/0.4 = 2.5 -> 2/3, 1/3
    result = optimize_weights([0, 0], np.diag([0.04, 0.16]), objective="risk_parity",
                              leverage_ceiling=1.0, asset_cap=1.0, reserve_fraction=0.0)
    assert result.weights == pytest.approx((2 / 3, 1 / 3), rel=1e-6)
    assert result.risk_contributions == pytest.approx((0.5, 0.5), abs=1e-8)
    assert result.note is None


def test_risk_parity_with_a_binding_cap_says_so():
    free = optimize_weights(THREE_MU, THREE_COV, objective="risk_parity",
                            leverage_ceiling=2.0, asset_cap=1.5, reserve_fraction=0.25)
    assert free.risk_contributions == pytest.approx((1 / 3,) * 3, abs=1e-6)
    assert max(free.weights) > 0.6  # the low-volatility asset wants about 0.75
    capped = optimize_weights(THREE_MU, THREE_COV, objective="risk_parity",
                              leverage_ceiling=2.0, asset_cap=0.6, reserve_fraction=0.25)
    assert capped.converged and "cap" in capped.note
    assert max(capped.weights) <= 0.6 + 1e-12 and sum(capped.weights) == pytest.approx(1.5)
    assert capped.weights[2] == pytest.approx(0.6)  # the calm asset sits at its cap
    # within the caps, risk shares are as even as they can be: closer to 1/3 each than equal
    # weights or "cap the ERC answer and hand the excess to the others"
    def spread(w):
        w = np.asarray(w)
        shares = w * (THREE_COV @ w) / (w @ THREE_COV @ w)
        return float(np.sum((shares - 1 / 3) ** 2))

    clipped = np.minimum(free.weights, 0.6)
    clipped[:2] += (1.5 - clipped.sum()) * clipped[:2] / clipped[:2].sum()
    assert spread(capped.weights) <= spread(clipped) + 1e-12
    assert spread(capped.weights) <= spread(np.full(3, 0.5)) + 1e-12
    assert capped.risk_contributions[0] == pytest.approx(capped.risk_contributions[1], abs=0.01)


def test_caps_too_tight_for_the_budget_put_every_asset_at_its_cap():
    result = optimize_weights(THREE_MU, THREE_COV, objective="max_sharpe",
                              leverage_ceiling=3.0, asset_cap=0.5, reserve_fraction=0.0)
    assert result.weights == pytest.approx((0.5, 0.5, 0.5))
    assert result.budget == pytest.approx(3.0) and result.gross == pytest.approx(1.5)


def test_single_asset_takes_the_budget_up_to_its_cap():
    result = optimize_weights([0.1], [[0.04]], objective="min_variance",
                              leverage_ceiling=2.0, asset_cap=1.2, reserve_fraction=0.25)
    assert result.weights == pytest.approx((1.2,))


def test_names_and_targets():
    result = optimize_weights([0.1, 0.2], np.diag([0.04, 0.16]), objective="max_sharpe",
                              leverage_ceiling=2.0, asset_cap=2.0, reserve_fraction=0.2,
                              names=["BTC", "ETH"])
    assert result.by_name() == pytest.approx({"BTC": 1.6 * 2 / 3, "ETH": 1.6 / 3})
    # in the rebalancer's unit (fractions of levered capital at 2x) they sum to 1 - reserve
    targets = result.as_targets(2.0)
    assert sum(targets.values()) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="names"):
        optimize_weights([0.1, 0.2], np.diag([0.04, 0.16]), objective="max_sharpe",
                         leverage_ceiling=2.0, asset_cap=2.0, reserve_fraction=0.2, names=["BTC", "BTC"])


# ---- the constraints always hold -----------------------------------------------------------------


@st.composite
def problems(draw):
    n = draw(st.integers(2, 5))
    rank = draw(st.integers(1, n))  # rank < n: positive semi-definite but singular
    factors = draw(arrays(float, (n, rank), elements=st.floats(-1, 1, allow_nan=False)))
    jitter = draw(st.sampled_from([0.0, 1e-4, 0.01]))
    sigma = factors @ factors.T + jitter * np.eye(n)
    mu = draw(arrays(float, n, elements=st.floats(-0.5, 1.0, allow_nan=False)))
    return mu, sigma


@settings(max_examples=60, deadline=None)
@given(
    problem=problems(),
    objective=st.sampled_from(OBJECTIVES),
    ceiling=st.floats(0.5, 5.0),
    cap=st.floats(0.05, 3.0),
    reserve=st.floats(0.0, 0.9),
)
def test_weights_always_satisfy_every_constraint(problem, objective, ceiling, cap, reserve):
    mu, sigma = problem
    if objective == "risk_parity":
        assume(np.all(np.diag(sigma) > 1e-6))
    result = optimize_weights(mu, sigma, objective=objective, leverage_ceiling=ceiling,
                              asset_cap=cap, reserve_fraction=reserve)
    w = np.asarray(result.weights)
    budget = ceiling * (1 - reserve)
    assert result.budget == pytest.approx(budget)
    assert np.all(np.isfinite(w))
    assert np.all(w >= 0.0)
    assert np.all(w <= cap * (1 + 1e-12))
    assert np.sum(np.abs(w)) <= budget * (1 + 1e-9)
    assert result.converged == (result.fallback is None)
    if objective == "max_sharpe" and not np.any(mu > 0):
        assert result.note == optimizer.NOTHING_TO_HOLD
    if result.note == optimizer.NOTHING_TO_HOLD:
        assert objective == "max_sharpe" and np.all(w == 0.0)
    else:  # the whole deployable budget is spent
        assert w.sum() == pytest.approx(min(budget, len(mu) * cap), rel=1e-6)


@settings(max_examples=60, deadline=None)
@given(problem=problems())
def test_risk_parity_equalises_risk_contributions(problem):
    _, sigma = problem
    assume(np.all(np.diag(sigma) > 1e-3))
    assume(np.linalg.eigvalsh(sigma)[0] > 1e-4 * np.linalg.eigvalsh(sigma)[-1])  # well-posed
    n = sigma.shape[0]
    result = optimize_weights(np.zeros(n), sigma, objective="risk_parity",
                              leverage_ceiling=1.0, asset_cap=1.0, reserve_fraction=0.0)
    assert result.converged and result.note is None
    assert result.risk_contributions == pytest.approx((1 / n,) * n, abs=1e-4)


@settings(max_examples=40, deadline=None)
@given(problem=problems(), cap=st.floats(0.3, 1.0))
def test_min_variance_is_no_worse_than_equal_weights_or_corners(problem, cap):
    mu, sigma = problem
    result = optimize_weights(mu, sigma, objective="min_variance",
                              leverage_ceiling=1.0, asset_cap=cap, reserve_fraction=0.0)
    n = len(mu)
    deployed = min(1.0, n * cap)
    equal = np.full(n, deployed / n)
    assert result.volatility ** 2 <= float(equal @ sigma @ equal) + 1e-9


# ---- failures --------------------------------------------------------------------------------


def test_solver_failure_falls_back_to_equal_weights(monkeypatch):
    def failing(*args, **kwargs):
        return SimpleNamespace(success=False, message="Iteration limit reached", x=np.full(3, np.nan), fun=0.0)

    monkeypatch.setattr(optimizer, "minimize", failing)
    result = optimize_weights(THREE_MU, THREE_COV, objective="min_variance",
                              leverage_ceiling=2.0, asset_cap=1.0, reserve_fraction=0.25)
    assert not result.converged
    assert "Iteration limit reached" in result.fallback and "equal weights" in result.fallback
    assert result.weights == pytest.approx((0.5, 0.5, 0.5))


def test_infeasible_solver_answer_falls_back(monkeypatch):
    def overshooting(*args, **kwargs):
        return SimpleNamespace(success=True, message="ok", x=np.array([0.9, 0.9, 0.9]), fun=0.0)

    monkeypatch.setattr(optimizer, "minimize", overshooting)
    result = optimize_weights(THREE_MU, THREE_COV, objective="min_variance",
                              leverage_ceiling=2.0, asset_cap=1.0, reserve_fraction=0.25)
    assert not result.converged and "constraint" in result.fallback
    assert result.weights == pytest.approx((0.5, 0.5, 0.5))


@pytest.mark.parametrize(
    "mu, sigma, kwargs, message",
    [
        ([0.1, 0.2], np.eye(3), {}, "covariance must be 2x2"),
        ([[0.1, 0.2]], np.eye(2), {}, "1-D"),
        ([0.1, math.nan], np.eye(2), {}, "expected returns must be finite"),
        ([0.1, 0.2], [[1, math.inf], [math.inf, 1]], {}, "covariance must be finite"),
        ([0.1, 0.2], [[1, 0.5], [0.4, 1]], {}, "symmetric"),
        ([0.1, 0.2], [[1, 2], [2, 1]], {}, "positive semi-definite"),
        ([0.1, 0.2], np.eye(2), {"objective": "max_return"}, "objective"),
        ([0.1, 0.2], np.eye(2), {"reserve_fraction": 1.0}, "reserve fraction"),
        ([0.1, 0.2], np.eye(2), {"leverage_ceiling": 0.0}, "leverage ceiling"),
        ([0.1, 0.2], np.eye(2), {"asset_cap": -1.0}, "asset cap"),
        ([0.1, 0.2], np.diag([1.0, 0.0]), {"objective": "risk_parity"}, "positive variance"),
    ],
)
def test_bad_inputs_are_refused_clearly(mu, sigma, kwargs, message):
    settings_ = {"objective": "min_variance", "leverage_ceiling": 2.0, "asset_cap": 1.0,
                 "reserve_fraction": 0.2}
    settings_.update(kwargs)
    with pytest.raises(ValueError, match=message):
        optimize_weights(mu, sigma, **settings_)


# ---- moments ---------------------------------------------------------------------------------


def test_estimate_moments_hand_worked():
    log_returns = np.array([[0.01, 0.02], [-0.01, 0.00], [0.03, -0.02], [0.01, 0.04]])
    closes = 100 * np.exp(np.vstack([np.zeros((1, 2)), np.cumsum(log_returns, axis=0)]))
    mean, covariance = estimate_moments(closes, 365, shrink=False)
    assert mean == pytest.approx(log_returns.mean(axis=0) * 365)
    assert covariance == pytest.approx(np.cov(log_returns, rowvar=False) * 365)
    shrunk = estimate_moments(closes, 365).covariance
    assert shrunk.shape == (2, 2) and np.allclose(shrunk, shrunk.T)
    assert np.linalg.eigvalsh(shrunk)[0] >= 0
    # Ledoit-Wolf pulls the off-diagonal toward zero relative to the (biased) sample covariance
    biased = np.cov(log_returns, rowvar=False, ddof=0) * 365
    assert abs(shrunk[0, 1]) <= abs(biased[0, 1]) + 1e-15
    assert np.trace(shrunk) == pytest.approx(np.trace(biased))


@pytest.mark.parametrize(
    "closes, periods, message",
    [
        ([1.0, 2.0, 3.0], 365, "2-D"),
        ([[1.0, 2.0], [1.1, 2.1]], 365, "at least 3"),
        ([[1.0, 2.0], [1.1, 0.0], [1.2, 2.2]], 365, "positive finite"),
        ([[1.0, 2.0], [1.1, math.nan], [1.2, 2.2]], 365, "positive finite"),
        ([[1.0, 2.0], [1.1, 2.1], [1.2, 2.2]], 0, "periods per year"),
    ],
)
def test_estimate_moments_refuses_bad_input(closes, periods, message):
    with pytest.raises(ValueError, match=message):
        estimate_moments(closes, periods)


def test_real_btc_eth_moments_and_weights(market_data):
    closes = {}
    for base in ("BTC", "ETH"):
        frame = pd.read_csv(market_data / "binance_spot" / f"{base}USDT_4h.csv.gz", parse_dates=["timestamp"])
        closes[base] = frame.set_index("timestamp")["close"]
    year = pd.concat(closes, axis=1).dropna().loc["2021"]
    mean, covariance = estimate_moments(year, PERIODS_PER_YEAR["4h"])
    vols = np.sqrt(np.diag(covariance))
    # 2021: BTC about +0.5 log growth at ~75 % vol, ETH about +1.3 at ~95 % (annualised)
    assert 0.5 < vols[0] < vols[1] < 1.3
    assert 0 < mean[0] < mean[1]
    assert covariance[0, 1] / (vols[0] * vols[1]) > 0.6
    mv = optimize_weights(mean, covariance, objective="min_variance", leverage_ceiling=2.0,
                          asset_cap=1.5, reserve_fraction=0.25, names=["BTC", "ETH"])
    assert mv.converged and mv.by_name()["BTC"] > mv.by_name()["ETH"]  # the calmer asset
    ms = optimize_weights(mean, covariance, objective="max_sharpe", leverage_ceiling=2.0,
                          asset_cap=1.5, reserve_fraction=0.25, names=["BTC", "ETH"])
    assert ms.converged and ms.by_name()["ETH"] > ms.by_name()["BTC"]  # ETH's 2021 run
    assert ms.sharpe >= mv.sharpe
    for result in (mv, ms):
        assert sum(result.weights) == pytest.approx(1.5) and max(result.weights) <= 1.5
