"""SyntheticSource: reproducible, fat-tailed, clustered, with rare visible crashes."""

from __future__ import annotations

import numpy as np
import pytest

from cockpit.venues.base import PriceSource
from cockpit.venues.synthetic import SyntheticSource

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"


def _returns(prices: np.ndarray) -> np.ndarray:
    return np.diff(np.log(prices))


def _kurtosis(r: np.ndarray) -> float:
    centred = r - r.mean()
    return float((centred**4).mean() / (centred**2).mean() ** 2)  # 3 for a normal distribution


def _autocorrelation(x: np.ndarray) -> float:
    return float(np.corrcoef(x[:-1], x[1:])[0, 1])


@pytest.fixture(scope="module")
def path() -> dict[str, np.ndarray]:
    return SyntheticSource(start_time=0.0, step_volatility=0.0015).generate(20_000)


def test_same_seed_same_path_and_different_seeds_differ():
    a = SyntheticSource(seed=11, start_time=0.0).generate(500)
    b = SyntheticSource(seed=11, start_time=0.0).generate(500)
    c = SyntheticSource(seed=12, start_time=0.0).generate(500)
    assert np.array_equal(a[BTC], b[BTC]) and np.array_equal(a[ETH], b[ETH])
    assert not np.allclose(a[BTC], c[BTC])


def test_starts_at_the_start_prices():
    default = SyntheticSource(start_time=0.0).generate(3)
    assert (default[BTC][0], default[ETH][0]) == (60_000.0, 3_000.0)
    custom = SyntheticSource(start_time=0.0, start_prices={"BTC": 100_000.0}).generate(1)
    assert custom[BTC][0] == 100_000.0 and custom[ETH][0] == 3_000.0


def test_fat_tails(path):
    for symbol in (BTC, ETH):
        assert _kurtosis(_returns(path[symbol])) > 3.0


def test_volatility_clusters_in_the_diffusion():
    # Without crashes the GARCH part alone shows it plainly: big moves follow big moves.
    calm = SyntheticSource(start_time=0.0, crash_probability=0.0, step_volatility=0.0015).generate(20_000)
    r = _returns(calm[BTC])
    assert _kurtosis(r) > 3.0
    assert _autocorrelation(r**2) > 0.05
    # Typical step: the 0.15 % baseline, give or take the clusters.
    assert 0.0008 < r.std() < 0.003


def test_volatility_clusters_with_crashes(path):
    # A crash step's squared return is ~1e4 times a normal one's and swamps the sample
    # autocorrelation of r^2; |r| shows the same clustering without being dominated by it.
    r = _returns(path[BTC])
    assert _autocorrelation(r**2) > 0.0
    assert _autocorrelation(np.abs(r)) > 0.01


def test_crashes_are_rare_visible_and_shared(path):
    btc, eth = _returns(path[BTC]), _returns(path[ETH])
    crashes = np.flatnonzero(btc < np.log(1 - 0.07))
    # p = 1/2000 per step -> ~10 in 20k steps; each drops 8-25 % in one step.
    assert 2 <= len(crashes) <= 30
    assert btc.min() > np.log(1 - 0.30)
    # Market-wide: ETH falls hard on the same steps.
    assert np.all(eth[crashes] < np.log(1 - 0.05))
    assert np.corrcoef(btc, eth)[0, 1] > 0.5


async def test_ticks_follow_generate_on_wall_clock_time():
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    source = SyntheticSource(start_time=1_000.0, interval=0.5, sleep=sleep)
    assert isinstance(source, PriceSource) and source.label == "SYNTHETIC"
    expected = source.generate(4)
    ticks = []
    async for tick in source.ticks():
        ticks.append(tick)
        if len(ticks) == 8:
            await source.close()
    assert [t.symbol for t in ticks[:2]] == [BTC, ETH]
    assert [t.timestamp for t in ticks[::2]] == [1_000.0, 1_000.5, 1_001.0, 1_001.5]
    assert [t.price for t in ticks[::2]] == expected[BTC].tolist()
    assert all(t.low <= t.price <= t.high for t in ticks)
    assert slept == [0.5] * 4
