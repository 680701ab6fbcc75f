"""The flat-array HGB prediction (`boosted_trees.FlatTrees`) gives sklearn's `predict` numbers
to the last bit: on real features, NaN/inf/extreme values, values exactly on a split threshold,
arbitrary rows (hypothesis), deeper trees, and after a pickle round trip; models it cannot walk
fall back to sklearn."""

from __future__ import annotations

import pickle
from dataclasses import replace
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.ensemble import HistGradientBoostingRegressor

from cockpit.backtest.market import load_history
from cockpit.models import vol_features as vf
from cockpit.models.boosted_trees import FlatTrees


def _assert_same(fast: np.ndarray, slow: np.ndarray) -> None:
    """Bitwise equal, NaN where NaN; the contract is 1e-12 relative, the walk does better."""
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=0.0)
    assert np.array_equal(fast, slow, equal_nan=True)


def _returns_with_funding(n: int = 3000, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Fat-tailed returns whose volatility wanders, and a funding rate missing for the first
    third (as before 2019-09), so the trees learn where a NaN goes."""
    rng = np.random.default_rng(seed)
    sigma = 0.01 * np.exp(np.cumsum(rng.normal(0.0, 0.05, n)).clip(-2, 2))
    returns = sigma * rng.standard_t(4, n)
    funding = rng.normal(1e-4, 3e-4, n)
    funding[: n // 3] = np.nan
    return returns, funding


@cache
def _fitted() -> vf.HGBForecaster:
    """The 24h forecaster on `_returns_with_funding`, fitted once per test session."""
    returns, funding = _returns_with_funding()
    return vf.fit_hgb(returns, horizon_bars=6, funding=funding)


@pytest.fixture
def forecaster() -> vf.HGBForecaster:
    fitted = _fitted()
    assert fitted.trees is not None and len(fitted.columns) == 6  # funding is one of the columns
    return fitted


@pytest.fixture(scope="module")
def features() -> tuple[np.ndarray, np.ndarray]:
    returns, funding = _returns_with_funding()
    return vf.har_features(returns, funding=funding)


def _edge_rows(model: HistGradientBoostingRegressor, width: int) -> np.ndarray:
    """Rows whose every split feature sits exactly on, just below and just above a threshold, and
    rows of NaN, +-inf, +-1e300 and zeros."""
    rows = []
    for iteration in model._predictors:
        for node in iteration[0].nodes[~iteration[0].nodes["is_leaf"].astype(bool)]:
            t = node["num_threshold"]
            for value in (t, np.nextafter(t, -np.inf), np.nextafter(t, np.inf)):
                row = np.zeros(width)
                row[node["feature_idx"]] = value
                rows.append(row)
    for value in (np.nan, np.inf, -np.inf, 1e300, -1e300, 0.0, -0.0, 5e-324):
        rows.append(np.full(width, value))
        for j in range(width):
            row = np.zeros(width)
            row[j] = value
            rows.append(row)
    return np.array(rows)


def test_flat_trees_match_sklearn_on_features_with_missing_funding(forecaster, features):
    x, base = features
    rows = x[np.isfinite(base)][:, forecaster.columns]
    assert np.isnan(rows[:, -1]).any()  # the NaN branch is exercised
    _assert_same(forecaster.trees.predict(rows), forecaster.model.predict(rows))
    # One row at a time, as the cockpit predicts on every bar.
    for i in range(0, rows.shape[0], 97):
        _assert_same(forecaster.trees.predict(rows[i : i + 1]), forecaster.model.predict(rows[i : i + 1]))


def test_flat_trees_match_sklearn_on_thresholds_and_extreme_values(forecaster):
    model = forecaster.model
    rows = _edge_rows(model, model.n_features_in_)
    _assert_same(forecaster.trees.predict(rows), model.predict(rows))


def test_hgb_variance_is_unchanged_by_the_fast_path(forecaster, features):
    x, base = features
    slow = replace(forecaster, trees=None)
    _assert_same(vf.hgb_variance(forecaster, x, base), vf.hgb_variance(slow, x, base))
    assert np.isnan(vf.hgb_variance(forecaster, x, base)[:100]).all()  # before 30 days of history
    _assert_same(vf.hgb_variance(forecaster, x[-1:], base[-1:]), vf.hgb_variance(slow, x[-1:], base[-1:]))


def test_the_trees_survive_a_pickle_round_trip(forecaster, features):
    x, base = features
    again = pickle.loads(pickle.dumps(forecaster))
    assert again.trees is not None
    _assert_same(vf.hgb_variance(again, x, base), vf.hgb_variance(forecaster, x, base))


def test_deeper_trees_and_the_squared_error_loss_match_too():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2000, 4))
    x[rng.random(x.shape) < 0.1] = np.nan
    y = np.nan_to_num(x[:, 0]) * 2 + np.sin(np.nan_to_num(x[:, 1])) + rng.normal(size=2000)
    model = HistGradientBoostingRegressor(max_iter=40, max_leaf_nodes=15, random_state=0).fit(x, y)
    trees = FlatTrees.from_model(model)
    assert trees is not None and trees.depth > 2
    probe = np.vstack([x, rng.normal(size=(500, 4)) * 10, _edge_rows(model, 4)])
    _assert_same(trees.predict(probe), model.predict(probe))


def test_a_categorical_model_is_left_to_sklearn():
    rng = np.random.default_rng(2)
    x = np.column_stack([rng.integers(0, 5, 500), rng.normal(size=500)]).astype(float)
    y = np.exp(x[:, 0] * 0.1 + rng.normal(size=500) * 0.1)
    model = HistGradientBoostingRegressor(
        loss="gamma", max_iter=20, categorical_features=[0], random_state=0
    ).fit(x, y)
    assert FlatTrees.from_model(model) is None


def test_a_row_of_the_wrong_width_is_refused(forecaster):
    with pytest.raises(ValueError, match="fitted on 6 columns"):
        forecaster.trees.predict(np.zeros((1, 5)))


def test_real_btc_forecasters_match_sklearn(market_data: Path):
    history = load_history([str(market_data / "binance_spot" / "BTCUSDT_4h.csv.gz")])
    returns = vf.log_returns(next(iter(history.close.values())))[:9000]
    x, base = vf.har_features(returns)
    for horizon in (1, 6):
        fitted = vf.fit_hgb(returns[-6000:], horizon_bars=horizon)
        rows = x[np.isfinite(base)][:, fitted.columns]
        _assert_same(fitted.trees.predict(rows), fitted.model.predict(rows))


def _split_values(model: HistGradientBoostingRegressor) -> list[float]:
    """Every split threshold of `model`, and the floats either side of it."""
    out = []
    for iteration in model._predictors:
        nodes = iteration[0].nodes
        for t in nodes["num_threshold"][~nodes["is_leaf"].astype(bool)]:
            out += [float(t), float(np.nextafter(t, -np.inf)), float(np.nextafter(t, np.inf))]
    return out


@settings(deadline=None)  # sklearn's predict alone takes ~1.5 ms a call
@given(st.data())
def test_flat_trees_match_sklearn_on_arbitrary_rows(data):
    fitted = _fitted()
    # Any float at all (NaN, infinities, subnormals, huge and tiny), or one on a split's edge.
    element = st.one_of(
        st.floats(allow_nan=True, allow_infinity=True, width=64),
        st.sampled_from(_split_values(fitted.model)),
    )
    shape = st.tuples(st.integers(min_value=1, max_value=5), st.just(fitted.model.n_features_in_))
    rows = data.draw(arrays(np.float64, shape, elements=element))
    _assert_same(fitted.trees.predict(rows), fitted.model.predict(rows))
