"""Sizes a person types, through the engine on the paper venue: previews, editing a pending
proposal's size, manual orders, the resting stop and the PnL history."""

from __future__ import annotations

import math

import pytest

from cockpit.domain.order_size import OrderSizeError
from cockpit.domain.risk import assess, simulate_fills
from cockpit.domain.types import Gate, Order
from tests.support import BTC, ETH, T0, FakeClock, start_engine, tick


@pytest.fixture
async def running(tmp_path):
    clock = FakeClock()
    engine, journal, source = await start_engine(tmp_path / "j.sqlite", clock=clock)
    yield engine, journal, clock
    await journal.close()


async def prices(engine, btc=60_000.0, eth=3_000.0, timestamp=T0):
    await engine.on_tick(tick(BTC, btc, timestamp))
    await engine.on_tick(tick(ETH, eth, timestamp))


def trading(orders):
    return {(o.symbol, o.side): o.quantity for o in orders if o.order_type == "market"}


async def test_preview_is_the_assessment_of_the_state_after_the_fills(running):
    engine, _, _ = running
    await prices(engine)
    orders = (Order(BTC, "buy", 0.1),)
    preview = engine.preview(orders)
    paper = engine.config.paper
    after = assess(simulate_fills(engine.snapshot.state, orders, slippage=paper.slippage, fee_rate=paper.taker_fee))
    assert preview.leverage_after == after.effective_leverage
    assert preview.leverage_before == 0.0 and preview.denial is None
    assert preview.weights_after[BTC] > 0 and preview.weights_before == {}


async def test_edit_scales_the_pending_proposal_journals_it_and_leaves_it_pending(running):
    engine, journal, _ = running
    await prices(engine)
    (proposal,) = engine.pending_proposals()
    message = await engine.edit(proposal.id, 0.5, key="e")
    assert "edited x0.5: buy 0.166→0.083 BTC, buy 2→1 ETH" in message
    (edited,) = engine.pending_proposals()
    assert edited.id == proposal.id
    assert trading(edited.orders) == {(BTC, "buy"): 0.083, (ETH, "buy"): 1.0}
    # The stops follow the edited positions: one per position, for all of it.
    stops = {o.symbol: o.quantity for o in edited.orders if o.order_type == "stop_market"}
    assert stops == {BTC: 0.083, ETH: 1.0}
    assert edited.leverage_after == pytest.approx(engine.preview(edited.orders).leverage_after)
    assert edited.leverage_after < proposal.leverage_after
    (row,) = await journal.entries(kinds=["decision"])
    assert row.proposal_id == proposal.id and row.payload["decision"] == "edit" and row.payload["key"] == "e"
    assert row.payload["scale"] == 0.5
    assert [o["quantity"] for o in row.payload["original"] if o["order_type"] == "market"] == [0.166, 2.0]
    assert [o["quantity"] for o in row.payload["edited"] if o["order_type"] == "market"] == [0.083, 1.0]
    # Approving it sends the edited size, and only on the approval.
    assert engine.snapshot.state.positions == {}
    outcome = await engine.approve(proposal.id, key="a")
    assert "approved" in outcome
    held = engine.snapshot.state.positions
    assert held[BTC].quantity == pytest.approx(0.083) and held[ETH].quantity == pytest.approx(1.0)
    decisions = [(r.payload["decision"], r.payload["key"]) for r in await journal.entries(kinds=["decision"])]
    assert decisions == [("edit", "e"), ("approve", "a")]


async def test_a_second_edit_scales_the_proposal_as_proposed_so_x1_restores_it(running):
    engine, _, _ = running
    await prices(engine)
    (proposal,) = engine.pending_proposals()
    await engine.edit(proposal.id, 0.5)
    await engine.edit(proposal.id, 1)
    (edited,) = engine.pending_proposals()
    assert trading(edited.orders) == trading(proposal.orders)


@pytest.mark.parametrize("scale, expected", [
    (2.0, "DENIED leverage_after=3.20 > ceiling=3.00"),
    (0.0, "scale must be a number above zero"),
    (-1.0, "scale must be a number above zero"),
    (math.nan, "scale must be a number above zero"),
    (1e-9, "rounds every order down to nothing"),
])
async def test_an_edit_the_checks_refuse_changes_nothing_and_journals_nothing(running, scale, expected):
    engine, journal, _ = running
    await prices(engine)
    (proposal,) = engine.pending_proposals()
    message = await engine.edit(proposal.id, scale)
    assert expected in message and "the proposal is unchanged" in message
    assert engine.pending_proposals() == (proposal,)
    assert await journal.entries(kinds=["decision"]) == []


async def test_edit_of_a_proposal_no_longer_pending_says_so(running):
    engine, journal, _ = running
    await prices(engine)
    (proposal,) = engine.pending_proposals()
    await engine.veto(proposal.id)
    assert "no longer pending" in await engine.edit(proposal.id, 0.5)
    with pytest.raises(OrderSizeError, match="no longer pending"):
        engine.edited_orders(proposal.id, 0.5)


async def test_a_manual_order_is_queued_as_a_proposal_and_sends_nothing_until_approved(running):
    engine, journal, _ = running
    await prices(engine)
    (rebalance,) = engine.pending_proposals()
    await engine.veto(rebalance.id)
    message = await engine.propose_manual(BTC, "buy", notional=3_000.0)
    (manual,) = engine.pending_proposals()
    assert manual.kind == "manual" and message.startswith(f"{manual.id} manual buy 0.05 BTC queued")
    assert trading(manual.orders) == {(BTC, "buy"): 0.05}  # 3,000 / 60,000, on the 0.001 step
    (stop,) = [o for o in manual.orders if o.order_type == "stop_market"]
    assert stop.reduce_only and stop.quantity == 0.05 and stop.stop_price < 60_000
    assert engine.snapshot.state.positions == {}
    (row,) = [r for r in await journal.entries(kinds=["proposal"]) if r.proposal_id == manual.id]
    assert row.payload["kind"] == "manual" and row.payload["reason_numbers"]["notional"] == pytest.approx(3_000.0)
    await engine.approve(manual.id, key="a")
    assert engine.snapshot.state.positions[BTC].quantity == pytest.approx(0.05)


@pytest.mark.parametrize("symbol, side, size, reduce_only, expected", [
    ("DOGE/USDT:USDT", "buy", {"quantity": 1.0}, False, "unknown symbol"),
    (BTC, "hold", {"quantity": 1.0}, False, "side must be buy or sell"),
    (BTC, "buy", {"quantity": 0.0}, False, "quantity must be a number above zero"),
    (BTC, "buy", {"quantity": -1.0}, False, "quantity must be a number above zero"),
    (BTC, "buy", {"quantity": 0.0004}, False, "rounds down to nothing"),
    (BTC, "buy", {"quantity": 1.0}, False, "DENIED leverage_after="),
    (BTC, "sell", {"quantity": 0.01}, True, "needs a long BTC position to reduce"),
])
async def test_a_manual_order_the_checks_refuse_is_not_queued(running, symbol, side, size, reduce_only, expected):
    engine, journal, _ = running
    await prices(engine)
    before = engine.pending_proposals()
    message = await engine.propose_manual(symbol, side, reduce_only=reduce_only, **size)
    assert expected in message and "nothing was proposed" in message
    assert engine.pending_proposals() == before
    assert len(await journal.entries(kinds=["proposal"])) == len(before)


async def test_a_halted_gate_refuses_a_manual_order(running):
    engine, _, _ = running
    await prices(engine)
    await engine.flatten(key="F")
    assert engine.gate is Gate.HALTED
    assert "DENIED gate=HALTED" in await engine.propose_manual(BTC, "buy", quantity=0.01)
    assert engine.pending_proposals() == ()


async def test_resting_stops_and_the_pnl_history_follow_the_position(running):
    engine, _, clock = running
    await prices(engine)
    await engine.approve(engine.pending_proposals()[0].id)
    stops = await engine.resting_stops()
    assert set(stops) == {BTC, ETH} and stops[BTC].quantity == pytest.approx(0.166)
    for second in range(1, 4):
        await engine.on_tick(tick(BTC, 60_000.0 + 100 * second, T0 + second))
    series = engine.pnl_history(BTC)
    assert len(series) >= 3 and series.times == tuple(sorted(series.times))
    # The last sample: 0.166 BTC bought at 60,030 (slipped), marked at 60,300.
    assert series.unrealized_pnl[-1] == pytest.approx(0.166 * (60_300 - 60_030))
    assert series.marks[-1] == 60_300.0
