"""Choosing a volatility model from a walk-forward: `best_model` by hand, its ties, its window,
its refusals, and properties over arbitrary forecasts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cockpit.models import vol_evaluation as ve
from cockpit.models import volatility as vol


def _result(realized, forecasts: dict[str, list[float] | np.ndarray]) -> ve.WalkForwardResult:
    """A WalkForwardResult with just the arrays `best_model` reads (fraction^2 over the horizon)."""
    realized = np.asarray(realized, dtype=float)
    return ve.WalkForwardResult(
        horizon_bars=1,
        origins=np.arange(realized.size),
        timestamps=None,
        realized=realized,
        forecasts={m: np.asarray(f, dtype=float) for m, f in forecasts.items()},
        fit_seconds={m: 0.0 for m in forecasts},
        refits={m: 0 for m in forecasts},
        notes={m: () for m in forecasts},
    )


def _q(realized: float, forecast: float) -> float:
    return realized / forecast - math.log(realized / forecast) - 1.0


def test_best_model_hand_worked():
    # Realized 1e-4 every bar: "garch" is exact on the last two bars, "ewma" never is.
    res = _result([1e-4] * 4, {"ewma": [2e-4] * 4, "garch": [4e-4, 4e-4, 1e-4, 1e-4]})
    model, means = ve.best_model(res)
    assert means["ewma"] == pytest.approx(_q(1, 2))  # 0.1931
    assert means["garch"] == pytest.approx(_q(1, 4) / 2)  # (0.6363 + 0.6363 + 0 + 0) / 4
    assert model == "ewma"
    # The last two origins only: garch is perfect there.
    model, means = ve.best_model(res, recent_bars=2)
    assert model == "garch" and means == pytest.approx({"garch": 0.0, "ewma": _q(1, 2)})
    assert list(means) == ["garch", "ewma"]  # ALL_MODELS order, whatever the result's order


def test_ties_go_to_the_earlier_model_in_all_models():
    same = [2e-4] * 3
    res = _result([1e-4] * 3, {"ensemble": same, "hgb": same, "realized": same, "gjr": same})
    assert ve.best_model(res)[0] == "gjr"
    assert ve.best_model(res, exclude=("gjr",))[0] == "realized"


def test_an_origin_with_a_non_finite_loss_is_left_out_for_every_model():
    # Origin 0 has zero realized variance (QLIKE +inf for all); origin 1 a NaN forecast for hgb.
    res = _result([0.0, 1e-4, 1e-4], {"ewma": [1e-4, 1e-4, 2e-4], "hgb": [1e-4, np.nan, 4e-4]})
    model, means = ve.best_model(res)
    assert means == pytest.approx({"ewma": _q(1, 2), "hgb": _q(1, 4)})  # origin 2 only
    assert model == "ewma"
    # Excluding hgb gives origin 1 back to ewma.
    assert ve.best_model(res, exclude=["hgb"])[1] == pytest.approx({"ewma": _q(1, 2) / 2})


def test_best_model_refuses_what_it_cannot_answer():
    res = _result([1e-4, 0.0], {"ewma": [1e-4, 1e-4], "garch": [2e-4, 1e-4]})
    with pytest.raises(ValueError, match="recent_bars"):
        ve.best_model(res, recent_bars=0)
    with pytest.raises(ValueError, match="unknown models"):
        ve.best_model(res, exclude=("arima",))
    with pytest.raises(ValueError, match="no model left"):
        ve.best_model(res, exclude=("ewma", "garch"))
    with pytest.raises(ValueError, match="finite"):
        ve.best_model(res, recent_bars=1)  # the last origin has zero realized variance


def test_best_model_agrees_with_mean_losses_on_a_real_walk_forward():
    rng = np.random.default_rng(3)
    r = 0.01 * rng.standard_t(5, size=1300)
    res = ve.walk_forward(r, models=("garch", "ewma", "realized"), horizon_bars=6, refit_every=60)
    model, means = ve.best_model(res)
    assert means == pytest.approx({m: v["qlike"] for m, v in res.mean_losses().items()})
    assert means[model] == min(means.values())


# (realized variances, one forecast column per model, recent_bars), all fraction^2, same length.
_variance = st.floats(min_value=1e-6, max_value=1e-2)
_history = st.integers(min_value=1, max_value=40).flatmap(
    lambda n: st.tuples(
        st.lists(_variance, min_size=n, max_size=n),
        st.lists(
            st.lists(_variance, min_size=n, max_size=n), min_size=len(vol.ALL_MODELS),
            max_size=len(vol.ALL_MODELS),
        ),
        st.integers(min_value=1, max_value=n + 5),
    )
)
_excluded = st.sets(st.sampled_from(vol.ALL_MODELS), max_size=len(vol.ALL_MODELS) - 1)


@given(_history, st.permutations(vol.ALL_MODELS), _excluded)
def test_best_model_properties(data, order, exclude):
    realized, columns, recent = data
    res = _result(realized, {m: columns[k] for k, m in enumerate(order)})
    model, means = ve.best_model(res, recent_bars=recent, exclude=tuple(exclude))
    kept = [m for m in vol.ALL_MODELS if m not in exclude]
    # Every kept model is scored (all losses here are finite), in ALL_MODELS order, none other.
    assert list(means) == kept
    assert all(math.isfinite(v) and v >= 0.0 for v in means.values())
    # The winner has the lowest mean, and no earlier model ties it.
    assert means[model] == min(means.values())
    assert all(means[m] > means[model] for m in kept[: kept.index(model)])
    # Only the last `recent` origins count: rewriting the earlier forecasts changes nothing.
    cut = max(0, len(realized) - recent)
    rewritten = {m: np.r_[np.full(cut, 1.0), res.forecasts[m][cut:]] for m in res.forecasts}
    assert ve.best_model(_result(realized, rewritten), recent_bars=recent,
                         exclude=tuple(exclude)) == (model, means)
    # A window at least as long as the history is the whole history.
    if recent >= len(realized):
        assert ve.best_model(res, exclude=tuple(exclude)) == (model, means)
