"""The exact constraint jacobians handed to arch's SLSQP: right values, and the same optimum."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from arch import arch_model
from arch.univariate import base
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cockpit.models import arch_constraints
from cockpit.models.volatility import fit_garch  # noqa: F401 - importing it installs the jacobians
from cockpit.backtest.market import load_history

finite = st.floats(-10, 10, allow_nan=False)


def test_importing_the_volatility_models_installs_the_exact_jacobians():
    assert base.constraint is arch_constraints.linear_constraints
    assert arch_constraints.install() is True


@settings(max_examples=60, deadline=None)
@given(arrays(float, (3, 4), elements=finite), arrays(float, 3, elements=finite), arrays(float, 4, elements=finite))
def test_each_constraint_is_its_row_and_its_jacobian_the_row(a, b, params):
    constraints = arch_constraints.linear_constraints(a, b)
    assert len(constraints) == 3
    for row, floor, constraint in zip(a, b, constraints):
        assert constraint["type"] == "ineq"
        assert constraint["fun"](params) == pytest.approx(row @ params - floor, abs=1e-9)
        np.testing.assert_array_equal(constraint["jac"](params), row)


def _fit(returns_pct: np.ndarray, spec: dict) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = arch_model(returns_pct, mean="Zero", dist="t", rescale=False, **spec).fit(disp="off")
    return float(result.loglikelihood)


@pytest.mark.parametrize("spec", [dict(vol="GARCH", p=1, q=1), dict(vol="GARCH", p=1, o=1, q=1),
                                  dict(vol="EGARCH", p=1, o=1, q=1)])
def test_fits_reach_the_same_likelihood_as_with_numerical_jacobians(spec, monkeypatch, market_data):
    closes = load_history([str(market_data / "binance_spot" / "BTCUSDT_4h.csv.gz")]).close["BTC/USDT:USDT"]
    returns = np.diff(np.log(closes[-4000:])) * 100
    windows = [returns[start:start + 2000] for start in (0, 700, 1400, 1999)]
    exact = [_fit(window, spec) for window in windows]

    def numerical(a, b):  # what arch itself builds: no jacobians
        return [{"type": "ineq", "fun": c["fun"]} for c in arch_constraints.linear_constraints(a, b)]

    monkeypatch.setattr(base, "constraint", numerical)
    shipped = [_fit(window, spec) for window in windows]
    # The same constrained maximum, up to the optimizer's tolerance (log-likelihoods ~ -3000).
    np.testing.assert_allclose(exact, shipped, rtol=1e-5)
