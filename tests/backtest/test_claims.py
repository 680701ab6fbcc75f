"""The claims' numbers and verdicts on hand-made equity curves."""

from __future__ import annotations

import numpy as np

from cockpit.backtest.claims import crash_claim, drawdown_claim, interval_claim, kelly_claim, volatile_weeks
from cockpit.backtest.runner import StrategyResult
from cockpit.backtest.venue import Ledger
from cockpit.domain.performance import DAY

DAYS = np.arange(0, 366) * DAY


def result(name: str, equity, *, times=DAYS, liquidations: int = 0) -> StrategyResult:
    return StrategyResult(name, np.asarray(times, dtype=float), np.asarray(equity, dtype=float),
                          Ledger(liquidations=liquidations))


def curve(final: float, trough: float) -> np.ndarray:
    """100 -> 120 at day 100 -> `trough` at day 200 -> `final` at the end."""
    return np.interp(np.arange(366), [0, 100, 200, 365], [100, 120, trough, final])


def test_the_drawdown_claim_holds_for_a_big_cut_at_a_small_cost():
    static = result("static_3x", curve(150, 60))  # drawdown 50 %
    ours = result("cockpit", curve(145, 90))  # drawdown 25 %: cut 50 %, CAGR a few points lower
    claim = drawdown_claim({"static_3x": static, "cockpit": ours})
    assert claim.holds is True and "cut 50%" in claim.measured
    costly = result("cockpit", curve(110, 90))  # the same cut for 40 points of return
    assert drawdown_claim({"static_3x": static, "cockpit": costly}).holds is False
    shallow = result("cockpit", curve(150, 70))  # drawdown 41.7 %: cut 17 %
    assert drawdown_claim({"static_3x": static, "cockpit": shallow}).holds is False
    assert drawdown_claim({"cockpit": ours}).verdict == "not measured"


def test_the_crash_claim_needs_3x_alive_and_10x_liquidated_in_every_crash():
    alive, dead = result("static_3x", [1, 1]), result("static_10x", [1, 0], liquidations=1)
    runs = {"March 2020": {"static_3x": alive, "static_10x": dead}}
    assert crash_claim(runs).holds is True
    runs["May 2021"] = {"static_3x": result("static_3x", [1, 0], liquidations=1), "static_10x": dead}
    claim = crash_claim(runs)
    assert claim.holds is False and "May 2021: 3x 1, 10x 1 liquidations" in claim.measured
    assert crash_claim({}).verdict == "not measured"


def test_the_volatile_weeks_are_the_ones_with_the_widest_swings():
    times = np.arange(0, 4 * 7 * 6 + 1) * (DAY / 6)  # four weeks of 4h bars
    quiet = np.cumprod(np.r_[100.0, np.full(times.size - 1, 1.001)])
    wild = quiet.copy()
    week = times.size // 4
    wild[2 * week: 3 * week] *= np.tile([1.05, 0.95], week)[: week]  # the third week swings
    assert volatile_weeks(times, [wild, quiet], count=1) == [(times[0] + 2 * 7 * DAY, times[0] + 3 * 7 * DAY)]


def test_the_interval_claim_compounds_the_volatile_weeks():
    weeks = [(0.0, 7 * DAY), (14 * DAY, 21 * DAY)]
    interval = result("cockpit_interval_4h", np.interp(np.arange(366), [0, 7, 14, 21, 365], [100, 90, 90, 99, 99]))
    continuous = result("cockpit_continuous", np.interp(np.arange(366), [0, 7, 14, 21, 365], [100, 80, 80, 96, 96]))
    claim = interval_claim({"cockpit_interval_4h": interval, "cockpit_continuous": continuous}, weeks)
    # interval: -10 % then +10 % = -1 %; continuous: -20 % then +20 % = -4 %
    assert claim.holds is True
    assert "interval -1.00% vs continuous -4.00% over 2 weeks" in claim.measured
    assert "better in 1, worse in 1" in claim.measured
    reversed_claim = interval_claim({"cockpit_interval_4h": continuous, "cockpit_continuous": interval}, weeks)
    assert reversed_claim.holds is False


def test_the_kelly_claim_compares_sharpe():
    rng = np.random.default_rng(3)
    steady = result("cockpit", 100 * np.cumprod(1 + 0.002 + 0.01 * rng.standard_normal(366)))
    noisy = result("cockpit_fixed_kelly", 100 * np.cumprod(1 + 0.002 + 0.03 * rng.standard_normal(366)))
    assert kelly_claim({"cockpit": steady, "cockpit_fixed_kelly": noisy}).holds is True
    assert kelly_claim({"cockpit": noisy, "cockpit_fixed_kelly": steady}).holds is False


def test_a_narrow_terminal_gets_the_key_columns_and_a_pointer_to_the_rest():
    from cockpit.backtest.report import strategy_table

    results = [result("cockpit", curve(145, 90)), result("static_3x", curve(150, 60))]
    wide = strategy_table(results)
    assert "Sortino" in wide and "turnover" in wide
    narrow = strategy_table(results, width=80)
    lines = narrow.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert "Sortino" not in narrow and "| cockpit" in narrow and "Sharpe" in narrow
    assert "10 more columns" in lines[-1] and "--json" in lines[-1]
    assert strategy_table(results, width=500) == wide


def test_a_narrow_terminal_gets_each_claim_as_wrapped_lines():
    from cockpit.backtest.report import claims_table

    claims = [kelly_claim({"cockpit": result("cockpit", curve(145, 90)),
                           "cockpit_fixed_kelly": result("cockpit_fixed_kelly", curve(150, 60))})]
    assert claims_table(claims).startswith("| claim")
    narrow = claims_table(claims, width=80)
    assert all(len(line) <= 80 for line in narrow.splitlines())
    assert narrow.startswith(claims[0].verdict.upper() + ": regime-aware") and "Sharpe" in narrow
