"""The scripted trader of a backtest: decides on proposals through the engine's own approve and
veto, as a person at the keyboard would, so every decision is journaled the same way."""

from __future__ import annotations

import random
from cockpit.domain.types import Gate
from cockpit.engine.engine import Engine

APPROVE_KEY = "backtest:a"
VETO_KEY = "backtest:v"
RESUME_KEY = "backtest:R"


class ScriptedApprover:
    """Approves each proposal `delay_bars` bars after it first appeared (0 = at once), or vetoes it
    with probability `veto_probability` (seeded, so a run repeats exactly). After a breaker trip
    or a halt it presses R (re-arm and resume) once `resume_after_seconds` of market time have
    passed, as a trader who looked at the screen the next day would."""

    def __init__(
        self,
        engine: Engine,
        *,
        delay_bars: int = 1,
        veto_probability: float = 0.0,
        resume_after_seconds: float = 86_400.0,
        seed: int = 0,
    ) -> None:
        if delay_bars < 0 or not 0.0 <= veto_probability <= 1.0:
            raise ValueError("delay_bars must be >= 0 and veto_probability within [0, 1]")
        self._engine = engine
        self._delay = delay_bars
        self._veto = veto_probability
        self._resume_after = resume_after_seconds
        self._rng = random.Random(seed)
        self._first_seen: dict[str, int] = {}
        self._engaged_since: float | None = None
        self.resumes = 0  # times R was pressed

    async def step(self, bar: int, market_time: float) -> None:
        """Looks at the screen at bar `bar` (market time `market_time`, epoch s) and decides."""
        engine = self._engine
        for proposal in engine.pending_proposals():
            if bar - self._first_seen.setdefault(proposal.id, bar) < self._delay:
                continue
            if self._veto and self._rng.random() < self._veto:
                await engine.veto(proposal.id, key=VETO_KEY)
            else:
                await engine.approve(proposal.id, key=APPROVE_KEY)
        await self._maybe_resume(market_time)

    async def _maybe_resume(self, market_time: float) -> None:
        engine = self._engine
        engaged = engine.gate is not Gate.ACTIVE or engine.breakers_engaged()
        if not engaged:
            self._engaged_since = None
            return
        if self._engaged_since is None:
            self._engaged_since = market_time
        elif market_time - self._engaged_since >= self._resume_after:
            await engine.resume(key=RESUME_KEY)
            self.resumes += 1
            self._engaged_since = None
