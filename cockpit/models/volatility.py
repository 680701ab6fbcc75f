"""Volatility forecasts: the GARCH family, EWMA and realized-vol baselines, a gradient-boosting
model, their loss-weighted ensemble, and the losses that judge them. Their walk-forward
evaluation and the Diebold-Mariano test are in `vol_evaluation`.

Pure functions on log returns (fractions, see `vol_features`); no I/O, deterministic given inputs
and seed; every input and output is a plain, picklable value so fits can run in a process pool.

Library: `arch` (Kevin Sheppard) for maximum-likelihood GARCH/GJR/EGARCH with Student-t errors.

Semantics (where the issue is silent):

- Units. Every public variance is fraction^2 (per bar, or summed over the horizon); every sigma is
  a fraction over its horizon (0.03 = 3% over 4h). Percent never leaves this module.
- Scaling for arch. Returns are multiplied by 100 (percent) before fitting, and parameters are
  converted back when a state is built. arch's optimiser wants a return variance between 0.1 and
  10,000; 4h crypto returns have ~1e-4 in fractions and ~1 in percent. `rescale=True` would pick
  the same x100 for BTC but could pick another power of ten for a calm window, which would break
  warm starts (omega is in scale^2 units) and make refits incomparable. A fixed x100 cannot.
- Mean. Zero-mean models: the 4h drift is ~1% of the 4h sigma; estimating it adds noise, and
  realized variance is measured around zero too.
- Models. "garch" GARCH(1,1); "gjr" GJR-GARCH(1,1,1) (extra variance after down bars); "egarch"
  EGARCH(1,1) with Nelson's asymmetry term (arch's o=1) - all with Student-t errors.
- Failure. A fit that raises, does not converge (flag != 0), has non-finite parameters, or is not
  stationary (GARCH/GJR alpha + gamma/2 + beta >= 1; EGARCH |beta| >= 1) is retried once from
  arch's own starting values (a warm start can sit in a bad basin); if that fails too, the previous
  good parameters are re-filtered over the new data ("fallback_last_good"), or, with none, EWMA is
  used ("fallback_ewma"). The status and the reason travel with the state to every forecast.
  On BTC 4h about 30% of GARCH/GJR refits (2000-bar windows) stop on arch's boundary
  alpha + gamma/2 + beta = 1 (integrated variance) and so fall back to the last good fit;
  accepting them instead changes 24h QLIKE by only ~1% (0.744 vs 0.751).
- Multi-step. The h-bar variance is the sum of the expected per-bar variances from the model's
  recursion. GARCH/GJR: E[s2_{k+1}] = omega + (alpha + gamma/2 + beta) E[s2_k] (the t is
  symmetric, so half the shocks are negative) - exactly arch's analytic forecast. EGARCH has no
  closed form under t errors (E[exp(c|z|)] is infinite), and arch only simulates it; we take the
  exact expectation over the fit's own standardized residuals instead (the empirical distribution,
  as arch's bootstrap does, but without its sampling noise): see `RecursionState.shock_mgf`.
- EWMA is RiskMetrics (lambda 0.94), which is the GARCH recursion with omega 0, alpha 0.06,
  beta 0.94: it shares the state type and its h-bar variance is h times the next-bar variance.
  It starts from arch's backcast (0.94-weighted mean square of the first 75 returns).
- Realized baseline: h times the mean squared return of the last `window` bars (default one week).
- Ensemble. A weighted mean of the other models' variance forecasts, weights proportional to
  1 / mean QLIKE over each model's recent forecasts whose outcome is already known (equal
  weights until there are any): `ensemble_weights`. How many, and how it scores, is in
  `vol_evaluation`.
- A variance below VARIANCE_FLOOR ((0.0001%)^2 per bar) is raised to it, so logs and ratios stay
  finite on a frozen market.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Literal, Mapping, Sequence

import numpy as np
import pandas as pd
from arch import arch_model

from cockpit.models import arch_constraints
from cockpit.models.vol_features import VARIANCE_FLOOR, as_returns

arch_constraints.install()  # ~40% off every GARCH-family fit; see that module

# No bar's variance above a 100% standard deviation: beyond it a recursion has blown up (an EGARCH
# fitted on too little data meeting a crash bar), and math.exp would overflow into a crash.
VARIANCE_CEILING = 1.0
_LOG_VARIANCE_CEILING = math.log(VARIANCE_CEILING)

GARCH_MODELS = ("garch", "gjr", "egarch")
BASELINES = ("ewma", "realized")
ML_MODEL = "hgb"
ENSEMBLE = "ensemble"
ALL_MODELS = GARCH_MODELS + BASELINES + (ML_MODEL, ENSEMBLE)
# The cockpit's two horizons on 4h bars: the next bar (4h) and the next day (6 bars = 24h).
HORIZON_4H_BARS = 1
HORIZON_24H_BARS = 6
HORIZONS_BARS = (HORIZON_4H_BARS, HORIZON_24H_BARS)
RISKMETRICS_LAMBDA = 0.94
REALIZED_WINDOW_BARS = 42  # one week of 4h bars
PERCENT = 100.0  # returns are fitted in percent; see the module docstring
MIN_FIT_OBS = 250  # fewer returns than this cannot pin down four parameters and a t tail
MAX_HORIZON_BARS = 42  # EGARCH multi-step factors are precomputed up to this horizon

FitStatus = Literal["ok", "fallback_last_good", "fallback_ewma"]
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)  # E|z| for a standard normal; arch's EGARCH centring
_ARCH_SPECS = {
    "garch": dict(vol="GARCH", p=1, o=0, q=1),
    "gjr": dict(vol="GARCH", p=1, o=1, q=1),
    "egarch": dict(vol="EGARCH", p=1, o=1, q=1),
}


@dataclass(frozen=True)
class RecursionState:
    """A variance recursion ready for the next bar: GARCH, GJR, EGARCH or EWMA.

    GARCH/GJR/EWMA: s2' = omega + alpha*r^2 + gamma*r^2*[r<0] + beta*s2 (omega in fraction^2).
    EGARCH: ln s2' = omega + alpha*(|z| - sqrt(2/pi)) + gamma*z + beta*ln s2, z = r/sqrt(s2)
    (omega for variance in fraction^2). `variance` is the next bar's variance (fraction^2).
    `shock_mgf[j]` (EGARCH only) is E[exp(beta^j * (alpha*(|z|-sqrt(2/pi)) + gamma*z))] over the
    fit's standardized residuals: the factor each step ahead multiplies the expected variance by.
    """

    model: str
    omega: float
    alpha: float
    gamma: float
    beta: float
    variance: float
    shock_mgf: tuple[float, ...] = ()
    status: FitStatus = "ok"
    reason: str = ""

    @property
    def persistence(self) -> float:
        """Returns the share of a variance shock that survives one bar (unitless; < 1 is
        stationary)."""
        if self.model == "egarch":
            return abs(self.beta)
        return self.alpha + 0.5 * self.gamma + self.beta


@dataclass(frozen=True)
class RollingState:
    """The realized-volatility baseline: the last `window` squared returns (fraction^2)."""

    squares: tuple[float, ...]
    status: FitStatus = "ok"
    reason: str = ""
    model: str = "realized"

    @property
    def variance(self) -> float:
        """Returns the next bar's variance: the mean squared return of the window (fraction^2)."""
        if not self.squares:
            return VARIANCE_FLOOR
        return max(sum(self.squares) / len(self.squares), VARIANCE_FLOOR)


VarianceState = RecursionState | RollingState


@dataclass(frozen=True)
class GarchFit:
    """One GARCH-family fit: the state for the bar after the last fitted return, and arch's own
    parameter vector (percent scale: omega, alpha, [gamma], beta, nu) for warm-starting the next
    refit. `params` is None after an EWMA fallback (there is nothing to warm-start from)."""

    model: str
    state: RecursionState
    params: tuple[float, ...] | None
    n_obs: int
    # Of the percent-scale returns under `params` (NaN after an EWMA fallback). Warm starts can
    # settle in a neighbouring local optimum of a flat likelihood; this lets a caller compare.
    log_likelihood: float = math.nan

    @property
    def status(self) -> FitStatus:
        """Returns "ok", "fallback_last_good" or "fallback_ewma"."""
        return self.state.status

    @property
    def reason(self) -> str:
        """Returns why the fit fell back ("" when it is ok)."""
        return self.state.reason

    @property
    def nu(self) -> float:
        """Returns the Student-t degrees of freedom (NaN after an EWMA fallback); lower means
        fatter tails."""
        return self.params[-1] if self.params else math.nan


@dataclass(frozen=True)
class VolForecast:
    """Sigma over each horizon as a fraction (0.03 = 3% over the horizon), with the fit status."""

    model: str
    horizons_bars: tuple[int, ...]
    sigma: tuple[float, ...]
    status: FitStatus = "ok"
    reason: str = ""

    def sigma_over(self, horizon_bars: int) -> float:
        """Returns sigma over `horizon_bars` bars as a fraction; KeyError if not forecast."""
        try:
            return self.sigma[self.horizons_bars.index(horizon_bars)]
        except ValueError:
            have = self.horizons_bars
            raise KeyError(f"no forecast for {horizon_bars} bars; have {have}") from None


# --- recursions -------------------------------------------------------------------------------


def update(state: VarianceState, new_return: float) -> VarianceState:
    """Returns the state after one more bar's log return (fraction): the model's own recursion,
    no refit. The returned `variance` is the forecast for the bar after `new_return`."""
    r = float(new_return)
    if isinstance(state, RollingState):
        return replace(state, squares=state.squares[1:] + (r * r,))
    if state.model == "egarch":
        z = r / math.sqrt(state.variance)
        log_next = (
            state.omega
            + state.alpha * (abs(z) - _SQRT_2_OVER_PI)
            + state.gamma * z
            + state.beta * math.log(state.variance)
        )
        return replace(state, variance=max(math.exp(min(log_next, _LOG_VARIANCE_CEILING)), VARIANCE_FLOOR))
    down = r < 0.0
    nxt = state.omega + (state.alpha + state.gamma * down) * r * r + state.beta * state.variance
    return replace(state, variance=min(max(nxt, VARIANCE_FLOOR), VARIANCE_CEILING))


def step_variances(state: VarianceState, horizon_bars: int) -> np.ndarray:
    """Returns the expected variance of each of the next `horizon_bars` bars (fraction^2 each)."""
    if horizon_bars < 1:
        raise ValueError(f"horizon_bars must be >= 1, got {horizon_bars}")
    out = np.empty(horizon_bars)
    if isinstance(state, RollingState):
        out[:] = state.variance
        return out
    if state.model == "egarch":
        if horizon_bars > len(state.shock_mgf) + 1:
            reach = len(state.shock_mgf) + 1
            raise ValueError(f"EGARCH forecasts reach {reach} bars, not {horizon_bars}")
        log_level = math.log(state.variance)  # deterministic part of ln s2 at step k
        shocks = 1.0  # product of the shock factors accumulated up to step k
        for k in range(horizon_bars):
            out[k] = min(math.exp(min(log_level, _LOG_VARIANCE_CEILING)) * shocks, VARIANCE_CEILING)
            log_level = state.omega + state.beta * log_level
            if k < len(state.shock_mgf):
                shocks *= state.shock_mgf[k]
        return out
    phi = state.persistence
    v = state.variance
    for k in range(horizon_bars):
        out[k] = v
        v = state.omega + phi * v
    return out


def horizon_variance(state: VarianceState, horizon_bars: int) -> float:
    """Returns the variance of the log return over the next `horizon_bars` bars (fraction^2):
    the sum of the expected per-bar variances."""
    return float(step_variances(state, horizon_bars).sum())


def forecast(state: VarianceState, horizons_bars: Sequence[int] = HORIZONS_BARS) -> VolForecast:
    """Returns sigma over each horizon (fractions) from a state, carrying its status and reason."""
    steps = step_variances(state, max(horizons_bars))
    sigmas = tuple(float(math.sqrt(steps[:h].sum())) for h in horizons_bars)
    return VolForecast(state.model, tuple(horizons_bars), sigmas, state.status, state.reason)


def arch_backcast(returns: np.ndarray) -> float:
    """Returns arch's starting variance: the 0.94-weighted mean square of the first 75 returns,
    most weight on the first (fraction^2 per bar)."""
    r = np.asarray(returns, dtype=np.float64)
    tau = min(75, r.size)
    w = RISKMETRICS_LAMBDA ** np.arange(tau)
    return float(np.dot(w / w.sum(), r[:tau] ** 2))


def ewma_variance(
    returns: np.ndarray | pd.Series,
    lam: float = RISKMETRICS_LAMBDA,
    initial_variance: float | None = None,
) -> np.ndarray:
    """Returns, after each return r[i], the EWMA variance for bar i+1 (fraction^2 per bar):
    v[i+1] = lam * v[i] + (1 - lam) * r[i]^2, v[0] = `initial_variance` or `arch_backcast`."""
    r = as_returns(returns)
    v = arch_backcast(r) if initial_variance is None else float(initial_variance)
    out = np.empty(r.size)
    for i, x in enumerate(r):
        v = lam * v + (1.0 - lam) * x * x
        out[i] = v
    return out


def ewma_state(
    returns: np.ndarray | pd.Series,
    lam: float = RISKMETRICS_LAMBDA,
    *,
    status: FitStatus = "ok",
    reason: str = "",
) -> RecursionState:
    """Returns the EWMA recursion filtered over `returns`, ready for the next bar."""
    r = as_returns(returns)
    variance = ewma_variance(r, lam)[-1] if r.size else VARIANCE_FLOOR
    return RecursionState(
        "ewma", 0.0, 1.0 - lam, 0.0, lam, max(float(variance), VARIANCE_FLOOR),
        status=status, reason=reason,
    )


def rolling_state(
    returns: np.ndarray | pd.Series, window: int = REALIZED_WINDOW_BARS
) -> RollingState:
    """Returns the realized-volatility baseline over the last `window` returns."""
    r = as_returns(returns)
    if r.size < window:
        raise ValueError(
            f"realized volatility over {window} bars needs that many returns, not {r.size}"
        )
    return RollingState(tuple(float(x * x) for x in r[-window:]))


# --- GARCH family fits ------------------------------------------------------------------------


def _rejection(model: str, params: np.ndarray, flag: int, message: str) -> str | None:
    """Returns why a fit is unusable, or None if it is fine."""
    if flag != 0:
        return f"optimizer did not converge (flag {flag}: {message})"
    if not np.all(np.isfinite(params)):
        return "non-finite parameters"
    if model == "egarch":
        persistence = abs(params[3])
    elif model == "gjr":
        persistence = params[1] + 0.5 * params[2] + params[3]
    else:
        persistence = params[1] + params[2]
    if persistence >= 1.0:
        return f"non-stationary: persistence {persistence:.4f} >= 1"
    return None


def _fit_once(model: str, y_pct: np.ndarray, starting_values: np.ndarray | None):
    """Returns (arch result, None) for a usable fit or (None, reason)."""
    try:
        am = arch_model(y_pct, mean="Zero", dist="t", rescale=False, **_ARCH_SPECS[model])
        with warnings.catch_warnings():
            # The reason is recorded on the state; warnings would only spam a process pool's stderr.
            warnings.simplefilter("ignore")
            res = am.fit(
                disp="off", show_warning=False, update_freq=0,
                starting_values=starting_values, options={"maxiter": 300},
            )
    except Exception as exc:  # arch/scipy raise many types on degenerate data; all mean "no fit"
        return None, f"fit raised {type(exc).__name__}: {exc}"
    params = np.asarray(res.params, dtype=np.float64)
    message = str(getattr(res.optimization_result, "message", ""))
    reason = _rejection(model, params, int(res.convergence_flag), message)
    return (None, reason) if reason else (res, None)


def _state_from_arch(
    model: str, params: np.ndarray, y_pct: np.ndarray, cond_vol_pct: np.ndarray,
    status: FitStatus = "ok", reason: str = "",
) -> RecursionState:
    """Returns the state for the bar after `y_pct[-1]`, in fraction units, from arch's parameters
    (percent scale) and its conditional volatilities over the same returns."""
    scale2 = PERCENT * PERCENT
    s2_last = float(cond_vol_pct[-1]) ** 2
    r_last = float(y_pct[-1])
    if model == "egarch":
        omega, alpha, gamma, beta = (float(x) for x in params[:4])
        z_all = y_pct / cond_vol_pct
        z = z_all[-1]
        log_next = omega + alpha * (abs(z) - _SQRT_2_OVER_PI) + gamma * z + beta * math.log(s2_last)
        shock = alpha * (np.abs(z_all) - _SQRT_2_OVER_PI) + gamma * z_all
        with np.errstate(over="ignore"):  # an overflow is caught below, as a fit too heavy to use
            mgf = tuple(
                float(np.mean(np.exp(beta**j * shock))) for j in range(MAX_HORIZON_BARS - 1)
            )
        # ln s2_pct = ln s2_frac + ln(1e4): move the constant so the recursion runs in fractions.
        omega_frac = omega - (1.0 - beta) * math.log(scale2)
        variance = math.exp(log_next) / scale2
        variance = max(variance, VARIANCE_FLOOR)
        return RecursionState(model, omega_frac, alpha, gamma, beta, variance, mgf, status, reason)
    omega, alpha = float(params[0]), float(params[1])
    gamma = float(params[2]) if model == "gjr" else 0.0
    beta = float(params[3] if model == "gjr" else params[2])
    nxt = omega + (alpha + gamma * (r_last < 0)) * r_last * r_last + beta * s2_last
    variance = max(nxt / scale2, VARIANCE_FLOOR)
    return RecursionState(model, omega / scale2, alpha, gamma, beta, variance, (), status, reason)


def fit_garch(
    returns: np.ndarray | pd.Series,
    model: str,
    *,
    previous: GarchFit | None = None,
) -> GarchFit:
    """Returns a GARCH-family fit ("garch", "gjr" or "egarch", Student-t errors) on `returns`
    (log returns, fractions), warm-started from `previous`; its state forecasts the next bar.

    Never raises for a bad fit: it falls back (see the module docstring) and says so in
    `status`/`reason`. Raises ValueError only for an unknown model or non-finite returns.
    """
    if model not in _ARCH_SPECS:
        raise ValueError(f"unknown GARCH-family model {model!r}; choose from {tuple(_ARCH_SPECS)}")
    r = as_returns(returns)
    y_pct = r * PERCENT
    if r.size < MIN_FIT_OBS:
        problem = f"only {r.size} returns; a fit needs {MIN_FIT_OBS}"
    elif float(np.var(y_pct)) == 0.0:
        problem = "returns are constant: there is no variance to model"
    else:
        warm = None
        if previous is not None and previous.model == model and previous.params is not None:
            warm = np.asarray(previous.params)
        res, problem = _fit_once(model, y_pct, warm)
        if res is None and warm is not None:
            res, cold_problem = _fit_once(model, y_pct, None)
            problem = f"{problem}; cold start: {cold_problem}" if res is None else None
        if res is not None:
            params = np.asarray(res.params, dtype=np.float64)
            state = _state_from_arch(model, params, y_pct, np.asarray(res.conditional_volatility))
            if all(math.isfinite(x) for x in getattr(state, "shock_mgf", ())):
                return GarchFit(
                    model, state, tuple(float(p) for p in params), r.size, float(res.loglikelihood)
                )
            problem = "shocks too heavy: the multi-step forecast factors overflow"
    return _fallback(model, r, previous, problem or "fit failed")


def _fallback(model: str, r: np.ndarray, previous: GarchFit | None, problem: str) -> GarchFit:
    """Returns the last good parameters re-filtered over `r`, or EWMA when there are none."""
    if previous is not None and previous.model == model and previous.params is not None and r.size:
        try:
            params = np.asarray(previous.params)
            y_pct = r * PERCENT
            am = arch_model(y_pct, mean="Zero", dist="t", rescale=False, **_ARCH_SPECS[model])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fixed = am.fix(params)
            cond = np.asarray(fixed.conditional_volatility)
            if np.all(np.isfinite(cond)) and np.all(cond > 0):
                state = _state_from_arch(
                    model, params, y_pct, cond, "fallback_last_good",
                    f"{problem}; using the last good parameters",
                )
                return GarchFit(model, state, previous.params, r.size, float(fixed.loglikelihood))
        except Exception as exc:  # the re-filter itself failed: EWMA is the last resort
            problem = f"{problem}; last good parameters failed too ({type(exc).__name__}: {exc})"
    # The state stays model "ewma" so that updates run the EWMA recursion, not the failed model's.
    state = ewma_state(r, status="fallback_ewma", reason=f"{problem}; using EWMA (lambda 0.94)")
    return GarchFit(model, state, None, r.size)


# --- losses -----------------------------------------------------------------------------------


def qlike(realized: np.ndarray | float, forecast_variance: np.ndarray | float) -> np.ndarray:
    """Returns the QLIKE loss per forecast (unitless, >= 0, 0 only when forecast == realized):
    QLIKE = realized/forecast - log(realized/forecast) - 1 (Patton 2011, normalised).

    Both are variances over the same horizon (fraction^2). A zero realized variance gives +inf;
    QLIKE punishes under-forecasts far more than over-forecasts, as a trader's stops would.
    """
    ratio = np.asarray(realized, dtype=np.float64) / np.asarray(forecast_variance, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return ratio - np.log(ratio) - 1.0


def mse_variance(realized: np.ndarray | float, forecast_variance: np.ndarray | float) -> np.ndarray:
    """Returns the squared error of the variance forecast per forecast ((fraction^2)^2)."""
    err = np.asarray(realized, dtype=np.float64) - np.asarray(forecast_variance, dtype=np.float64)
    return err * err


# --- ensemble ---------------------------------------------------------------------------------


def ensemble_weights(recent_qlike: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Returns a weight per model (summing to 1) proportional to 1 / its mean QLIKE over recent
    scored forecasts. Non-finite losses are ignored; a model with no finite loss yet, or when no
    model has one, gets the plain average of the others' weights (equal weights at the start)."""
    names = list(recent_qlike)
    means = {}
    for name in names:
        losses = np.asarray(recent_qlike[name], dtype=np.float64)
        finite = losses[np.isfinite(losses)]
        if finite.size:
            # A model that was perfect recently must not take the whole ensemble: floor the loss.
            means[name] = max(float(finite.mean()), 1e-6)
    if not means:
        return {name: 1.0 / len(names) for name in names}
    raw = {name: 1.0 / means[name] for name in means}
    fill = float(np.mean(list(raw.values())))
    raw = {name: raw.get(name, fill) for name in names}
    total = sum(raw.values())
    return {name: w / total for name, w in raw.items()}


# --- score ------------------------------------------------------------------------------------


def volatility_score(history_of_forecasts: Sequence[float] | np.ndarray, current: float) -> float:
    """Returns the 0-100 percentile of `current` within the asset's own past forecasts (same
    horizon and unit as `current`; history excludes `current`): 100 * (count below + half the count
    equal) / count. Ties count half, so a flat history scores 50 and the score never jumps on a tie.
    Non-finite history values are ignored; an empty history or non-finite `current` gives NaN
    (unknown - show "n/a", do not size on it)."""
    h = np.asarray(history_of_forecasts, dtype=np.float64).reshape(-1)
    h = h[np.isfinite(h)]
    if h.size == 0 or not math.isfinite(current):
        return math.nan
    below = int(np.count_nonzero(h < current))
    equal = int(np.count_nonzero(h == current))
    return 100.0 * (below + 0.5 * equal) / h.size
