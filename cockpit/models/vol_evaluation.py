"""Walk-forward evaluation of the volatility models in `volatility`: out-of-sample forecasts at
every origin, their losses, the Diebold-Mariano test, and the best model over a recent window.

Pure functions on log returns (fractions, see `vol_features`); no I/O, deterministic given inputs
and seed; results are frozen dataclasses that pickle, so a process pool can run the fits.

Semantics (where the issue is silent):

- Units. Forecasts and realized variances are fraction^2 summed over the horizon; QLIKE is
  unitless; MSE is (fraction^2)^2; fit times are seconds of time.perf_counter.
- Schedule. GARCH-family and HGB fits happen at the first origin and every `refit_every` bars
  after, on a rolling window of returns that ends at the origin; in between, the recursions
  advance bar by bar and HGB reuses its model on fresh features. Nothing at an origin sees a
  return after it.
- Ensemble. At origin t the ensemble weights the other models by 1 / mean QLIKE over each model's
  last ENSEMBLE_LOOKBACK (120) forecasts whose outcome is already known at t (origins
  <= t - horizon_bars), equal weights until there are any (`volatility.ensemble_weights`).
  Inverse QLIKE is gentle: on BTC the weights stay near-equal, so the ensemble beats every
  GARCH/baseline model but not the best single model (HGB).
- Diebold-Mariano. h-step forecasts made every bar overlap, so their loss differences are
  autocorrelated up to lag h-1: the long-run variance is Newey-West (Bartlett) over h-1 lags.
- Best model. The lowest mean QLIKE over the last N origins, scored only where every candidate's
  loss is finite (so all are judged on the same forecasts); ties go to the earlier model in
  ALL_MODELS.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from scipy.stats import norm

from cockpit.models.vol_features import (
    BARS_PER_DAY_4H,
    HGBForecaster,
    as_returns,
    fit_hgb,
    har_features,
    hgb_variance,
    realized_variance_ahead,
)
from cockpit.models.variance_paths import horizon_variance_path
from cockpit.models.volatility import (
    ALL_MODELS,
    ENSEMBLE,
    GARCH_MODELS,
    HORIZON_24H_BARS,
    ML_MODEL,
    REALIZED_WINDOW_BARS,
    GarchFit,
    VarianceState,
    ensemble_weights,
    ewma_state,
    fit_garch,
    mse_variance,
    qlike,
    rolling_state,
)

# Walk-forward defaults: a weekly refit on a rolling ~11-month window keeps a full 18k-bar BTC run
# to a couple of minutes; the caller can refit daily (6) or use an expanding window (None).
DEFAULT_REFIT_EVERY = 42
DEFAULT_WINDOW_BARS = 2000
# Trees need more rows than a five-parameter GARCH: ~2.7 years of 4h bars (24h QLIKE on BTC
# 0.724 with 2000 bars, 0.706 with 6000).
DEFAULT_ML_WINDOW_BARS = 6000
DEFAULT_MIN_TRAIN = 1000
ENSEMBLE_LOOKBACK = 120  # scored forecasts per model behind each ensemble weight (20 days of 4h)
# Ensemble weights computed at once for this many origins: bounds the copied loss windows
# (origins x ENSEMBLE_LOOKBACK floats, ~1 MB per model).
_ORIGINS_PER_BATCH = 1024


# --- Diebold-Mariano --------------------------------------------------------------------------


@dataclass(frozen=True)
class DieboldMariano:
    """Diebold-Mariano test of equal expected loss. `statistic` > 0 means the first forecast has
    the higher loss (the second is better); `p_value` is two-sided under N(0, 1)."""

    statistic: float
    p_value: float
    mean_loss_difference: float
    n: int
    lags: int


def diebold_mariano(
    loss_a: np.ndarray, loss_b: np.ndarray, horizon_bars: int = 1
) -> DieboldMariano:
    """Returns the DM test on d = loss_a - loss_b, with a Newey-West (Bartlett) long-run variance
    over horizon_bars - 1 lags, because h-step forecasts made every bar overlap and their errors
    are autocorrelated up to lag h-1. Pairs where either loss is not finite are dropped.

    Identical losses give statistic 0 and p-value 1 (no evidence either way); a constant non-zero
    difference gives +/-inf and p-value 0.
    """
    a = np.asarray(loss_a, dtype=np.float64)
    b = np.asarray(loss_b, dtype=np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    d = a[keep] - b[keep]
    n = int(d.size)
    lags = max(int(horizon_bars) - 1, 0)
    if n < 2:
        return DieboldMariano(math.nan, math.nan, float(d.mean()) if n else math.nan, n, lags)
    mean = float(d.mean())
    dev = d - mean
    long_run = float(dev @ dev) / n
    for k in range(1, min(lags, n - 1) + 1):
        long_run += 2.0 * (1.0 - k / (lags + 1)) * float(dev[k:] @ dev[:-k]) / n
    if long_run <= 0.0:
        if mean == 0.0:
            return DieboldMariano(0.0, 1.0, 0.0, n, lags)
        return DieboldMariano(math.copysign(math.inf, mean), 0.0, mean, n, lags)
    stat = mean / math.sqrt(long_run / n)
    return DieboldMariano(stat, float(2.0 * norm.sf(abs(stat))), mean, n, lags)



# --- walk-forward evaluation ------------------------------------------------------------------


@dataclass(frozen=True)
class FitNote:
    """A refit that did not go cleanly: where (origin position), what status, and why."""

    origin: int
    status: str
    reason: str


@dataclass(frozen=True)
class WalkForwardResult:
    """Out-of-sample forecasts aligned by origin: `forecasts[model][i]` is the variance forecast
    (fraction^2 over `horizon_bars`) made after seeing returns[..origins[i]]; `realized[i]` is the
    sum of squared returns over the following `horizon_bars` bars. `fit_seconds` is the total
    fitting time per model (time.perf_counter)."""

    horizon_bars: int
    origins: np.ndarray
    timestamps: pd.Index | None
    realized: np.ndarray
    forecasts: dict[str, np.ndarray]
    fit_seconds: dict[str, float]
    refits: dict[str, int]
    notes: dict[str, tuple[FitNote, ...]]
    ensemble_weights: dict[str, np.ndarray] = field(default_factory=dict)

    def sigma(self, model: str) -> np.ndarray:
        """Returns the forecast sigma over the horizon (fraction) per origin for `model`."""
        return np.sqrt(self.forecasts[model])

    def mean_losses(self) -> dict[str, dict[str, float]]:
        """Returns mean QLIKE (unitless) and MSE ((fraction^2)^2) per model over origins where
        every loss is finite, so all models are scored on the same forecasts."""
        q = {m: qlike(self.realized, f) for m, f in self.forecasts.items()}
        ok = np.logical_and.reduce([np.isfinite(v) for v in q.values()]) if q else np.array([])
        return {
            m: {
                "qlike": float(q[m][ok].mean()),
                "mse": float(mse_variance(self.realized, f)[ok].mean()),
            }
            for m, f in self.forecasts.items()
        }


def walk_forward(
    returns: np.ndarray | pd.Series,
    *,
    models: Sequence[str] = ALL_MODELS,
    horizon_bars: int = HORIZON_24H_BARS,
    refit_every: int = DEFAULT_REFIT_EVERY,
    min_train: int = DEFAULT_MIN_TRAIN,
    window: int | None = DEFAULT_WINDOW_BARS,
    funding: np.ndarray | pd.Series | None = None,
    ml_window: int | None = DEFAULT_ML_WINDOW_BARS,
    bars_per_day: int = BARS_PER_DAY_4H,
    realized_window: int = REALIZED_WINDOW_BARS,
    ensemble_lookback: int = ENSEMBLE_LOOKBACK,
    seed: int = 0,
) -> WalkForwardResult:
    """Returns out-of-sample forecasts for every origin from `min_train - 1` to the last one with
    a full horizon ahead, each made from the returns up to its origin only.

    Fits (GARCH family, HGB) happen at the first origin and every `refit_every` bars after, on the
    last `window` returns (HGB: on its last `ml_window` origins; None = everything so far). In
    between, GARCH/EWMA/realized states advance by their recursions and HGB reuses its model on
    fresh features. The ensemble at origin t weights the other models by inverse mean QLIKE over
    their last `ensemble_lookback` forecasts already scored at t (origins <= t - horizon_bars).
    `funding` (optional, per 8h) must be aligned to the returns (see `align_funding`).
    """
    r = as_returns(returns)
    unknown = [m for m in models if m not in ALL_MODELS]
    if unknown:
        raise ValueError(f"unknown models {unknown}; choose from {ALL_MODELS}")
    if horizon_bars < 1 or refit_every < 1:
        raise ValueError("horizon_bars and refit_every must be >= 1")
    first = min_train - 1
    if min_train < 2 or first > r.size - 1 - horizon_bars:
        raise ValueError(
            f"{r.size} returns leave no origin after min_train={min_train} "
            f"with {horizon_bars} bars ahead"
        )
    if min_train < realized_window and "realized" in models:
        raise ValueError(f"min_train must be >= realized_window ({realized_window})")
    origins = np.arange(first, r.size - horizon_bars)
    run = _Run(r, origins, horizon_bars, refit_every, window, models)
    base_models = [m for m in models if m != ENSEMBLE]
    forecasts: dict[str, np.ndarray] = {}
    for m in base_models:
        if m == ML_MODEL:
            forecasts[m] = _walk_hgb(run, ml_window, funding, bars_per_day, seed)
        else:
            forecasts[m] = _walk_recursion(run, m, realized_window)
    realized = realized_variance_ahead(r, horizon_bars)[origins]
    weights: dict[str, np.ndarray] = {}
    if ENSEMBLE in models and base_models:
        forecasts[ENSEMBLE], weights = _walk_ensemble(
            forecasts, realized, horizon_bars, ensemble_lookback
        )
    return WalkForwardResult(
        horizon_bars=horizon_bars,
        origins=origins,
        timestamps=returns.index[origins] if isinstance(returns, pd.Series) else None,
        realized=realized,
        forecasts={m: forecasts[m] for m in models},
        fit_seconds=run.seconds,
        refits=run.refits,
        notes={m: tuple(v) for m, v in run.notes.items()},
        ensemble_weights=weights,
    )


class _Run:
    """The bookkeeping one walk-forward shares between models: data, schedule, timings, notes."""

    def __init__(self, r, origins, horizon_bars, refit_every, window, models):
        self.r, self.origins, self.horizon_bars = r, origins, horizon_bars
        self.refit_every, self.window = refit_every, window
        self.seconds = {m: 0.0 for m in models}
        self.refits = {m: 0 for m in models}
        self.notes: dict[str, list[FitNote]] = {m: [] for m in models}

    def train(self, t: int) -> np.ndarray:
        """Returns the fitting window that ends with the return at origin t (never beyond it)."""
        start = 0 if self.window is None else max(0, t + 1 - self.window)
        return self.r[start : t + 1]


def _walk_recursion(run: _Run, model: str, realized_window: int) -> np.ndarray:
    """Returns per-origin horizon variances for a GARCH-family model or a baseline: refit on
    schedule (GARCH family only), otherwise advance the state by one bar."""
    n = run.origins.size
    out = np.empty(n)
    fit: GarchFit | None = None
    # Origins that share one starting state: from one refit to the next, or all of them.
    starts = list(range(0, n, run.refit_every)) if model in GARCH_MODELS else [0]
    for start, stop in zip(starts, starts[1:] + [n]):
        t = int(run.origins[start])
        tic = time.perf_counter()
        if model in GARCH_MODELS:
            fit = fit_garch(run.train(t), model, previous=fit)
            run.refits[model] += 1
            if fit.status != "ok":
                run.notes[model].append(FitNote(t, fit.status, fit.reason))
            state: VarianceState = fit.state
        elif model == "ewma":
            state = ewma_state(run.train(t))
        else:
            state = rolling_state(run.r[: t + 1], realized_window)
        run.seconds[model] += time.perf_counter() - tic
        # The origins are consecutive bars, so the state advances by the returns after t.
        ahead = run.r[run.origins[start + 1 : stop]]
        out[start:stop] = horizon_variance_path(state, ahead, run.horizon_bars)
    return out


def _walk_hgb(run: _Run, ml_window, funding, bars_per_day, seed) -> np.ndarray:
    """Returns the HGB forecasts per origin. Each block of `refit_every` origins is predicted by
    the model fitted at the block's first origin; each row's features use only its own past."""
    r, h = run.r, run.horizon_bars
    rate = None if funding is None else np.asarray(funding, dtype=np.float64).reshape(-1)
    features, base = har_features(r, bars_per_day=bars_per_day, funding=rate)
    out = np.empty(run.origins.size)
    last_good: HGBForecaster | None = None
    for start in range(0, run.origins.size, run.refit_every):
        t = int(run.origins[start])
        block = run.origins[start : start + run.refit_every]
        rows = slice(start, start + block.size)
        tic = time.perf_counter()
        # Fitted on r[..t]: its training rows end at origin t - h, the last whose target is known.
        fitted = fit_hgb(
            r[: t + 1], horizon_bars=h, bars_per_day=bars_per_day, seed=seed,
            first_origin=0 if ml_window is None else max(0, t + 1 - ml_window),
            features=(features[: t + 1], base[: t + 1]),
            funding=None if rate is None else rate[: t + 1],
        )
        run.seconds[ML_MODEL] += time.perf_counter() - tic
        run.refits[ML_MODEL] += 1
        if fitted.model is None and last_good is not None:
            run.notes[ML_MODEL].append(FitNote(t, "fallback_last_good", fitted.reason))
            fitted = last_good
        if fitted.model is not None:
            last_good = fitted
            out[rows] = hgb_variance(fitted, features[block], base[block])
            continue
        run.notes[ML_MODEL].append(FitNote(t, "fallback_ewma", fitted.reason))
        out[rows] = horizon_variance_path(ewma_state(r[: t + 1]), r[block[1:]], h)
    return out


def _walk_ensemble(forecasts, realized, horizon_bars, lookback):
    """Returns the ensemble forecast per origin and the weights used, from past scored losses.

    The weights are `ensemble_weights` of each model's last `lookback` scored losses. Where every
    model has a full window of finite losses (all but the first few weeks, as a rule) they are
    computed for all those origins at once with the same arithmetic, to the last bit; at the
    other origins `ensemble_weights` itself is called.
    """
    names = list(forecasts)
    losses = {m: qlike(realized, f) for m, f in forecasts.items()}
    n = realized.size
    scored_end = np.maximum(np.arange(n) - horizon_bars + 1, 0)  # origins before are scored
    lo = np.maximum(scored_end - lookback, 0)
    weights = np.empty((n, len(names)))
    fast = _full_finite_windows(losses, lo, scored_end, lookback)
    batched = np.flatnonzero(fast)
    for first in range(0, batched.size, _ORIGINS_PER_BATCH):
        rows = batched[first : first + _ORIGINS_PER_BATCH]
        weights[rows] = _inverse_qlike_weights(losses, lo[rows], lookback)
    for i in np.flatnonzero(~fast):
        w = ensemble_weights({m: v[lo[i] : scored_end[i]] for m, v in losses.items()})
        weights[i] = [w[m] for m in names]
    # Summed model after model, from the first, as `sum` over the models would.
    combined = weights[:, 0] * forecasts[names[0]]
    for j, m in enumerate(names[1:], start=1):
        combined = combined + weights[:, j] * forecasts[m]
    return combined, {m: weights[:, j].copy() for j, m in enumerate(names)}


def _full_finite_windows(losses, lo, scored_end, lookback) -> np.ndarray:
    """Returns, per origin, whether every model's loss window is `lookback` long and finite."""
    if lookback < 1:
        return np.zeros(lo.size, dtype=bool)
    ok = scored_end - lo == lookback
    for v in losses.values():
        bad = np.concatenate(([0], np.cumsum(~np.isfinite(v))))
        ok &= bad[scored_end] == bad[lo]
    return ok


def _inverse_qlike_weights(losses, lo, lookback) -> np.ndarray:
    """Returns `ensemble_weights` (rows: origins, columns: models) for windows that start at
    `lo`, are `lookback` long and hold only finite losses, for many origins at once."""
    means = np.empty((lo.size, len(losses)))
    for j, v in enumerate(losses.values()):
        # Each window a contiguous row, so numpy sums it exactly as it sums the window alone.
        windows = np.ascontiguousarray(sliding_window_view(v, lookback)[lo])
        means[:, j] = windows.sum(axis=1) / lookback
    inverse = 1.0 / np.maximum(means, 1e-6)  # the loss floor of `ensemble_weights`
    total = inverse[:, 0]
    for j in range(1, inverse.shape[1]):
        total = total + inverse[:, j]
    return inverse / total[:, None]


# --- choosing a model -------------------------------------------------------------------------


def best_model(
    result: WalkForwardResult,
    *,
    recent_bars: int | None = None,
    exclude: Sequence[str] = (),
) -> tuple[str, dict[str, float]]:
    """Returns the model with the lowest mean QLIKE over the last `recent_bars` origins of
    `result` (every origin when None, or when there are fewer), and the mean QLIKE per model
    (unitless, >= 0; lower is better), keys in ALL_MODELS order.

    Models are those of `result` minus `exclude`. Only origins where every one of them has a
    finite loss are scored, so all are judged on the same forecasts; ties go to the model that
    comes first in ALL_MODELS. An origin is one bar, so `recent_bars` = days x bars per day.
    Raises ValueError for `recent_bars` < 1, a name in `exclude` that is no model, no model
    left, or no origin in the window where every model's loss is finite.
    """
    unknown = [m for m in exclude if m not in ALL_MODELS]
    if unknown:
        raise ValueError(f"cannot exclude unknown models {unknown}; choose from {ALL_MODELS}")
    if recent_bars is not None and recent_bars < 1:
        raise ValueError(f"recent_bars must be >= 1 (or None for every origin), not {recent_bars}")
    models = [m for m in ALL_MODELS if m in result.forecasts and m not in exclude]
    if not models:
        raise ValueError("no model left to choose from")
    start = 0 if recent_bars is None else max(0, result.realized.size - recent_bars)
    realized = result.realized[start:]
    losses = {m: qlike(realized, result.forecasts[m][start:]) for m in models}
    scored = np.logical_and.reduce([np.isfinite(v) for v in losses.values()])
    if not scored.any():
        raise ValueError(
            f"no origin among the last {realized.size} where every model's QLIKE is finite"
        )
    means = {m: float(losses[m][scored].mean()) for m in models}
    return min(models, key=lambda m: means[m]), means
