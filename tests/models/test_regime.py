"""The learned regime: labels on hand-built paths, features and predictions without look-ahead,
purged/embargoed splits, reproducibility, the rule-based fallback, and real BTC+ETH history."""

from __future__ import annotations

import math
import pickle
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit.domain.regime_rules import regime_series
from cockpit.domain.sizing import REGIME_KELLY_MULTIPLIER
from cockpit.models import regime
from cockpit.models.regime import (
    REGIMES,
    RegimeLabelSpec,
    WalkForwardSettings,
    forward_outcomes,
    purged_splits,
    regime_labels,
    walk_forward_regimes,
)
from cockpit.models.regime_evaluation import (
    balanced_accuracy,
    confusion_matrix,
    evaluate_regimes,
    format_confusion,
    format_evaluation,
)
from cockpit.models.regime_features import CORE_FEATURES, regime_features

FOUR_HOURS = pd.Timedelta(hours=4)
# Small walk-forward for synthetic daily data: 200 days of history, then 60-day test blocks.
QUICK = WalkForwardSettings(min_train_days=200, test_block_days=60, min_train_samples=50,
                            min_samples_leaf=20)


def bars_4h(prices, start="2021-01-01") -> pd.Series:
    return pd.Series(np.asarray(prices, dtype=float),
                     index=pd.date_range(start, periods=len(prices), freq="4h", tz="UTC"))


def geometric(step: float, n: int, start: float = 100.0) -> np.ndarray:
    return start * (1.0 + step) ** np.arange(n)


# Per-day drift and volatility of persistent synthetic regimes (segments of 60-120 days).
SEGMENTS = {"bull": (0.015, 0.01), "consolidation": (0.0, 0.01), "bear": (-0.015, 0.01),
            "crisis": (0.0, 0.12)}


def persistent_market(days: int, seed: int = 0) -> pd.DataFrame:
    """Daily BTC and ETH closes whose regime persists for months: a learnable market."""
    rng = np.random.default_rng(seed)
    steps: list[float] = []
    while len(steps) < days:
        drift, vol = SEGMENTS[list(SEGMENTS)[rng.integers(4)]]
        steps += list(drift + vol * rng.standard_normal(int(rng.integers(60, 120))))
    r = np.array(steps[:days])
    index = pd.date_range("2019-01-01", periods=days, freq="D", tz="UTC")
    return pd.DataFrame({"BTC": 100 * np.exp(np.cumsum(r)),
                         "ETH": 50 * np.exp(np.cumsum(0.8 * r + 0.01 * rng.standard_normal(days)))},
                        index=index)


# ---- labels on hand-built paths ------------------------------------------------------------------


def test_steady_rise_is_bull():
    # +0.2 % a 4h bar: +18.3 % over 14 days (84 bars), no drawdown, zero volatility.
    labels = regime_labels(bars_4h(geometric(0.002, 200)))
    assert set(labels.iloc[:-84]) == {"bull"}


def test_steady_fall_is_bear():
    # -0.2 % a bar: -15.5 % in 14 days, beyond -7 % but short of the 25 % crisis drawdown.
    labels = regime_labels(bars_4h(geometric(-0.002, 200)))
    assert set(labels.iloc[:-84]) == {"bear"}


def test_crash_is_crisis():
    # Flat, then -1 % a bar for 60 bars (-45 %): every close that sees enough of the fall ahead is
    # crisis, even though nothing has fallen yet at that close.
    prices = np.concatenate([np.full(100, 100.0), geometric(-0.01, 61)[1:], np.full(100, 54.7)])
    labels = regime_labels(bars_4h(prices))
    # From close 100-k the path ahead contains the first 84-k bars of the crash (with k <= 84):
    # a fall of 1 - 0.99**29 = 25.3 % needs 29 of them, so closes 45..100 all see a crisis.
    assert set(labels.iloc[45:101]) == {"crisis"}
    assert set(labels.iloc[:16]) == {"consolidation"}  # the crash is beyond their 14 days


def test_flat_and_quiet_is_consolidation():
    # Alternating +-0.5 % a bar: ~23 % annualized volatility, no trend.
    prices = 100 * np.exp(np.cumsum(np.tile([0.005, -0.005], 100)))
    labels = regime_labels(bars_4h(prices))
    assert set(labels.iloc[:-84]) == {"consolidation"}


def test_violent_chop_without_a_fall_is_crisis_by_volatility():
    # Alternating +-8 % a bar: return ~0 and drawdown 8 %, but volatility ~370 % annualized.
    prices = 100 * np.exp(np.cumsum(np.tile([0.08, -0.08], 100)))
    out = forward_outcomes(bars_4h(prices))
    assert out["forward_drawdown"].max() < 0.25
    assert set(regime_labels(bars_4h(prices)).iloc[:-84]) == {"crisis"}


def test_the_last_horizon_has_no_label_and_names_are_the_sizing_regimes():
    labels = regime_labels(bars_4h(geometric(0.001, 300)))
    assert labels.iloc[-84:].isna().all() and labels.iloc[:-84].notna().all()
    assert set(REGIMES) == set(REGIME_KELLY_MULTIPLIER)


def test_forward_outcomes_hand_worked():
    # Daily bars, 2-day horizon: from 100 the path 100 -> 110 -> 99.
    closes = pd.Series([100.0, 110.0, 99.0, 120.0],
                       index=pd.date_range("2024-01-01", periods=4, freq="D", tz="UTC"))
    out = forward_outcomes(closes, horizon_days=2)
    assert out["forward_return"].iloc[0] == pytest.approx(-0.01)
    assert out["forward_drawdown"].iloc[0] == pytest.approx(1 - 99 / 110)
    steps = np.log([110 / 100, 99 / 110])
    expected_volatility = np.std(steps, ddof=1) * math.sqrt(365)
    assert out["forward_volatility"].iloc[0] == pytest.approx(expected_volatility)
    assert out["forward_return"].iloc[1] == pytest.approx(120 / 110 - 1)
    assert out.iloc[2:].isna().all().all()


def test_thresholds_are_the_boundaries():
    spec = RegimeLabelSpec(horizon_days=1, bull_return=0.07, bear_return=0.07)
    closes = pd.Series([100.0, 107.0, 107.0, 99.6, 99.0, 92.0],
                       index=pd.date_range("2024-01-01", periods=6, freq="D", tz="UTC"))
    labels = regime_labels(closes, spec=spec)
    assert labels.iloc[0] == "bull"  # +7 %: at the threshold counts
    assert labels.iloc[1] == "consolidation"  # 0 %
    assert labels.iloc[2] == "consolidation"  # -6.9 %
    assert labels.iloc[3] == "consolidation"  # -0.6 %
    assert labels.iloc[4] == "bear"  # -7.1 %
    with pytest.raises(ValueError):
        RegimeLabelSpec(bull_return=0.0)


# ---- features ------------------------------------------------------------------------------------


def test_features_hand_worked_on_a_steady_rise():
    index = pd.date_range("2024-01-01", periods=120, freq="D", tz="UTC")
    btc = pd.Series(geometric(0.01, 120), index=index)
    closes = pd.DataFrame({"BTC": btc, "ETH": btc**2})  # ETH's log returns are BTC's doubled
    f = regime_features(closes)
    last = f.iloc[-1]
    assert last["momentum_7d"] == pytest.approx(7 * math.log(1.01))
    assert last["momentum_30d"] == pytest.approx(30 * math.log(1.01))
    assert last["volatility_30d"] == pytest.approx(0.0, abs=1e-9)
    assert last["drawdown_90d"] == pytest.approx(0.0)
    assert "funding_rate" not in f.columns  # no funding given: no made-up zeros


def test_drawdown_volatility_and_correlation_figures():
    rng = np.random.default_rng(3)
    index = pd.date_range("2024-01-01", periods=200, freq="D", tz="UTC")
    steps = 0.03 * rng.standard_normal(200)
    btc = 100 * np.exp(np.cumsum(steps))
    eth = 100 * np.exp(np.cumsum(-steps))  # a perfect mirror
    f = regime_features(pd.DataFrame({"BTC": btc, "ETH": eth}, index=index))
    t = 150
    assert f["drawdown_90d"].iloc[t] == pytest.approx(1 - btc[t] / btc[t - 89: t + 1].max())
    returns = np.diff(np.log(btc))
    expected = np.std(returns[t - 7: t], ddof=1) * math.sqrt(365)  # the 7 returns ending at t
    assert f["volatility_7d"].iloc[t] == pytest.approx(expected)
    assert f["correlation_30d"].iloc[t] == pytest.approx(-1.0)
    vols = f["volatility_7d"].iloc[t - 29: t + 1]
    assert f["volatility_of_volatility"].iloc[t] == pytest.approx(np.std(vols, ddof=1))


def test_funding_is_the_latest_settlement_at_or_before_the_bar_and_goes_stale():
    closes = pd.DataFrame({"BTC": geometric(0.001, 24)},
                          index=pd.date_range("2024-01-01", periods=24, freq="4h", tz="UTC"))
    funding = pd.Series([0.0001, 0.0003, -0.0002],
                        index=pd.to_datetime(["2024-01-01 00:00", "2024-01-01 08:00",
                                              "2024-01-01 16:00"], utc=True))
    f = regime_features(closes, funding=funding)
    rate = f["funding_rate"]
    assert rate.iloc[0] == 0.0001 and rate.iloc[1] == 0.0001  # 00:00 and 04:00
    assert rate.iloc[2] == 0.0003  # 08:00 settles at 08:00: known at that bar
    assert rate.iloc[4] == -0.0002 and rate.iloc[9] == -0.0002  # 16:00 .. next day 12:00
    assert f["funding_7d"].iloc[4] == pytest.approx((0.0001 + 0.0003 - 0.0002) / 3)
    assert np.isnan(rate.iloc[11])  # 2024-01-02 20:00: last settlement over a day old


@settings(max_examples=25, deadline=None)
@given(cut=st.integers(min_value=100, max_value=1_400), seed=st.integers(0, 2**16))
def test_no_feature_at_or_before_t_depends_on_later_data(cut, seed):
    rng = np.random.default_rng(seed)
    n = 1_500
    index = pd.date_range("2022-01-01", periods=n, freq="4h", tz="UTC")
    closes = pd.DataFrame({"BTC": 100 * np.exp(np.cumsum(0.01 * rng.standard_normal(n))),
                           "ETH": 10 * np.exp(np.cumsum(0.015 * rng.standard_normal(n)))},
                          index=index)
    funding_index = pd.date_range("2022-01-01", periods=n // 2, freq="8h", tz="UTC")
    funding = pd.Series(0.0001 * rng.standard_normal(funding_index.size), index=funding_index)
    before = regime_features(closes, funding=funding)

    changed = closes.copy()
    changed.iloc[cut + 1:] *= np.exp(rng.standard_normal((n - cut - 1, 2)))
    later_funding = funding.copy()
    later_funding[later_funding.index > index[cut]] = 0.01
    after = regime_features(changed, funding=later_funding)
    pd.testing.assert_frame_equal(before.iloc[: cut + 1], after.iloc[: cut + 1])
    truncated = regime_features(closes.iloc[: cut + 1],
                                funding=funding[funding.index <= index[cut]])
    pd.testing.assert_frame_equal(before.iloc[: cut + 1], truncated)
    # The change did reach the features after t: the test can tell a difference.
    assert not before.iloc[cut + 1:].equals(after.iloc[cut + 1:])


def test_bad_closes_are_refused():
    index = pd.date_range("2024-01-01", periods=5, freq="D", tz="UTC")
    with pytest.raises(ValueError, match="positive"):
        regime_features(pd.DataFrame({"BTC": [1.0, 2.0, -1.0, 3.0, 4.0]}, index=index))
    with pytest.raises(ValueError, match="DatetimeIndex"):
        regime_features(pd.DataFrame({"BTC": [1.0, 2.0]}))
    with pytest.raises(ValueError, match="target"):
        regime_features(pd.DataFrame({"BTC": np.ones(5)}, index=index), target="SOL")


# ---- purged, embargoed splits --------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(n=st.integers(0, 400), first_test=st.integers(0, 300), block=st.integers(1, 80),
       horizon=st.integers(0, 60), embargo=st.integers(0, 60), walk_forward=st.booleans())
def test_splits_purge_label_windows_and_leave_the_embargo(n, first_test, block, horizon, embargo,
                                                          walk_forward):
    splits = list(purged_splits(n, first_test=first_test, block=block, horizon=horizon,
                                embargo=embargo, walk_forward=walk_forward))
    tested = np.concatenate([test for _, test in splits]) if splits else np.array([], dtype=int)
    # The test blocks tile [first_test, n) in order, each contiguous and at most `block` long.
    assert tested.tolist() == list(range(first_test, n))
    for train, test in splits:
        a, b = int(test[0]), int(test[-1]) + 1
        assert b - a <= block and test.tolist() == list(range(a, b))
        assert np.all(np.diff(train) > 0)
        # Purge: no training label window (i, i + horizon] reaches into [a, b).
        overlaps = (train < b) & (train + horizon >= a)
        assert not overlaps.any()
        # Embargo: nothing from the `embargo` bars after the block.
        assert not ((train >= b) & (train < b + embargo)).any()
        if walk_forward:
            assert train.size == 0 or train.max() < a - horizon
        # And nothing else is thrown away: the training set is exactly what the rules allow.
        allowed = [i for i in range(n) if i + horizon < a
                   or (not walk_forward and i >= b + embargo)]
        assert train.tolist() == allowed


def test_splitter_refuses_nonsense_sizes():
    with pytest.raises(ValueError):
        list(purged_splits(100, first_test=10, block=0, horizon=5, embargo=5))
    with pytest.raises(ValueError):
        list(purged_splits(100, first_test=10, block=10, horizon=-1, embargo=5))


# ---- walk-forward predictions ----------------------------------------------------------------


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    return persistent_market(700, seed=5)  # every regime occurs in the first training set


@pytest.fixture(scope="module")
def forecast(market):
    return walk_forward_regimes(market, settings=QUICK)


def test_forecast_table_shape_probabilities_and_folds(market, forecast):
    assert forecast.status == "model" and forecast.reason == ""
    table = forecast.table
    # Features are ready at day 89 (the 90-day high); 200 days later the first block starts.
    assert table.index[0] == market.index[89 + 200] and table.index[-1] == market.index[-1]
    assert set(table["regime"]) <= set(REGIMES) and (table["source"] == "model").all()
    probabilities = forecast.probabilities
    assert list(probabilities.columns) == list(REGIMES)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    np.testing.assert_allclose(table["probability"], probabilities.max(axis=1))
    assert (probabilities.idxmax(axis=1) == table["regime"]).all()
    assert len(forecast.folds) == math.ceil((700 - 289) / 60)
    for k, fold in enumerate(forecast.folds):
        start = 289 + 60 * k
        assert fold.test_start == market.index[start]
        # Purged: only samples whose 14-day label window ends before the block trains it
        # (features ready from day 89).
        assert fold.n_train == sum(fold.train_counts.values()) == start - 14 - 89


def test_same_data_and_seed_give_identical_predictions(market, forecast):
    again = walk_forward_regimes(market, settings=QUICK)
    pd.testing.assert_frame_equal(forecast.table, again.table)
    assert forecast.folds == again.folds


def test_results_pickle_for_a_process_pool(market, forecast):
    copy = pickle.loads(pickle.dumps(forecast))
    pd.testing.assert_frame_equal(copy.table, forecast.table)
    assert copy.folds == forecast.folds
    evaluation = evaluate_regimes(market, settings=QUICK, forecast=forecast)
    assert pickle.loads(pickle.dumps(evaluation)).n_points == evaluation.n_points


def _changed_after(closes: pd.DataFrame, t: int) -> pd.DataFrame:
    # A 60 % crash right after t in both assets: every label window reaching past t becomes crisis.
    changed = closes.copy()
    changed.iloc[t + 1:] *= 0.4
    return changed


# Day 89 + 200 starts block 0, so block 2 starts at 409. t sits 7 days into it, so the labels of
# days 402..408 (just before the block) see prices after t: a missing purge would train on them.
LOOK_AHEAD_T = 409 + 7


def test_no_prediction_at_or_before_t_depends_on_later_data(market, forecast):
    t = LOOK_AHEAD_T
    after = walk_forward_regimes(_changed_after(market, t), settings=QUICK)
    upto = forecast.table.index <= market.index[t]
    pd.testing.assert_frame_equal(forecast.table[upto], after.table[upto])
    truncated = walk_forward_regimes(market.iloc[: t + 1], settings=QUICK)
    pd.testing.assert_frame_equal(forecast.table[upto], truncated.table)
    # The crash does change what comes after t, so equality above is not a blind spot.
    assert not forecast.table[~upto].equals(after.table[~upto])


def test_without_the_purge_the_same_check_would_catch_look_ahead(market, forecast, monkeypatch):
    # The look-ahead test above must be able to fail: train on unpurged splits (horizon 0) and the
    # same change after t now moves a prediction at or before t.
    honest = regime.purged_splits

    def leaky(n, *, first_test, block, horizon, embargo, walk_forward=True):
        return honest(n, first_test=first_test, block=block, horizon=0, embargo=embargo,
                      walk_forward=walk_forward)

    monkeypatch.setattr(regime, "purged_splits", leaky)
    t = LOOK_AHEAD_T
    # The premise: the change after t rewrites labels of days the unpurged model trains on.
    labels, changed_labels = (regime_labels(m["BTC"]) for m in (market, _changed_after(market, t)))
    assert (labels.iloc[402:409] != changed_labels.iloc[402:409]).any()
    before = walk_forward_regimes(market, settings=QUICK)
    after = walk_forward_regimes(_changed_after(market, t), settings=QUICK)
    upto = before.table.index <= market.index[t]
    assert not before.table[upto].equals(after.table[upto])


def test_a_learnable_market_is_learnt():
    # Regimes that persist for months are predictable from momentum and volatility: the model
    # must beat both the majority class and the rules by a wide margin.
    market = persistent_market(1_500, seed=0)
    evaluation = evaluate_regimes(market, settings=QUICK)
    assert evaluation.status == "model"
    assert evaluation.balanced_accuracy > 0.5
    assert evaluation.balanced_accuracy > evaluation.majority_balanced_accuracy + 0.2
    assert evaluation.balanced_accuracy > evaluation.rules_balanced_accuracy


# ---- fallback to the rules ---------------------------------------------------------------------


def _rules_of(closes: pd.Series) -> list[str]:
    return regime_series(closes.to_numpy(), bars_per_day=1.0)


@pytest.mark.parametrize("days", [30, 150])
def test_too_little_data_falls_back_to_the_rules_everywhere(days):
    market = persistent_market(days, seed=2)
    result = walk_forward_regimes(market, settings=QUICK)
    assert result.status == "fallback_rules"
    assert "too little data" in result.reason
    assert result.regimes.tolist() == _rules_of(market["BTC"])
    assert result.table.index.equals(market.index)
    assert result.probabilities.isna().all().all() and (result.table["source"] == "rules").all()


def test_one_class_only_falls_back_with_the_reason():
    # +1.5 % every day: every label is bull.
    index = pd.date_range("2020-01-01", periods=500, freq="D", tz="UTC")
    market = pd.DataFrame({"BTC": geometric(0.015, 500)}, index=index)
    result = walk_forward_regimes(market, settings=QUICK)
    assert result.status == "fallback_rules"
    assert "one class only" in result.reason and "bull" in result.reason
    assert result.regimes.tolist() == _rules_of(market["BTC"])


def test_a_block_with_one_class_falls_back_while_later_blocks_learn():
    # This market's first 186 training days are all bear: block 0 cannot be learnt.
    market = persistent_market(700, seed=3)
    result = walk_forward_regimes(market, settings=QUICK)
    assert result.status == "mixed"
    assert result.reason.startswith(
        "block 0 (2019-10-17): one class only in training: every sample is bear")
    assert result.folds[0].status == "fallback_rules" and result.folds[1].status == "model"
    block0 = result.table["fold"] == 0
    rules = pd.Series(_rules_of(market["BTC"]), index=market.index)
    assert result.regimes[block0].tolist() == rules[result.table.index[block0]].tolist()
    assert (result.table.loc[~block0, "source"] == "model").all()


def test_a_failing_fit_falls_back_and_never_raises(market, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("solver exploded")

    monkeypatch.setattr(regime, "class_probabilities", broken)
    result = walk_forward_regimes(market, settings=QUICK)
    assert result.status == "fallback_rules"
    assert "training failed: RuntimeError: solver exploded" in result.reason
    assert result.regimes.tolist() == _rules_of(market["BTC"])


def test_one_failing_block_is_filled_by_the_rules(market, forecast, monkeypatch):
    honest, calls = regime.class_probabilities, []

    def first_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first block only")
        return honest(*args, **kwargs)

    monkeypatch.setattr(regime, "class_probabilities", first_fails)
    result = walk_forward_regimes(market, settings=QUICK)
    assert result.status == "mixed" and "block 0" in result.reason
    rules = pd.Series(_rules_of(market["BTC"]), index=market.index)
    block0 = result.table["fold"] == 0
    assert (result.table.loc[block0, "source"] == "rules").all()
    assert result.regimes[block0].tolist() == rules[result.table.index[block0]].tolist()
    pd.testing.assert_frame_equal(result.table[~block0], forecast.table[~block0])


# ---- evaluation and its table ------------------------------------------------------------------


def test_confusion_and_balanced_accuracy_hand_worked():
    from sklearn.metrics import balanced_accuracy_score

    truth = ["bull", "bull", "bear", "crisis", "bull", "bear"]
    predicted = ["bull", "bear", "bear", "bull", "bull", "consolidation"]
    matrix = confusion_matrix(truth, predicted)
    assert matrix.tolist() == [[2, 0, 1, 0], [0, 0, 0, 0], [0, 1, 1, 0], [1, 0, 0, 0]]
    # Recall bull 2/3, bear 1/2, crisis 0; consolidation never occurs and is left out.
    assert balanced_accuracy(matrix) == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    with pytest.warns(UserWarning):  # sklearn warns about the predicted-only class, same number
        assert balanced_accuracy(matrix) == pytest.approx(balanced_accuracy_score(truth, predicted))
    assert math.isnan(balanced_accuracy(np.zeros((4, 4), dtype=int)))
    with pytest.raises(ValueError):
        confusion_matrix(["bull"], ["sideways"])


def test_format_confusion_is_a_plain_text_table():
    matrix = np.array([[5, 1, 0, 0], [2, 10, 1, 0], [0, 3, 4, 1], [0, 0, 1, 2]])
    text = format_confusion(matrix)
    lines = text.splitlines()
    assert lines[0].split() == ["true", "\\", "pred", "bull", "consolidation", "bear", "crisis",
                                "total", "recall"]
    assert lines[1].split() == ["bull", "5", "1", "0", "0", "6", "83%"]
    assert lines[2].split() == ["consolidation", "2", "10", "1", "0", "13", "77%"]
    assert lines[-1].split() == ["total", "7", "14", "6", "3", "30"]
    assert max(len(line) for line in lines) <= 80
    with pytest.raises(ValueError):
        format_confusion(np.zeros((3, 3)))


def test_evaluating_a_fallback_compares_the_rules_with_themselves():
    market = persistent_market(150, seed=2)
    evaluation = evaluate_regimes(market, settings=QUICK)
    assert evaluation.status == "fallback_rules"
    assert evaluation.balanced_accuracy == evaluation.rules_balanced_accuracy
    assert "fallback_rules" in format_evaluation(evaluation)


def _load_close(path) -> pd.Series:
    frame = pd.read_csv(path, usecols=["timestamp", "close"], parse_dates=["timestamp"])
    return frame.set_index("timestamp")["close"]


def test_real_btc_eth_4h_evaluation(market_data):
    # 2019-2022: the 2019 rally, March 2020, May 2021 and the 2022 bear market; BTC funding from
    # its first settlement in September 2019 (NaN before: the model handles it).
    spot = market_data / "binance_spot"
    closes = pd.DataFrame({"BTC": _load_close(spot / "BTCUSDT_4h.csv.gz"),
                           "ETH": _load_close(spot / "ETHUSDT_4h.csv.gz")})
    closes = closes.loc["2019-01-01":"2022-12-31"]
    funding_file = next((market_data / "binance_usdm_funding").glob("BTCUSDT_funding_8h_*.csv.gz"))
    funding = pd.read_csv(funding_file, parse_dates=["funding_time"]).set_index("funding_time")
    started = time.perf_counter()
    forecast = walk_forward_regimes(closes, funding=funding["funding_rate"])
    evaluation = evaluate_regimes(closes, funding=funding["funding_rate"], forecast=forecast)
    elapsed = time.perf_counter() - started

    assert forecast.status == "model", forecast.reason
    assert "funding_rate" in forecast.feature_names and "correlation_30d" in forecast.feature_names
    labels = regime_labels(closes["BTC"]).reindex(forecast.table.index)
    assert evaluation.n_points == int(labels.notna().sum()) > 3_000
    for matrix in (evaluation.confusion, evaluation.majority_confusion, evaluation.rules_confusion):
        assert matrix.shape == (4, 4) and matrix.sum() == evaluation.n_points
        np.testing.assert_array_equal(matrix.sum(axis=1), evaluation.confusion.sum(axis=1))
    for score in (evaluation.balanced_accuracy, evaluation.majority_balanced_accuracy,
                  evaluation.rules_balanced_accuracy):
        assert 0.0 <= score <= 1.0
    # The baselines are what they claim: the rules on the same closes, each block's majority.
    scored = labels.notna()
    rules = pd.Series(regime_series(closes["BTC"].to_numpy(), bars_per_day=6.0), index=closes.index)
    np.testing.assert_array_equal(
        evaluation.rules_confusion,
        confusion_matrix(labels[scored], rules[labels.index[scored]]))
    majority = [forecast.folds[k].majority for k in forecast.table.loc[scored, "fold"]]
    np.testing.assert_array_equal(evaluation.majority_confusion,
                                  confusion_matrix(labels[scored], majority))
    print(f"\n{format_evaluation(evaluation)}\n({elapsed:.1f} s)")
    assert elapsed < 30
