"""The claims traders are sold, measured on the strategies of one backtest run.

Each claim gets the number that decides it and a plain verdict. The verdict rule is written in
the claim's text, so a reader can check it against the strategy table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from cockpit.backtest.runner import StrategyResult
from cockpit.domain.performance import DAY

# The crashes of the "3x survives what 10x does not" claim: [start, end) in UTC.
CRASHES = (("March 2020", "2020-03-01", "2020-04-01"), ("May 2021", "2021-05-01", "2021-06-01"),
           ("Nov 2022", "2022-11-01", "2022-12-01"))
WEEK = 7 * DAY
VOLATILE_WEEKS = 10


@dataclass(frozen=True)
class Claim:
    """One claim: what is claimed, what was measured, and whether it holds."""

    claim: str
    measured: str
    holds: bool | None  # None: the run cannot decide it (a strategy or the period is missing)

    @property
    def verdict(self) -> str:
        """Returns "holds", "does not hold" or "not measured"."""
        return "not measured" if self.holds is None else ("holds" if self.holds else "does not hold")

    def as_dict(self) -> dict[str, object]:
        """Returns the claim for JSON."""
        return {"claim": self.claim, "measured": self.measured, "verdict": self.verdict}


def drawdown_claim(results: Mapping[str, StrategyResult]) -> Claim:
    """"Risk management cuts peak drawdowns 30-40% for a 5-8% cost in annual return": cockpit
    against static_3x. Holds when the drawdown is cut by at least 30% (relative) and the CAGR
    given up is at most 8 points."""
    text = "risk management cuts peak drawdown 30-40% for a 5-8% cost in annual return (cockpit vs static_3x)"
    if "cockpit" not in results or "static_3x" not in results:
        return Claim(text, "needs cockpit and static_3x", None)
    ours, static = results["cockpit"].performance(), results["static_3x"].performance()
    cut = 1.0 - ours.max_drawdown / static.max_drawdown if static.max_drawdown > 0 else math.nan
    cost = static.cagr - ours.cagr
    measured = (f"drawdown {static.max_drawdown:.1%} -> {ours.max_drawdown:.1%} (cut {cut:.0%}); "
                f"CAGR {static.cagr:+.1%} -> {ours.cagr:+.1%} ({-cost * 100:+.1f} pts)")
    return Claim(text, measured, bool(cut >= 0.30 and cost <= 0.08))


def crash_claim(crash_runs: Mapping[str, Mapping[str, StrategyResult]]) -> Claim:
    """"3x survives what 10x does not": static_3x and static_10x, each started fresh at the start
    of every crash month. Holds when 3x is never liquidated and 10x is in every crash."""
    text = "3x survives what 10x does not (static, fresh at each crash: " + ", ".join(n for n, _, _ in CRASHES) + ")"
    if not crash_runs:
        return Claim(text, "no crash month inside the data", None)
    parts, holds = [], True
    for name, runs in crash_runs.items():
        three, ten = runs["static_3x"].ledger.liquidations, runs["static_10x"].ledger.liquidations
        parts.append(f"{name}: 3x {three}, 10x {ten} liquidations")
        holds &= three == 0 and ten > 0
    return Claim(text, "; ".join(parts), holds)


def volatile_weeks(times: np.ndarray, closes: Sequence[np.ndarray], count: int = VOLATILE_WEEKS) -> list[tuple[float, float]]:
    """Returns the `count` calendar weeks (start, end epoch s) with the highest realized
    volatility of the equal-weighted basket's bar returns, most volatile first."""
    prices = np.vstack([np.asarray(c, dtype=float) for c in closes])
    with np.errstate(invalid="ignore", divide="ignore"):
        returns = np.nanmean(np.diff(np.log(prices), axis=1), axis=0)
    weeks = np.floor((times[1:] - times[0]) / WEEK)
    scored = []
    for week in np.unique(weeks):
        inside = returns[(weeks == week) & np.isfinite(returns)]
        if inside.size >= 10:
            start = times[0] + week * WEEK
            scored.append((float(np.std(inside)), start, start + WEEK))
    scored.sort(reverse=True)
    return [(start, end) for _, start, end in scored[:count]]


def _week_return(result: StrategyResult, start: float, end: float) -> float | None:
    inside = np.flatnonzero((result.times >= start) & (result.times <= end))
    if inside.size < 2 or result.equity[inside[0]] <= 0:
        return None
    return float(result.equity[inside[-1]] / result.equity[inside[0]] - 1.0)


def interval_claim(results: Mapping[str, StrategyResult], weeks: Sequence[tuple[float, float]]) -> Claim:
    """"Rebalancing every 4h instead of continuously preserves capital in volatility spikes":
    cockpit_interval_4h against cockpit_continuous over the most volatile weeks. Holds when the
    interval book ends those weeks (compounded) with more capital."""
    text = f"rebalancing every 4h instead of continuously preserves capital in the {len(weeks)} most volatile weeks"
    a, b = results.get("cockpit_interval_4h"), results.get("cockpit_continuous")
    if a is None or b is None or not weeks:
        return Claim(text, "needs cockpit_interval_4h, cockpit_continuous and volatile weeks", None)
    growth_a = growth_b = 1.0
    better = worse = counted = 0
    for start, end in weeks:
        ra, rb = _week_return(a, start, end), _week_return(b, start, end)
        if ra is None or rb is None:
            continue
        growth_a, growth_b, counted = growth_a * (1 + ra), growth_b * (1 + rb), counted + 1
        better, worse = better + (ra > rb), worse + (ra < rb)
    if not counted:
        return Claim(text, "no volatile week inside both runs", None)
    measured = (f"interval {growth_a - 1:+.2%} vs continuous {growth_b - 1:+.2%} over {counted} weeks; "
                f"interval better in {better}, worse in {worse}")
    return Claim(text, measured, growth_a > growth_b)


def kelly_claim(results: Mapping[str, StrategyResult]) -> Claim:
    """"Regime-aware Kelly beats fixed fractional Kelly": cockpit against cockpit_fixed_kelly.
    Holds when the regime-aware book has the higher Sharpe ratio."""
    text = "regime-aware Kelly sizing beats fixed fractional Kelly (cockpit vs cockpit_fixed_kelly, Sharpe)"
    if "cockpit" not in results or "cockpit_fixed_kelly" not in results:
        return Claim(text, "needs cockpit and cockpit_fixed_kelly", None)
    ours, fixed = results["cockpit"].performance(), results["cockpit_fixed_kelly"].performance()
    measured = (f"Sharpe {ours.sharpe:.2f} vs {fixed.sharpe:.2f}; CAGR {ours.cagr:+.1%} vs {fixed.cagr:+.1%}; "
                f"max drawdown {ours.max_drawdown:.1%} vs {fixed.max_drawdown:.1%}")
    if math.isnan(ours.sharpe) or math.isnan(fixed.sharpe):
        return Claim(text, measured, None)
    return Claim(text, measured, ours.sharpe > fixed.sharpe)
