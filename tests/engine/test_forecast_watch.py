"""The live forecasting pipeline: 4h bars from prices, fits on schedule, recursion between fits,
scores, regimes and the override, on real BTC/ETH 4h history."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cockpit.engine.forecast_board import FAILED, FALLBACK, OK, WAITING
from cockpit.engine.forecast_watch import BAR_SECONDS, MIN_FIT_BARS, ForecastWatch, load_models
from cockpit.venues.replay import load_bars
from tests.support import BTC, ETH, config

H = BAR_SECONDS


class InlinePool:
    """Runs a fit in this process and counts the fits (the process pool has its own test)."""

    def __init__(self) -> None:
        self.calls = 0

    async def run(self, task):
        self.calls += 1
        return task()


class BrokenPool:
    async def run(self, task):
        raise RuntimeError("worker died")


@pytest.fixture(scope="module")
def history():
    from tests.conftest import MARKET

    if not MARKET.exists():
        pytest.skip("../shared/data/market is not beside this checkout")
    bars = {s: load_bars(MARKET / "binance_spot" / f"{s.split('/')[0]}USDT_4h.csv.gz") for s in (BTC, ETH)}
    times = np.intersect1d(bars[BTC]["open_time"].to_numpy(), bars[ETH]["open_time"].to_numpy())[-3200:]
    closes = {s: b.set_index("open_time")["close"].loc[times].to_numpy() for s, b in bars.items()}
    return times + H, closes  # close times


def watch(**models) -> ForecastWatch:
    return ForecastWatch(config(models=models), [BTC, ETH])


def feed(w: ForecastWatch, times, closes, start: int, stop: int) -> None:
    for i in range(start, stop):
        w.observe(float(times[i]), {BTC: float(closes[BTC][i]), ETH: float(closes[ETH][i])})


def seed(w: ForecastWatch, times, closes, stop: int) -> None:
    w.seed({s: (times[:stop], closes[s][:stop]) for s in (BTC, ETH)})


# ---- bars ------------------------------------------------------------------------------------


def test_a_bar_closes_with_the_last_price_of_its_period_when_the_next_period_starts():
    w = ForecastWatch(config(), [BTC])
    w.observe(10 * H + 60, {BTC: 100.0})
    w.observe(10 * H + 7200, {BTC: 110.0})  # same period (ends at 11H)
    assert w.board().asset(BTC).bars == 0
    w.observe(11 * H + 60, {BTC: 121.0})  # the next period: the first bar closed at 110
    w.observe(12 * H + 60, {BTC: 133.1})
    track = w._tracks[BTC]
    assert list(track.closes) == [110.0, 121.0]
    assert list(track.times) == [11 * H, 12 * H]
    assert np.allclose(track.returns(), [math.log(121.0 / 110.0)])


def test_a_price_stamped_on_the_boundary_closes_its_bar_at_once():
    # Replay bars are stamped at their close time: a 4h replay must not run a bar late.
    w = ForecastWatch(config(), [BTC])
    for k, price in enumerate([100.0, 101.0, 99.0], start=1):
        w.observe(k * H, {BTC: price})
    assert list(w._tracks[BTC].closes) == [100.0, 101.0, 99.0]


def test_old_and_bad_prices_are_ignored():
    w = ForecastWatch(config(), [BTC])
    w.observe(5 * H, {BTC: 100.0})
    w.observe(4 * H, {BTC: 90.0})  # inside a bar already closed
    w.observe(6 * H, {BTC: float("nan")})
    w.observe(6 * H, {BTC: -1.0, ETH: 5.0})  # ETH is not tracked
    w.observe(6 * H, {BTC: 102.0})
    assert list(w._tracks[BTC].closes) == [100.0, 102.0]


# ---- schedule and fits -----------------------------------------------------------------------


async def test_nothing_is_due_before_enough_bars_and_the_board_says_how_many(history):
    times, closes = history
    w = watch()
    seed(w, times, closes, MIN_FIT_BARS - 10)
    assert w.due(float(times[MIN_FIT_BARS])) is None
    asset = w.board().asset(BTC)
    assert asset.fit_status == WAITING and asset.sigma_4h is None
    assert f"{MIN_FIT_BARS - 10} of {MIN_FIT_BARS}" in asset.fit_note


async def test_schedule_learns_first_then_refits_garch_daily_and_learns_weekly(history):
    times, closes = history
    w = watch()
    seed(w, times, closes, 1500)
    now = float(times[1499])
    job = w.due(now)
    assert job is not None and job.learn
    pool = InlinePool()
    lines = await w.refit(job, pool.run)
    assert pool.calls == 4  # two volatility fits, two regimes
    assert any("GARCH family, HGB and model choice" in line for line in lines)
    assert w.due(now + 23 * 3600) is None
    daily = w.due(now + 24 * 3600)
    assert daily is not None and not daily.learn
    await w.refit(daily, pool.run)
    assert pool.calls == 6  # volatility only
    assert w.due(now + 47 * 3600) is None
    assert not w.due(now + 167 * 3600).learn  # the next daily one
    assert w.due(now + 168 * 3600).learn


async def test_between_refits_each_bar_updates_the_forecast_by_recursion_without_a_fit(history):
    times, closes = history
    w = watch(volatility_model="gjr")
    seed(w, times, closes, 1500)
    pool = InlinePool()
    await w.refit(w.due(float(times[1499])), pool.run)
    before = w.sigma_4h(BTC)
    fit = w._tracks[BTC].fit
    r = float(np.log(closes[BTC][1500] / closes[BTC][1499]))
    feed(w, times, closes, 1500, 1501)
    assert pool.calls == 4  # no new fit
    gjr = fit.states["gjr"]
    down = r < 0
    expected = gjr.omega + (gjr.alpha + gjr.gamma * down) * r * r + gjr.beta * gjr.variance
    assert w.sigma_4h(BTC) == pytest.approx(math.sqrt(expected), rel=1e-12)
    assert w.sigma_4h(BTC) != before


async def test_bars_that_close_while_a_fit_runs_are_applied_after_it(history):
    times, closes = history
    w, reference = watch(volatility_model="garch"), watch(volatility_model="garch")
    for x in (w, reference):
        seed(x, times, closes, 1500)
    job = w.due(float(times[1499]))

    async def slow_run(task):
        feed(w, times, closes, 1500, 1503)  # three bars close during the fit
        return task()

    await w.refit(job, slow_run)
    await reference.refit(reference.due(float(times[1499])), InlinePool().run)
    feed(reference, times, closes, 1500, 1503)
    assert w.sigma_4h(BTC) == pytest.approx(reference.sigma_4h(BTC), rel=1e-12)
    assert w._tracks[BTC].fit.n_returns == 1499  # fitted on what was known at submission


async def test_forecasts_made_up_to_t_do_not_change_with_what_happens_after_t(history):
    times, closes = history
    rng = np.random.default_rng(3)
    altered = {s: c.copy() for s, c in closes.items()}
    shock = np.exp(np.cumsum(rng.normal(0, 0.05, 200)))
    for s in altered:
        altered[s][1900:2100] = closes[s][1900:2100] * shock
    t = float(times[1899])
    boards, at_t = [], []
    for data in (closes, altered):
        w = watch()
        seed(w, times, data, 1800)
        await w.refit(w.due(float(times[1799])), InlinePool().run)
        feed(w, times, data, 1800, 1900)
        at_t.append(w.board().asset(BTC))
        feed(w, times, data, 1900, 1950)
        await w.refit(w.due(float(times[1949]) + 24 * 3600), InlinePool().run)  # a refit on the new data
        feed(w, times, data, 1950, 1960)
        boards.append(w.board().asset(BTC))
    assert at_t[0].sigma_4h == at_t[1].sigma_4h and at_t[0].score == at_t[1].score
    # The chart's forecasts for bars up to t, after different futures and a learning refit on
    # them: the same in both worlds, and what was shown at t is still shown.
    upto = [np.array([s for ts, s in zip(b.chart_times, b.chart_sigma) if ts <= t]) for b in boards]
    assert len(upto[0]) > 50 and np.array_equal(upto[0], upto[1], equal_nan=True)
    shown = np.array([s for ts, s in zip(at_t[0].chart_times, at_t[0].chart_sigma) if ts <= t])[-len(upto[0]):]
    known = np.isfinite(shown)
    assert known.sum() > 50 and np.array_equal(upto[0][known], shown[known])
    assert boards[0].sigma_4h != boards[1].sigma_4h  # the futures did differ


async def test_the_same_data_gives_the_same_forecasts_scores_and_regimes(history):
    times, closes = history
    results = []
    for _ in range(2):
        w = watch()
        seed(w, times, closes, 3000)
        await w.refit(w.due(float(times[2999])), InlinePool().run)
        feed(w, times, closes, 3000, 3010)
        results.append(w.board())
    a, b = results
    for x, y in zip(a.assets, b.assets):
        assert (x.sigma_4h, x.sigma_24h, x.model, x.regime) == (y.sigma_4h, y.sigma_24h, y.model, y.regime)
        assert x.score == y.score and x.losses == y.losses


async def test_the_board_shows_every_figure_after_a_learning_fit(history):
    times, closes = history
    w = watch()
    seed(w, times, closes, 3000)
    await w.refit(w.due(float(times[2999])), InlinePool().run)
    feed(w, times, closes, 3000, 3012)
    asset = w.board().asset(BTC)
    assert asset.fit_status in (OK, FALLBACK) and asset.last_fit_at is not None
    assert asset.model in asset.losses and "best 24h QLIKE" in asset.model_reason
    assert 0 < asset.sigma_4h < asset.sigma_24h < 0.5
    assert 0 <= asset.score <= 100
    assert asset.regime in ("bull", "consolidation", "bear", "crisis")
    assert asset.regime_source in ("model", "rules")
    assert len(asset.chart_times) == len(asset.chart_prices) == len(asset.chart_sigma) == 180
    assert asset.chart_prices[-1] == closes[BTC][3011]
    assert np.isfinite(asset.chart_sigma[-12:]).all()


async def test_the_score_is_the_percentile_of_the_forecast_in_its_own_history(history):
    times, closes = history
    w = watch()
    seed(w, times, closes, 3000)
    await w.refit(w.due(float(times[2999])), InlinePool().run)
    feed(w, times, closes, 3000, 3005)
    track = w._tracks[BTC]
    past = np.array(track.fit.score_history + tuple(track.since_fit[:-1]))
    now = w.board().asset(BTC).sigma_24h
    expected = 100.0 * (np.sum(past < now) + 0.5 * np.sum(past == now)) / past.size
    assert w.score(BTC) == pytest.approx(expected)


async def test_a_crashed_fit_is_failed_and_sizing_keeps_the_realized_volatility(history):
    times, closes = history
    w = watch()
    seed(w, times, closes, 1500)
    lines = await w.refit(w.due(float(times[1499])), BrokenPool().run)
    asset = w.board().asset(BTC)
    assert asset.fit_status == FAILED and "worker died" in asset.fit_note
    assert w.sigma_4h(BTC) is None  # the engine then uses the breakers' realized sigma
    assert any("volatility fit failed" in line for line in lines)
    assert not w.running


async def test_a_crashed_refit_keeps_the_last_good_fit_in_use(history):
    times, closes = history
    w = watch()
    seed(w, times, closes, 1500)
    await w.refit(w.due(float(times[1499])), InlinePool().run)
    sigma = w.sigma_4h(BTC)
    await w.refit(w.due(float(times[1499]) + 86_400), BrokenPool().run)
    asset = w.board().asset(BTC)
    assert asset.fit_status == FALLBACK and "worker died" in asset.fit_note
    assert w.sigma_4h(BTC) == sigma


async def test_a_non_converging_garch_fit_falls_back_and_says_so():
    # Prices that never move: arch has no variance to fit, every GARCH model falls back to EWMA.
    w = ForecastWatch(config(models={"volatility_model": "garch"}), [BTC])
    w.seed({BTC: (np.arange(1, 400) * H, np.full(399, 100.0))})
    await w.refit(w.due(400 * H), InlinePool().run)
    asset = w.board().asset(BTC)
    assert asset.fit_status == FALLBACK
    assert "constant" in asset.fit_note and "EWMA" in asset.fit_note


async def test_the_override_beats_the_learned_regime_until_cleared(history):
    times, closes = history
    w = watch()
    seed(w, times, closes, 3000)
    await w.refit(w.due(float(times[2999])), InlinePool().run)
    learned = w.regime()
    assert learned is not None and learned.regime == w._tracks[BTC].regime.regime
    w.override = "crisis"
    assert w.regime().regime == "crisis" and "override" in w.regime().reason
    assert all(a.regime == "crisis" and a.regime_source == "override" for a in w.board().assets)
    w.override = None
    assert w.regime().regime == learned.regime


def test_starting_the_cockpit_imports_neither_arch_nor_scikit_learn():
    # The first screen must not wait for them: they load when the first fit is about to run.
    import subprocess
    import sys

    code = ("import sys, cockpit.cli, cockpit.tui.app, cockpit.engine.bootstrap; "
            "print(sorted(m for m in ('arch', 'sklearn', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    assert load_models().__name__ == "cockpit.models.live_fit"


async def test_the_board_is_rebuilt_on_a_bar_or_a_fit_not_on_every_price(history):
    times, closes = history
    w = watch()
    seed(w, times, closes, 1500)
    await w.refit(w.due(float(times[1499])), InlinePool().run)
    first = w.board().assets
    w.observe(float(times[1499]) + 60, {BTC: float(closes[BTC][1500])})  # inside the open bar
    assert w.board().assets is first
    feed(w, times, closes, 1500, 1502)  # two bars close
    after = w.board().asset(BTC)
    assert after is not first[0] and after.bars == first[0].bars + 2
    w.override = "bear"
    assert w.board().asset(BTC).regime == "bear"
