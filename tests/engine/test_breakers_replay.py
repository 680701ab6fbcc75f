"""Every circuit breaker trips on the real crash days when replayed through the engine.

The book is what the default targets build at 2x (BTC 0.5, ETH 0.3, or a BTC short for the
funding case), approved on the first bar; then the bars of March 2020 play through the engine
exactly as `cockpit --replay` plays them. The clock moves a second per tick, so no feed is stale.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from cockpit.domain import breakers as b
from cockpit.domain.types import Gate
from cockpit.engine.bootstrap import MarketChoice, open_engine
from cockpit.journal.store import Journal
from cockpit.venues.funding import FundingSchedule
from cockpit.venues.replay import ReplaySource
from tests.support import BTC, FakeClock, config


def day(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d")


async def replay(tmp_path, market_data, cfg, *, start, end, funding=None, files=("BTCUSDT", "ETHUSDT")):
    source = ReplaySource(
        [market_data / "binance_spot" / f"{name}_4h.csv.gz" for name in files], speed=0, start=start, end=end
    )
    journal = await Journal.open(tmp_path / "j.sqlite")
    clock = FakeClock()
    engine = await open_engine(cfg, MarketChoice("replay", "paper-replay"), journal, source=source,
                               funding=funding, clock=clock)
    approved = False
    async for tick in source.ticks():
        clock.advance(1.0)
        await engine.on_tick(tick)
        pending = [p for p in engine.snapshot.proposals if p.kind == "rebalance"]
        if not approved and pending:
            assert "filled" in await engine.approve(pending[0].id)
            # Ride the crash without the protective stops (they would close the book early, and
            # the breakers are what is under test): as if the trader took them off the exchange.
            await engine._venue.cancel_all()
            approved = True
    assert approved
    return engine, journal


async def test_loss_breakers_trip_on_2020_03_12(tmp_path, market_data):
    cfg = config(rebalance={"mode": "continuous"})
    engine, journal = await replay(tmp_path, market_data, cfg, start="2020-03-09", end="2020-03-14")
    rows = await journal.entries(kinds=["breaker", "gate", "proposal"])
    tripped = {(r.payload["breaker"], r.payload["subject"]): r for r in rows if r.kind == "breaker"}
    assert (b.PORTFOLIO_DAY_LOSS, b.PORTFOLIO) in tripped
    assert (b.POSITION_DAY_LOSS, BTC) in tripped
    portfolio = tripped[(b.PORTFOLIO_DAY_LOSS, b.PORTFOLIO)].payload
    position = tripped[(b.POSITION_DAY_LOSS, BTC)].payload
    assert portfolio["value"] > 0.08 and position["value"] > 0.15
    # The portfolio trip moved the gate to REDUCING, and proposals followed, every one reduce-only.
    gates = [r.payload for r in rows if r.kind == "gate"]
    assert gates[0]["to"] == "REDUCING" and gates[0]["key"] is None and "portfolio_day_loss" in gates[0]["reason"]
    assert engine.gate in (Gate.REDUCING, Gate.HALTED)
    breaker_proposals = [r for r in rows if r.kind == "proposal" and r.payload["kind"] == "breaker"]
    assert breaker_proposals
    assert all(o["reduce_only"] for r in breaker_proposals for o in r.payload["orders"])
    await journal.close()


async def test_trip_dates_are_the_crash_day(tmp_path, market_data):
    cfg = config(rebalance={"mode": "continuous"})
    source = ReplaySource(
        [market_data / "binance_spot" / f"{n}_4h.csv.gz" for n in ("BTCUSDT", "ETHUSDT")],
        speed=0, start="2020-03-09", end="2020-03-14",
    )
    journal = await Journal.open(tmp_path / "j.sqlite")
    clock = FakeClock()
    engine = await open_engine(cfg, MarketChoice("replay", "paper-replay"), journal, source=source, clock=clock)
    first_trip_day: dict[str, str] = {}
    async for tick in source.ticks():
        clock.advance(1.0)
        await engine.on_tick(tick)
        pending = [p for p in engine.snapshot.proposals if p.kind == "rebalance"]
        if pending and not engine.snapshot.state.positions:
            await engine.approve(pending[0].id)
            await engine._venue.cancel_all()  # no stops: see replay() above
        for latch in engine.snapshot.breakers:
            if latch.engaged:
                first_trip_day.setdefault(latch.breaker, day(tick.timestamp))
    await journal.close()
    assert first_trip_day[b.PORTFOLIO_DAY_LOSS] == "2020-03-12"
    assert first_trip_day[b.POSITION_DAY_LOSS] == "2020-03-12"


async def test_funding_breaker_trips_for_a_short_on_2020_03_13(tmp_path, market_data):
    funding_file = market_data / "binance_usdm_funding" / "BTCUSDT_funding_8h_2019-09-10_2026-04-22.csv.gz"
    funding = FundingSchedule.from_csv(funding_file, BTC)
    cfg = config(portfolio={"targets": {"BTC": -0.5}}, rebalance={"mode": "continuous"})
    engine, journal = await replay(tmp_path, market_data, cfg, start="2020-03-11", end="2020-03-15",
                                   funding=funding, files=("BTCUSDT",))
    rows = await journal.entries(kinds=["breaker", "funding", "proposal"])
    trip = next(r for r in rows if r.kind == "breaker" and r.payload["breaker"] == b.FUNDING_EXTREME)
    # The short paid the capped -0.3 % per 8h: a rate of 0.003 against it.
    assert trip.payload["value"] == pytest.approx(0.003, abs=1e-6)
    assert trip.payload["subject"] == BTC
    paid = [r for r in rows if r.kind == "funding" and r.payload["rate"] <= -0.003 + 1e-9]
    assert paid and all(r.payload["amount"] < 0 for r in paid)
    assert day(paid[0].payload["timestamp"]) == "2020-03-13"
    exits = [r for r in rows if r.kind == "proposal" and r.payload["kind"] == "breaker"
             and "exit" in r.payload["reason"]]
    assert exits and exits[0].payload["orders"][0]["side"] == "buy" and exits[0].payload["orders"][0]["reduce_only"]
    await journal.close()
