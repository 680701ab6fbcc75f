"""Realized-variance measures, HAR-style features, and the gradient-boosting volatility forecaster.

Library: scikit-learn's `HistGradientBoostingRegressor` (already a dependency), which handles
missing values natively (funding does not exist before 2019-09) and trains in well under a second
on a few thousand rows.

Semantics (where the issue is silent):

- Returns are log returns of consecutive bars, `r[i] = log(close[i] / close[i-1])`, as fractions.
  A forecast made at *origin* t has seen `r[0..t]` and nothing else.
- Realized variance over the next h bars is `sum(r[t+1..t+h] ** 2)` (zero mean: at 4h the drift is
  a rounding error next to the noise, and RiskMetrics-style risk numbers assume it).
- HAR periods are *days* of bars (`bars_per_day`, 6 for 4h bars): realized variance over the last
  1, 7 and 30 days, as in Corsi's HAR-RV, so the same model reads the same way on 1h or 4h bars.
  Each is the *mean* squared return per bar, so the three are on one scale.
- Everything is scaled by the 30-day level ("base", per-bar variance): features are log ratios to
  the base and the target is `realized / (h * base)`. Trees cannot extrapolate, and crypto
  volatility wanders across an order of magnitude; predicting a ratio lets a model trained in a
  calm year still forecast a wild one. The 30-day level itself is kept as a feature so the model
  can learn mean reversion towards a long-run level.
- The loss is the gamma deviance, `2 * (y/mu - log(y/mu) - 1)`: exactly twice the QLIKE loss the
  forecasts are judged by, and invariant to the common scale, so fitting the ratio minimises QLIKE
  of the variance forecast itself. Squared error on variance would chase a few crash bars.
- Fits run single-threaded (see `fit_hgb`).
- No early stopping and no subsampling, so the fit is a deterministic function of the data and
  `seed` (which sklearn only uses for those).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import ThreadpoolController

from cockpit.models.boosted_trees import FlatTrees

BARS_PER_DAY_4H = 6
HAR_DAYS = (1, 7, 30)
# Smallest per-bar variance we divide by or take a log of: (0.0001%)^2, far below any real market.
VARIANCE_FLOOR = 1e-12
# Fewer training rows than this and a tree ensemble is noise; the caller falls back instead.
MIN_TRAIN_ROWS = 200
FEATURE_NAMES = (
    "log_rv_1d_over_30d",
    "log_rv_7d_over_30d",
    "log_mean_abs_1d_over_30d_sigma",
    "last_return_in_30d_sigmas",
    "log_rv_30d",
)
FUNDING_FEATURE = "funding_rate_8h"

# Depth-1 trees: with the gamma loss's log link the model is a sum of one-feature steps in log
# variance - a non-linear, multiplicative HAR. The target is so noisy (a 4h squared return is ~one
# draw of a fat-tailed variable) that deeper trees only fit noise: on BTC 4h 2018-2026 walk-forward
# QLIKE at 24h was 0.96 with 15-leaf trees, 0.72 with depth 2 and 0.72 with stumps (EWMA: 0.80).
_HGB_SETTINGS = dict(
    loss="gamma",
    learning_rate=0.05,
    max_iter=150,
    max_depth=1,
    min_samples_leaf=200,
    early_stopping=False,
)


_THREADPOOLS: ThreadpoolController | None = None


def one_openmp_thread():
    """Returns a context manager that holds OpenMP to one thread. The controller that finds the
    loaded libraries is made once: building it per call (threadpool_limits) costs ~2 ms, more
    than a one-row prediction between refits."""
    global _THREADPOOLS
    if _THREADPOOLS is None:
        _THREADPOOLS = ThreadpoolController()
    return _THREADPOOLS.limit(limits=1, user_api="openmp")


def as_returns(returns: np.ndarray | pd.Series, name: str = "returns") -> np.ndarray:
    """Returns the log returns as a 1-d float64 array (fractions); NaN/inf raise ValueError."""
    values = np.asarray(returns, dtype=np.float64).reshape(-1)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(
            f"{name} contain {bad.size} non-finite values (first at position {bad[0]}): "
            "drop or fill data gaps before forecasting volatility"
        )
    return values


def log_returns(close: np.ndarray | pd.Series) -> np.ndarray | pd.Series:
    """Returns log returns of consecutive closes as fractions (one fewer than the closes).

    A Series keeps the index of the bar each return ends on.
    """
    if isinstance(close, pd.Series):
        return np.log(close).diff().iloc[1:]
    prices = np.asarray(close, dtype=np.float64)
    return np.diff(np.log(prices))


def realized_variance_ahead(returns: np.ndarray, horizon_bars: int) -> np.ndarray:
    """Returns, per origin t, the realized variance `sum(r[t+1..t+h]**2)` (fraction^2 over h bars).

    NaN where the horizon runs past the data.
    """
    r = np.asarray(returns, dtype=np.float64)
    squares = np.concatenate(([0.0], np.cumsum(r * r)))
    out = np.full(r.size, np.nan)
    last = r.size - horizon_bars  # origins 0..last-1 have a full horizon ahead
    if last > 0:
        out[:last] = squares[horizon_bars + 1 : r.size + 1] - squares[1 : last + 1]
    return out


def trailing_mean_square(returns: np.ndarray, bars: int) -> np.ndarray:
    """Returns, per origin t, the mean of `r[t-bars+1..t]**2` (per-bar variance, fraction^2).

    NaN until `bars` returns have been seen.
    """
    r = np.asarray(returns, dtype=np.float64)
    squares = np.concatenate(([0.0], np.cumsum(r * r)))
    out = np.full(r.size, np.nan)
    if r.size >= bars:
        out[bars - 1 :] = (squares[bars:] - squares[: r.size - bars + 1]) / bars
    return out


def har_features(
    returns: np.ndarray,
    *,
    bars_per_day: int = BARS_PER_DAY_4H,
    funding: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Returns `(features, base)`: one feature row per origin t (only `r[..t]` used) and the 30-day
    per-bar variance each row is scaled by (fraction^2 per bar).

    Rows before 30 days of history are NaN. Columns follow `FEATURE_NAMES`, then the funding rate
    (per 8h, as a fraction) when `funding` is given, aligned to the returns.
    """
    r = np.asarray(returns, dtype=np.float64)
    day, week, month = (d * bars_per_day for d in HAR_DAYS)
    base = np.maximum(trailing_mean_square(r, month), VARIANCE_FLOOR)
    rv_day = np.maximum(trailing_mean_square(r, day), VARIANCE_FLOOR)
    rv_week = np.maximum(trailing_mean_square(r, week), VARIANCE_FLOOR)
    abs_sums = np.concatenate(([0.0], np.cumsum(np.abs(r))))
    mean_abs_day = np.full(r.size, np.nan)
    if r.size >= day:
        mean_abs_day[day - 1 :] = (abs_sums[day:] - abs_sums[: r.size - day + 1]) / day
    sigma_base = np.sqrt(base)
    columns = [
        np.log(rv_day / base),
        np.log(rv_week / base),
        # Mean |r| is the outlier-robust cousin of realized variance: one crash bar moves it less.
        np.log(np.maximum(mean_abs_day, np.sqrt(VARIANCE_FLOOR)) / sigma_base),
        # Signed, so the trees can learn that down moves raise volatility more than up moves.
        r / sigma_base,
        np.log(base),
    ]
    if funding is not None:
        rate = np.asarray(funding, dtype=np.float64).reshape(-1)
        if rate.size != r.size:
            raise ValueError(
                f"funding has {rate.size} values but returns have {r.size}: align funding to the "
                "bars first (see align_funding)"
            )
        columns.append(rate)
    features = np.column_stack(columns)
    incomplete = ~np.isfinite(trailing_mean_square(r, month))
    features[incomplete] = np.nan
    base[incomplete] = np.nan
    return features, base


def align_funding(funding: pd.Series, bar_close_times: pd.DatetimeIndex) -> np.ndarray:
    """Returns, per bar, the last funding rate settled at or before the bar's close (per 8h,
    fraction), NaN before the first settlement. `funding` is indexed by settlement time."""
    settled = funding.sort_index()
    positions = settled.index.searchsorted(bar_close_times, side="right") - 1
    values = settled.to_numpy(dtype=np.float64)
    return np.where(positions >= 0, values[np.clip(positions, 0, None)], np.nan)


@dataclass(frozen=True)
class HGBForecaster:
    """A fitted gradient-boosting forecaster of the next `horizon_bars` realized variance.

    `model` is None when there was too little data; `status`/`reason` then say so.
    """

    horizon_bars: int
    bars_per_day: int
    uses_funding: bool
    model: HistGradientBoostingRegressor | None
    n_train: int
    status: str = "ok"
    reason: str = ""
    # Feature columns the model was trained on: a column with fewer than two distinct values in
    # the training rows (funding before it existed) carries no information and is left out.
    columns: tuple[int, ...] = ()
    # The model's trees as flat arrays (see `boosted_trees`): the same predictions as
    # `model.predict` at ~1/50 of the cost per row. None: predict through sklearn.
    trees: FlatTrees | None = None


def fit_hgb(
    returns: np.ndarray,
    *,
    horizon_bars: int,
    bars_per_day: int = BARS_PER_DAY_4H,
    funding: np.ndarray | None = None,
    seed: int = 0,
    first_origin: int = 0,
    features: tuple[np.ndarray, np.ndarray] | None = None,
) -> HGBForecaster:
    """Returns a forecaster trained on every origin in `[first_origin, len(returns) - h - 1]`, i.e.
    every past origin whose realized target is fully known at the last return.

    `features` may pass precomputed `har_features(returns, ...)` output (same returns) to save time.
    """
    r = np.asarray(returns, dtype=np.float64)
    x, base = features if features is not None else har_features(
        r, bars_per_day=bars_per_day, funding=funding
    )
    last_origin = r.size - horizon_bars - 1
    target = realized_variance_ahead(r, horizon_bars)
    rows = np.arange(max(first_origin, 0), last_origin + 1)
    rows = rows[np.isfinite(base[rows]) & np.isfinite(target[rows])] if rows.size else rows
    common = dict(
        horizon_bars=horizon_bars, bars_per_day=bars_per_day, uses_funding=funding is not None
    )
    if rows.size < MIN_TRAIN_ROWS:
        return HGBForecaster(
            **common, model=None, n_train=int(rows.size), status="failed",
            reason=f"only {rows.size} training rows with 30 days of history; need {MIN_TRAIN_ROWS}",
        )
    # Gamma deviance needs y > 0; a horizon with no price change at all is floored, not dropped,
    # so that quiet stretches still pull the forecast down.
    ratio = np.maximum(target[rows] / (horizon_bars * base[rows]), 1e-4)
    train = x[rows]
    columns = tuple(
        j for j in range(train.shape[1]) if np.unique(train[np.isfinite(train[:, j]), j]).size >= 2
    )
    model = HistGradientBoostingRegressor(**_HGB_SETTINGS, random_state=seed)
    # One thread: on a few thousand rows OpenMP start-up costs ~10x the work (0.6 s vs 0.06 s per
    # fit on 2 cores), and the process pool already runs one fit per core.
    with one_openmp_thread():
        model.fit(train[:, columns], ratio)
    return HGBForecaster(
        **common, model=model, n_train=int(rows.size), columns=columns,
        trees=FlatTrees.from_model(model),
    )


def hgb_variance(forecaster: HGBForecaster, features: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Returns the forecast variance over the forecaster's horizon (fraction^2) for each feature row
    (NaN where the row is incomplete or the forecaster has no model)."""
    out = np.full(len(base), np.nan)
    if forecaster.model is None:
        return out
    ok = np.isfinite(base)
    if ok.any():
        x = features[ok][:, forecaster.columns]
        if forecaster.trees is not None:
            ratio = forecaster.trees.predict(x)
        else:
            with one_openmp_thread():
                ratio = forecaster.model.predict(x)
        out[ok] = forecaster.horizon_bars * base[ok] * ratio
    return out
