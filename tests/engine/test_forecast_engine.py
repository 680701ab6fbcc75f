"""The engine with forecasts: sizing reads the model in use, the volatility score proposes cuts,
the trader's regime override is journaled and survives a restart, drift is journaled, and fits
run in a real process pool while prices keep flowing."""

from __future__ import annotations

import asyncio
import contextlib
import math

import numpy as np
import pytest

from cockpit.engine.bootstrap import MarketChoice, open_engine
from cockpit.engine.fit_pool import FitPool
from cockpit.journal.store import Journal
from cockpit.venues.replay import load_bars
from tests.support import BTC, ETH, FakeClock, QueueSource, T0, config, tick

H = 4 * 3600.0


class InlinePool:
    """Runs fits in this process (the process pool itself is tested at the end)."""

    async def run(self, task):
        return task()

    def close(self) -> None:
        pass


class HistorySource(QueueSource):
    """A hand-fed source that also hands over real BTC/ETH 4h history ending at T0."""

    def __init__(self, closes: dict[str, np.ndarray]) -> None:
        super().__init__()
        self._closes = closes

    def history(self):
        n = len(self._closes[BTC])
        times = T0 - H * np.arange(n - 1, -1, -1)
        return {s: (times, c) for s, c in self._closes.items()}

    def start_prices(self):
        return {s: float(c[-1]) for s, c in self._closes.items()}


@pytest.fixture(scope="module")
def closes():
    from tests.conftest import MARKET

    if not MARKET.exists():
        pytest.skip("../shared/data/market is not beside this checkout")
    bars = {s: load_bars(MARKET / "binance_spot" / f"{s.split('/')[0]}USDT_4h.csv.gz") for s in (BTC, ETH)}
    times = np.intersect1d(bars[BTC]["open_time"].to_numpy(), bars[ETH]["open_time"].to_numpy())[-3000:]
    return {s: b.set_index("open_time")["close"].loc[times].to_numpy() for s, b in bars.items()}


@contextlib.asynccontextmanager
async def running(tmp_path, closes, *, pool=None, **sections):
    journal = await Journal.open(tmp_path / "j.sqlite")
    source = HistorySource(closes)
    clock = FakeClock()
    engine = await open_engine(config(**sections), MarketChoice("demo", "paper-f", grant_demo_book=True), journal,
                               source=source, fit_pool=pool or InlinePool(), clock=clock)
    task = asyncio.create_task(engine.run())
    try:
        yield engine, journal, source, clock
    finally:
        await source.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        await journal.close()


async def wait_for(condition, seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


def fitted(engine) -> bool:
    board = engine.snapshot.forecasts
    return all(a.sigma_4h is not None and a.regime for a in board.assets) and not board.running


def push_marks(source, closes, timestamp):
    source.push(tick(BTC, float(closes[BTC][-1]), timestamp), tick(ETH, float(closes[ETH][-1]), timestamp))


async def test_sizing_uses_the_forecast_of_the_model_in_use(tmp_path, closes):
    async with running(tmp_path, closes, sizing={"regime_aware": True}) as (engine, journal, source, clock):
        push_marks(source, closes, T0 + 60)
        await wait_for(lambda: fitted(engine))
        push_marks(source, closes, T0 + 120)
        await wait_for(lambda: engine.snapshot.sizing is not None and engine.snapshot.version > 3)
        await asyncio.sleep(1.2)  # a housekeeping round resizes
        board, sizing = engine.snapshot.forecasts, engine.snapshot.sizing
        expected = (0.5 * board.asset(BTC).sigma_4h + 0.3 * board.asset(ETH).sigma_4h) / 0.8
        assert engine.config.portfolio.targets == {"BTC": 0.5, "ETH": 0.3}
        assert sizing.book_sigma_4h == pytest.approx(expected, rel=1e-9)
        proxy = board.asset(BTC)
        assert sizing.decision.regime == proxy.regime
        fits = [e.payload["text"] for e in await journal.entries(kinds=["model"]) if e.payload["event"] == "fit"]
        assert any("BTC/USDT:USDT refit GARCH family, HGB and model choice" in t for t in fits)
        assert any(t.startswith("ETH/USDT:USDT regime") for t in fits)


async def test_the_regime_override_is_journaled_sizes_at_once_and_survives_a_restart(tmp_path, closes):
    sizing = {"regime_aware": True}
    async with running(tmp_path, closes, sizing=sizing) as (engine, journal, source, clock):
        push_marks(source, closes, T0 + 60)
        await wait_for(lambda: fitted(engine))
        said = await engine.override_regime("crisis", key="o")
        assert "crisis" in said and "x0.10" in said
        assert engine.snapshot.sizing.decision.regime == "crisis"
        assert engine.snapshot.sizing.decision.regime_multiplier == 0.1
        assert all(a.regime == "crisis" and a.regime_source == "override" for a in engine.snapshot.forecasts.assets)
        assert engine.snapshot.forecasts.regime_override == "crisis"
        rows = [e.payload for e in await journal.entries(kinds=["model"]) if e.payload["event"] == "regime_override"]
        assert rows == [{"event": "regime_override", "regime": "crisis", "key": "o"}]
        await engine.stop("test")
    async with running(tmp_path, closes, sizing=sizing) as (engine, journal, source, clock):
        assert engine.snapshot.forecasts.regime_override == "crisis"
        assert engine.snapshot.sizing.decision.regime == "crisis"
        assert "cleared" in await engine.override_regime(None, key="o")
        assert engine.snapshot.forecasts.regime_override is None
        await engine.stop("test")
    async with running(tmp_path, closes, sizing=sizing) as (engine, journal, source, clock):
        assert engine.snapshot.forecasts.regime_override is None
        await engine.stop("test")


async def test_an_unknown_regime_changes_nothing(tmp_path, closes):
    async with running(tmp_path, closes) as (engine, journal, source, clock):
        before = len(await journal.entries())
        said = await engine.override_regime("moon", key="o")
        assert "unknown regime 'moon'" in said
        assert len(await journal.entries()) == before
        assert engine.snapshot.forecasts.regime_override is None


async def test_a_high_volatility_score_proposes_a_cut_once_and_a_veto_holds(tmp_path, closes):
    # score_cut 1: any scored asset is "too volatile", so the path is exercised on any data.
    async with running(tmp_path, closes, models={"score_cut": 1.0, "score_cut_fraction": 0.5}) as (engine, journal, source, clock):
        push_marks(source, closes, T0 + 60)
        await wait_for(lambda: fitted(engine))
        push_marks(source, closes, T0 + 120)
        await wait_for(lambda: any(p.kind == "volatility" for p in engine.snapshot.proposals))
        cut = next(p for p in engine.snapshot.proposals if p.kind == "volatility")
        symbol = cut.orders[0].symbol
        held = engine.snapshot.state.positions[symbol].quantity
        assert cut.orders[0].reduce_only and cut.orders[0].quantity == pytest.approx(held * 0.5, rel=0.02)
        score = engine.snapshot.forecasts.asset(symbol).score
        assert cut.reason_numbers["volatility_score"] == pytest.approx(score, abs=5)
        assert f"volatility score {cut.reason_numbers['volatility_score']:.0f} >= 1" in cut.reason
        await engine.veto(cut.id)
        push_marks(source, closes, T0 + 180)
        await asyncio.sleep(0.3)
        assert not any(p.kind == "volatility" and p.orders[0].symbol == symbol for p in engine.snapshot.proposals)


async def test_drift_is_raised_on_the_board_and_journaled(tmp_path, closes):
    # min_sharpe 10: no real strategy clears it, so a week of equity closes raises the warning.
    async with running(tmp_path, closes, models={"min_sharpe": 10.0}) as (engine, journal, source, clock):
        rng = np.random.default_rng(1)
        for day in range(9):
            move = math.exp(rng.normal(0, 0.02))
            source.push(tick(BTC, float(closes[BTC][-1]) * move, T0 + day * 86_400 + 3600),
                        tick(ETH, float(closes[ETH][-1]) * move, T0 + day * 86_400 + 3600))
        clock.advance(5)
        await wait_for(lambda: engine.snapshot.forecasts.warnings)
        warning = engine.snapshot.forecasts.warnings[0]
        assert warning.startswith("strategy Sharpe") and "below 10.00" in warning
        rows = [e.payload for e in await journal.entries(kinds=["model"]) if e.payload["event"] == "drift"]
        assert rows and rows[0]["status"] == "raised" and rows[0]["text"] == warning


async def test_fits_run_in_a_process_pool_while_prices_keep_flowing(tmp_path, closes):
    pool = FitPool(1)
    async with running(tmp_path, closes, pool=pool) as (engine, journal, source, clock):
        push_marks(source, closes, T0 + 60)
        await wait_for(lambda: engine.snapshot.forecasts.running, 10)
        seen = engine.snapshot.version
        for k in range(5):  # the engine takes prices while the fit runs in the other process
            push_marks(source, closes, T0 + 120 + k)
        await wait_for(lambda: engine.snapshot.version >= seen + 5, 5)
        assert engine.snapshot.forecasts.running
        await wait_for(lambda: fitted(engine), 60)
        assert engine.snapshot.forecasts.asset(BTC).fit_status in ("ok", "fallback")
    assert pool._pool is None  # closed with the engine
