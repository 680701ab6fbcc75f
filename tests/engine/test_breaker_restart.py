"""A circuit-breaker trip nobody reset survives a restart: the latch comes back LATCHED, holds the
rebalancer back and waits for R, exactly as before the process stopped."""

from __future__ import annotations

import pytest

from cockpit.domain import breakers as b
from cockpit.domain.breakers import BreakerStatus
from cockpit.domain.types import Gate
from tests.support import BTC, ETH, T0, FakeClock, config, start_engine, tick

# A low position threshold, so BTC trips on a move that stays above its protective stop
# (~6.6 % under the entry mark) and the position is still there to be measured. Continuous mode:
# a rebalance is due on every price, so only a latch can hold it back.
CFG = config(breakers={"position_day_loss": 0.02}, rebalance={"mode": "continuous"})
LATCH = (b.POSITION_DAY_LOSS, BTC)


@pytest.fixture
async def opener():
    """Yields open_(path, clock, cfg) -> (engine, journal). Every journal is closed at teardown,
    also when an assertion fails halfway: an open journal's writer thread keeps pytest alive."""
    journals = []

    async def open_(path, clock, cfg=CFG):
        engine, journal, _ = await start_engine(path, cfg, clock=clock)
        journals.append(journal)
        return engine, journal

    yield open_
    for journal in journals:
        await journal.close()


async def booked(open_, path, clock, cfg=CFG):
    """An engine holding the default book (0.166 BTC, 2 ETH) bought at marks 60,000 / 3,000."""
    engine, journal = await open_(path, clock, cfg)
    await engine.on_tick(tick(BTC, 60_000.0))
    await engine.on_tick(tick(ETH, 3_000.0))
    assert "filled" in await engine.approve(engine.snapshot.proposals[0].id)
    return engine, journal


async def prices(engine, clock, btc, eth, at):
    clock.now = at
    await engine.on_tick(tick(BTC, btc, at))
    await engine.on_tick(tick(ETH, eth, at))


def policy_proposals(engine):
    # What the rebalancer proposes on its own (a rebalance, or a reserve when equity is up): any
    # proposal but a breaker's cut. An engaged latch holds all of it back.
    return [p for p in engine.snapshot.proposals if p.kind != "breaker"]


async def breaker_rows(journal):
    return [(r.payload["breaker"], r.payload["subject"], r.payload["status"])
            for r in await journal.entries(kinds=["breaker"])]


async def restored_notes(journal):
    return [r.payload["text"] for r in await journal.entries(kinds=["note"])
            if r.payload["text"].startswith("breakers restored latched")]


async def test_a_trip_nobody_reset_comes_back_latched_and_waits_for_r(tmp_path, opener):
    path, clock = tmp_path / "j.sqlite", FakeClock()
    engine, journal = await booked(opener, path, clock)
    await prices(engine, clock, 58_500.0, 3_000.0, T0 + 60)  # BTC -2.5 % on the day > 2 %
    assert await breaker_rows(journal) == [(b.POSITION_DAY_LOSS, BTC, "tripped")]
    tripped_value = (await journal.entries(kinds=["breaker"]))[0].payload["value"]
    assert tripped_value == pytest.approx(0.025)
    assert engine.gate is Gate.ACTIVE  # a position trip proposes a cut; it does not move the gate
    await engine.stop("test")
    await journal.close()

    # Second run: the latch is back before any price arrives, on the board the screen draws.
    engine, journal = await opener(path, clock)
    latch = engine._breakers.latches[LATCH]
    assert latch.status is BreakerStatus.LATCHED and latch.value is None
    assert latch.tripped_value == pytest.approx(tripped_value)
    assert engine.snapshot.breakers[0] == latch  # engaged first on the board
    assert await restored_notes(journal) == [
        f"breakers restored latched: {b.POSITION_DAY_LOSS} {BTC}; R re-arms them"
    ]
    note, start = (await journal.entries(kinds=["note", "start"]))[-2:]
    assert note.seq < start.seq  # journaled while opening, before this run's START

    # The rolling day restarts with the process, so BTC's reading is ~0: not a breach. The latch
    # stays LATCHED, journals no second trip, and keeps the rebalancer quiet, although ETH +50 %
    # leaves the book well outside its band in continuous mode.
    await prices(engine, clock, 58_500.0, 4_500.0, T0 + 120)
    assert engine._breakers.latches[LATCH].status is BreakerStatus.LATCHED
    assert engine._breakers.latches[LATCH].value == pytest.approx(0.0)
    assert policy_proposals(engine) == []
    assert await breaker_rows(journal) == [(b.POSITION_DAY_LOSS, BTC, "tripped")]

    message = await engine.resume(key="R")
    assert "1 breaker(s) re-armed" in message
    assert engine._breakers.latches[LATCH].status is BreakerStatus.ARMED
    reset = (await journal.entries(kinds=["breaker"]))[-1].payload
    assert (reset["breaker"], reset["subject"], reset["status"], reset["key"]) == (
        b.POSITION_DAY_LOSS, BTC, "reset", "R"
    )
    await prices(engine, clock, 58_500.0, 4_500.0, T0 + 180)
    assert policy_proposals(engine)  # re-armed: the rebalancer speaks again at the same prices
    await engine.stop("test")
    await journal.close()

    # Third run: the reset is in the journal, so nothing comes back latched and nothing is noted.
    engine, journal = await opener(path, clock)
    assert not any(latch.engaged for latch in engine._breakers.latches.values())
    assert not any(latch.engaged for latch in engine.snapshot.breakers)
    assert len(await restored_notes(journal)) == 1
    await engine.stop("test")
    await journal.close()


async def test_a_restored_latch_whose_condition_holds_again_turns_tripped_and_proposes_the_cut(tmp_path, opener):
    path, clock = tmp_path / "j.sqlite", FakeClock()
    engine, journal = await booked(opener, path, clock)
    await prices(engine, clock, 58_500.0, 3_000.0, T0 + 60)
    await engine.stop("test")
    await journal.close()

    engine, journal = await opener(path, clock)
    await prices(engine, clock, 58_500.0, 3_000.0, T0 + 120)  # the new run's day starts here
    await prices(engine, clock, 57_000.0, 3_000.0, T0 + 180)  # -2.6 % since: breached again
    latch = engine._breakers.latches[LATCH]
    assert latch.status is BreakerStatus.TRIPPED and latch.value == pytest.approx(1 - 57_000 / 58_500)
    # Still the first trip's figures: it never re-armed, so this is the same trip, not a new one.
    assert latch.tripped_value == pytest.approx(0.025)
    assert await breaker_rows(journal) == [(b.POSITION_DAY_LOSS, BTC, "tripped")]
    (cut,) = [p for p in engine.snapshot.proposals if p.kind == "breaker"]
    assert cut.orders[0].symbol == BTC and cut.orders[0].side == "sell" and cut.orders[0].reduce_only
    await engine.stop("test")
    await journal.close()


async def test_a_portfolio_trip_keeps_the_gate_reducing_and_its_latch_across_a_restart(tmp_path, opener):
    path, clock = tmp_path / "j.sqlite", FakeClock()
    engine, journal = await booked(opener, path, clock, config())
    # -10 % on both at 1.6x: equity down ~16 % > 8 %. BTC's stop fills on the way (a loss too).
    await prices(engine, clock, 54_000.0, 2_700.0, T0 + 60)
    assert engine.gate is Gate.REDUCING
    assert (b.PORTFOLIO_DAY_LOSS, b.PORTFOLIO, "tripped") in await breaker_rows(journal)
    await engine.stop("test")
    await journal.close()

    engine, journal = await opener(path, clock, config())
    assert engine.gate is Gate.REDUCING  # from the newest GATE row
    assert engine._breakers.latches[(b.PORTFOLIO_DAY_LOSS, b.PORTFOLIO)].status is BreakerStatus.LATCHED
    assert "gate ACTIVE, 1 breaker(s) re-armed" in await engine.resume(key="R")
    assert engine.gate is Gate.ACTIVE
    await engine.stop("test")
    await journal.close()

    engine, journal = await opener(path, clock, config())
    assert engine.gate is Gate.ACTIVE
    assert not any(latch.engaged for latch in engine._breakers.latches.values())
    await engine.stop("test")
    await journal.close()
