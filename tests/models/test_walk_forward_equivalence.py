"""The vectorised walk-forward (`variance_paths.horizon_variance_path`, the batched ensemble
weights) gives the numbers of the plain bar-by-bar loops it replaced, written out here with the
public step functions `update`, `horizon_variance` and `ensemble_weights`: on real BTC data, on
random series, and on recursions pushed to their variance floor and ceiling."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit.backtest.market import load_history
from cockpit.models import vol_evaluation as ve
from cockpit.models import volatility as vol
from cockpit.models.variance_paths import horizon_variance_path
from cockpit.models.vol_features import VARIANCE_FLOOR, log_returns


def _assert_same(fast: np.ndarray, slow: np.ndarray) -> None:
    """Within 1e-12 relative (the contract), and in fact bitwise, NaN where NaN."""
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=0.0)
    assert np.array_equal(fast, slow, equal_nan=True)


# --- the loops the fast paths replaced, step by step through the public functions --------------


def _reference_path(state: vol.VarianceState, returns, horizon_bars: int) -> np.ndarray:
    out = [vol.horizon_variance(state, horizon_bars)]
    for x in returns:
        state = vol.update(state, x)
        out.append(vol.horizon_variance(state, horizon_bars))
    return np.array(out)


def _reference_recursion(r, origins, horizon_bars, refit_every, window, model, realized_window):
    out = np.empty(origins.size)
    fit = state = None
    for i, t in enumerate(origins):
        train = r[max(0, t + 1 - window) : t + 1]
        if model in vol.GARCH_MODELS and i % refit_every == 0:
            fit = vol.fit_garch(train, model, previous=fit)
            state = fit.state
        elif state is None:
            state = vol.ewma_state(train) if model == "ewma" else vol.rolling_state(r[: t + 1], realized_window)
        else:
            state = vol.update(state, r[t])
        out[i] = vol.horizon_variance(state, horizon_bars)
    return out


def _reference_ensemble(forecasts, realized, horizon_bars, lookback):
    losses = {m: vol.qlike(realized, f) for m, f in forecasts.items()}
    combined = np.empty(realized.size)
    weights = {m: np.empty(realized.size) for m in forecasts}
    for i in range(realized.size):
        scored_end = max(i - horizon_bars + 1, 0)
        lo = max(0, scored_end - lookback)
        w = vol.ensemble_weights({m: v[lo:scored_end] for m, v in losses.items()})
        combined[i] = sum(w[m] * forecasts[m][i] for m in forecasts)
        for m in forecasts:
            weights[m][i] = w[m]
    return combined, weights


# --- real data ---------------------------------------------------------------------------------


@pytest.fixture
def btc_returns(market_data: Path) -> np.ndarray:
    history = load_history([str(market_data / "binance_spot" / "BTCUSDT_4h.csv.gz")])
    return log_returns(next(iter(history.close.values())))


def test_paths_match_the_step_functions_on_btc(btc_returns):
    fitted_on, ahead = btc_returns[:2000], btc_returns[2000:4000]  # 2000 spans the 2020-03 crash
    states = [vol.fit_garch(fitted_on, m).state for m in vol.GARCH_MODELS]
    states += [vol.ewma_state(fitted_on), vol.rolling_state(fitted_on)]
    for state in states:
        for horizon in (1, 6, vol.MAX_HORIZON_BARS):
            _assert_same(
                horizon_variance_path(state, ahead, horizon), _reference_path(state, ahead, horizon)
            )


def test_walk_forward_matches_the_bar_by_bar_loops_on_btc(btc_returns):
    r = btc_returns[5000:6900]
    res = ve.walk_forward(r, horizon_bars=6, refit_every=300, min_train=1000, window=1000)
    for model in vol.GARCH_MODELS + vol.BASELINES:
        slow = _reference_recursion(r, res.origins, 6, 300, 1000, model, vol.REALIZED_WINDOW_BARS)
        _assert_same(res.forecasts[model], slow)
    base = {m: f for m, f in res.forecasts.items() if m != vol.ENSEMBLE}
    combined, weights = _reference_ensemble(base, res.realized, 6, ve.ENSEMBLE_LOOKBACK)
    _assert_same(res.forecasts[vol.ENSEMBLE], combined)
    for m in base:
        _assert_same(res.ensemble_weights[m], weights[m])


# --- random series -----------------------------------------------------------------------------


def test_walk_forward_matches_the_loops_on_a_random_series_with_a_dead_market():
    rng = np.random.default_rng(8)
    r = 0.01 * rng.standard_t(4, size=1500)
    r[1200:1230] = 0.0  # no trade for five days: zero realized variance, an infinite QLIKE
    models = ("garch", "ewma", "realized", "ensemble")
    res = ve.walk_forward(r, models=models, horizon_bars=6, refit_every=70, min_train=600)
    assert np.isinf(vol.qlike(res.realized, res.forecasts["ewma"])).any()
    for model in models[:-1]:
        slow = _reference_recursion(r, res.origins, 6, 70, ve.DEFAULT_WINDOW_BARS, model, vol.REALIZED_WINDOW_BARS)
        _assert_same(res.forecasts[model], slow)
    base = {m: res.forecasts[m] for m in models[:-1]}
    combined, weights = _reference_ensemble(base, res.realized, 6, ve.ENSEMBLE_LOOKBACK)
    _assert_same(res.forecasts["ensemble"], combined)
    for m in base:
        _assert_same(res.ensemble_weights[m], weights[m])


def test_hgb_falling_back_to_ewma_advances_ewma_bar_by_bar():
    rng = np.random.default_rng(4)
    r = 0.01 * rng.standard_t(4, size=700)
    # 300 returns leave fewer than 200 HGB training rows: the first block falls back to EWMA.
    res = ve.walk_forward(r, models=("hgb",), horizon_bars=6, refit_every=100, min_train=300)
    fallbacks = [n.origin for n in res.notes["hgb"] if n.status == "fallback_ewma"]
    assert fallbacks and fallbacks[0] == res.origins[0]
    block = res.origins[:100]
    slow = _reference_path(vol.ewma_state(r[: block[0] + 1]), r[block[1:]], 6)
    _assert_same(res.forecasts["hgb"][:100], slow)


def test_ensemble_matches_the_loop_across_batches_and_non_finite_losses():
    rng = np.random.default_rng(1)
    n = 3000  # more origins than one batch of weights
    realized = rng.lognormal(-8, 1, n)
    realized[rng.random(n) < 0.003] = 0.0  # +inf QLIKE for every model
    forecasts = {m: rng.lognormal(-8, 0.5, n) for m in ("garch", "gjr", "ewma", "hgb")}
    forecasts["hgb"][rng.random(n) < 0.003] = np.nan  # NaN QLIKE for one model
    for horizon, lookback in ((6, 120), (1, 120), (6, 1), (1, 0), (6, 5000)):
        fast, fast_weights = ve._walk_ensemble(forecasts, realized, horizon, lookback)
        slow, slow_weights = _reference_ensemble(forecasts, realized, horizon, lookback)
        _assert_same(fast, slow)
        for m in forecasts:
            _assert_same(fast_weights[m], slow_weights[m])


_variance = st.floats(min_value=1e-8, max_value=1e-2)


@settings(deadline=None, max_examples=60)
@given(
    n=st.integers(min_value=1, max_value=120),
    models=st.integers(min_value=1, max_value=6),
    horizon=st.integers(min_value=1, max_value=8),
    lookback=st.integers(min_value=0, max_value=40),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    holes=st.floats(min_value=0.0, max_value=0.3),
)
def test_ensemble_matches_the_loop_on_random_forecasts(n, models, horizon, lookback, seed, holes):
    rng = np.random.default_rng(seed)
    realized = np.where(rng.random(n) < holes, 0.0, rng.lognormal(-8, 1.5, n))
    forecasts = {
        vol.ALL_MODELS[j]: np.where(rng.random(n) < holes, np.nan, rng.lognormal(-8, 1, n))
        for j in range(models)
    }
    fast, fast_weights = ve._walk_ensemble(forecasts, realized, horizon, lookback)
    slow, slow_weights = _reference_ensemble(forecasts, realized, horizon, lookback)
    _assert_same(fast, slow)
    for m in forecasts:
        _assert_same(fast_weights[m], slow_weights[m])


# --- recursions at their limits ----------------------------------------------------------------

_returns = st.lists(
    st.floats(min_value=-0.6, max_value=0.6, allow_subnormal=False), min_size=0, max_size=60
)


@settings(deadline=None)
@given(
    model=st.sampled_from(("garch", "gjr", "ewma")),
    omega=st.floats(min_value=0.0, max_value=1e-3),
    alpha=st.floats(min_value=0.0, max_value=2.0),
    gamma=st.floats(min_value=-0.5, max_value=2.0),
    beta=st.floats(min_value=0.0, max_value=1.5),
    variance=st.floats(min_value=VARIANCE_FLOOR, max_value=1.0),
    returns=_returns,
    horizon=st.integers(min_value=1, max_value=vol.MAX_HORIZON_BARS),
)
def test_garch_paths_match_the_step_functions(model, omega, alpha, gamma, beta, variance, returns, horizon):
    # Explosive parameters reach the 100%-per-bar ceiling; omega 0 with tiny returns the floor.
    state = vol.RecursionState(model, omega, alpha, gamma, beta, variance)
    _assert_same(horizon_variance_path(state, np.array(returns), horizon), _reference_path(state, returns, horizon))


@settings(deadline=None)
@given(
    omega=st.floats(min_value=-3.0, max_value=3.0),
    alpha=st.floats(min_value=0.0, max_value=1.0),
    gamma=st.floats(min_value=-0.5, max_value=0.5),
    beta=st.floats(min_value=-0.99, max_value=0.999),
    variance=st.floats(min_value=VARIANCE_FLOOR, max_value=1.0),
    mgf=st.lists(st.floats(min_value=0.5, max_value=3.0), min_size=vol.MAX_HORIZON_BARS - 1, max_size=vol.MAX_HORIZON_BARS - 1),
    returns=_returns,
    horizon=st.integers(min_value=1, max_value=vol.MAX_HORIZON_BARS),
)
def test_egarch_paths_match_the_step_functions(omega, alpha, gamma, beta, variance, mgf, returns, horizon):
    state = vol.RecursionState("egarch", omega, alpha, gamma, beta, variance, tuple(mgf))
    _assert_same(horizon_variance_path(state, np.array(returns), horizon), _reference_path(state, returns, horizon))


@given(
    squares=st.lists(st.floats(min_value=0.0, max_value=0.25), min_size=0, max_size=50),
    returns=_returns,
    horizon=st.integers(min_value=1, max_value=12),
)
def test_rolling_paths_match_the_step_functions(squares, returns, horizon):
    state = vol.RollingState(tuple(squares))
    _assert_same(horizon_variance_path(state, np.array(returns), horizon), _reference_path(state, returns, horizon))


def test_a_horizon_an_egarch_cannot_reach_is_refused_as_before():
    state = vol.RecursionState("egarch", -0.1, 0.1, 0.0, 0.98, 1e-4, (1.0,) * 3)
    with pytest.raises(ValueError, match="reach 4 bars, not 5"):
        horizon_variance_path(state, np.zeros(3), 5)
    assert math.isfinite(horizon_variance_path(state, np.zeros(3), 4)[-1])
