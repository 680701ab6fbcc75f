"""Hedge ratio, correlation monitor, correlation-spike band and the stablecoin reserve."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cockpit.domain.hedging import (
    CorrelationWarning,
    average_pairwise_correlation,
    check_hedge_correlation,
    correlation,
    correlation_spike,
    hedge_correlation_warning,
    hedge_order_quantity,
    min_variance_hedge_ratio,
    profit_to_reserve,
    reserve_fraction,
    rolling_hedge_ratio,
)

RNG = np.random.default_rng(20240607)
X = RNG.normal(0.0, 0.02, 200)

returns = st.floats(-0.5, 0.5, allow_nan=False, allow_infinity=False)


def series(min_size=3, max_size=60):
    return st.lists(returns, min_size=min_size, max_size=max_size).map(np.array)


def varies(values: np.ndarray) -> bool:
    return float(np.std(values)) > 1e-6


# ---- hedge ratio -------------------------------------------------------------------------------


def test_hedge_ratio_hand_worked():
    # core 1,2,3 / hedge 1,3,2: means 2 and 2; cov = (1 + 0 + 0) / 3 = 1/3; var(hedge) = 2/3
    assert min_variance_hedge_ratio([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5, abs=1e-15)
    # a series against twice itself: cov = 2 var, var(hedge) = 4 var -> 0.5
    assert min_variance_hedge_ratio(X, 2 * X) == pytest.approx(0.5, rel=1e-12)
    assert min_variance_hedge_ratio(X, X) == pytest.approx(1.0, rel=1e-12)
    assert min_variance_hedge_ratio(X, -X) == pytest.approx(-1.0, rel=1e-12)
    # a constant offset does not change a covariance
    assert min_variance_hedge_ratio(3 * X + 0.01, X) == pytest.approx(3.0, rel=1e-12)


@pytest.mark.parametrize(
    "core, hedge, message",
    [
        ([0.1, 0.2], [0.1, 0.3], "at least 3"),
        ([0.1, 0.2, 0.3], [0.1, 0.2], "same length"),
        ([0.1, math.nan, 0.3], [0.1, 0.2, 0.4], "finite"),
        ([0.1, 0.2, 0.3], [0.1, math.inf, 0.4], "finite"),
        ([0.1, 0.2, 0.3], [0.02, 0.02, 0.02], "zero variance"),
        ([[0.1, 0.2, 0.3]], [[0.1, 0.2, 0.4]], "1-D"),
    ],
)
def test_hedge_ratio_refuses_bad_series(core, hedge, message):
    with pytest.raises(ValueError, match=message):
        min_variance_hedge_ratio(core, hedge)


@settings(max_examples=150, deadline=None)
@given(x=series(), a=st.floats(-10, 10, allow_nan=False), b=st.floats(-0.1, 0.1, allow_nan=False))
def test_hedge_ratio_of_a_scaled_series_is_the_scale(x, a, b):
    assume(varies(x))
    assert min_variance_hedge_ratio(a * x + b, x) == pytest.approx(a, rel=1e-9, abs=1e-9)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), n=st.integers(3, 40), other=st.floats(-5, 5, allow_nan=False))
def test_hedge_ratio_minimises_residual_variance(data, n, other):
    core = data.draw(arrays(float, n, elements=returns))
    hedge = data.draw(arrays(float, n, elements=returns))
    assume(varies(hedge))
    h = min_variance_hedge_ratio(core, hedge)
    assert np.var(core - h * hedge) <= np.var(core - other * hedge) + 1e-12


def test_rolling_hedge_ratio_matches_each_window():
    core = 0.7 * X + RNG.normal(0.0, 0.01, X.size)
    out = rolling_hedge_ratio(core, X, 20)
    assert out.shape == X.shape
    assert np.all(np.isnan(out[:19]))
    for i in (19, 57, 199):
        assert out[i] == pytest.approx(min_variance_hedge_ratio(core[i - 19:i + 1], X[i - 19:i + 1]))
    assert np.all(np.isnan(rolling_hedge_ratio(core[:5], X[:5], 20)))  # no full window yet


def test_rolling_hedge_ratio_flat_window_is_nan():
    hedge = np.concatenate([X[:10], np.full(10, 0.003), X[10:20]])
    out = rolling_hedge_ratio(X[:30], hedge, 5)
    assert np.isnan(out[14]) and np.isnan(out[19])  # windows 10..14 and 15..19 are flat
    assert np.isfinite(out[9]) and np.isfinite(out[29])


@pytest.mark.parametrize("window", [2, 0, 3.5])
def test_rolling_hedge_ratio_refuses_bad_window(window):
    with pytest.raises(ValueError, match="window"):
        rolling_hedge_ratio(X, X, window)


def test_rolling_hedge_ratio_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="same length"):
        rolling_hedge_ratio(X, X[:-1], 10)


# ---- correlation and the monitor ----------------------------------------------------------------


def test_correlation_hand_worked():
    assert correlation([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)  # (1/3) / (2/3)
    assert correlation(X, 5 * X + 1) == pytest.approx(1.0)
    assert correlation(X, -2 * X) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="core returns have zero variance"):
        correlation([0.1, 0.1, 0.1], [0.1, 0.2, 0.3])


@settings(max_examples=100, deadline=None)
@given(data=st.data(), n=st.integers(3, 40))
def test_correlation_is_symmetric_bounded_and_agrees_with_numpy(data, n):
    x = data.draw(arrays(float, n, elements=returns))
    y = data.draw(arrays(float, n, elements=returns))
    assume(varies(x) and varies(y))
    rho = correlation(x, y)
    assert -1.0 <= rho <= 1.0
    assert rho == pytest.approx(correlation(y, x), abs=1e-12)
    assert rho == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-9)


def test_monitor_quiet_while_the_hedge_tracks():
    hedge = X + RNG.normal(0.0, 0.005, X.size)
    assert check_hedge_correlation(X, hedge) is None
    assert check_hedge_correlation(X, hedge, previous_correlation=0.9) is None


def test_monitor_warns_on_weak_correlation_with_the_numbers():
    unrelated = RNG.normal(0.0, 0.02, X.size)
    rho = correlation(X, unrelated)
    assert abs(rho) < 0.3
    message = check_hedge_correlation(X, unrelated, min_correlation=0.5)
    assert message is not None and "weak" in message
    assert f"{rho:+.2f}" in message and "0.50" in message
    # a higher bar makes a decent hedge weak too
    tracking = X + RNG.normal(0.0, 0.02, X.size)  # rho about 0.7
    assert check_hedge_correlation(X, tracking, min_correlation=0.5) is None
    assert "weak" in check_hedge_correlation(X, tracking, min_correlation=0.9)


def test_monitor_warns_on_sign_flip():
    message = check_hedge_correlation(X, -X, previous_correlation=0.85)
    assert message is not None and "flipped sign" in message
    assert "+0.85 -> -1.00" in message
    warning = hedge_correlation_warning(X, -X, previous_correlation=0.85)
    assert isinstance(warning, CorrelationWarning) and warning.kind == "sign_flip"
    assert warning.correlation == pytest.approx(-1.0)
    # a strongly negative hedge with no history is not weak (|rho| counts) and not a flip
    assert check_hedge_correlation(X, -X) is None


def test_monitor_sign_flip_also_says_weak():
    slightly_negative = -0.1 * X + RNG.normal(0.0, 0.02, X.size)
    rho = correlation(X, slightly_negative)
    assert -0.5 < rho < 0
    message = check_hedge_correlation(X, slightly_negative, previous_correlation=0.8)
    assert "flipped sign and weak" in message


def test_monitor_undefined_when_a_leg_is_flat():
    warning = hedge_correlation_warning(X[:10], np.full(10, 0.01))
    assert warning is not None and warning.kind == "undefined" and math.isnan(warning.correlation)
    with pytest.raises(ValueError, match="min correlation"):
        check_hedge_correlation(X, X, min_correlation=1.5)


# ---- hedge order --------------------------------------------------------------------------------


def test_hedge_order_quantity():
    # 100,000 USDT long ETH, hedge ratio 0.8 on BTC at 50,000: short 80,000 / 50,000 = 1.6 BTC
    assert hedge_order_quantity(100_000, 0.8, 50_000) == pytest.approx(1.6)
    assert hedge_order_quantity(-100_000, 0.8, 50_000) == pytest.approx(-1.6)  # short core: buy
    assert hedge_order_quantity(100_000, -0.5, 2_000) == pytest.approx(-25.0)
    with pytest.raises(ValueError, match="hedge price"):
        hedge_order_quantity(100_000, 0.8, 0.0)
    with pytest.raises(ValueError, match="hedge ratio"):
        hedge_order_quantity(100_000, math.nan, 50_000)


# ---- average pairwise correlation and the spike band -------------------------------------------


def test_average_pairwise_correlation_hand_worked():
    a = X[:50]
    # columns a, a, -a: pairs (1, -1, -1) -> -1/3
    assert average_pairwise_correlation(np.column_stack([a, a, -a])) == pytest.approx(-1 / 3)
    assert average_pairwise_correlation(np.column_stack([a, 2 * a])) == pytest.approx(1.0)
    # a flat column is left out, not allowed to poison the average
    flat = np.full(50, 0.001)
    assert average_pairwise_correlation(np.column_stack([a, flat, 3 * a])) == pytest.approx(1.0)


def test_average_pairwise_correlation_undefined_cases():
    a = X[:50]
    assert math.isnan(average_pairwise_correlation(a[:, None]))  # one asset
    assert math.isnan(average_pairwise_correlation(np.column_stack([a, a])[:2]))  # two rows
    assert math.isnan(average_pairwise_correlation(np.column_stack([a, np.full(50, 0.0)])))
    bad = np.column_stack([a, a]).copy()
    bad[3, 1] = math.nan
    assert math.isnan(average_pairwise_correlation(bad))
    with pytest.raises(ValueError, match="2-D"):
        average_pairwise_correlation(a)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), periods=st.integers(3, 30), assets=st.integers(2, 6))
def test_average_pairwise_correlation_agrees_with_numpy(data, periods, assets):
    matrix = data.draw(arrays(float, (periods, assets), elements=returns))
    assume(all(varies(matrix[:, j]) for j in range(assets)))
    corr = np.corrcoef(matrix, rowvar=False)
    expected = corr[np.triu_indices(assets, k=1)].mean()
    value = average_pairwise_correlation(matrix)
    assert value == pytest.approx(expected, abs=1e-9)
    assert -1.0 <= value <= 1.0


def test_correlation_spike_band_hand_worked():
    history = [0.5, 0.6, 0.7]  # mean 0.6, sample std 0.1 -> band 0.6 + 2 * 0.1 = 0.8
    tripped, band = correlation_spike(history, 0.81, band_sigmas=2.0, min_history=3)
    assert tripped and band == pytest.approx(0.8)
    tripped, band = correlation_spike(history, 0.79, band_sigmas=2.0, min_history=3)
    assert not tripped and band == pytest.approx(0.8)
    # one sigma: band 0.7
    assert correlation_spike(history, 0.75, band_sigmas=1.0, min_history=3) == (True, pytest.approx(0.7))
    # NaN readings in the history are skipped, not counted
    assert correlation_spike([0.5, math.nan, 0.6, 0.7], 0.81, min_history=3)[0]


def test_correlation_spike_warming_up_never_trips():
    tripped, band = correlation_spike([0.5, 0.6], 0.99, min_history=3)
    assert not tripped and math.isnan(band)
    tripped, band = correlation_spike([0.5] * 19, 0.99)  # default min_history is 20
    assert not tripped and math.isnan(band)
    tripped, band = correlation_spike([0.5, 0.6, 0.7], math.nan, min_history=3)
    assert not tripped and math.isnan(band)
    with pytest.raises(ValueError, match="band sigmas"):
        correlation_spike([0.5, 0.6, 0.7], 0.9, band_sigmas=-1)
    with pytest.raises(ValueError, match="min history"):
        correlation_spike([0.5, 0.6, 0.7], 0.9, min_history=1)


# ---- reserve -----------------------------------------------------------------------------------


def test_reserve_fraction():
    assert reserve_fraction(2_500, 10_000) == pytest.approx(0.25)
    assert reserve_fraction(0, 10_000) == 0.0
    with pytest.raises(ValueError, match="total equity"):
        reserve_fraction(100, 0)
    with pytest.raises(ValueError, match="reserve balance"):
        reserve_fraction(-1, 100)


@pytest.mark.parametrize(
    "equity, baseline, reserve, expected",
    [
        (11_000, 10_000, 0, 0.0),  # up 10 %: below the 15 % trigger
        (11_499, 10_000, 0, 0.0),  # up 14.99 %
        (11_500, 10_000, 0, 1_500.0),  # up exactly 15 %: mid band 2,875 wanted, capped by profit 1,500
        (12_000, 10_000, 1_500, 1_500.0),  # mid band 3,000 - 1,500 held = 1,500 <= profit 2,000
        (20_000, 10_000, 1_000, 4_000.0),  # 5,000 - 1,000 = 4,000 <= profit 10,000
        (12_000, 10_000, 2_800, 200.0),  # in the band (23 %) but under its middle: top up to 25 %
        (12_000, 10_000, 3_500, 0.0),  # already 29 %: above the middle, nothing to move
        (9_000, 10_000, 0, 0.0),  # a loss
    ],
)
def test_profit_to_reserve_hand_worked(equity, baseline, reserve, expected):
    assert profit_to_reserve(equity, baseline, reserve) == pytest.approx(expected, abs=1e-9)


def test_profit_to_reserve_custom_band_and_trigger():
    # up 10 % with a 10 % trigger; band 10-20 % -> middle 15 % of 11,000 = 1,650, profit 1,000
    assert profit_to_reserve(11_000, 10_000, 0, trigger_gain=0.10, band=(0.1, 0.2)) == 1_000.0
    assert profit_to_reserve(11_000, 10_000, 1_000, trigger_gain=0.10, band=(0.1, 0.2)) == pytest.approx(650.0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"band": (0.3, 0.2)}, "reserve band"),
        ({"band": (0.2, 1.0)}, "reserve band"),
        ({"trigger_gain": 0.0}, "trigger gain"),
    ],
)
def test_profit_to_reserve_refuses_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        profit_to_reserve(12_000, 10_000, 0, **kwargs)
    with pytest.raises(ValueError, match="baseline"):
        profit_to_reserve(12_000, 0, 0)


@settings(max_examples=200, deadline=None)
@given(
    baseline=st.floats(100, 1e7),
    gain=st.floats(-0.9, 3.0),
    reserve_share=st.floats(0.0, 0.9),
)
def test_profit_to_reserve_never_exceeds_profit_or_the_middle(baseline, gain, reserve_share):
    equity = baseline * (1 + gain)
    reserve = reserve_share * equity
    amount = profit_to_reserve(equity, baseline, reserve)
    assert amount >= 0.0
    if gain < 0.15 * (1 - 1e-9):
        assert amount == 0.0
    else:
        assert amount <= equity - baseline + 1e-6
        if reserve_share >= 0.25:
            assert amount == 0.0  # at or above the middle of the band already
        else:
            assert (reserve + amount) / equity <= 0.25 + 1e-9
            if amount < equity - baseline - 1e-6:  # not capped by the profit: lands on the middle
                assert (reserve + amount) / equity == pytest.approx(0.25)


# ---- real data --------------------------------------------------------------------------------


def load_4h_returns(market_data) -> pd.DataFrame:
    closes = {}
    for base in ("BTC", "ETH"):
        frame = pd.read_csv(market_data / "binance_spot" / f"{base}USDT_4h.csv.gz", parse_dates=["timestamp"])
        closes[base] = frame.set_index("timestamp")["close"]
    return np.log(pd.concat(closes, axis=1).dropna()).diff().dropna()


def test_btc_eth_2021_correlation_and_hedge_ratio(market_data):
    year = load_4h_returns(market_data).loc["2021"]
    assert len(year) > 2_000
    eth, btc = year["ETH"].to_numpy(), year["BTC"].to_numpy()
    rho = correlation(eth, btc)
    assert 0.6 < rho < 0.95  # measured: 0.83
    h = min_variance_hedge_ratio(eth, btc)  # ETH core hedged with BTC
    assert 0.8 < h < 1.3  # measured: 1.04 (ETH moves a little more than BTC)
    assert h == pytest.approx(rho * eth.std() / btc.std())  # h = rho * sigma_core / sigma_hedge
    weekly = rolling_hedge_ratio(eth, btc, 42)  # 7 days of 4h bars
    assert np.all(weekly[np.isfinite(weekly)] > 0)
    assert check_hedge_correlation(eth, btc) is None
    # A 100k ETH position at BTC 46,000 (close of 2021): short about 2.26 BTC
    assert hedge_order_quantity(100_000, h, 46_000) == pytest.approx(100_000 * h / 46_000)


def test_march_2020_average_correlation_breaks_its_band(market_data):
    """7-day (42-bar) BTC/ETH correlation sampled at each midnight, band = mean + 2 std of the
    previous 60 daily readings. Measured: quiet from December to early March (readings 0.74 -
    0.90), then 0.966 against a band of 0.920 at midnight after the 12 March crash."""
    returns = load_4h_returns(market_data).loc["2019-09-01":"2020-04-30"]
    history: list[float] = []
    trips: dict[str, tuple[float, float]] = {}
    readings: dict[str, float] = {}
    for midnight in pd.date_range("2019-10-01", "2020-03-31", freq="1D", tz="UTC"):
        window = returns.loc[: midnight - pd.Timedelta(seconds=1)].iloc[-42:]
        current = average_pairwise_correlation(window.to_numpy())
        tripped, band = correlation_spike(history[-60:], current, band_sigmas=2.0)
        day = midnight.strftime("%Y-%m-%d")
        readings[day] = current
        if tripped:
            trips[day] = (current, band)
        history.append(current)
    assert not [day for day in trips if day < "2020-03-05"]  # no trip in the calm months before
    assert "2020-03-13" in trips  # the reading that covers the crash of 12 March
    current, band = trips["2020-03-13"]
    assert current > 0.95 and current > band
    calm = [value for day, value in readings.items() if "2019-12-01" <= day < "2020-03-01"]
    assert max(calm) < current
