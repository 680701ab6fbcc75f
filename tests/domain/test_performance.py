"""Performance figures against values worked out by hand on small curves."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from hypothesis import given, strategies as st

from cockpit.domain.performance import DAY, daily_closes, drawdowns, longest_drawdown_days, performance

NOON = 12 * 3600.0
DAYS = [NOON + k * DAY for k in range(5)]
CURVE = [100.0, 110.0, 99.0, 121.0, 110.0]


def test_figures_of_a_five_day_curve_match_the_hand_computation():
    result = performance(DAYS, CURVE, liquidations=1, fees=3.5, funding=-1.25, traded_notional=432.0)
    returns = [0.1, -0.1, 121 / 99 - 1, 110 / 121 - 1]
    assert result.final_equity == 110.0
    assert result.max_drawdown == pytest.approx(0.1)  # 110 -> 99
    assert result.max_drawdown_days == pytest.approx(2.0)  # peak 110 on day 1, regained on day 3
    assert result.cagr == pytest.approx(1.1 ** (365.25 / 4) - 1)
    assert result.sharpe == pytest.approx(statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(365))
    downside = math.sqrt((0.1**2 + (110 / 121 - 1) ** 2) / 4)
    assert result.sortino == pytest.approx(statistics.mean(returns) / downside * math.sqrt(365))
    assert result.calmar == pytest.approx(result.cagr / 0.1)
    assert result.win_rate == 0.5
    assert result.recovery_factor == pytest.approx(10 / 11)  # +10 USDT net, worst loss 11 USDT
    assert result.turnover == pytest.approx(432 / 108)  # mean equity 108
    assert (result.liquidations, result.fees, result.funding) == (1, 3.5, -1.25)


def test_daily_figures_use_the_last_point_of_each_utc_day():
    times = [0.0, 3600.0, DAY - 1, DAY + 10, DAY + 20, 2 * DAY]
    equity = [100, 90, 105, 80, 120, 130]
    assert list(daily_closes(times, equity)) == [105, 120, 130]


def test_a_wiped_out_curve():
    result = performance([0.0, DAY, 2 * DAY, 3 * DAY], [100.0, 50.0, 0.0, 0.0])
    assert result.cagr == -1.0 and result.max_drawdown == 1.0
    assert result.max_drawdown_days == pytest.approx(3.0)  # never recovered: to the end
    assert result.recovery_factor == pytest.approx(-1.0)


def test_a_curve_that_only_rises_has_no_drawdown():
    result = performance(DAYS, [100, 101, 102, 103, 104])
    assert result.max_drawdown == 0 and result.max_drawdown_days == 0
    assert math.isnan(result.calmar) and math.isnan(result.recovery_factor) and math.isnan(result.sortino)
    assert result.win_rate == 1.0


def test_too_short_a_curve_is_refused():
    with pytest.raises(ValueError, match="at least two points"):
        performance([0.0], [100.0])


curves = st.lists(st.floats(min_value=1.0, max_value=1e6, allow_nan=False), min_size=2, max_size=60)


@given(curves)
def test_drawdown_is_a_fraction_and_zero_at_each_new_high(values):
    dd = drawdowns(values)
    assert ((dd >= 0) & (dd <= 1)).all()
    peaks = np.maximum.accumulate(values)
    assert (dd[np.asarray(values) == peaks] == 0).all()


@given(curves, st.floats(min_value=0.01, max_value=100))
def test_ratios_do_not_depend_on_the_account_size(values, scale):
    times = [k * DAY for k in range(len(values))]
    small, large = performance(times, values), performance(times, [v * scale for v in values])
    for name in ("cagr", "max_drawdown", "max_drawdown_days", "sharpe", "sortino", "win_rate", "recovery_factor"):
        a, b = getattr(small, name), getattr(large, name)
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-6, abs=1e-9), name


@given(curves)
def test_the_longest_drawdown_never_exceeds_the_run(values):
    times = [k * DAY for k in range(len(values))]
    assert 0 <= longest_drawdown_days(times, values) <= len(values) - 1
