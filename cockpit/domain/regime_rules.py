"""A rule-based market regime from closing prices, until the learned regime classifier exists.

The rules, checked at each close in this order (the first that holds wins):

1. **crisis** - the market is breaking: the realized volatility of the last 14 days is at least
   150 % annualized (about 7.9 % a day; BTC spent ~2 % of its days 2017-2026 there), *or* the
   close is at least 25 % below the highest close of the last 14 days (a quarter of the value
   gone in two weeks: March 2020, May 2021, June and November 2022).
2. **bull** - the close is above its 200-day simple moving average and that average is higher
   than 20 days earlier.
3. **bear** - the close is below the 200-day average and the average is lower than 20 days
   earlier.
4. **consolidation** - everything else: price and trend disagree, or there is not yet enough
   history for the 200-day average and its slope (220 days), which is treated as "no trend".

Windows are in days, so daily and 4h closes give comparable answers (`bars_per_day` 1 or 6);
volatility is annualized with sqrt(365 * bars_per_day) because crypto trades every day. Regime
names are the keys of `cockpit.domain.sizing.REGIME_KELLY_MULTIPLIER`. Pure numpy, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

CRISIS, BEAR, BULL, CONSOLIDATION = "crisis", "bear", "bull", "consolidation"
REGIMES = (BULL, CONSOLIDATION, BEAR, CRISIS)  # best to worst: the order every table shows


@dataclass(frozen=True, slots=True)
class RegimeThresholds:
    """The numbers behind the rules. Raises ValueError for a value out of range."""

    volatility_window_days: float = 14
    """Realized volatility is the standard deviation of log returns over this many days."""

    crisis_volatility: float = 1.5
    """Annualized realized volatility (fraction; 1.5 = 150 %) at or above which it is a crisis."""

    drawdown_window_days: float = 14
    """The recent high is the highest close over this many days (the current close included)."""

    crisis_drawdown: float = 0.25
    """Fall below the recent high (fraction) at or beyond which it is a crisis."""

    trend_window_days: float = 200
    """Length of the simple moving average that defines the trend."""

    slope_days: float = 20
    """The trend's slope compares the moving average with its value this many days earlier."""

    def __post_init__(self) -> None:
        for name in ("volatility_window_days", "drawdown_window_days", "trend_window_days",
                     "slope_days", "crisis_volatility", "crisis_drawdown"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"regime threshold {name} must be a positive number, not {value!r}")


DEFAULT_THRESHOLDS = RegimeThresholds()


@dataclass(frozen=True, slots=True)
class RegimeReading:
    """The regime at one close and the figures that decided it (fractions; NaN = not enough
    history for that figure)."""

    regime: str
    realized_volatility: float  # annualized, e.g. 0.6 = 60 %
    drawdown: float  # below the recent high close, >= 0
    trend_gap: float  # close / moving average - 1
    trend_slope: float  # moving average / its value `slope_days` earlier - 1
    reason: str


def _bars(days: float, bars_per_day: float) -> int:
    return max(1, int(round(days * bars_per_day)))


def _closes(closes: Sequence[float] | np.ndarray) -> np.ndarray:
    prices = np.asarray(closes, dtype=float)
    if prices.ndim != 1:
        raise ValueError("closes must be a one-dimensional sequence of prices")
    if prices.size and not (np.all(np.isfinite(prices)) and np.all(prices > 0)):
        raise ValueError("closes must all be positive, finite prices")
    return prices


def _figures(prices: np.ndarray, bars_per_day: float, t: RegimeThresholds):
    """Per close: annualized volatility, drawdown, trend gap, trend slope (NaN where undefined)."""
    n = prices.size
    volatility = np.full(n, np.nan)
    window = _bars(t.volatility_window_days, bars_per_day)
    if n > window:
        returns = np.diff(np.log(prices))
        spread = sliding_window_view(returns, window).std(axis=1, ddof=1) if window > 1 else np.zeros(n - 1)
        volatility[window:] = spread * math.sqrt(365.0 * bars_per_day)

    # The recent high over the last `window` bars including the current one (fewer at the start).
    window = _bars(t.drawdown_window_days, bars_per_day)
    padded = np.concatenate([np.full(window - 1, prices[0] if n else 0.0), prices])
    recent_high = sliding_window_view(padded, window).max(axis=1) if n else padded
    drawdown = 1.0 - prices / recent_high if n else np.empty(0)

    gap = np.full(n, np.nan)
    slope = np.full(n, np.nan)
    window = _bars(t.trend_window_days, bars_per_day)
    if n >= window:
        sums = np.cumsum(np.concatenate([[0.0], prices]))
        average = (sums[window:] - sums[:-window]) / window  # average[k] ends at close k+window-1
        gap[window - 1:] = prices[window - 1:] / average - 1.0
        lag = _bars(t.slope_days, bars_per_day)
        if average.size > lag:
            slope[window - 1 + lag:] = average[lag:] / average[:-lag] - 1.0
    return volatility, drawdown, gap, slope


def _label(volatility: float, drawdown: float, gap: float, slope: float,
           t: RegimeThresholds) -> tuple[str, str]:
    if volatility >= t.crisis_volatility:
        return CRISIS, f"realized vol {volatility:.0%} >= {t.crisis_volatility:.0%} annualized"
    if drawdown >= t.crisis_drawdown:
        return CRISIS, (f"{drawdown:.0%} below the {t.drawdown_window_days:g}-day high "
                        f"(>= {t.crisis_drawdown:.0%})")
    if math.isnan(gap) or math.isnan(slope):
        return CONSOLIDATION, "not enough history for the trend: treated as no trend"
    average = f"{t.trend_window_days:g}-day average"
    if gap > 0 and slope > 0:
        return BULL, f"close {gap:+.1%} above the rising {average} ({slope:+.1%})"
    if gap < 0 and slope < 0:
        return BEAR, f"close {gap:+.1%} below the falling {average} ({slope:+.1%})"
    return CONSOLIDATION, f"close {gap:+.1%} vs the {average}, its slope {slope:+.1%}"


def regime_series(
    closes: Sequence[float] | np.ndarray,
    *,
    bars_per_day: float = 1.0,
    thresholds: RegimeThresholds = DEFAULT_THRESHOLDS,
) -> list[str]:
    """Returns the regime name at every close ("bull", "consolidation", "bear" or "crisis"),
    each using only that close and earlier ones (no look-ahead).

    `closes` are prices in time order, `bars_per_day` closes per day (1 daily, 6 for 4h). Raises
    ValueError for a non-positive or non-finite price or `bars_per_day` <= 0.
    """
    if not (math.isfinite(bars_per_day) and bars_per_day > 0):
        raise ValueError(f"bars_per_day must be a positive number, not {bars_per_day!r}")
    prices = _closes(closes)
    columns = _figures(prices, bars_per_day, thresholds)
    return [_label(*row, thresholds)[0] for row in zip(*(c.tolist() for c in columns))]


def classify_regime(
    closes: Sequence[float] | np.ndarray,
    *,
    bars_per_day: float = 1.0,
    thresholds: RegimeThresholds = DEFAULT_THRESHOLDS,
) -> RegimeReading:
    """Returns the RegimeReading at the last close: the regime name and the figures behind it.

    Same inputs as `regime_series`; only the last `trend_window_days + slope_days` days matter.
    Raises ValueError for an empty sequence or bad prices.
    """
    if not (math.isfinite(bars_per_day) and bars_per_day > 0):
        raise ValueError(f"bars_per_day must be a positive number, not {bars_per_day!r}")
    prices = _closes(closes)
    if prices.size == 0:
        raise ValueError("no closes to classify")
    needed = _bars(thresholds.trend_window_days, bars_per_day) + _bars(thresholds.slope_days, bars_per_day)
    needed = max(needed, _bars(thresholds.volatility_window_days, bars_per_day) + 1,
                 _bars(thresholds.drawdown_window_days, bars_per_day))
    prices = prices[-needed:]
    volatility, drawdown, gap, slope = (float(c[-1]) for c in _figures(prices, bars_per_day, thresholds))
    regime, reason = _label(volatility, drawdown, gap, slope, thresholds)
    return RegimeReading(regime, volatility, drawdown, gap, slope, reason)
