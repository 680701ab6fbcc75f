"""What the regime classifier may see at a close: features built only from that close and earlier.

`regime_features` turns a frame of closes (DatetimeIndex, one column per asset) and, optionally,
the target asset's funding rates into one row of features per close of the *target* asset (the
market proxy whose regime is classified, BTC by default in the cockpit). Every window counts bars,
not clock time (`bars_per_day` 6 for 4h, 1 for daily); the few exchange-outage gaps in Binance's
2018-19 history shift a window by a bar or two, which no feature here is sensitive to.

Columns (all fractions, volatilities annualized with sqrt(365 * bars_per_day) because crypto
trades every day):

- `momentum_7d`, `momentum_30d` - log return over the last 7 / 30 days, ln(close / close then).
- `volatility_7d`, `volatility_30d` - realized volatility: standard deviation of the bar log
  returns over the last 7 / 30 days, annualized (0.6 = 60 %).
- `volatility_of_volatility` - standard deviation of `volatility_7d` over the last 30 days, in
  annualized volatility points: how unsettled the volatility itself has been.
- `drawdown_90d` - fall of the close below the highest close of the last 90 days (0 at a high).
- `correlation_30d` - 30-day correlation of the target's bar log returns with each other asset's,
  averaged over the other assets. Only when `closes` has another column; NaN while another asset
  has no prices yet.
- `funding_rate` - the latest funding settlement (rate per 8h, 0.0001 = 0.01 %) at or before the
  bar's timestamp; `funding_7d` - the mean of the settlements of the 7 days up to then. Only when
  `funding` is given (absent funding drops the columns rather than inventing zeros). NaN before
  the first settlement, or when the latest one is more than a day old (a stale feed is unknown,
  not "unchanged").

A bar's timestamp is its open time (Binance klines), while its close is known at the end of the
bar; funding is aligned to the timestamp, so it is known up to one bar *before* the close it
accompanies: conservative, never ahead.

No look-ahead: the value at close t depends only on closes and funding at or before t, so data
added or changed after t leaves it unchanged (tested).

`purged_splits` is the other half of "what may be seen": which earlier samples a walk-forward
model may train on, given that each sample's *label* looks `horizon` bars ahead (purge) and its
features look back over the test block when it comes after it (embargo). Pure pandas/numpy, no I/O.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import pandas as pd

# Features every usable row must have; the optional ones (correlation, funding) may be NaN and
# the gradient-boosting classifier learns what a missing value means.
CORE_FEATURES: tuple[str, ...] = (
    "momentum_7d",
    "momentum_30d",
    "volatility_7d",
    "volatility_30d",
    "volatility_of_volatility",
    "drawdown_90d",
)
CORRELATION_FEATURE = "correlation_30d"
FUNDING_FEATURES: tuple[str, ...] = ("funding_rate", "funding_7d")

# Beyond this age the latest funding settlement no longer describes the market (Binance settles
# every 8h, some venues every 1-4h).
FUNDING_STALE_AFTER = pd.Timedelta(days=1)


def bars(days: float, bars_per_day: float) -> int:
    """Returns the number of bars (at least 1) that make `days` days at `bars_per_day`."""
    return max(1, int(round(days * bars_per_day)))


def infer_bars_per_day(index: pd.DatetimeIndex) -> float:
    """Returns bars per day from the median spacing of `index` (6.0 for 4h bars, 1.0 daily).

    The median ignores the odd outage gap. Raises ValueError with fewer than two timestamps.
    """
    if len(index) < 2:
        raise ValueError("need at least two timestamps to tell the bar length")
    spacing = pd.Series(index).diff().median()
    return pd.Timedelta(days=1) / spacing


def check_closes(closes: pd.DataFrame, target: str | None) -> str:
    """Returns the target column name (the first column when `target` is None) after checking
    `closes`: a DataFrame with a sorted, unique DatetimeIndex, the target's prices all positive
    and finite (other assets may have leading NaN before they were listed). Raises ValueError."""
    if not isinstance(closes, pd.DataFrame) or closes.shape[1] == 0:
        raise ValueError("closes must be a DataFrame with one column of prices per asset")
    if not isinstance(closes.index, pd.DatetimeIndex):
        raise ValueError("closes must be indexed by time (a DatetimeIndex)")
    if not (closes.index.is_monotonic_increasing and closes.index.is_unique):
        raise ValueError("closes must be in time order with no repeated timestamp")
    name = closes.columns[0] if target is None else target
    if name not in closes.columns:
        known = ", ".join(map(str, closes.columns))
        raise ValueError(f"target {name!r} is not a column of closes ({known})")
    prices = closes[name].to_numpy(dtype=float)
    if not (np.all(np.isfinite(prices)) and np.all(prices > 0)):
        raise ValueError(f"closes of the target {name!r} must all be positive, finite prices")
    others = closes.drop(columns=[name]).to_numpy(dtype=float)
    if np.any(others[np.isfinite(others)] <= 0) or np.any(np.isinf(others)):
        raise ValueError("closes must be positive prices (NaN only where an asset has none yet)")
    return name


def _annualize(bars_per_day: float) -> float:
    return math.sqrt(365.0 * bars_per_day)


def _funding_columns(funding: pd.Series | pd.DataFrame, target: str,
                     index: pd.DatetimeIndex) -> pd.DataFrame:
    """The latest settlement and the 7-day mean as of each timestamp of `index` (see module doc)."""
    if isinstance(funding, pd.DataFrame):
        if target not in funding.columns:
            raise ValueError(f"funding has no column for the target {target!r}")
        funding = funding[target]
    if not isinstance(funding.index, pd.DatetimeIndex):
        raise ValueError("funding must be indexed by settlement time (a DatetimeIndex)")
    if (funding.index.tz is None) != (index.tz is None):
        raise ValueError("funding and closes must both be timezone-aware (UTC) or both naive")
    rates = funding.astype(float).dropna().sort_index()
    rates = rates[~rates.index.duplicated(keep="last")]
    settled = pd.DataFrame({
        "funding_rate": rates,
        # A time-based window ending at each settlement: only that settlement and earlier ones.
        "funding_7d": rates.rolling(pd.Timedelta(days=7), closed="both").mean(),
    })
    settled.index = settled.index.astype(index.dtype)
    settled.index.name = "_settled_at"
    stamps = pd.DataFrame(index=index.rename("_bar_time")).reset_index()
    aligned = pd.merge_asof(stamps, settled.reset_index(), left_on="_bar_time",
                            right_on="_settled_at", direction="backward",
                            tolerance=FUNDING_STALE_AFTER)
    return aligned[list(FUNDING_FEATURES)].set_axis(index)


def regime_features(
    closes: pd.DataFrame,
    *,
    target: str | None = None,
    funding: pd.Series | pd.DataFrame | None = None,
    bars_per_day: float | None = None,
) -> pd.DataFrame:
    """Returns the feature frame (index = `closes.index`, columns as in the module docstring:
    CORE_FEATURES, then `correlation_30d` when there is another asset, then FUNDING_FEATURES when
    `funding` is given) for the `target` column (default: the first). Fractions throughout;
    volatilities annualized. Rows before a feature's window is full hold NaN.

    `funding` is a Series of funding rates per 8h indexed by settlement time (or a DataFrame with
    a column named like the target). `bars_per_day` defaults to the one inferred from the index.
    Raises ValueError for malformed closes or funding.
    """
    name = check_closes(closes, target)
    per_day = infer_bars_per_day(closes.index) if bars_per_day is None else float(bars_per_day)
    if not (math.isfinite(per_day) and per_day > 0):
        raise ValueError(f"bars_per_day must be a positive number, not {bars_per_day!r}")
    week, month, quarter = bars(7, per_day), bars(30, per_day), bars(90, per_day)
    annual = _annualize(per_day)

    log_close = np.log(closes[name].astype(float))
    returns = log_close.diff()
    volatility_7d = returns.rolling(week, min_periods=week).std() * annual
    features = pd.DataFrame(index=closes.index)
    features["momentum_7d"] = log_close - log_close.shift(week)
    features["momentum_30d"] = log_close - log_close.shift(month)
    features["volatility_7d"] = volatility_7d
    features["volatility_30d"] = returns.rolling(month, min_periods=month).std() * annual
    features["volatility_of_volatility"] = volatility_7d.rolling(month, min_periods=month).std()
    high = closes[name].rolling(quarter, min_periods=quarter).max()
    features["drawdown_90d"] = 1.0 - closes[name] / high

    others = [c for c in closes.columns if c != name]
    if others:
        other_returns = np.log(closes[others].astype(float)).diff()
        correlations = [returns.rolling(month, min_periods=month).corr(other_returns[c])
                        for c in others]
        # A flat window has no correlation (0/0); pandas may return +-inf or NaN there.
        features[CORRELATION_FEATURE] = (
            pd.concat(correlations, axis=1).replace([np.inf, -np.inf], np.nan).mean(axis=1)
        )
    if funding is not None:
        features = features.join(_funding_columns(funding, name, closes.index))
    return features


# ---- which samples a model may learn from -------------------------------------------------------


def purged_splits(n_samples: int, *, first_test: int, block: int, horizon: int, embargo: int,
                  walk_forward: bool = True) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yields (train, test) integer index arrays. Test blocks are [first_test + k*block, ...+block)
    clipped to n_samples. Training for a block [a, b) is every other index except:

    - the purge: i < a whose label window (i, i + horizon] reaches a (i + horizon >= a);
    - the embargo: b <= i < b + embargo, right after the block (their backward-looking features
      overlap the block's prices);
    - with `walk_forward` (the default) everything at or after a: a model only learns the past.

    Sizes are in samples (bars). Raises ValueError for a negative size or block < 1.
    """
    if min(n_samples, first_test, horizon, embargo) < 0 or block < 1:
        raise ValueError("sample counts must be >= 0 and the test block at least 1")
    everything = np.arange(n_samples)
    for start in range(first_test, n_samples, block):
        stop = min(start + block, n_samples)
        before = everything[: max(0, start - horizon)]  # i + horizon < start
        if walk_forward:
            train = before
        else:
            train = np.concatenate([before, everything[min(n_samples, stop + embargo):]])
        yield train, everything[start:stop]
