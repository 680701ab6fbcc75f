"""The screen answers keys while the models are being fitted in the process pool."""

from __future__ import annotations

import asyncio

import numpy as np

from cockpit.engine.bootstrap import MarketChoice
from cockpit.engine.fit_pool import FitPool
from cockpit.engine.session import Session
from cockpit.tui.app import CockpitApp
from cockpit.tui.screens.models_screen import ModelsScreen
from cockpit.tui.screens.risk_screen import RiskScreen
from tests.support import BTC, ETH, T0, FakeClock, QueueSource, config, tick
from tests.tui.test_app import until

H = 4 * 3600.0


class HistorySource(QueueSource):
    """Hand-fed prices, with 600 bars of seeded random-walk history so a fit starts at once."""

    def history(self):
        rng = np.random.default_rng(5)
        times = T0 - H * np.arange(599, -1, -1)
        walk = np.exp(np.cumsum(rng.standard_t(4, (600, 2)) * 0.015, axis=0))
        return {BTC: (times, 60_000.0 * walk[:, 0] / walk[-1, 0]), ETH: (times, 3_000.0 * walk[:, 1] / walk[-1, 1])}


class HeldPool(FitPool):
    """The real process pool; each fit's answer is held back until the test lets it through,
    so the keys below are pressed while a fit is certainly in progress."""

    def __init__(self) -> None:
        super().__init__(1)
        self.release = asyncio.Event()
        self.started = 0

    async def run(self, task):
        self.started += 1
        result = await super().run(task)
        await self.release.wait()
        return result


async def test_keys_work_while_a_fit_runs_and_the_forecasts_appear_after_it(tmp_path):
    source, pool = HistorySource(), HeldPool()
    session = Session(config(), tmp_path / "journal.sqlite", choice=MarketChoice("demo", "paper-test", "demo"),
                      source=source, fit_pool=pool, clock=FakeClock())
    app = CockpitApp(session)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.engine is not None)
        source.push(tick(BTC, 60_000.0, T0 + 60), tick(ETH, 3_000.0, T0 + 60))
        await until(pilot, lambda: pool.started >= 1, timeout=10)
        await until(pilot, lambda: app.engine.snapshot.forecasts.running)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, RiskScreen), timeout=1)
        await pilot.press("escape")
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, ModelsScreen), timeout=1)
        await pilot.pause(1.2)  # one refresh of the models screen
        assert "fit running" in str(app.screen.query_one("#models-fit").render())
        source.push(tick(BTC, 60_100.0, T0 + 120), tick(ETH, 3_001.0, T0 + 120))
        await until(pilot, lambda: app.engine.snapshot.state.marks[BTC] == 60_100.0, timeout=1)
        assert app.engine.snapshot.forecasts.running  # all of that happened during the fit
        pool.release.set()
        await until(pilot, lambda: not app.engine.snapshot.forecasts.running
                    and app.engine.snapshot.forecasts.asset(BTC).sigma_4h is not None, timeout=30)
        await pilot.press("f")
        await until(pilot, lambda: not isinstance(app.screen, ModelsScreen), timeout=1)
