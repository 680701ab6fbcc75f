"""Volatility models: recursions against arch, fallbacks, losses, DM test, no look-ahead,
reproducibility, and a short real-data walk-forward on Binance BTC/ETH 4h bars."""

from __future__ import annotations

import functools
import math
import pickle
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from arch import arch_model
from arch.univariate.base import ARCHModel
from hypothesis import given
from hypothesis import strategies as st

from cockpit.models import vol_evaluation as ve
from cockpit.models import vol_features as vf
from cockpit.models import volatility as vol


@functools.lru_cache(maxsize=4)
def _load_returns(path: str) -> pd.Series:
    bars = pd.read_csv(path, parse_dates=["timestamp"])
    close = pd.Series(bars["close"].to_numpy(), index=pd.DatetimeIndex(bars["timestamp"]))
    return vf.log_returns(close)


@pytest.fixture
def btc(market_data: Path) -> pd.Series:
    return _load_returns(str(market_data / "binance_spot" / "BTCUSDT_4h.csv.gz"))


@pytest.fixture
def eth(market_data: Path) -> pd.Series:
    return _load_returns(str(market_data / "binance_spot" / "ETHUSDT_4h.csv.gz"))


def _simulated_garch(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """GARCH(1,1) returns (fractions) and their true next-bar variances, for tests off real data."""
    rng = np.random.default_rng(seed)
    omega, alpha, beta = 2e-6, 0.1, 0.85
    v = omega / (1 - alpha - beta)
    r, var = np.empty(n), np.empty(n)
    for i in range(n):
        var[i] = v
        r[i] = math.sqrt(v) * rng.standard_normal()
        v = omega + alpha * r[i] ** 2 + beta * v
    return r, var


# --- hand-worked numbers ----------------------------------------------------------------------


def test_ewma_matches_hand_computation():
    r = np.array([0.01, -0.02, 0.005])
    # v1 = .94*1e-4 + .06*1e-4; v2 = .94*v1 + .06*4e-4; v3 = .94*v2 + .06*.25e-4
    by_hand = [1e-4, 1.18e-4, 1.1242e-4]
    assert vol.ewma_variance(r, initial_variance=1e-4) == pytest.approx(by_hand, rel=1e-12)
    # Default start: arch's backcast, the 0.94-weighted mean square of the first (up to 75) returns.
    w = np.array([1.0, 0.94, 0.94**2])
    start = float(np.dot(w / w.sum(), r**2))
    assert vol.arch_backcast(r) == pytest.approx(start, rel=1e-12)
    assert vol.ewma_variance(r)[0] == pytest.approx(0.94 * start + 0.06 * 1e-4, rel=1e-12)
    # The state advanced bar by bar agrees with the whole path; EWMA's h-bar variance is flat.
    state = vol.update(vol.ewma_state(r[:2]), r[2])
    path = vol.ewma_variance(r, initial_variance=vol.arch_backcast(r[:2]))
    assert state.variance == pytest.approx(path[-1], rel=1e-12)
    assert vol.horizon_variance(state, 6) == pytest.approx(6 * state.variance, rel=1e-12)


def test_rolling_realized_baseline():
    r = np.array([0.01, -0.02, 0.03, 0.0])
    state = vol.rolling_state(r, window=3)
    assert state.variance == pytest.approx((4e-4 + 9e-4 + 0.0) / 3)
    state = vol.update(state, 0.04)  # the 0.02 bar drops out
    assert state.variance == pytest.approx((9e-4 + 0.0 + 16e-4) / 3)
    assert vol.horizon_variance(state, 6) == pytest.approx(6 * state.variance)


def test_qlike_and_mse_hand_worked():
    assert vol.qlike(2.0, 1.0) == pytest.approx(2 - math.log(2) - 1)  # under-forecast: 0.3069
    assert vol.qlike(1.0, 2.0) == pytest.approx(0.5 + math.log(2) - 1)  # over-forecast:  0.1931
    assert vol.qlike(3e-4, 3e-4) == 0.0
    assert vol.qlike(0.0, 1e-4) == math.inf
    assert vol.mse_variance(3e-4, 1e-4) == pytest.approx(4e-8)
    assert vol.mse_variance(np.array([1.0, 2.0]), np.array([2.0, 2.0])) == pytest.approx([1.0, 0.0])


def test_realized_variance_ahead_and_trailing_windows():
    r = np.array([0.01, 0.02, -0.03, 0.04])
    assert vf.realized_variance_ahead(r, 2)[:2] == pytest.approx([4e-4 + 9e-4, 9e-4 + 16e-4])
    assert np.isnan(vf.realized_variance_ahead(r, 2)[2:]).all()
    mean_sq = vf.trailing_mean_square(r, 3)
    assert np.isnan(mean_sq[:2]).all() and mean_sq[3] == pytest.approx((4e-4 + 9e-4 + 16e-4) / 3)


# --- Diebold-Mariano --------------------------------------------------------------------------


def test_dm_identical_forecasts_give_no_evidence():
    loss = np.array([0.1, 0.5, 0.2, 0.9, 0.3])
    dm = ve.diebold_mariano(loss, loss.copy(), horizon_bars=6)
    assert (dm.statistic, dm.p_value, dm.mean_loss_difference) == (0.0, 1.0, 0.0)


def test_dm_newey_west_hand_computation():
    # d = [1,2,3,4]: mean 2.5, gamma0 = 1.25, gamma1 = 0.3125, Bartlett weight at lag 1 (h=2) 1/2,
    # long-run variance 1.5625, statistic 2.5 / sqrt(1.5625 / 4) = 4.
    dm = ve.diebold_mariano(np.array([1.0, 2.0, 3.0, 4.0]), np.zeros(4), horizon_bars=2)
    assert dm.statistic == pytest.approx(4.0)
    assert dm.p_value == pytest.approx(6.334248e-05, rel=1e-5)
    assert dm.lags == 1


def test_dm_finds_the_clearly_better_forecast():
    r, true_var = _simulated_garch(3000, seed=7)
    constant = np.full_like(true_var, np.mean(r**2))
    realized = r**2
    dm = ve.diebold_mariano(vol.qlike(realized, constant), vol.qlike(realized, true_var))
    assert dm.statistic > 0  # the constant forecast has the higher loss
    assert dm.p_value < 0.01
    flipped = ve.diebold_mariano(vol.qlike(realized, true_var), vol.qlike(realized, constant))
    assert flipped.statistic == pytest.approx(-dm.statistic)


# --- recursions against arch ------------------------------------------------------------------


@pytest.mark.parametrize("model", ["garch", "gjr", "egarch"])
def test_recursion_matches_arch_one_step(btc, model):
    r = btc.to_numpy()[-1600:]
    n, extra = 1500, 10
    fit = vol.fit_garch(r[:n], model)
    assert fit.status == "ok", fit.reason
    state = fit.state
    for x in r[n : n + extra]:
        state = vol.update(state, x)
    # arch itself, same parameters, on the longer series: its one-step forecast after bar n+extra-1.
    spec = vol._ARCH_SPECS[model]
    am = arch_model(r[: n + extra] * 100, mean="Zero", dist="t", rescale=False, **spec)
    fixed = am.fix(np.array(fit.params))
    horizon = 1 if model == "egarch" else 6  # arch forecasts EGARCH beyond 1 bar only by simulation
    ahead = fixed.forecast(horizon=horizon, start=n + extra - 1, reindex=False)
    expected = ahead.variance.to_numpy()[0] / 1e4
    assert state.variance == pytest.approx(expected[0], rel=1e-8)
    if model != "egarch":
        # GARCH/GJR multi-step: the same analytic expectation as arch's, summed over the horizon.
        assert vol.step_variances(state, 6) == pytest.approx(expected, rel=1e-8)
        assert vol.horizon_variance(state, 6) == pytest.approx(expected.sum(), rel=1e-8)
    # And the fit's own state is arch's forecast from the end of the fitted sample.
    end = am.fix(np.array(fit.params))
    first = end.forecast(horizon=1, start=n - 1, reindex=False).variance.to_numpy()[0, 0] / 1e4
    assert fit.state.variance == pytest.approx(first, rel=1e-8)


def test_egarch_multi_step_close_to_arch_bootstrap(btc):
    r = btc.to_numpy()[-1500:]
    fit = vol.fit_garch(r, "egarch")
    am = arch_model(r * 100, mean="Zero", dist="t", rescale=False, vol="EGARCH", p=1, o=1, q=1)
    boot = am.fix(np.array(fit.params)).forecast(
        horizon=6, method="bootstrap", simulations=20000, reindex=False,
        random_state=np.random.RandomState(3),
    )
    expected = boot.variance.to_numpy()[0] / 1e4
    # Ours is the exact expectation over the same residuals; the bootstrap only samples it.
    assert vol.step_variances(fit.state, 6) == pytest.approx(expected, rel=0.05)


def test_recursion_has_no_look_ahead(btc):
    r = btc.to_numpy()[-800:]
    changed = r.copy()
    changed[500:] *= -3.0
    past = r[:400]
    for start in (vol.fit_garch(past, "gjr").state, vol.ewma_state(past), vol.rolling_state(past)):
        a = b = start
        for i in range(400, 700):
            a, b = vol.update(a, r[i]), vol.update(b, changed[i])
            if i < 500:
                assert a == b
        assert a != b  # the change after bar 500 does reach later states


# --- fallbacks --------------------------------------------------------------------------------


def test_constant_series_falls_back_to_ewma_and_says_so():
    zeros = np.zeros(600)
    fit = vol.fit_garch(zeros, "gjr")
    assert fit.status == "fallback_ewma"
    assert "constant" in fit.reason
    assert fit.params is None
    ewma = vol.ewma_state(zeros, status="fallback_ewma", reason=fit.reason)
    assert vol.forecast(fit.state) == vol.forecast(ewma)
    assert all(math.isfinite(s) and s >= 0 for s in vol.forecast(fit.state).sigma)


def test_too_short_series_falls_back_to_ewma():
    r, _ = _simulated_garch(100, seed=1)
    fit = vol.fit_garch(r, "garch")
    assert fit.status == "fallback_ewma" and "only 100 returns" in fit.reason


def test_failed_refit_uses_last_good_parameters(btc, monkeypatch):
    r = btc.to_numpy()[-1700:]
    good = vol.fit_garch(r[:1500], "garch")
    assert good.status == "ok"

    def broken_fit(self, *args, **kwargs):
        raise np.linalg.LinAlgError("singular matrix")

    monkeypatch.setattr(ARCHModel, "fit", broken_fit)
    window = r[200:1700]
    refit = vol.fit_garch(window, "garch", previous=good)
    assert refit.status == "fallback_last_good"
    assert "LinAlgError" in refit.reason
    assert refit.params == good.params
    # The last good parameters, re-filtered over the new window, as arch itself would forecast.
    am = arch_model(window * 100, mean="Zero", dist="t", rescale=False, vol="GARCH", p=1, o=0, q=1)
    ahead = am.fix(np.array(good.params)).forecast(horizon=1, reindex=False)
    expected = ahead.variance.to_numpy()[0, 0]
    assert refit.state.variance == pytest.approx(expected / 1e4, rel=1e-8)
    assert vol.forecast(refit.state).status == "fallback_last_good"

    # With no good fit to fall back on: EWMA over the same window.
    cold = vol.fit_garch(window, "garch")
    assert cold.status == "fallback_ewma"
    assert cold.state.variance == pytest.approx(vol.ewma_state(window).variance, rel=1e-12)


def test_non_converged_fit_is_rejected(btc, monkeypatch):
    r = btc.to_numpy()[-1500:]
    original = ARCHModel.fit

    def one_iteration(self, *args, **kwargs):
        kwargs["options"] = {"maxiter": 1}
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ARCHModel, "fit", one_iteration)
    fit = vol.fit_garch(r, "egarch")
    assert fit.status == "fallback_ewma"
    assert "did not converge" in fit.reason


def test_refit_is_warm_started_from_the_previous_parameters(btc, monkeypatch):
    r = btc.to_numpy()[-1542:]
    first = vol.fit_garch(r[:1500], "gjr")
    cold = vol.fit_garch(r[42:], "gjr")
    seen = []
    original = ARCHModel.fit

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("starting_values"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ARCHModel, "fit", spy)
    warm = vol.fit_garch(r[42:], "gjr", previous=first)
    assert len(seen) == 1 and np.array_equal(seen[0], np.array(first.params))
    assert warm.status == cold.status == "ok"
    # The GJR likelihood on BTC 4h is flat: a warm start may stop in a neighbouring optimum, but
    # one that fits (almost) as well as the cold start's.
    assert abs(warm.log_likelihood - cold.log_likelihood) < 2.0


# --- units and forecasts ----------------------------------------------------------------------


def test_forecast_sigma_is_a_fraction_over_each_horizon(btc):
    fit = vol.fit_garch(btc.to_numpy()[-1500:], "garch")
    f = vol.forecast(fit.state)
    assert f.horizons_bars == (1, 6)
    assert f.sigma_over(1) == pytest.approx(math.sqrt(fit.state.variance))
    assert f.sigma_over(6) == pytest.approx(math.sqrt(vol.horizon_variance(fit.state, 6)))
    # BTC's 4h sigma is a fraction of a percent to a few percent, never "1.2" (percent) or 1e-4.
    assert 0.001 < f.sigma_over(1) < 0.1
    assert f.sigma_over(1) < f.sigma_over(6) < 0.3
    with pytest.raises(KeyError):
        f.sigma_over(3)


def test_fits_and_results_pickle(btc):
    fit = vol.fit_garch(btc.to_numpy()[-1500:], "egarch")
    again = pickle.loads(pickle.dumps(fit))
    assert again == fit
    assert vol.update(again.state, 0.01) == vol.update(fit.state, 0.01)


# --- walk-forward -----------------------------------------------------------------------------

_WF = dict(horizon_bars=6, refit_every=50, min_train=1000)


def test_walk_forward_has_no_look_ahead(btc):
    r = btc.to_numpy()[-1400:]
    # Returns after `cut` are rewritten. The cut is a refit origin (999 + 4 * 50), the place where
    # a fit that peeks one bar ahead would first see a rewritten return.
    cut = 1199
    changed = r.copy()
    changed[cut + 1 :] = np.random.default_rng(0).permutation(r[cut + 1 :]) * 2.5
    a = ve.walk_forward(r, **_WF)
    b = ve.walk_forward(changed, **_WF)
    assert np.array_equal(a.origins, b.origins)
    seen = a.origins <= cut
    assert seen.sum() > 150 and (~seen).sum() > 150
    for model in vol.ALL_MODELS:
        assert np.array_equal(a.forecasts[model][seen], b.forecasts[model][seen]), model
        # The rewrite does reach the later forecasts, so the equality above is not vacuous.
        assert not np.array_equal(a.forecasts[model][~seen], b.forecasts[model][~seen]), model


def test_walk_forward_is_reproducible(btc):
    r = btc.iloc[-1300:]
    a = ve.walk_forward(r, models=("ewma", "hgb", "ensemble"), **_WF, seed=5)
    b = ve.walk_forward(r, models=("ewma", "hgb", "ensemble"), **_WF, seed=5)
    for model in ("hgb", "ensemble"):
        assert np.array_equal(a.forecasts[model], b.forecasts[model])
        assert np.isfinite(a.forecasts[model]).all()
    assert a.timestamps is not None and a.timestamps[0] == r.index[999]
    again = pickle.loads(pickle.dumps(a))
    assert np.array_equal(again.forecasts["ensemble"], a.forecasts["ensemble"])


def test_hgb_fit_is_reproducible_and_uses_only_complete_targets(btc):
    r = btc.to_numpy()[-1500:]
    feats = vf.har_features(r)
    one = vf.fit_hgb(r, horizon_bars=6, seed=0)
    two = vf.fit_hgb(r, horizon_bars=6, seed=0)
    assert one.status == "ok"
    # Rows 179 (30 days of history) .. 1493 (last origin whose 6 bars ahead are all known).
    assert one.n_train == 1493 - 179 + 1
    assert np.array_equal(
        vf.hgb_variance(one, *feats), vf.hgb_variance(two, *feats), equal_nan=True
    )


def test_har_features_use_only_the_past(btc):
    r = btc.to_numpy()[-600:]
    changed = r.copy()
    changed[400:] = 0.0
    fa, ba = vf.har_features(r)
    fb, bb = vf.har_features(changed)
    assert np.array_equal(fa[:400], fb[:400], equal_nan=True)
    assert np.array_equal(ba[:400], bb[:400], equal_nan=True)
    assert np.isnan(fa[:179]).all() and np.isfinite(fa[179:]).all()


def test_real_data_walk_forward_beats_a_constant_forecast(btc):
    r = btc.iloc[-1500:]
    tic = time.perf_counter()
    res = ve.walk_forward(r, horizon_bars=6, refit_every=42, min_train=1000)
    elapsed = time.perf_counter() - tic
    assert elapsed < 60  # ~2 s on 2 cores; this only catches a pathological slowdown
    assert res.realized.shape == res.origins.shape == (1500 - 1000 - 6 + 1,)
    losses = res.mean_losses()
    for model in vol.ALL_MODELS:
        assert res.forecasts[model].shape == res.realized.shape
        assert math.isfinite(losses[model]["qlike"]) and math.isfinite(losses[model]["mse"]), model
    # Naive: the training sample's mean squared return, scaled to the horizon, for every origin.
    constant = np.mean(r.to_numpy()[:1000] ** 2) * 6
    naive = float(np.mean(vol.qlike(res.realized, constant)))
    for model in vol.GARCH_MODELS:
        assert losses[model]["qlike"] < naive, (model, losses[model]["qlike"], naive)
    assert res.refits["garch"] == math.ceil(res.origins.size / 42)
    assert set(res.fit_seconds) == set(vol.ALL_MODELS) and res.fit_seconds["gjr"] > 0
    weights = np.column_stack(list(res.ensemble_weights.values()))
    assert np.allclose(weights.sum(axis=1), 1.0)


def test_eth_one_bar_garch_beats_a_constant_forecast(eth):
    r = eth.to_numpy()[-1500:]
    res = ve.walk_forward(
        r, models=("garch", "gjr"), horizon_bars=1, refit_every=42, min_train=1000
    )
    naive = float(np.mean(vol.qlike(res.realized, np.mean(r[:1000] ** 2))))
    for model in ("garch", "gjr"):
        assert res.mean_losses()[model]["qlike"] < naive


def test_walk_forward_records_fallbacks(monkeypatch):
    r, _ = _simulated_garch(1200, seed=2)

    def broken_fit(self, *args, **kwargs):
        raise RuntimeError("solver exploded")

    monkeypatch.setattr(ARCHModel, "fit", broken_fit)
    res = ve.walk_forward(
        r, models=("garch", "ewma"), horizon_bars=1, refit_every=50, min_train=1000
    )
    notes = res.notes["garch"]
    assert len(notes) == res.refits["garch"] > 0
    assert all(n.status == "fallback_ewma" and "solver exploded" in n.reason for n in notes)
    # Falling back to EWMA every time, GARCH's forecasts are EWMA's.
    assert res.forecasts["garch"] == pytest.approx(res.forecasts["ewma"], rel=1e-9)


def test_walk_forward_rejects_bad_input():
    with pytest.raises(ValueError, match="non-finite"):
        ve.walk_forward(np.array([0.01, np.nan] * 700))
    with pytest.raises(ValueError, match="unknown models"):
        ve.walk_forward(np.zeros(2000), models=("arima",))


# --- ensemble and score -----------------------------------------------------------------------


def test_ensemble_weights_are_inverse_mean_qlike():
    w = vol.ensemble_weights({"garch": np.array([1.0, 1.0]), "ewma": np.array([0.5, 0.5, np.inf])})
    assert w == pytest.approx({"garch": 1 / 3, "ewma": 2 / 3})
    assert vol.ensemble_weights({"a": np.array([]), "b": np.array([])}) == {"a": 0.5, "b": 0.5}


def test_volatility_score_ties_and_empty_history():
    assert vol.volatility_score([0.01, 0.02, 0.03, 0.04], 0.025) == 50.0
    assert vol.volatility_score([0.01, 0.02, 0.03, 0.04], 0.05) == 100.0
    assert vol.volatility_score([0.01, 0.02, 0.03, 0.04], 0.0) == 0.0
    assert vol.volatility_score([0.02, 0.02, 0.02], 0.02) == 50.0  # ties count half
    assert math.isnan(vol.volatility_score([], 0.02))
    assert math.isnan(vol.volatility_score([0.01], math.nan))


_sigma = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@given(history=st.lists(_sigma, min_size=1, max_size=60), low=_sigma, high=_sigma)
def test_volatility_score_is_bounded_and_monotone(history, low, high):
    low, high = sorted((low, high))
    a, b = vol.volatility_score(history, low), vol.volatility_score(history, high)
    assert 0.0 <= a <= b <= 100.0


def test_an_exploding_egarch_recursion_is_held_at_the_ceiling_not_an_overflow():
    # Found by a backtest from 2020-06: an EGARCH fitted on few bars met a crash bar, and
    # math.exp overflowed inside Engine.on_tick, which would have stopped a live cockpit.
    blown = vol.RecursionState("egarch", omega=5.0, alpha=3.0, gamma=0.0, beta=0.99, variance=0.5,
                               shock_mgf=(1e300,) * 10)
    after = vol.update(blown, 40.0)  # |z| = 57
    assert after.variance == vol.VARIANCE_CEILING
    path = vol.step_variances(after, 6)
    assert np.isfinite(path).all() and (path <= vol.VARIANCE_CEILING).all()
    garch = vol.RecursionState("garch", omega=0.0, alpha=0.5, gamma=0.0, beta=0.9, variance=0.9)
    assert vol.update(garch, 3.0).variance == vol.VARIANCE_CEILING
