"""HedgeWatch on real Binance hourly closes (../shared): the minimum-variance hedge ratio of an
ETH core against a BTC hedge, checked against numpy's own covariance of the same log returns;
the correlation monitor on a hedge that does not track; the warm-up and the edge cases.

A sample is a period's close: the prices in force when the first update of the next period
arrives. So a bar's close enters the window only once the next bar (or any later update) comes,
and feeding N bars samples the first N - 1."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from cockpit.engine.hedge_watch import HedgeWatch
from tests.support import BTC, ETH, T0, config

PERP = "binance_usdm_perp"
# 73 hourly closes, BTC's quietest 3 days, and the next bar, whose arrival samples the 73rd.
CALM_START, CALM_END = "2025-09-19 00:00", "2025-09-22 01:00"
HOUR = 3600.0


def hourly_closes(market_data, start: str, end: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (epoch seconds, BTC closes, ETH closes) of the perpetuals' hourly bars, start..end inclusive."""
    frames = [
        pd.read_csv(market_data / PERP / f"{name}_perp_1h_with_mark.csv.gz", parse_dates=["timestamp"])
        .set_index("timestamp")["close"]
        for name in ("BTCUSDT", "ETHUSDT")
    ]
    btc, eth = (frame.loc[pd.Timestamp(start, tz="UTC"):pd.Timestamp(end, tz="UTC")] for frame in frames)
    assert (btc.index == eth.index).all() and len(btc) > 1
    seconds = np.array([stamp.timestamp() for stamp in btc.index])
    assert np.all(np.diff(seconds) == HOUR)  # no gaps: one sample per bar
    return seconds, btc.to_numpy(dtype=float), eth.to_numpy(dtype=float)


def numpy_hedge(core_prices: np.ndarray, hedge_prices: np.ndarray) -> tuple[float, float]:
    """The reference: (Cov(core, hedge) / Var(hedge), Pearson rho) of the log returns, by numpy."""
    core, hedge = np.diff(np.log(core_prices)), np.diff(np.log(hedge_prices))
    covariance = np.cov(core, hedge)
    return covariance[0, 1] / covariance[1, 1], np.corrcoef(core, hedge)[0, 1]


def watch(window: int = 72, *, asset: str = "BTC", priced=(BTC, ETH), **hedge) -> HedgeWatch:
    cfg = config(portfolio={"targets": {"ETH": 0.6}}, hedge={"asset": asset, "window": window, **hedge})
    return HedgeWatch(cfg, {ETH: 0.6}, priced=set(priced))


def feed(hedge_watch: HedgeWatch, seconds, btc, eth) -> list:
    """Observes every bar (both prices at the bar's time); returns what each observe returned."""
    return [hedge_watch.observe(float(t), {BTC: float(b), ETH: float(e)}) for t, b, e in zip(seconds, btc, eth)]


def test_eth_core_hedged_with_btc_over_a_calm_window_matches_numpy(market_data):
    seconds, btc, eth = hourly_closes(market_data, CALM_START, CALM_END)
    assert len(seconds) == 74
    hedge_watch = watch(72)
    feed(hedge_watch, seconds[:-1], btc[:-1], eth[:-1])
    assert hedge_watch.reading is None  # 73 bars fed, 72 closes sampled, 71 returns: still warming
    assert hedge_watch.observe(float(seconds[-1]), {BTC: float(btc[-1]), ETH: float(eth[-1])}) is None

    reading = hedge_watch.reading
    ratio, rho = numpy_hedge(eth[:-1], btc[:-1])  # the 73 calm closes, not the bar that closed them
    assert reading is not None and reading.symbol == BTC and reading.samples == 72
    assert reading.warning is None and reading.hedges
    assert reading.correlation > 0.5
    assert reading.ratio > 0
    assert reading.ratio == pytest.approx(ratio, rel=1e-9)
    assert reading.correlation == pytest.approx(rho, rel=1e-9)
    # The hedge short per unit of core: ratio x the core's weight, negative.
    (symbol, weight), = hedge_watch.targets(None).items()
    assert symbol == BTC and weight == pytest.approx(-ratio * 0.6, rel=1e-9)


@pytest.mark.parametrize("first", [BTC, ETH])
def test_a_bar_whose_symbols_arrive_as_separate_updates_is_sampled_whole(market_data, first):
    # As the engine feeds it: one symbol's tick at a time, all marks so far, both at the bar's time.
    seconds, btc, eth = hourly_closes(market_data, CALM_START, CALM_END)
    hedge_watch = watch(72)
    marks: dict[str, float] = {}
    for t, b, e in zip(seconds, btc, eth):
        bar = {BTC: float(b), ETH: float(e)}
        for symbol in (first, *(s for s in bar if s != first)):
            marks[symbol] = bar[symbol]
            assert hedge_watch.observe(float(t), dict(marks)) is None
    ratio, rho = numpy_hedge(eth[:-1], btc[:-1])  # each sample pairs the two closes of one bar
    reading = hedge_watch.reading
    assert reading is not None and reading.samples == 72
    assert reading.ratio == pytest.approx(ratio, rel=1e-9)
    assert reading.correlation == pytest.approx(rho, rel=1e-9)


def test_the_window_rolls_and_prices_between_samples_are_not_sampled(market_data):
    seconds, btc, eth = hourly_closes(market_data, "2025-06-01 00:00", "2025-06-04 00:00")
    hedge_watch = watch(24)
    junk = np.random.default_rng(5).uniform(0.5, 2.0, (len(seconds) + 1, 2))
    for (t, b, e), (jb, je) in zip(zip(seconds, btc, eth), junk):
        # Absurd prices open each hour, the close follows half an hour later: only the price in
        # force when the next hour begins (the close) is sampled, never the hour's first update.
        hedge_watch.observe(float(t), {BTC: float(b * jb), ETH: float(e * je)})
        hedge_watch.observe(float(t) + HOUR / 2, {BTC: float(b), ETH: float(e)})
    assert hedge_watch.reading.samples == 24
    # The last close waits for the next hour: so far the window ends one bar short of it.
    ratio, rho = numpy_hedge(eth[-26:-1], btc[-26:-1])
    assert hedge_watch.reading.ratio == pytest.approx(ratio, rel=1e-9)
    assert hedge_watch.reading.correlation == pytest.approx(rho, rel=1e-9)
    (jb, je) = junk[-1]
    hedge_watch.observe(float(seconds[-1]) + HOUR, {BTC: float(btc[-1] * jb), ETH: float(eth[-1] * je)})
    ratio, rho = numpy_hedge(eth[-25:], btc[-25:])  # the newest 25 closes only
    assert hedge_watch.reading.samples == 24
    assert hedge_watch.reading.ratio == pytest.approx(ratio, rel=1e-9)
    assert hedge_watch.reading.correlation == pytest.approx(rho, rel=1e-9)


def test_a_hedge_independent_of_the_core_is_weak_and_targeted_at_zero(market_data):
    seconds, _, eth = hourly_closes(market_data, CALM_START, CALM_END)
    rng = np.random.default_rng(20260101)
    walk = 60_000.0 * np.exp(np.cumsum(np.r_[0.0, rng.normal(0.0, 0.004, len(eth) - 1)]))
    hedge_watch = watch(72)
    returned = feed(hedge_watch, seconds, walk, eth)
    ratio, rho = numpy_hedge(eth[:-1], walk[:-1])  # the last bar only closes the window
    reading = hedge_watch.reading
    assert abs(rho) < 0.5  # the reference agrees the pair does not track
    assert reading.correlation == pytest.approx(rho, rel=1e-9)
    assert reading.ratio == pytest.approx(ratio, rel=1e-9)
    assert reading.warning is not None and reading.warning.kind == "weak"
    assert "weak" in reading.warning.message
    assert not reading.hedges
    assert hedge_watch.targets(-0.5) == {BTC: 0.0}  # an existing short is closed
    assert hedge_watch.targets(None) == {BTC: 0.0}
    # Never tracked since the start: nothing is *new*, so observe stayed silent.
    assert returned == [None] * len(returned)


def test_while_the_window_fills_the_current_weight_is_kept(market_data):
    seconds, btc, eth = hourly_closes(market_data, CALM_START, CALM_END)
    hedge_watch = watch(72)
    assert hedge_watch.targets(-0.7) == {BTC: -0.7}
    assert hedge_watch.targets(None) == {}  # not held: no order either way
    feed(hedge_watch, seconds[:40], btc[:40], eth[:40])
    assert hedge_watch.reading is None
    assert hedge_watch.targets(-0.7) == {BTC: -0.7}
    assert hedge_watch.targets(None) == {}


def test_without_a_hedge_asset_there_is_no_hedge_leg(market_data):
    seconds, btc, eth = hourly_closes(market_data, CALM_START, CALM_END)
    hedge_watch = HedgeWatch(config(portfolio={"targets": {"ETH": 0.6}}), {ETH: 0.6}, priced={BTC, ETH})
    assert hedge_watch.symbol is None
    assert feed(hedge_watch, seconds, btc, eth) == [None] * len(seconds)
    assert hedge_watch.reading is None
    assert hedge_watch.targets(None) == {} and hedge_watch.targets(-0.5) == {}


def test_a_hedge_asset_without_prices_has_no_symbol():
    hedge_watch = watch(asset="SOL")  # valid config, but the source prices BTC and ETH only
    assert hedge_watch.symbol is None
    assert hedge_watch.observe(T0, {BTC: 60_000.0, ETH: 3_000.0, "SOL/USDT:USDT": 150.0}) is None
    assert hedge_watch.targets(-0.5) == {}
    assert watch(priced=(ETH,)).symbol is None  # the source has no BTC
    assert watch(priced=(ETH, BTC)).symbol == BTC


def test_a_sign_flip_is_reported_when_it_appears_and_not_again():
    # Fifteen quiet hours in which the hedge follows the core closely, then one in which the two
    # part ways hard: the window's correlation jumps from about +0.9 to below zero.
    rng = np.random.default_rng(3)
    common, noise = rng.normal(0.0, 0.005, 16), rng.normal(0.0, 0.002, (16, 2))
    core_returns, hedge_returns = common + noise[:, 0], common + noise[:, 1]
    core_returns[15], hedge_returns[15] = 0.03, -0.03
    eth = 3_000.0 * np.exp(np.cumsum(np.r_[0.0, core_returns]))
    btc = 60_000.0 * np.exp(np.cumsum(np.r_[0.0, hedge_returns]))
    seconds = T0 + HOUR * np.arange(len(eth))
    hedge_watch = watch(10)
    last = {BTC: float(btc[16]), ETH: float(eth[16])}  # the price after the hour they part ways

    returned = feed(hedge_watch, seconds, btc, eth)  # the 17th price is in force, not yet sampled
    assert returned == [None] * 17
    tracking = hedge_watch.reading
    assert tracking.warning is None and tracking.correlation > 0.5 and tracking.hedges

    # The next hour begins, prices unchanged: the 17th price is sampled, the window sees the outlier.
    flip = hedge_watch.observe(float(seconds[16]) + HOUR, last)
    _, rho = numpy_hedge(eth[6:17], btc[6:17])
    assert -0.5 < rho < 0  # the reference sees the flip too
    assert flip is not None and flip.kind == "sign_flip"
    assert flip.previous == pytest.approx(tracking.correlation) and flip.correlation == pytest.approx(rho)
    assert "flipped sign" in flip.message
    assert hedge_watch.reading.warning == flip
    assert hedge_watch.targets(-0.5) == {BTC: 0.0}

    # The next hour nothing moves: the hedge still does not track (weak now), but that is old news.
    again = hedge_watch.observe(float(seconds[16]) + 2 * HOUR, last)
    assert again is None
    assert hedge_watch.reading.warning is not None and hedge_watch.reading.warning.kind == "weak"
    assert hedge_watch.targets(-0.5) == {BTC: 0.0}


def test_nothing_more_is_reported_while_the_hedge_is_not_hedging():
    # As above but the hours part ways harder: the correlation flips to about -0.6 (no longer a
    # hedge: the ratio is negative, targeted at zero) and stays there until the outlier leaves the
    # window, when it flips back to about +0.9. The trader heard of the first flip; the way back
    # to tracking is not a warning to raise.
    rng = np.random.default_rng(3)
    common, noise = rng.normal(0.0, 0.005, 40), rng.normal(0.0, 0.002, (40, 2))
    core_returns, hedge_returns = common + noise[:, 0], common + noise[:, 1]
    core_returns[15], hedge_returns[15] = 0.05, -0.05
    eth = 3_000.0 * np.exp(np.cumsum(np.r_[0.0, core_returns]))
    btc = 60_000.0 * np.exp(np.cumsum(np.r_[0.0, hedge_returns]))
    seconds = T0 + HOUR * np.arange(len(eth))
    hedge_watch = watch(10)
    returned, hedging = [], []
    for t, b, e in zip(seconds, btc, eth):
        returned.append(hedge_watch.observe(float(t), {BTC: float(b), ETH: float(e)}))
        hedging.append(hedge_watch.reading is not None and hedge_watch.reading.hedges)
    reported = [(i, w.kind) for i, w in enumerate(returned) if w is not None]
    # Price 16 (after the outlier hour) is sampled when price 17 arrives, one update later.
    assert reported == [(17, "sign_flip")]
    assert hedging[16] and not any(hedging[17:27])  # the outlier is in the window for 10 samples
    assert hedging[-1]  # and then the hedge tracks again
