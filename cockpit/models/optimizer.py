"""Target weights: return/covariance estimates, and a constrained optimiser.

Library: `scipy.optimize.minimize(method="SLSQP")`. Every problem here is small (a handful of
assets) with linear constraints and a smooth objective, which is exactly what SLSQP is for; scipy
is already pulled in by arch and scikit-learn, whereas PyPortfolioOpt or riskfolio-lib would add
cvxpy and its solvers for no gain at this size. Covariance shrinkage uses scikit-learn's
`LedoitWolf` (already a dependency): with a few hundred noisy crypto returns the sample
covariance over-states how well assets diversify, and shrinkage is the standard cure.

Semantics (where the issue is silent):

- Weights are fractions of *equity*, long only (crypto perpetual longs; shorts belong to the
  hedging module, not to the optimiser). Order follows the inputs.
- The budget is B = leverage_ceiling * (1 - reserve_fraction): the reserve is held out of the
  deployable capital. Every objective *spends* D = min(B, n * asset_cap), i.e. sum(w) = D:
  minimum variance and risk parity are scale-free and would otherwise answer "hold nothing" or
  any multiple. How much to deploy is the leverage setting's decision, not the optimiser's, so
  pass the leverage you mean to run (e.g. `portfolio.target_leverage`) as `leverage_ceiling`.
  `OptimizedWeights.as_targets(target_leverage)` turns the result into the rebalancer's targets
  (fractions of levered capital; they then sum to 1 - reserve_fraction).
- max_sharpe maximises w.(mu - risk_free) / sqrt(w' S w) with sum(w) = D, solved in its convex
  form (a QP in y = w / (excess . w), Cornuejols & Tutuncu), so the answer is the global optimum.
  When no fully deployed portfolio within the caps has a positive expected excess return (e.g.
  every asset's is <= 0) it returns all zeros (everything stays in the reserve) and says so in
  `note`.
- risk_parity equalises each asset's share of portfolio variance: Spinu's convex form on the
  correlation matrix, minimised by damped Newton (exact to ~1e-12 and robust on near-singular
  matrices, where SLSQP stalls). When a cap makes equal shares impossible, or the covariance
  admits an almost riskless long-only mix, it minimises the squared spread of the shares from
  1/n within the caps (SLSQP) instead, and says so in `note`.
- If the solver fails, or returns weights that break a constraint, the result is equal weights
  D / n (always feasible), `converged` is False and `fallback` says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Mapping, NamedTuple, Sequence

import numpy as np
from scipy.optimize import OptimizeResult, minimize

Objective = Literal["max_sharpe", "min_variance", "risk_parity"]
OBJECTIVES: tuple[str, ...] = ("max_sharpe", "min_variance", "risk_parity")
# Bars per year for markets that trade around the clock.
PERIODS_PER_YEAR: Mapping[str, float] = {"1h": 24 * 365.0, "4h": 6 * 365.0, "1d": 365.0}

_SYMMETRY_TOLERANCE = 1e-8  # relative to the largest |entry|
_PSD_TOLERANCE = 1e-10  # smallest eigenvalue may be this much below 0, relative to the largest
_CONSTRAINT_TOLERANCE = 1e-6  # a solver answer further out of bounds than this is a failure
_SOLVER_OPTIONS = {"maxiter": 500, "ftol": 1e-12}
_NEWTON_STEPS = 200
ALL_AT_CAP = "the budget reaches every asset's cap: each sits at its cap, nothing to optimise"
NOTHING_TO_HOLD = (
    "no fully deployed portfolio within the caps expects a positive excess return: hold the reserve"
)
_RISK_PARITY_TOLERANCE = 1e-6  # largest |risk share - 1/n| still called "equal"
RISK_PARITY_CAPPED = "a cap binds: risk shares are as equal as the caps allow"
RISK_PARITY_OUT_OF_REACH = (
    "equal risk shares are out of reach (some long-only mix is almost riskless): "
    "shares as equal as the solver could make them"
)


class Moments(NamedTuple):
    """Annualised estimates from log returns: `mean` per asset (fraction per year) and
    `covariance` (fraction^2 per year), both in the column order of the input."""

    mean: np.ndarray
    covariance: np.ndarray


@dataclass(frozen=True, slots=True)
class OptimizedWeights:
    """An optimiser's answer. Weights are fractions of equity (1.0 = notional equal to equity);
    returns and volatility are in the inputs' period (annual when fed `estimate_moments`)."""

    weights: tuple[float, ...]
    names: tuple[str, ...]
    objective: str
    expected_return: float  # w . mu
    volatility: float  # sqrt(w' S w)
    sharpe: float  # w . (mu - risk_free) / volatility; NaN when volatility is 0
    risk_contributions: tuple[float, ...]  # each asset's share of variance, sums to 1; NaN if 0
    budget: float  # leverage_ceiling * (1 - reserve_fraction): the most sum(w) may reach
    converged: bool  # the solver's answer was used (True for closed-form cases too)
    fallback: str | None = None  # why equal weights replaced the solver's answer
    note: str | None = None  # anything else a trader should know about this answer

    @property
    def gross(self) -> float:
        """Returns sum(|w|): the exposure these weights ask for, as a multiple of equity."""
        return float(sum(abs(w) for w in self.weights))

    def by_name(self) -> dict[str, float]:
        """Returns {name: weight}, weights as fractions of equity."""
        return dict(zip(self.names, self.weights))

    def as_targets(self, target_leverage: float) -> dict[str, float]:
        """Returns {name: weight / target_leverage}: fractions of levered capital, the unit of
        `PortfolioConfig.targets` and `cockpit.domain.rebalance`."""
        if not (target_leverage > 0 and math.isfinite(target_leverage)):
            raise ValueError(f"target leverage must be a positive number, not {target_leverage!r}")
        return {name: w / target_leverage for name, w in zip(self.names, self.weights)}


# ---- estimates ---------------------------------------------------------------------------------


def estimate_moments(closes_matrix: Sequence[Sequence[float]] | np.ndarray, periods_per_year: float,
                     *, shrink: bool = True) -> Moments:
    """Returns Moments(mean, covariance) of the log returns of a (periods x assets) matrix of
    closes, annualised by `periods_per_year` (mean x P, covariance x P; see PERIODS_PER_YEAR).

    The mean is of *log* returns (the median growth rate); the arithmetic mean is about
    variance / 2 higher. The covariance is Ledoit-Wolf shrunk (scikit-learn) unless
    `shrink=False`, which gives the unbiased sample covariance. Raises ValueError for a non-2-D
    input, fewer than 3 rows, or a close that is not a positive finite number.
    """
    closes = np.asarray(closes_matrix, dtype=float)
    if closes.ndim != 2 or closes.shape[1] < 1:
        raise ValueError(f"closes must be a 2-D (periods x assets) matrix, got shape {closes.shape}")
    if closes.shape[0] < 3:
        raise ValueError(f"need at least 3 closes per asset (2 returns), got {closes.shape[0]}")
    if not np.all(np.isfinite(closes)) or np.any(closes <= 0):
        raise ValueError("closes must be positive finite prices (no NaN, inf, zero or negative)")
    if not (periods_per_year > 0 and math.isfinite(periods_per_year)):
        raise ValueError(f"periods per year must be a positive number, not {periods_per_year!r}")
    returns = np.diff(np.log(closes), axis=0)
    mean = returns.mean(axis=0) * periods_per_year
    if shrink:
        from sklearn.covariance import LedoitWolf  # heavy import, only when estimating

        covariance = LedoitWolf().fit(returns).covariance_
    else:
        covariance = np.atleast_2d(np.cov(returns, rowvar=False, ddof=1))
    return Moments(mean, np.asarray(covariance) * periods_per_year)


# ---- validation --------------------------------------------------------------------------------


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive number, not {value!r}")
    return value


def _validate(expected_returns, covariance, objective, leverage_ceiling, asset_cap,
              reserve_fraction, risk_free, names):
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}")
    mu = np.asarray(expected_returns, dtype=float)
    if mu.ndim != 1 or mu.size < 1:
        raise ValueError(f"expected returns must be a non-empty 1-D array, got shape {mu.shape}")
    n = mu.size
    sigma = np.asarray(covariance, dtype=float)
    if sigma.shape != (n, n):
        raise ValueError(
            f"covariance must be {n}x{n} to match {n} expected returns, got shape {sigma.shape}"
        )
    if not np.all(np.isfinite(mu)):
        raise ValueError("expected returns must be finite (no NaN or inf)")
    if not np.all(np.isfinite(sigma)):
        raise ValueError("covariance must be finite (no NaN or inf)")
    scale = float(np.max(np.abs(sigma))) if sigma.size else 0.0
    if float(np.max(np.abs(sigma - sigma.T))) > _SYMMETRY_TOLERANCE * max(scale, 1e-300):
        raise ValueError("covariance must be symmetric")
    sigma = (sigma + sigma.T) / 2.0
    eigenvalues = np.linalg.eigvalsh(sigma)
    if eigenvalues[0] < -_PSD_TOLERANCE * max(abs(eigenvalues[-1]), 1e-300):
        raise ValueError(
            f"covariance is not positive semi-definite: smallest eigenvalue {eigenvalues[0]:.3g}"
        )
    if objective == "risk_parity" and np.any(np.diag(sigma) <= 0):
        raise ValueError("risk parity needs every asset to have a positive variance")
    _positive("leverage ceiling", leverage_ceiling)
    _positive("asset cap", asset_cap)
    reserve = float(reserve_fraction)
    if not (0.0 <= reserve < 1.0):
        raise ValueError(f"reserve fraction must be in [0, 1), not {reserve!r}")
    if not math.isfinite(float(risk_free)):
        raise ValueError(f"risk-free rate must be finite, not {risk_free!r}")
    if names is None:
        labels = tuple(str(i) for i in range(n))
    else:
        labels = tuple(str(name) for name in names)
        if len(labels) != n or len(set(labels)) != n:
            raise ValueError(f"names must be {n} distinct labels, got {list(labels)!r}")
    return mu, sigma, labels


# ---- the objectives, in x = w / D (sum(x) = 1, 0 <= x <= cap / D) -----------------------------


def _solve(fun, x0: np.ndarray, upper: float):
    n = x0.size
    constraints = [{"type": "eq", "fun": lambda x: np.sum(x) - 1.0, "jac": lambda x: np.ones(n)}]
    return minimize(fun, x0, jac=True, method="SLSQP", bounds=[(0.0, upper)] * n,
                    constraints=constraints, options=_SOLVER_OPTIONS)


def _min_variance(sigma: np.ndarray, upper: float, x0: np.ndarray):
    scale = float(np.mean(np.diag(sigma))) or 1.0
    s = sigma / scale

    def fun(x):
        sx = s @ x
        return float(x @ sx), 2.0 * sx

    return _solve(fun, x0, upper), None


def _greedy(score: np.ndarray, upper: float) -> np.ndarray:
    """The feasible x (sum 1, 0 <= x <= upper) that fills the best-scored assets first: the
    maximiser of score . x over the constraints."""
    x, left = np.zeros(score.size), 1.0
    for i in np.argsort(-score, kind="stable"):
        x[i] = min(upper, left)
        left -= x[i]
    return x


def _max_sharpe(mu: np.ndarray, sigma: np.ndarray, risk_free: float, upper: float, x0: np.ndarray):
    """Returns (solver result, note). The caller has checked that some feasible x has a
    positive expected excess return."""
    n = x0.size
    excess = mu - risk_free
    best = _greedy(excess, upper)
    scale = float(np.mean(np.diag(sigma))) or 1.0
    s = sigma / scale
    m = excess / float(np.max(np.abs(excess)))

    # Convex form (Cornuejols & Tutuncu): with y = x / (m . x), maximising m.x / sqrt(x'Sx) is
    # minimising y'Sy subject to m.y = 1, y >= 0 and the caps made homogeneous,
    # y_i <= upper * sum(y). A convex QP: SLSQP finds its global minimum.
    def variance(y):
        sy = s @ y
        return float(y @ sy), 2.0 * sy

    constraints = [{"type": "eq", "fun": lambda y: float(m @ y) - 1.0, "jac": lambda y: m}]
    if upper < 1.0:
        caps_jac = upper * np.ones((n, n)) - np.eye(n)
        constraints.append({"type": "ineq", "fun": lambda y: upper * np.sum(y) - y,
                            "jac": lambda y: caps_jac})
    y0 = best / float(m @ best)
    result = minimize(variance, y0, jac=True, method="SLSQP", bounds=[(0.0, None)] * n,
                      constraints=constraints, options=_SOLVER_OPTIONS)
    if result.success and np.all(np.isfinite(result.x)) and float(np.sum(result.x)) > 0:
        result.x = np.maximum(result.x, 0.0) / float(np.sum(np.maximum(result.x, 0.0)))
        return result, None

    # Fallback: the ratio itself, from the LP corner and from equal weights.
    def ratio(x):
        sx = s @ x
        var = max(float(x @ sx), 0.0) + 1e-18
        vol = math.sqrt(var)
        ret = float(x @ m)
        return -ret / vol, -m / vol + ret * sx / (vol * var)

    results = [_solve(ratio, start, upper) for start in (best, x0)]
    good = [r for r in results if r.success] or results
    return min(good, key=lambda r: r.fun), None


def _risk_shares(w: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    variance = float(w @ sigma @ w)
    if not variance > 0:
        return np.full(w.size, np.nan)
    return w * (sigma @ w) / variance


def _spinu(corr: np.ndarray, z: np.ndarray) -> tuple[float, np.ndarray]:
    """Spinu's objective 0.5 z'Rz - mean(log z) and its gradient: its minimum over z > 0 has
    equal risk contributions z_i (Rz)_i = 1/n."""
    rz = corr @ z
    return 0.5 * float(z @ rz) - float(np.mean(np.log(z))), rz - 1.0 / (z.size * z)


def _spinu_newton(corr: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Minimises Spinu's objective by damped Newton steps with backtracking: it is strictly
    convex (Hessian R + diag(1/(n z^2)) is positive definite), so this converges to the unique
    minimum, to machine precision, even on near-singular correlation matrices where SLSQP
    stalls."""
    n = z.size
    for _ in range(_NEWTON_STEPS):
        value, gradient = _spinu(corr, z)
        if float(np.max(np.abs(gradient * z))) < 1e-14:
            break
        try:
            step = np.linalg.solve(corr + np.diag(1.0 / (n * z * z)), gradient)
        except np.linalg.LinAlgError:
            break
        t = 1.0
        for _ in range(40):
            trial = z - t * step
            if np.all(trial > 0) and _spinu(corr, trial)[0] <= value - 1e-4 * t * float(gradient @ step):
                break
            t /= 2.0
        else:
            break
        z = trial
    return z


def _risk_parity(sigma: np.ndarray, upper: float, x0: np.ndarray):
    n = x0.size
    vols = np.sqrt(np.diag(sigma))
    corr = sigma / np.outer(vols, vols)
    start = np.full(n, 1.0 / math.sqrt(max(float(np.sum(corr)), 1e-12)))
    z = _spinu_newton(corr, start)
    note = RISK_PARITY_OUT_OF_REACH
    if np.all(np.isfinite(z)) and np.all(z > 0):
        y = z / vols
        x = y / y.sum()
        shares = _risk_shares(x, sigma)
        if np.all(np.isfinite(shares)) and np.max(np.abs(shares - 1.0 / n)) <= _RISK_PARITY_TOLERANCE:
            if np.all(x <= upper + _CONSTRAINT_TOLERANCE):
                return OptimizeResult(x=np.minimum(x, upper), success=True, message="Newton"), None
            note = RISK_PARITY_CAPPED
            x0 = np.minimum(x, upper)
            x0 = x0 + (1.0 - x0.sum()) * (upper - x0) / max(float(np.sum(upper - x0)), 1e-300)
    # Equal shares are out of reach: minimise their squared spread from 1/n within the caps.
    s = sigma / float(np.mean(np.diag(sigma)))

    def spread(x):
        sx = s @ x
        variance = float(x @ sx)
        shares = x * sx / variance
        gap = shares - 1.0 / n
        # d shares_i / d x_j = (delta_ij sx_i + x_i s_ij) / V - shares_i * 2 sx_j / V
        jac = (np.diag(sx) + x[:, None] * s) / variance - np.outer(shares, 2.0 * sx / variance)
        return float(gap @ gap), 2.0 * jac.T @ gap

    return _solve(spread, x0, upper), note


# ---- the optimiser -----------------------------------------------------------------------------


def _feasible(x: np.ndarray, upper: float) -> bool:
    return (
        bool(np.all(np.isfinite(x)))
        and bool(np.all(x >= -_CONSTRAINT_TOLERANCE))
        and bool(np.all(x <= upper + _CONSTRAINT_TOLERANCE))
        and abs(float(np.sum(x)) - 1.0) <= _CONSTRAINT_TOLERANCE
    )


def _result(w, mu, sigma, risk_free, names, objective, budget, converged, fallback=None,
            note=None) -> OptimizedWeights:
    volatility = math.sqrt(max(float(w @ sigma @ w), 0.0))
    excess = float(w @ (mu - risk_free))
    return OptimizedWeights(
        weights=tuple(float(v) for v in w),
        names=names,
        objective=objective,
        expected_return=float(w @ mu),
        volatility=volatility,
        sharpe=excess / volatility if volatility > 0 else math.nan,
        risk_contributions=tuple(float(v) for v in _risk_shares(w, sigma)),
        budget=budget,
        converged=converged,
        fallback=fallback,
        note=note,
    )


def optimize_weights(
    expected_returns: Sequence[float] | np.ndarray,
    covariance: Sequence[Sequence[float]] | np.ndarray,
    *,
    objective: Objective,
    leverage_ceiling: float,
    asset_cap: float,
    reserve_fraction: float,
    risk_free: float = 0.0,
    names: Sequence[str] | None = None,
) -> OptimizedWeights:
    """Returns long-only OptimizedWeights (fractions of equity, in input order) for `objective`:
    "max_sharpe", "min_variance" or "risk_parity".

    Constraints, always met by the answer: 0 <= w_i <= asset_cap and
    sum(|w|) <= leverage_ceiling * (1 - reserve_fraction); the optimiser spends
    min(that budget, n * asset_cap) in full (see the module docstring). `expected_returns`,
    `covariance` and `risk_free` share one period (annual from `estimate_moments`).

    Raises ValueError for an unknown objective, mismatched shapes, NaN/inf, an asymmetric or
    non positive semi-definite covariance (or a zero variance under risk parity), a ceiling or
    cap <= 0, a reserve outside [0, 1), or names that are not n distinct labels.
    """
    mu, sigma, labels = _validate(expected_returns, covariance, objective, leverage_ceiling,
                                  asset_cap, reserve_fraction, risk_free, names)
    n = mu.size
    budget = float(leverage_ceiling) * (1.0 - float(reserve_fraction))
    deployed = min(budget, n * float(asset_cap))
    upper = min(1.0, float(asset_cap) / deployed)
    equal = np.full(n, deployed / n)
    finish = dict(mu=mu, sigma=sigma, risk_free=float(risk_free), names=labels,
                  objective=objective, budget=budget)

    if objective == "max_sharpe" and not float(_greedy(mu - risk_free, upper) @ (mu - risk_free)) > 0:
        return _result(np.zeros(n), **finish, converged=True, note=NOTHING_TO_HOLD)
    if n == 1:
        return _result(equal, **finish, converged=True)
    if upper * n <= 1.0 + 1e-12:
        return _result(equal, **finish, converged=True, note=ALL_AT_CAP)

    x0 = np.full(n, 1.0 / n)
    solvers = {
        "min_variance": lambda: _min_variance(sigma, upper, x0),
        "max_sharpe": lambda: _max_sharpe(mu, sigma, float(risk_free), upper, x0),
        "risk_parity": lambda: _risk_parity(sigma, upper, x0),
    }
    try:
        with np.errstate(all="ignore"):  # overflow while a line search probes is not an error
            result, note = solvers[objective]()
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as error:
        return _result(equal, **finish, converged=False,
                       fallback=f"solver error ({error}): equal weights")
    if not result.success:
        return _result(equal, **finish, converged=False,
                       fallback=f"solver did not converge ({result.message}): equal weights")
    x = np.asarray(result.x, dtype=float)
    if not _feasible(x, upper):
        return _result(equal, **finish, converged=False,
                       fallback="solver answer broke a constraint: equal weights")
    w = np.clip(x, 0.0, upper) * deployed
    w = np.minimum(w, float(asset_cap))
    total = float(np.sum(w))
    if total > budget:
        w *= budget / total
    return _result(w, **finish, converged=True, note=note)
