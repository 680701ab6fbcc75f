"""A real account whose REST API is down while prices still stream halts automation: positions,
orders and fills are unknown then (found by the storm drill, tests/drills/test_storm.py)."""

from __future__ import annotations

from cockpit.domain.types import Balance, Gate
from cockpit.engine.engine import Engine
from cockpit.journal.store import Journal
from cockpit.venues.instruments import DEFAULT_INSTRUMENTS
from cockpit.venues.paper import PaperVenue
from tests.support import BTC, ETH, FakeClock, QueueSource, config, tick


class AccountReadAt(PaperVenue):
    """A paper venue that says, like ExchangeVenue, how long ago the account was read."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(DEFAULT_INSTRUMENTS, Balance(10_000.0), clock=clock)
        self.read_at = clock()

    def account_age(self) -> float:
        return self._clock() - self.read_at


async def _engine(tmp_path, venue, clock) -> tuple[Engine, Journal]:
    journal = await Journal.open(tmp_path / "journal.sqlite")
    engine = Engine(config=config(), source=QueueSource(), venue=venue, journal=journal, account="live-test",
                    clock=clock)
    return engine, journal


async def test_prices_streaming_but_the_account_unread_for_too_long_halts(tmp_path):
    clock = FakeClock()
    venue = AccountReadAt(clock)
    engine, journal = await _engine(tmp_path, venue, clock)
    try:
        limit = engine.config.market.stale_after_seconds + engine.config.exchange.account_poll_seconds  # 35 s
        for second in range(1, 20 + int(limit) + 4):
            clock.advance(1.0)
            if second <= 20:
                venue.read_at = clock()  # polls answer for 20 s, then the REST API is gone
            await engine.on_tick(tick(BTC, 60_000.0, clock()))
            await engine.on_tick(tick(ETH, 3_000.0, clock()))
            assert engine.gate is (Gate.HALTED if second > 20 + limit else Gate.ACTIVE), second
        assert not engine.snapshot.stale  # the prices were fresh all along
        trips = [r.payload for r in await journal.entries(kinds=["breaker"])]
        assert [(t["breaker"], t["subject"], t["status"]) for t in trips] == [("stale_data", "exchange account", "tripped")]
        gate = (await journal.entries(kinds=["gate"]))[-1].payload
        assert gate["to"] == "HALTED" and "stale_data exchange account tripped" in gate["reason"]
        venue.read_at = clock()  # the API answers again: the gate waits for a person
        await engine.on_tick(tick(BTC, 60_000.0, clock()))
        assert engine.gate is Gate.HALTED
        assert "gate ACTIVE" in await engine.resume(key="R")
    finally:
        await journal.close()


async def test_a_paper_account_has_no_account_reading(tmp_path):
    clock = FakeClock()
    venue = PaperVenue(DEFAULT_INSTRUMENTS, Balance(10_000.0), clock=clock)
    engine, journal = await _engine(tmp_path, venue, clock)
    try:
        for _ in range(100):
            clock.advance(1.0)
            await engine.on_tick(tick(BTC, 60_000.0, clock()))
        assert engine.gate is Gate.ACTIVE
        assert all(latch.subject != "exchange account" for latch in engine.snapshot.breakers)
    finally:
        await journal.close()
