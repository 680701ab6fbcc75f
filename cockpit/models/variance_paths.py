"""A variance recursion run over many bars at once: the horizon variance after every bar, as
`volatility.update` and `volatility.horizon_variance` would give them bar by bar, without
building a state object per bar.

Why: the walk-forward evaluation advances five recursions over a few thousand origins every
week per asset; bar by bar through frozen dataclasses that took ~0.1 s of a 0.4 s refit.

Same numbers, not just close ones: each recursion runs in the same float operations, in the same
order, as `volatility.update` (a recursion cannot be vectorised: every bar needs the one before);
the multi-step part is vectorised across bars with the same operations as
`volatility.step_variances`, and summed per row the way numpy sums one row. Logs and exps go
through `math`, as there, because numpy's SIMD `exp`/`log` may differ in the last bit.
"""

from __future__ import annotations

import math

import numpy as np

from cockpit.models.vol_features import VARIANCE_FLOOR
# The private constants too: the recursions here must be `update`'s to the last bit.
from cockpit.models.volatility import (
    _LOG_VARIANCE_CEILING,
    _SQRT_2_OVER_PI,
    VARIANCE_CEILING,
    RecursionState,
    RollingState,
    VarianceState,
    step_variances,
    update,
)


def horizon_variance_path(
    state: VarianceState, returns: np.ndarray, horizon_bars: int
) -> np.ndarray:
    """Returns `returns.size + 1` horizon variances (fraction^2 over `horizon_bars` bars): first
    from `state` itself, then after each return in `returns` (log returns, fractions) in turn.

    Element i equals `horizon_variance(s_i, horizon_bars)` where s_0 = `state` and
    s_i = `update(s_(i-1), returns[i-1])`.
    """
    step_variances(state, horizon_bars)  # raises the same errors for a horizon it cannot reach
    r = np.asarray(returns, dtype=np.float64).reshape(-1)
    if isinstance(state, RollingState):
        return _rolling_path(state, r, horizon_bars)
    variances = np.empty(r.size + 1)
    variances[0] = state.variance
    if state.model == "egarch":
        variances[1:] = _egarch_variances(state, r)
        return _egarch_horizons(state, variances, horizon_bars)
    variances[1:] = _garch_variances(state, r)
    steps = np.empty((variances.size, horizon_bars))
    steps[:, 0] = variances
    phi = state.persistence
    for k in range(1, horizon_bars):
        steps[:, k] = state.omega + phi * steps[:, k - 1]
    return steps.sum(axis=1)


def _garch_variances(state: RecursionState, r: np.ndarray) -> list[float]:
    """Returns the next-bar variance after each return: GARCH/GJR/EWMA, as in `update`."""
    omega, alpha, gamma, beta = state.omega, state.alpha, state.gamma, state.beta
    v = state.variance
    out = []
    for x in r.tolist():
        down = x < 0.0
        nxt = omega + (alpha + gamma * down) * x * x + beta * v
        v = min(max(nxt, VARIANCE_FLOOR), VARIANCE_CEILING)
        out.append(v)
    return out


def _egarch_variances(state: RecursionState, r: np.ndarray) -> list[float]:
    """Returns the next-bar variance after each return: EGARCH, as in `update`."""
    omega, alpha, gamma, beta = state.omega, state.alpha, state.gamma, state.beta
    v = state.variance
    out = []
    for x in r.tolist():
        z = x / math.sqrt(v)
        log_next = omega + alpha * (abs(z) - _SQRT_2_OVER_PI) + gamma * z + beta * math.log(v)
        v = max(math.exp(min(log_next, _LOG_VARIANCE_CEILING)), VARIANCE_FLOOR)
        out.append(v)
    return out


def _egarch_horizons(state: RecursionState, variances: np.ndarray, horizon_bars: int) -> np.ndarray:
    """Returns the EGARCH horizon variance for each next-bar variance, as `step_variances`."""
    steps = np.empty((variances.size, horizon_bars))
    log_level = np.array([math.log(v) for v in variances.tolist()])
    shocks = 1.0  # the same for every bar: the factors depend only on the step ahead
    for k in range(horizon_bars):
        capped = np.minimum(log_level, _LOG_VARIANCE_CEILING).tolist()
        level = np.array([math.exp(x) for x in capped])
        steps[:, k] = np.minimum(level * shocks, VARIANCE_CEILING)
        log_level = state.omega + state.beta * log_level
        if k < len(state.shock_mgf):
            shocks *= state.shock_mgf[k]
    return steps.sum(axis=1)


def _rolling_path(state: RollingState, r: np.ndarray, horizon_bars: int) -> np.ndarray:
    """Returns the realized baseline's horizon variance from `state` and after each return."""
    if not state.squares:
        # An empty window grows to one square on the first update; not worth a special path.
        path = [state]
        for x in r.tolist():
            path.append(update(path[-1], x))
        return np.array([float(step_variances(s, horizon_bars).sum()) for s in path])
    squares = list(state.squares) + [x * x for x in r.tolist()]
    window = len(state.squares)
    # Python's sum over each window, as `RollingState.variance` does: numpy would round differently.
    variances = np.array(
        [max(sum(squares[i : i + window]) / window, VARIANCE_FLOOR) for i in range(r.size + 1)]
    )
    steps = np.empty((variances.size, horizon_bars))
    steps[:] = variances[:, None]
    return steps.sum(axis=1)
