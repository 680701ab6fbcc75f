"""The drift monitor: the strategy's rolling Sharpe ratio and each model's rolling loss against
its evaluated level; warnings raised once, held while true, cleared when not."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from cockpit.engine.drift_watch import DAY_SECONDS, MIN_SCORED, DriftWatch
from tests.support import BTC, T0, config


def watch(**models) -> DriftWatch:
    return DriftWatch(config(models=models))


@given(st.lists(st.floats(-0.2, 0.2), min_size=8, max_size=40))
def test_sharpe_is_the_annualized_mean_over_stdev_of_daily_log_returns(daily):
    w = watch(sharpe_days=60)
    equity = 10_000.0
    w.observe(T0, equity)
    closes = [equity]
    for day, r in enumerate(daily, start=1):
        equity *= math.exp(r)
        closes.append(equity)
        w.observe(T0 + day * DAY_SECONDS + 5, equity * 0.5)  # an earlier price of the day...
        w.observe(T0 + day * DAY_SECONDS + 60, equity)  # ...the day's close is the last one
    returns = np.diff(np.log(closes))
    spread = np.std(returns, ddof=1)
    if not spread > 1e-12:
        return
    assert w.sharpe() == pytest.approx(np.mean(returns) / spread * math.sqrt(365), rel=1e-6, abs=1e-9)


def test_sharpe_needs_a_week_and_keeps_only_its_window():
    w = watch(sharpe_days=7)
    for day in range(7):
        w.observe(T0 + day * DAY_SECONDS, 100.0 + day)
    assert math.isnan(w.sharpe())  # six returns
    for day in range(7, 30):
        w.observe(T0 + day * DAY_SECONDS, 100.0 + (day % 3))
    assert len(w._equity) == 8


def test_a_warning_is_raised_once_held_and_cleared():
    w = watch(min_sharpe=0.0)
    for day in range(10):
        w.observe(T0 + day * DAY_SECONDS, 100.0 * 0.99**day * (1.001 if day % 2 else 1.0))
    raised, cleared = w.check([])
    assert len(raised) == 1 and raised[0].startswith("strategy Sharpe -") and "below 0.00" in raised[0]
    assert w.check([]) == ([], [])  # still true: not raised again
    assert w.warnings == tuple(raised)
    for day in range(10, 25):
        w.observe(T0 + day * DAY_SECONDS, 100.0 * 1.02 ** (day - 9) * (1.001 if day % 2 else 1.0))
    assert w.check([]) == ([], raised)
    assert w.warnings == ()


def test_a_model_losing_beyond_the_ratio_of_its_evaluated_loss_warns():
    w = watch(drift_loss_ratio=1.5)
    raised, _ = w.check([(BTC, "gjr", 1.49, 1.0, MIN_SCORED)])
    assert raised == []
    raised, _ = w.check([(BTC, "gjr", 1.6, 1.0, MIN_SCORED)])
    assert raised == ["BTC gjr 24h QLIKE 1.60 over the last week is 1.6x its evaluated 1.00"]


def test_a_model_is_not_judged_before_a_week_of_scored_forecasts():
    w = watch()
    assert w.check([(BTC, "gjr", 9.0, 1.0, MIN_SCORED - 1)]) == ([], [])
    assert w.check([(BTC, "gjr", math.nan, 1.0, MIN_SCORED)]) == ([], [])


def test_bad_equity_is_ignored():
    w = watch()
    for value in (math.nan, -5.0, 0.0, math.inf):
        w.observe(T0, value)
    w.observe(math.nan, 100.0)
    assert w._equity == {}
