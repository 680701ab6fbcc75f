"""The gate can move while an approved decision's orders are going out: what it no longer allows
is not sent (found by the storm drill, tests/drills/test_storm.py: a buy left 10 s after the
gate went HALTED, the first order of its decision having waited on a failing exchange)."""

from __future__ import annotations

import asyncio

from cockpit.domain.types import Gate
from cockpit.venues.paper import PaperVenue
from tests.support import BTC, ETH, FakeClock, start_engine, tick


async def test_orders_of_a_decision_left_after_the_gate_halted_are_not_sent_but_stops_are(tmp_path, monkeypatch):
    clock = FakeClock()
    engine, journal, source = await start_engine(tmp_path / "journal.sqlite", clock=clock)
    first_out, answer = asyncio.Event(), asyncio.Event()
    sent = []
    send = PaperVenue.submit

    async def slow_first(self, order):
        sent.append(order)
        if len(sent) == 1:  # the exchange sits on the first order's answer
            first_out.set()
            await answer.wait()
        return await send(self, order)

    monkeypatch.setattr(PaperVenue, "submit", slow_first)
    run = asyncio.create_task(engine.run())
    try:
        source.push(tick(BTC, 60_000.0, clock()), tick(ETH, 3_000.0, clock()))
        for _ in range(100):
            await asyncio.sleep(0.01)
            if engine.pending_proposals():
                break
        proposal = engine.pending_proposals()[0]
        kinds = [(o.order_type, o.reduce_only) for o in proposal.orders]
        assert kinds == [("market", False), ("market", False), ("stop_market", True), ("stop_market", True)]
        approval = asyncio.create_task(engine.approve(proposal.id, key="a"))
        await asyncio.wait_for(first_out.wait(), 2)
        clock.advance(engine.config.market.stale_after_seconds + 5)  # no price since: stale
        for _ in range(300):  # the housekeeping round (every second) halts the gate
            await asyncio.sleep(0.01)
            if engine.gate is Gate.HALTED:
                break
        assert engine.gate is Gate.HALTED
        answer.set()
        outcome = await asyncio.wait_for(approval, 5)
        assert "1/3 filled, 1 stop resting" in outcome and "gate went HALTED" in outcome
        # The second buy never left; both protective stops did (reduce-only), the ETH one to be
        # refused by the venue: its position was never opened.
        assert [(o.symbol, o.order_type) for o in sent] == [(BTC, "market"), (BTC, "stop_market"), (ETH, "stop_market")]
        results = [r.payload for r in await journal.entries(kinds=["order_result"])]
        assert [p["status"] for p in results] == ["filled", "rejected", "open", "rejected"]
        assert results[1]["reason"] == "not sent: the gate went HALTED while this decision's orders were going out"
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        await journal.close()
