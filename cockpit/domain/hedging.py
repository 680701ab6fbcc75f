"""Hedging, the correlation monitor, the correlation-spike band and the stablecoin reserve.

Pure numpy; no I/O. Units:

- *returns* are simple or log returns per period, as fractions (0.01 = 1 %); the functions
  only need core and hedge returns measured over the same periods;
- hedge ratios are dimensionless: USDT of hedge notional per USDT of core notional;
- correlations are Pearson coefficients in [-1, 1];
- money is USDT, quantities are base units of the hedge asset.

Conventions where the issue is silent:

- The hedge leg is *shorted* against a long core. `hedge_order_quantity` returns the quantity
  to sell; a negative answer means the minimum-variance hedge is a purchase (the hedge moves
  against the core, or the core is short).
- The correlation monitor calls a correlation *weak* when |rho| < min_correlation (a strongly
  negative hedge still hedges, with a negative ratio), and a *sign flip* when rho and the
  previous reading have opposite signs.
- The correlation-spike band is the rolling mean + k standard deviations (sample std, ddof=1)
  of *past* average pairwise correlations; the current value is compared with a band drawn
  from history that excludes it, so a spike cannot widen its own band. The raw coefficient is
  used rather than its Fisher z-transform so the band reads in the same units as the value on
  screen; correlations bounded by 1 make a band at or above 1 mean "cannot trip", which is the
  honest answer when correlations have always been that high.
- The reserve is USDT held out of trading. `profit_to_reserve` tops it up to the *middle* of its
  band when equity is up `trigger_gain` or more on the baseline, never moving more than the
  profit itself (see its docstring).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

MIN_POINTS = 3  # fewest paired returns a hedge ratio or correlation is computed from
DEFAULT_MIN_CORRELATION = 0.5
DEFAULT_MIN_HISTORY = 20  # past correlation readings needed before the spike band exists
DEFAULT_TRIGGER_GAIN = 0.15
DEFAULT_RESERVE_BAND = (0.20, 0.30)
# A series whose spread is below this many ulps of its magnitude is treated as constant.
_CONSTANT_ULPS = 64.0


# ---- helpers ---------------------------------------------------------------------------------


def _paired(core: Sequence[float] | np.ndarray, hedge: Sequence[float] | np.ndarray,
            ) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(core, dtype=float)
    y = np.asarray(hedge, dtype=float)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(
            f"core and hedge returns must be 1-D series, got shapes {x.shape} and {y.shape}"
        )
    if x.shape != y.shape:
        raise ValueError(
            f"core and hedge returns must be the same length, got {x.size} and {y.size}"
        )
    if x.size < MIN_POINTS:
        raise ValueError(f"need at least {MIN_POINTS} paired returns, got {x.size}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("core and hedge returns must be finite (no NaN or inf)")
    return x, y


def _centered_variance(values: np.ndarray) -> tuple[np.ndarray, float]:
    """Returns (values - mean, population variance), with variance 0.0 for a series whose
    spread is float noise."""
    centered = values - values.mean()
    scale = float(np.max(np.abs(values))) if values.size else 0.0
    if float(np.ptp(values)) <= _CONSTANT_ULPS * np.finfo(float).eps * scale:
        return centered, 0.0
    return centered, float(centered @ centered) / values.size


def _check_finite(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    return value


# ---- hedge ratio -----------------------------------------------------------------------------


def min_variance_hedge_ratio(core_returns: Sequence[float] | np.ndarray,
                             hedge_returns: Sequence[float] | np.ndarray) -> float:
    """Returns h = Cov(core, hedge) / Var(hedge): the hedge notional per unit of core notional
    (dimensionless) that minimises the variance of core - h * hedge returns.

    Raises ValueError when the series differ in length, hold fewer than 3 points, contain NaN or
    inf, or the hedge returns do not vary (a constant hedge cannot hedge anything).
    """
    x, y = _paired(core_returns, hedge_returns)
    y_centered, variance = _centered_variance(y)
    if variance == 0.0:
        raise ValueError("hedge returns have zero variance: the hedge ratio is undefined")
    x_centered = x - x.mean()
    return float(x_centered @ y_centered) / x.size / variance


def rolling_hedge_ratio(core: Sequence[float] | np.ndarray, hedge: Sequence[float] | np.ndarray,
                        window: int) -> np.ndarray:
    """Returns an array as long as the inputs whose entry i is the minimum-variance hedge ratio
    (dimensionless) over returns i-window+1 .. i. Entries before the first full window, and
    windows where the hedge does not vary or any value is not finite, are NaN.

    Raises ValueError for a window below 3 or inputs of different lengths.
    """
    if int(window) != window or window < MIN_POINTS:
        raise ValueError(f"window must be an integer of at least {MIN_POINTS}, not {window!r}")
    window = int(window)
    x = np.asarray(core, dtype=float)
    y = np.asarray(hedge, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(
            f"core and hedge must be 1-D series of the same length, got shapes {x.shape} and {y.shape}"
        )
    out = np.full(x.size, np.nan)
    if x.size < window:
        return out
    xs = np.lib.stride_tricks.sliding_window_view(x, window)
    ys = np.lib.stride_tricks.sliding_window_view(y, window)
    xc = xs - xs.mean(axis=1, keepdims=True)
    yc = ys - ys.mean(axis=1, keepdims=True)
    covariance = np.einsum("ij,ij->i", xc, yc)
    variance = np.einsum("ij,ij->i", yc, yc)
    scale = np.max(np.abs(ys), axis=1)
    flat = np.ptp(ys, axis=1) <= _CONSTANT_ULPS * np.finfo(float).eps * scale
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = covariance / variance
    ratio[flat | ~np.isfinite(ratio)] = np.nan
    out[window - 1:] = ratio
    return out


def correlation(core: Sequence[float] | np.ndarray, hedge: Sequence[float] | np.ndarray) -> float:
    """Returns the Pearson correlation of the two return series, in [-1, 1].

    Raises ValueError for different lengths, fewer than 3 points, NaN/inf, or a series that does
    not vary (its correlation is undefined).
    """
    x, y = _paired(core, hedge)
    x_centered, x_variance = _centered_variance(x)
    y_centered, y_variance = _centered_variance(y)
    if x_variance == 0.0 or y_variance == 0.0:
        which = "core" if x_variance == 0.0 else "hedge"
        raise ValueError(f"{which} returns have zero variance: the correlation is undefined")
    rho = float(x_centered @ y_centered) / x.size / math.sqrt(x_variance * y_variance)
    return max(-1.0, min(1.0, rho))


def hedge_order_quantity(core_notional: float, hedge_ratio: float, hedge_price: float) -> float:
    """Returns the hedge quantity to *sell short*, in base units of the hedge asset:
    core_notional * hedge_ratio / hedge_price.

    `core_notional` is the core leg's signed notional in USDT (+ long, - short). A negative
    answer means buy that many units (the core is short, or the ratio is negative). Raises
    ValueError for a non-finite input or a hedge price <= 0.
    """
    notional = _check_finite("core notional", core_notional)
    ratio = _check_finite("hedge ratio", hedge_ratio)
    price = _check_finite("hedge price", hedge_price)
    if price <= 0:
        raise ValueError(f"hedge price must be positive, not {price!r}")
    return notional * ratio / price


# ---- the hedge's correlation monitor ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CorrelationWarning:
    """Why a hedge no longer tracks its core. Correlations are Pearson coefficients in [-1, 1]."""

    kind: Literal["weak", "sign_flip", "undefined"]
    correlation: float  # NaN when undefined
    threshold: float  # the min_correlation it was held to
    previous: float | None = None

    @property
    def message(self) -> str:
        """Returns the one-line warning for the screen and the journal, with the numbers."""
        if self.kind == "undefined":
            return "hedge correlation undefined: one leg's returns did not move over the window"
        if self.kind == "sign_flip":
            weak = " and weak" if abs(self.correlation) < self.threshold else ""
            return (
                f"hedge correlation flipped sign{weak}: {self.previous:+.2f} -> "
                f"{self.correlation:+.2f}; a hedge sized on the old sign now adds risk"
            )
        return (
            f"hedge correlation weak: {self.correlation:+.2f}, |rho| below {self.threshold:.2f}; "
            "the hedge removes little risk"
        )

    def __str__(self) -> str:
        return self.message


def hedge_correlation_warning(
    core_returns: Sequence[float] | np.ndarray,
    hedge_returns: Sequence[float] | np.ndarray,
    *,
    min_correlation: float = DEFAULT_MIN_CORRELATION,
    previous_correlation: float | None = None,
) -> CorrelationWarning | None:
    """Returns a CorrelationWarning when the hedge's correlation to the core flipped sign against
    `previous_correlation`, or |rho| < `min_correlation`, or is undefined (a leg did not move);
    None while the hedge tracks. A flip wins over weakness (its message says both).

    Raises ValueError for a threshold outside [0, 1] or unusable series (see `correlation`).
    """
    threshold = _check_finite("min correlation", min_correlation)
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"min correlation must be between 0 and 1, not {threshold!r}")
    x, y = _paired(core_returns, hedge_returns)
    if _centered_variance(x)[1] == 0.0 or _centered_variance(y)[1] == 0.0:
        return CorrelationWarning("undefined", math.nan, threshold, previous_correlation)
    rho = correlation(x, y)
    if previous_correlation is not None:
        previous = _check_finite("previous correlation", previous_correlation)
        if previous * rho < 0:
            return CorrelationWarning("sign_flip", rho, threshold, previous)
    if abs(rho) < threshold:
        return CorrelationWarning("weak", rho, threshold, previous_correlation)
    return None


def check_hedge_correlation(
    core_returns: Sequence[float] | np.ndarray,
    hedge_returns: Sequence[float] | np.ndarray,
    *,
    min_correlation: float = DEFAULT_MIN_CORRELATION,
    previous_correlation: float | None = None,
) -> str | None:
    """Returns a one-line warning with the numbers when the hedge's correlation to the core is
    weak (|rho| < min_correlation), flipped sign since `previous_correlation`, or undefined;
    None when the hedge still tracks. See `hedge_correlation_warning` for the structured form."""
    warning = hedge_correlation_warning(
        core_returns, hedge_returns,
        min_correlation=min_correlation, previous_correlation=previous_correlation,
    )
    return None if warning is None else warning.message


# ---- correlation-spike breaker ----------------------------------------------------------------


def average_pairwise_correlation(returns_matrix: Sequence[Sequence[float]] | np.ndarray) -> float:
    """Returns the mean Pearson correlation over every pair of columns (assets) of a
    (periods x assets) matrix of returns, in [-1, 1].

    Pairs involving a column that does not vary are left out. Returns NaN when nothing can be
    said: fewer than 3 rows, fewer than 2 varying columns, or any NaN/inf in the matrix (the
    breaker then simply has no reading). Raises ValueError when the input is not 2-D.
    """
    matrix = np.asarray(returns_matrix, dtype=float)
    if matrix.ndim != 2:
        raise ValueError(
            f"returns must be a 2-D (periods x assets) matrix, got shape {matrix.shape}"
        )
    periods, assets = matrix.shape
    if periods < MIN_POINTS or assets < 2 or not np.all(np.isfinite(matrix)):
        return math.nan
    centered = matrix - matrix.mean(axis=0)
    scale = np.max(np.abs(matrix), axis=0)
    varying = np.ptp(matrix, axis=0) > _CONSTANT_ULPS * np.finfo(float).eps * scale
    if int(varying.sum()) < 2:
        return math.nan
    centered = centered[:, varying]
    norms = np.sqrt(np.einsum("ij,ij->j", centered, centered))
    unit = centered / norms
    corr = np.clip(unit.T @ unit, -1.0, 1.0)
    n = corr.shape[0]
    upper = corr[np.triu_indices(n, k=1)]
    return float(upper.mean())


def correlation_spike(
    history_of_avg_corr: Sequence[float] | np.ndarray,
    current: float,
    *,
    band_sigmas: float = 2.0,
    min_history: int = DEFAULT_MIN_HISTORY,
) -> tuple[bool, float]:
    """Returns (tripped, upper_band): upper_band = mean + band_sigmas * std (sample std, ddof=1)
    of the past average pairwise correlations in `history_of_avg_corr` (which must not include
    `current`), and tripped is True when `current` is strictly above it. Both are correlation
    units.

    NaN entries in the history are ignored. Until at least `min_history` finite past values
    exist, or when `current` is NaN, returns (False, NaN): a warming-up breaker never trips.
    Raises ValueError for band_sigmas < 0 or min_history < 2.
    """
    sigmas = _check_finite("band sigmas", band_sigmas)
    if sigmas < 0:
        raise ValueError(f"band sigmas must be >= 0, not {sigmas!r}")
    if int(min_history) != min_history or min_history < 2:
        raise ValueError(f"min history must be an integer of at least 2, not {min_history!r}")
    history = np.asarray(history_of_avg_corr, dtype=float).ravel()
    history = history[np.isfinite(history)]
    value = float(current)
    if history.size < min_history or not math.isfinite(value):
        return False, math.nan
    band = float(history.mean() + sigmas * history.std(ddof=1))
    return value > band, band


# ---- stablecoin reserve -----------------------------------------------------------------------


def reserve_fraction(reserve_balance: float, total_equity: float) -> float:
    """Returns the reserve's share of total equity (a fraction, 0.25 = 25 %). `total_equity`
    includes the reserve. Raises ValueError for a negative reserve or equity <= 0."""
    reserve = _check_finite("reserve balance", reserve_balance)
    equity = _check_finite("total equity", total_equity)
    if reserve < 0:
        raise ValueError(f"reserve balance must be >= 0, not {reserve!r}")
    if equity <= 0:
        raise ValueError(f"total equity must be positive, not {equity!r}")
    return reserve / equity


def profit_to_reserve(
    equity: float,
    baseline_equity: float,
    reserve_balance: float,
    *,
    trigger_gain: float = DEFAULT_TRIGGER_GAIN,
    band: tuple[float, float] = DEFAULT_RESERVE_BAND,
) -> float:
    """Returns the USDT to move from trading into the stablecoin reserve (>= 0).

    Rule: when equity is up `trigger_gain` or more on `baseline_equity` (equity / baseline - 1 >=
    0.15 by default), propose topping the reserve up to the *middle* of its band (0.25 of equity
    for the default 20-30 %), never moving more than the profit (equity - baseline). Nothing
    when the gain is below the trigger or the reserve already sits at or above the middle.

    `equity` is total equity *including* the reserve, so a move does not change it; the reserve
    share after the move is (reserve_balance + amount) / equity. The caller should reset the
    baseline to the current equity after a move is executed, so the next 15 % counts from there.
    Raises ValueError for non-finite inputs, a baseline <= 0, a negative reserve, a reserve
    larger than equity, a trigger <= 0, or a band outside 0 <= low <= high < 1.
    """
    total = _check_finite("equity", equity)
    baseline = _check_finite("baseline equity", baseline_equity)
    reserve = _check_finite("reserve balance", reserve_balance)
    trigger = _check_finite("trigger gain", trigger_gain)
    low, high = (_check_finite("reserve band", bound) for bound in band)
    if baseline <= 0:
        raise ValueError(f"baseline equity must be positive, not {baseline!r}")
    if reserve < 0:
        raise ValueError(f"reserve balance must be >= 0, not {reserve!r}")
    if trigger <= 0:
        raise ValueError(f"trigger gain must be positive, not {trigger!r}")
    if not 0.0 <= low <= high < 1.0:
        raise ValueError(f"reserve band must satisfy 0 <= low <= high < 1, not {band!r}")
    # Compared as money, with a hair of tolerance: 11_500 / 10_000 - 1 is 0.1499999... in floats.
    if total <= 0 or total - baseline < trigger * baseline * (1.0 - 1e-12):
        return 0.0
    if reserve > total:
        raise ValueError(f"reserve balance {reserve!r} exceeds total equity {total!r}")
    profit = total - baseline
    shortfall = (low + high) / 2.0 * total - reserve
    if shortfall <= 1e-12 * total:  # at the middle already, up to float residue
        return 0.0
    return min(shortfall, profit)
