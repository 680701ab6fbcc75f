"""The engine end to end on the paper venue: propose, approve, veto, expire, mode, restart."""

from __future__ import annotations

import pytest

from cockpit.domain.types import Gate, RebalanceMode
from cockpit.journal.rebuild import rebuild_paper_account
from tests.support import BTC, ETH, T0, FakeClock, config, start_engine, tick


async def kinds(journal, **filters):
    return [e.kind for e in await journal.entries(**filters)]


@pytest.fixture
async def running(tmp_path):
    clock = FakeClock()
    engine, journal, source = await start_engine(tmp_path / "j.sqlite", clock=clock)
    yield engine, journal, clock
    await journal.close()


async def prices(engine, btc=60_000.0, eth=3_000.0, timestamp=T0):
    await engine.on_tick(tick(BTC, btc, timestamp))
    await engine.on_tick(tick(ETH, eth, timestamp))


async def test_a_new_account_gets_a_rebalance_proposal_once_every_target_has_a_price(running):
    engine, journal, _ = running
    await engine.on_tick(tick(BTC, 60_000.0))
    assert engine.snapshot.proposals == ()  # ETH has no price yet
    await engine.on_tick(tick(ETH, 3_000.0))
    (proposal,) = engine.snapshot.proposals
    # Targets: BTC 0.5 * 2x * 10,000 = 10,000 USDT -> 0.1666 BTC, rounded down to step 0.001;
    # ETH 0.3 * 2 * 10,000 = 6,000 USDT -> 2.000 ETH.
    orders = {o.symbol: (o.side, o.quantity) for o in proposal.orders if o.order_type == "market"}
    assert orders == {BTC: ("buy", 0.166), ETH: ("buy", 2.0)}
    # Each new position comes with a reduce-only stop for all of it, inside its liquidation price.
    stops = {o.symbol: (o.side, o.quantity, o.reduce_only) for o in proposal.orders if o.order_type == "stop_market"}
    assert stops == {BTC: ("sell", 0.166, True), ETH: ("sell", 2.0, True)}
    assert proposal.reason_numbers["drift_BTC"] == pytest.approx(-0.5)
    assert proposal.reason_numbers["band"] == 0.05
    # Leverage after ~ (9,960 + 6,000) / (10,000 - costs) ~ 1.6x
    assert proposal.leverage_after == pytest.approx(1.6, abs=0.01)
    rows = await journal.entries(kinds=["proposal"])
    assert rows[0].proposal_id == proposal.id and rows[0].payload["reason_numbers"]["drift_ETH"] == pytest.approx(-0.3)


async def test_approve_journals_decision_then_intent_then_result_then_fill(running):
    engine, journal, _ = running
    await prices(engine)
    proposal = engine.snapshot.proposals[0]
    message = await engine.approve(proposal.id, key="a")
    assert "2/2 filled, 2 stops resting" in message
    positions = engine.snapshot.state.positions
    assert positions[BTC].quantity == pytest.approx(0.166) and positions[ETH].quantity == pytest.approx(2.0)
    rows = [e for e in await journal.entries() if e.proposal_id == proposal.id]
    sequence = [r.kind for r in rows]
    # Every intent is committed before the first order leaves, then each answer as it comes.
    assert sequence == ["proposal", "decision", "order", "order", "order", "order", "order_result", "fill",
                        "order_result", "fill", "order_result", "order_result"]
    decision = rows[1]
    assert decision.payload["decision"] == "approve" and decision.payload["key"] == "a"
    intents = [r for r in rows if r.kind == "order"]
    assert [r.client_order_id for r in intents] == [f"ck-{decision.seq}-{i}" for i in range(4)]
    fills = [r for r in rows if r.kind == "fill"]
    assert {f.client_order_id for f in fills} == {r.client_order_id for r in intents[:2]}
    # The stops rest: intent journaled with its trigger price, then the venue's "open".
    stops = [r for r in rows if r.kind == "order" and r.payload["order_type"] == "stop_market"]
    assert all(r.payload["reduce_only"] and r.payload["side"] == "sell" for r in stops)
    assert [r.payload["status"] for r in rows[-2:]] == ["open", "open"]
    btc_stop = next(r for r in stops if r.symbol == BTC).payload["stop_price"]
    # 4h sigma defaults to 2% with no history: stop 3.8% + 1.4 x 2% = 6.6% under the mark.
    assert btc_stop == pytest.approx(60_000 * (1 - 0.066), rel=1e-3)
    # Buys pay mark * (1 + 0.0005 slippage): 60,000 -> 60,030.
    btc_fill = next(f for f in fills if f.symbol == BTC)
    assert btc_fill.payload["price"] == pytest.approx(60_030.0)


async def test_nothing_is_sent_without_approval(running):
    engine, journal, clock = running
    await prices(engine)
    for second in range(1, 50):
        clock.advance(1)
        await prices(engine, timestamp=T0 + second)
    assert engine.snapshot.state.positions == {}
    assert "order" not in await kinds(journal)


async def test_veto_is_journaled_and_nothing_identical_is_proposed_until_drift_moves(running):
    engine, journal, clock = running
    await prices(engine)
    proposal = engine.snapshot.proposals[0]
    await engine.veto(proposal.id, key="v")
    decision = (await journal.entries(kinds=["decision"]))[-1]
    assert decision.payload == {"decision": "veto", "key": "v", "note": ""}
    await engine.toggle_mode()  # continuous: checks on every update
    for second in range(1, 20):
        clock.advance(1)
        await prices(engine, timestamp=T0 + second)
    assert engine.snapshot.proposals == ()  # drift is the same as at the veto
    assert await kinds(journal, kinds=["proposal"]) == ["proposal"]


async def test_proposal_expires_after_its_ttl_and_then_cannot_be_approved(tmp_path):
    clock = FakeClock()
    engine, journal, _ = await start_engine(tmp_path / "j.sqlite", config(proposals={"ttl_seconds": 30.0}), clock=clock)
    await prices(engine)
    proposal = engine.snapshot.proposals[0]
    clock.advance(31)
    message = await engine.approve(proposal.id)
    assert "expired" in message
    assert engine.snapshot.state.positions == {}
    decision = (await journal.entries(kinds=["decision"]))[-1]
    assert decision.payload["decision"] == "expire" and decision.payload["note"].startswith("ttl")
    assert "order" not in await kinds(journal)
    await journal.close()


async def test_proposal_expires_when_a_price_moves_too_far(running):
    engine, journal, _ = running
    await prices(engine)
    proposal = engine.snapshot.proposals[0]
    await engine.on_tick(tick(BTC, 60_000 * 1.012, T0 + 1))  # 1.2% > 1% max move
    assert proposal.id not in {p.id for p in engine.snapshot.proposals}
    decision = (await journal.entries(kinds=["decision"]))[0]
    assert decision.proposal_id == proposal.id and "price_move" in decision.payload["note"]


async def test_approval_is_denied_when_prices_are_stale(running):
    engine, journal, clock = running
    await prices(engine)
    proposal = engine.snapshot.proposals[0]
    clock.advance(31)  # stale_after_seconds = 30; the ttl is 120
    message = await engine.approve(proposal.id)
    assert "DENIED stale_data" in message
    assert (await journal.entries(kinds=["denied"]))[0].payload["reason"].startswith("DENIED stale_data")
    assert "order" not in await kinds(journal)


async def test_approval_is_denied_when_leverage_after_would_break_the_ceiling(tmp_path):
    # Sizing left loose (no volatility cap, no reserve move) so the book sits right under the ceiling.
    cfg = config(proposals={"max_price_move": 0.9}, portfolio={"targets": {"BTC": 1.0}, "target_leverage": 2.9}, limits={"max_asset_exposure": 3.0},
                 rebalance={"mode": "continuous"}, sizing={"regime_aware": False, "target_volatility": 10.0},
                 reserve={"profit_trigger": 10.0})
    engine, journal, _ = await start_engine(tmp_path / "j.sqlite", cfg)
    await engine.on_tick(tick(BTC, 60_000.0))
    await engine.approve(engine.snapshot.proposals[0].id)  # ~0.483 BTC, 2.9x
    # BTC +10%: equity ~12,900, notional ~31,900 -> 2.47x; the engine proposes topping up to 2.9x.
    await engine.on_tick(tick(BTC, 66_000.0, T0 + 1))
    proposal = engine.snapshot.proposals[0]
    assert all(o.side == "buy" for o in proposal.orders if o.order_type == "market")
    # Before approval BTC falls back to 60,060: the account is at 2.9x again, and the same
    # top-up would now take it to ~3.4x.
    await engine.on_tick(tick(BTC, 60_060.0, T0 + 2))
    message = await engine.approve(proposal.id)
    assert "DENIED leverage_after=" in message and "> ceiling=3.00" in message
    denied = (await journal.entries(kinds=["denied"]))[0]
    assert denied.proposal_id == proposal.id
    sent = await journal.entries(kinds=["order"])
    assert [r.payload["order_type"] for r in sent] == ["market", "stop_market"]  # the first approval only
    await journal.close()


async def test_mode_toggle_is_journaled_and_continuous_checks_every_update(running):
    engine, journal, clock = running
    assert engine.mode is RebalanceMode.INTERVAL
    await engine.toggle_mode(key="m")
    assert engine.mode is RebalanceMode.CONTINUOUS
    row = (await journal.entries(kinds=["mode"]))[-1]
    assert row.payload["mode"] == "continuous" and row.payload["key"] == "m"
    await engine.toggle_mode(key="m")
    assert engine.mode is RebalanceMode.INTERVAL


async def test_interval_mode_counts_down_in_market_time(running):
    engine, _, clock = running
    await prices(engine)
    await engine.veto(engine.snapshot.proposals[0].id)
    await prices(engine, timestamp=T0 + 3600)
    assert engine.snapshot.seconds_to_next_check() == pytest.approx(3 * 3600)


async def test_flatten_cancels_halts_closes_verifies_and_is_safe_twice(running):
    engine, journal, _ = running
    await prices(engine)
    await engine.approve(engine.snapshot.proposals[0].id)
    report = await engine.flatten(key="F")
    assert report.flat and report.closed == 2
    assert engine.snapshot.state.positions == {}
    assert engine.gate is Gate.HALTED
    steps = [e.payload["step"] for e in await journal.entries(kinds=["flatten"])]
    assert steps == ["request", "cancel", "gate", "close", "verify", "done"]
    assert report.cancelled == 2  # the two protective stops came off first

    async def closes():
        return [e for e in await journal.entries(kinds=["order"])
                if e.payload["reduce_only"] and e.payload["order_type"] == "market"]

    assert len(await closes()) == 2
    again = await engine.flatten(key="F")
    assert again.flat and again.closed == 0 and again.cancelled == 0
    assert len(await closes()) == 2


async def test_halted_gate_blocks_proposals_until_a_person_resumes(running):
    engine, journal, clock = running
    await prices(engine)
    await engine.flatten()
    await engine.toggle_mode()
    await prices(engine, timestamp=T0 + 1)
    assert engine.snapshot.proposals == ()
    await engine.resume(key="R")
    assert engine.gate is Gate.ACTIVE
    assert (await journal.entries(kinds=["gate"]))[-1].payload == {"from": "HALTED", "to": "ACTIVE", "reason": "resumed by trader", "key": "R"}
    await prices(engine, timestamp=T0 + 2)
    assert len(engine.snapshot.proposals) == 1


async def test_a_restart_continues_the_paper_account_gate_and_mode_from_the_journal(tmp_path):
    path = tmp_path / "j.sqlite"
    engine, journal, _ = await start_engine(path)
    await prices(engine)
    await engine.approve(engine.snapshot.proposals[0].id)
    await engine.toggle_mode()
    before = engine.snapshot.state
    await engine.stop("test")
    await journal.close()

    engine, journal, _ = await start_engine(path)
    after = engine.snapshot.state
    assert after.balance.wallet == pytest.approx(before.balance.wallet, rel=1e-12)
    assert {s: (p.quantity, p.entry_price) for s, p in after.positions.items()} == {
        s: (p.quantity, p.entry_price) for s, p in before.positions.items()
    }
    assert after.marks == pytest.approx(dict(before.marks))
    assert engine.mode is RebalanceMode.CONTINUOUS
    # Proposal ids keep counting across runs. BTC +50% lifts equity ~50%, so ETH's weight falls
    # from 0.30 to ~0.20: 10 points of drift.
    await prices(engine, btc=90_000.0, timestamp=T0 + 10)
    assert engine.snapshot.proposals[0].id == "P-2"
    kinds_seen = await kinds(journal, kinds=["start", "stop"])
    assert kinds_seen == ["start", "stop", "start"]
    await journal.close()


async def test_the_protective_stop_closes_a_3x_long_before_liquidation(tmp_path):
    cfg = config(portfolio={"targets": {"BTC": 1.0}, "target_leverage": 3.0}, limits={"max_asset_exposure": 3.0})
    engine, journal, _ = await start_engine(tmp_path / "j.sqlite", cfg)
    await engine.on_tick(tick(BTC, 60_000.0))
    proposal = engine.snapshot.proposals[0]
    stop = next(o for o in proposal.orders if o.order_type == "stop_market")
    # Liquidation ~40,160; the stop sits 6.6% under the mark (default 4h sigma 2%), far inside it.
    assert stop.stop_price == pytest.approx(56_040.0, rel=1e-3)
    await engine.approve(proposal.id)
    await engine.on_tick(tick(BTC, 35_000.0, T0 + 60, low=30_000.0))
    assert engine.snapshot.state.positions == {}
    assert await journal.entries(kinds=["liquidation"]) == []
    fill = (await journal.entries(kinds=["fill"]))[-1]
    assert fill.client_order_id.endswith("-1") and fill.payload["side"] == "sell"
    # The gap through the stop fills at the bar's price, not the stop: a loss, but not the margin.
    assert engine.snapshot.risk.equity > 2_000
    await journal.close()


async def test_liquidation_on_the_paper_venue_is_journaled_and_survives_a_restart(tmp_path):
    path = tmp_path / "j.sqlite"
    cfg = config(portfolio={"targets": {"BTC": 1.0}, "target_leverage": 3.0}, limits={"max_asset_exposure": 3.0})
    engine, journal, _ = await start_engine(path, cfg)
    await engine.on_tick(tick(BTC, 60_000.0))
    await engine.approve(engine.snapshot.proposals[0].id)
    await engine._venue.cancel_all()  # no protective stop: this test is about the liquidation
    # 3x long: liquidation ~ 60,000 * (1 - 1/3) / (1 - 0.004) ~ 40,160; the bar trades down to 30,000.
    await engine.on_tick(tick(BTC, 35_000.0, T0 + 60, low=30_000.0))
    assert engine.snapshot.state.positions == {}
    liquidation = (await journal.entries(kinds=["liquidation"]))[0]
    assert liquidation.symbol == BTC
    rebuilt = await rebuild_paper_account(journal, "paper-test")
    assert rebuilt.positions == {}
    assert rebuilt.balance.wallet == pytest.approx(engine.snapshot.state.balance.wallet)
    await journal.close()


async def test_a_run_that_ended_without_a_stop_is_noted_at_the_next_start(tmp_path):
    path = tmp_path / "j.sqlite"
    engine, journal, _ = await start_engine(path)
    await journal.close()  # no engine.stop(): as if killed
    engine, journal, _ = await start_engine(path)
    notes = await journal.entries(kinds=["note"])
    assert len(notes) == 1 and "ended without a stop" in notes[0].payload["text"]
    await engine.stop("test")
    await journal.close()
    engine, journal, _ = await start_engine(path)
    assert len(await journal.entries(kinds=["note"])) == 1  # a clean stop leaves nothing to note
    await journal.close()


async def test_approval_is_denied_above_the_order_size_limit(tmp_path):
    cfg = config(limits={"max_order_notional": 5_000.0})
    engine, journal, _ = await start_engine(tmp_path / "j.sqlite", cfg)
    await prices(engine)
    message = await engine.approve(engine.snapshot.proposals[0].id)
    # The BTC leg is 0.166 * 60,000 = 9,960 USDT > 5,000.
    assert "DENIED order_notional=9,960.00 > max=5,000.00" in message
    assert await journal.entries(kinds=["order"]) == []
    await journal.close()


async def test_approvals_beyond_the_order_rate_are_denied(tmp_path):
    clock = FakeClock()
    cfg = config(limits={"max_orders_per_second": 2.0}, rebalance={"mode": "continuous"})
    engine, journal, _ = await start_engine(tmp_path / "j.sqlite", cfg, clock=clock)
    await prices(engine)
    await engine.approve(engine.snapshot.proposals[0].id)  # 2 orders: the second's budget is spent
    await engine.flatten()
    await engine.resume(key="R")
    await prices(engine, timestamp=T0 + 0.5)
    message = await engine.approve(engine.snapshot.proposals[0].id)
    assert "DENIED order_rate" in message
    clock.advance(1.0)
    await prices(engine, timestamp=T0 + 1.5)
    assert "filled" in await engine.approve(engine.snapshot.proposals[0].id)
    await journal.close()


async def test_resting_stops_survive_a_restart_and_still_protect(tmp_path):
    path = tmp_path / "j.sqlite"
    engine, journal, _ = await start_engine(path)
    await prices(engine)
    await engine.approve(engine.snapshot.proposals[0].id)
    await engine.stop("test")
    await journal.close()

    engine, journal, _ = await start_engine(path)
    stops = await engine._venue.open_orders()
    assert sorted((o.symbol, o.side, o.quantity) for o in stops) == [(BTC, "sell", 0.166), (ETH, "sell", 2.0)]
    # BTC's bar trades through its stop (6.6% under 60,000): it fills, under the same client id.
    await engine.on_tick(tick(BTC, 55_000.0, T0 + 60, low=54_000.0))
    assert BTC not in engine.snapshot.state.positions
    btc_stop = next(o for o in stops if o.symbol == BTC)
    fill = (await journal.entries(kinds=["fill"]))[-1]
    assert fill.client_order_id == btc_stop.client_order_id
    assert fill.payload["price"] == pytest.approx(btc_stop.stop_price * (1 - 0.0005))
    await engine.stop("test")
    await journal.close()

    # The filled stop is not put back a second time; ETH's still rests.
    engine, journal, _ = await start_engine(path)
    assert [(o.symbol, o.quantity) for o in await engine._venue.open_orders()] == [(ETH, 2.0)]
    await journal.close()


async def test_approval_that_adds_exposure_waits_while_an_order_outcome_is_unknown(running, monkeypatch):
    engine, journal, _ = running
    await prices(engine)
    proposal = engine.snapshot.proposals[0]
    assert not all(order.reduce_only for order in proposal.orders)
    # A live account's venue counts sent orders whose outcome it does not know yet.
    monkeypatch.setattr(engine._venue, "unresolved", 1, raising=False)
    message = await engine.approve(proposal.id)
    assert "DENIED unresolved_orders=1" in message
    assert (await journal.entries(kinds=["denied"]))[0].payload["reason"].startswith("DENIED unresolved_orders=1")
    assert "order" not in await kinds(journal)
    assert engine.snapshot.state.positions == {}
