"""Performance of an equity curve: the figures a backtest reports for each strategy.

Conventions (a trader's, written down so the numbers can be checked by hand):
- the curve is equity in USDT at each bar close, with its time in epoch seconds;
- daily figures use the equity at the last bar of each UTC day; crypto trades every day, so a year
  is 365 days (Sharpe and Sortino are annualized by sqrt(365)) and CAGR uses 365.25-day years;
- the risk-free rate is zero;
- drawdown is 1 - equity / running peak (a fraction); the longest drawdown runs from a peak to
  the first time equity is back at that peak, or to the end of the curve if it never is;
- win rate is the share of days equity rose, among the days it moved;
- recovery factor is net profit / the deepest peak-to-trough loss, both in USDT;
- turnover is traded notional / mean equity over the run (how many times the book was traded).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

DAY = 86_400.0
YEAR_DAYS = 365.25
TRADING_DAYS = 365


@dataclass(frozen=True, slots=True)
class Performance:
    """One strategy's figures over one run. Money in USDT, ratios as fractions."""

    final_equity: float
    cagr: float
    max_drawdown: float
    max_drawdown_days: float
    sharpe: float
    sortino: float
    calmar: float
    win_rate: float
    recovery_factor: float
    liquidations: int
    fees: float
    funding: float
    turnover: float

    def as_dict(self) -> dict[str, float]:
        """Returns the figures by name (NaN where a figure is undefined, e.g. no drawdown)."""
        return asdict(self)


def drawdowns(equity: Sequence[float]) -> np.ndarray:
    """Returns 1 - equity / running peak at each point (0 at a new high, 1 when wiped out)."""
    values = np.asarray(equity, dtype=float)
    peaks = np.maximum.accumulate(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(peaks > 0, 1.0 - values / peaks, 0.0)
    return out


def longest_drawdown_days(times: Sequence[float], equity: Sequence[float]) -> float:
    """Returns the longest time, in days, from a peak until equity first regains it (or until
    the last point, for a drawdown never recovered); 0 for a curve that never falls."""
    values = np.asarray(equity, dtype=float)
    stamps = np.asarray(times, dtype=float)
    longest, peak, peak_at, below = 0.0, -math.inf, 0.0, False
    for stamp, value in zip(stamps, values):
        if value >= peak:
            if below:
                longest = max(longest, stamp - peak_at)
            peak, peak_at, below = value, stamp, False
        else:
            below = True
    if below:
        longest = max(longest, stamps[-1] - peak_at)
    return float(longest / DAY)


def daily_closes(times: Sequence[float], equity: Sequence[float]) -> np.ndarray:
    """Returns the equity at the last point of each UTC day, in time order."""
    stamps = np.asarray(times, dtype=float)
    values = np.asarray(equity, dtype=float)
    if stamps.size == 0:
        return values
    days = np.floor(stamps / DAY)
    last_of_day = np.append(days[1:] != days[:-1], True)
    return values[last_of_day]


def daily_returns(times: Sequence[float], equity: Sequence[float]) -> np.ndarray:
    """Returns the simple returns between consecutive daily closes (a wiped-out day gives -1
    and nothing after it counts)."""
    closes = daily_closes(times, equity)
    if closes.size < 2:
        return np.empty(0)
    alive = np.flatnonzero(closes[:-1] <= 0)
    if alive.size:
        closes = closes[: alive[0] + 1]
    return closes[1:] / closes[:-1] - 1.0


def sharpe_ratio(returns: np.ndarray) -> float:
    """Returns the annualized Sharpe ratio of daily `returns` (zero risk-free rate); NaN when
    there are fewer than two or they never vary."""
    if returns.size < 2:
        return math.nan
    spread = float(np.std(returns, ddof=1))
    return float(np.mean(returns)) / spread * math.sqrt(TRADING_DAYS) if spread > 0 else math.nan


def sortino_ratio(returns: np.ndarray) -> float:
    """Returns the annualized Sortino ratio of daily `returns`: mean over the downside deviation
    sqrt(mean(min(r, 0)^2)) across all days; NaN without a losing day."""
    if returns.size < 2:
        return math.nan
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    return float(np.mean(returns)) / downside * math.sqrt(TRADING_DAYS) if downside > 0 else math.nan


def cagr(start_equity: float, final_equity: float, days: float) -> float:
    """Returns the compound annual growth rate (fraction per 365.25-day year); -1 when wiped out."""
    if start_equity <= 0 or days <= 0:
        return math.nan
    if final_equity <= 0:
        return -1.0
    try:
        return float(final_equity / start_equity) ** (YEAR_DAYS / float(days)) - 1.0
    except OverflowError:  # a short run with a big gain: the annualized figure is unbounded
        return math.inf


def performance(
    times: Sequence[float],
    equity: Sequence[float],
    *,
    liquidations: int = 0,
    fees: float = 0.0,
    funding: float = 0.0,
    traded_notional: float = 0.0,
) -> Performance:
    """Returns the figures of the curve (`times` epoch s, `equity` USDT, at least two points);
    `fees` and `funding` are what was paid (funding received counts negative)."""
    values = np.asarray(equity, dtype=float)
    stamps = np.asarray(times, dtype=float)
    if values.size < 2 or values.size != stamps.size:
        raise ValueError("an equity curve needs at least two points, each with a time")
    start, final = float(values[0]), float(values[-1])
    growth = cagr(start, final, (stamps[-1] - stamps[0]) / DAY)
    deepest = float(drawdowns(values).max())
    peaks = np.maximum.accumulate(values)
    worst_loss = float((peaks - values).max())
    returns = daily_returns(stamps, values)
    moved = returns[returns != 0]
    mean_equity = float(np.mean(np.maximum(values, 0.0)))
    return Performance(
        final_equity=final,
        cagr=growth,
        max_drawdown=deepest,
        max_drawdown_days=longest_drawdown_days(stamps, values),
        sharpe=sharpe_ratio(returns),
        sortino=sortino_ratio(returns),
        calmar=growth / deepest if deepest > 0 else math.nan,
        win_rate=float(np.mean(moved > 0)) if moved.size else math.nan,
        recovery_factor=(final - start) / worst_loss if worst_loss > 0 else math.nan,
        liquidations=liquidations,
        fees=fees,
        funding=funding,
        turnover=traded_notional / mean_equity if mean_equity > 0 else math.nan,
    )
