"""The rule-based regime: hand-built price paths for each rule, then real BTC history."""

from __future__ import annotations

import csv
import gzip
import math
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit.domain.regime_rules import (
    RegimeThresholds,
    classify_regime,
    regime_series,
)
from cockpit.domain.sizing import REGIME_KELLY_MULTIPLIER

MARKET_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "market"


def _path(daily_return: float, days: int, start: float = 100.0) -> list[float]:
    return [start * (1.0 + daily_return) ** i for i in range(days)]


# -- each rule on a path built for it --------------------------------------------------------


def test_steady_rise_is_bull():
    # +0.2 % every day for 300 days: constant log returns (volatility 0), close above a rising
    # 200-day average.
    reading = classify_regime(_path(0.002, 300))
    assert reading.regime == "bull"
    assert reading.realized_volatility == pytest.approx(0.0, abs=1e-9)
    assert reading.drawdown == 0.0
    assert reading.trend_gap > 0 and reading.trend_slope > 0


def test_steady_fall_is_bear():
    # -0.2 % a day: 14-day drawdown 1 - 0.998**13 = 2.6 %, far from a crisis.
    reading = classify_regime(_path(-0.002, 300))
    assert reading.regime == "bear"
    assert reading.drawdown == pytest.approx(1 - 0.998**13)
    assert reading.trend_gap < 0 and reading.trend_slope < 0


def test_flat_market_is_consolidation():
    assert classify_regime([100.0] * 300).regime == "consolidation"


def test_dip_below_a_rising_average_is_consolidation():
    # 280 days of +0.1 % then 25 days of -0.5 %: the close falls 4 % below the 200-day
    # average, which is still rising (+1.0 % over 20 days). Price and trend disagree.
    closes = _path(0.001, 280)
    closes += _path(-0.005, 26, closes[-1])[1:]
    reading = classify_regime(closes)
    assert reading.trend_gap == pytest.approx(-0.041, abs=0.001)
    assert reading.trend_slope == pytest.approx(0.010, abs=0.001)
    assert reading.drawdown == pytest.approx(1 - 0.995**13)
    assert reading.regime == "consolidation"


def test_rebound_above_a_falling_average_is_consolidation():
    # 280 days of -0.1 % then 25 days of +0.5 %: the close is 4 % above the 200-day average,
    # which is still falling (-1.1 % over 20 days). Not yet a bull market.
    closes = _path(-0.001, 280)
    closes += _path(0.005, 26, closes[-1])[1:]
    reading = classify_regime(closes)
    assert reading.trend_gap == pytest.approx(0.040, abs=0.001)
    assert reading.trend_slope == pytest.approx(-0.011, abs=0.001)
    assert reading.regime == "consolidation"


def test_fast_deep_fall_is_crisis_even_without_volatility():
    # A smooth 26 % fall over the last 13 days (-2.3 % every day, so realized volatility is only
    # ~13 % annualized): the drawdown rule alone must call it.
    closes = _path(0.002, 287)
    step = (0.74) ** (1 / 13)
    closes += [closes[-1] * step**i for i in range(1, 14)]
    reading = classify_regime(closes)
    assert reading.drawdown == pytest.approx(0.26)
    assert reading.realized_volatility < 0.2
    assert reading.regime == "crisis"
    # 24 % is not enough.
    closes[-13:] = [closes[-14] * (0.76 ** (1 / 13)) ** i for i in range(1, 14)]
    assert classify_regime(closes).regime != "crisis"


def test_violent_chop_is_crisis_even_without_drawdown():
    # Up 9 %, back down, up 9 %, ...: no trend, drawdown at most 1 - 1/1.09 = 8.3 %, but a daily
    # sigma of ~9 % is ~170 % annualized.
    closes = _path(0.001, 280)
    for i in range(20):
        closes.append(closes[-1] * (1.09 if i % 2 == 0 else 1 / 1.09))
    reading = classify_regime(closes)
    assert reading.drawdown < 0.09
    assert reading.realized_volatility == pytest.approx(
        np.std([math.log(1.09), -math.log(1.09)] * 7, ddof=1) * math.sqrt(365), rel=0.02
    )
    assert reading.regime == "crisis"
    # The same chop at 5 % (about 95 % annualized) is wild but not a crisis.
    calm = _path(0.001, 280)
    for i in range(20):
        calm.append(calm[-1] * (1.05 if i % 2 == 0 else 1 / 1.05))
    assert classify_regime(calm).regime != "crisis"


def test_short_history_has_no_trend_but_can_still_be_a_crisis():
    reading = classify_regime(_path(0.002, 100))
    assert reading.regime == "consolidation"
    assert math.isnan(reading.trend_gap) and "not enough history" in reading.reason
    crash = _path(0.002, 30) + [50.0]
    assert classify_regime(crash).regime == "crisis"
    assert classify_regime([100.0]).regime == "consolidation"


def test_four_hour_bars_use_day_windows():
    # The same +0.2 %/day path sampled six times a day is still bull with bars_per_day=6.
    closes = [100.0 * 1.002 ** (i / 6) for i in range(6 * 300)]
    assert classify_regime(closes, bars_per_day=6).regime == "bull"
    # The windows are in days, not bars: 1000 bars are 166 days at 6 a day, too short for the
    # 200-day average plus its 20-day slope; read as daily bars they are plenty.
    assert classify_regime(closes[:1000], bars_per_day=6).regime == "consolidation"
    assert classify_regime(closes[:1000]).regime == "bull"


def test_regime_names_are_the_sizing_regimes():
    closes = _path(0.002, 300) + _path(-0.03, 15, 180.0)
    assert set(regime_series(closes)) <= set(REGIME_KELLY_MULTIPLIER)


@pytest.mark.parametrize(
    "closes, kwargs",
    [
        ([100.0, -1.0], {}),
        ([100.0, float("nan")], {}),
        ([100.0, 0.0], {}),
        ([100.0, 101.0], {"bars_per_day": 0}),
        ([], {}),
        ([[100.0, 101.0]], {}),
    ],
)
def test_bad_input_is_refused(closes, kwargs):
    with pytest.raises(ValueError):
        classify_regime(closes, **kwargs)


def test_bad_thresholds_are_refused():
    with pytest.raises(ValueError, match="crisis_drawdown"):
        RegimeThresholds(crisis_drawdown=0.0)
    with pytest.raises(ValueError, match="trend_window_days"):
        RegimeThresholds(trend_window_days=float("nan"))


def test_custom_thresholds():
    closes = _path(0.002, 287) + [100.0 * 1.002**286 * 0.9]  # a 10 % one-day drop
    assert classify_regime(closes).regime != "crisis"
    assert classify_regime(closes, thresholds=RegimeThresholds(crisis_drawdown=0.08)).regime == "crisis"


@settings(max_examples=60, deadline=None)
@given(
    returns=st.lists(st.floats(-0.2, 0.2), min_size=1, max_size=400),
    cut=st.integers(1, 400),
)
def test_no_look_ahead_and_last_matches_series(returns, cut):
    closes = list(100.0 * np.cumprod(1.0 + np.asarray(returns)))
    series = regime_series(closes)
    assert len(series) == len(closes)
    cut = min(cut, len(closes))
    assert regime_series(closes[:cut]) == series[:cut]
    assert classify_regime(closes[:cut]).regime == series[cut - 1]


# -- real BTC history ------------------------------------------------------------------------


def _load(name: str) -> tuple[list[datetime], list[float]]:
    path = MARKET_DATA / "binance_spot" / name
    if not path.exists():
        pytest.skip(f"shared market data not found at {path}")
    times, closes = [], []
    with gzip.open(path, "rt", newline="") as handle:
        for row in csv.DictReader(handle):
            times.append(datetime.fromtimestamp(int(row["open_time_ms"]) / 1000, tz=timezone.utc))
            closes.append(float(row["close"]))
    return times, closes


def _between(times, labels, start: str, end: str) -> Counter:
    lo = datetime.fromisoformat(start).replace(tzinfo=timezone.utc)
    hi = datetime.fromisoformat(end).replace(tzinfo=timezone.utc)
    return Counter(label for t, label in zip(times, labels) if lo <= t < hi)


@pytest.fixture(scope="module")
def btc_daily():
    times, closes = _load("BTCUSDT_1d.csv.gz")
    return times, closes, regime_series(closes)


def test_btc_2020_03_13_is_crisis(btc_daily):
    times, closes, labels = btc_daily
    day = times.index(datetime(2020, 3, 13, tzinfo=timezone.utc))
    assert labels[day] == "crisis"
    reading = classify_regime(closes[: day + 1])
    assert reading.regime == "crisis"
    assert reading.realized_volatility > 2.0  # ~278 % annualized after the 12th's -39 %
    # The days before the crash were not: the rule is not stuck on crisis.
    assert labels[times.index(datetime(2020, 3, 1, tzinfo=timezone.utc))] != "crisis"


def test_btc_february_2021_is_mostly_bull(btc_daily):
    times, _, labels = btc_daily
    counts = _between(times, labels, "2021-02-01", "2021-03-01")
    assert counts["bull"] / sum(counts.values()) >= 0.8, counts


def test_btc_june_to_november_2022_is_bear_or_crisis(btc_daily):
    times, _, labels = btc_daily
    counts = _between(times, labels, "2022-06-01", "2022-12-01")
    share = (counts["bear"] + counts["crisis"]) / sum(counts.values())
    assert share >= 0.9, counts
    assert counts["bull"] == 0, counts
    # The June capitulation and the FTX collapse are flagged as crises.
    assert counts["crisis"] >= 5, counts


def test_btc_crisis_is_rare_and_bull_is_common(btc_daily):
    # A rule that called everything a crisis would pass the checks above; it must not.
    _, _, labels = btc_daily
    counts = Counter(labels)
    total = sum(counts.values())
    assert counts["crisis"] / total < 0.08, counts
    assert counts["bull"] / total > 0.3, counts
    assert counts["bear"] / total > 0.1, counts


def test_btc_four_hour_bars_agree(btc_daily):
    times, closes = _load("BTCUSDT_4h.csv.gz")
    labels = regime_series(closes, bars_per_day=6)
    march = _between(times, labels, "2020-03-13", "2020-03-14")
    assert march == Counter({"crisis": 6})
    bear_2022 = _between(times, labels, "2022-06-01", "2022-12-01")
    assert (bear_2022["bear"] + bear_2022["crisis"]) / sum(bear_2022.values()) >= 0.9
    bull_2021 = _between(times, labels, "2021-02-01", "2021-03-01")
    assert bull_2021["bull"] / sum(bull_2021.values()) >= 0.8
