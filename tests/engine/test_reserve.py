"""The profit reserve through the engine: +15% on the money put in proposes ring-fencing profit
(reduce-only trims); approving it journals the reserve and sizes on equity - reserve, across a
restart; vetoing it moves the baseline (journaled, so a restart remembers the veto); below the
trigger nothing is proposed."""

from __future__ import annotations

import pytest

from tests.support import BTC, ETH, T0, FakeClock, config, start_engine, tick

START = 10_000.0  # account.starting_balance
TRIGGER = 0.15  # reserve.profit_trigger
BAND_MIDDLE = 0.25  # (band_low 0.20 + band_high 0.30) / 2


def continuous():
    return config(rebalance={"mode": "continuous"})


async def prices(engine, clock, btc, eth, timestamp):
    clock.advance(1.0)
    await engine.on_tick(tick(BTC, btc, timestamp))
    await engine.on_tick(tick(ETH, eth, timestamp))


def pending(engine, kind):
    return [p for p in engine.snapshot.proposals if p.kind == kind]


async def invested(engine, clock):
    """Approves the first rebalance at BTC 60,000 / ETH 3,000: about 16,000 USDT long at 2x."""
    await prices(engine, clock, 60_000.0, 3_000.0, T0)
    (first,) = pending(engine, "rebalance")
    assert "filled" in await engine.approve(first.id)
    assert engine.snapshot.state.positions[BTC].quantity > 0


async def rally(engine, clock, factor, *, hours=1):
    """Moves both prices up by `factor` (one step an hour), then returns the reserve proposals."""
    for hour in range(1, hours + 1):
        step = 1 + (factor - 1) * hour / hours
        await prices(engine, clock, 60_000.0 * step, 3_000.0 * step, T0 + 3600 * hour)
    return pending(engine, "reserve")


@pytest.fixture
async def book(tmp_path):
    clock = FakeClock()
    engine, journal, _ = await start_engine(tmp_path / "j.sqlite", continuous(), clock=clock)
    try:
        await invested(engine, clock)
        yield engine, journal, clock
    finally:
        await journal.close()


async def test_fifteen_percent_up_proposes_ring_fencing_profit_with_trims_only(book):
    engine, journal, clock = book
    aim_before = engine.snapshot.target_leverage
    (proposal,) = await rally(engine, clock, 1.10)
    equity = engine.snapshot.risk.equity
    assert equity / START - 1 >= TRIGGER
    assert pending(engine, "rebalance") == []  # the reserve is asked first

    numbers = proposal.reason_numbers
    assert numbers["baseline"] == START  # no reserve row yet: the deposits
    assert numbers["equity"] == pytest.approx(equity)
    assert numbers["gain"] == pytest.approx(equity / START - 1)
    assert numbers["reserve_before"] == 0.0
    assert 0 < numbers["moved"] <= equity - START + 1e-6  # never more than the profit
    assert numbers["reserve_after"] == pytest.approx(numbers["reserve_before"] + numbers["moved"])
    assert numbers["reserve_after"] / equity <= BAND_MIDDLE + 1e-9  # topped up to the middle at most
    assert numbers["reserve_share_after"] == pytest.approx(numbers["reserve_after"] / equity)
    # Here the profit (~16%) is the binding limit, not the band.
    assert numbers["moved"] == pytest.approx(equity - START)

    assert proposal.orders
    for order in proposal.orders:
        assert order.reduce_only and order.side == "sell", order
    assert {o.symbol for o in proposal.orders} == {BTC, ETH}
    rows = await journal.entries(kinds=["proposal"])
    assert rows[-1].proposal_id == proposal.id and rows[-1].payload["kind"] == "reserve"

    held = {s: p.quantity for s, p in engine.snapshot.state.positions.items()}
    message = await engine.approve(proposal.id, key="a")
    assert "filled" in message
    (reserve_row,) = await journal.entries(kinds=["reserve"])
    assert reserve_row.proposal_id == proposal.id
    assert reserve_row.payload["amount"] == pytest.approx(numbers["moved"])
    assert reserve_row.payload["moved"] == pytest.approx(numbers["moved"])
    assert reserve_row.payload["key"] == "a"
    assert reserve_row.payload["baseline"] == pytest.approx(engine.snapshot.risk.equity)
    snapshot = engine.snapshot
    assert snapshot.reserve == pytest.approx(numbers["moved"])
    for symbol, position in snapshot.state.positions.items():
        assert 0 < position.quantity < held[symbol]  # trimmed, not closed
    # Sized on equity - reserve: the aim shrinks by that share.
    equity = snapshot.risk.equity
    assert snapshot.target_leverage < aim_before
    assert snapshot.target_leverage == pytest.approx(aim_before * (equity - snapshot.reserve) / equity)
    # The book now sits at the smaller aim: at the same prices nothing more is proposed.
    await prices(engine, clock, 66_000.0, 3_300.0, T0 + 7200)
    assert engine.snapshot.proposals == ()


async def test_the_reserve_survives_a_restart(tmp_path):
    clock = FakeClock()
    path = tmp_path / "j.sqlite"
    engine, journal, _ = await start_engine(path, continuous(), clock=clock)
    try:
        await invested(engine, clock)
        (proposal,) = await rally(engine, clock, 1.10)
        assert "filled" in await engine.approve(proposal.id)
        reserve, aim = engine.snapshot.reserve, engine.snapshot.target_leverage
        assert reserve > 0
        await engine.stop("t")
    finally:
        await journal.close()

    engine, journal, _ = await start_engine(path, continuous(), clock=clock)
    try:
        assert engine.snapshot.reserve == pytest.approx(reserve)
        assert engine.snapshot.target_leverage == pytest.approx(aim)
        # The baseline came back too: at the same prices, no new reserve (or rebalance) proposal.
        await prices(engine, clock, 66_000.0, 3_300.0, T0 + 7200)
        assert engine.snapshot.proposals == ()
        assert engine.snapshot.reserve == pytest.approx(reserve)
    finally:
        await journal.close()


async def test_a_vetoed_reserve_is_not_asked_again_at_the_same_prices(book):
    engine, journal, clock = book
    (proposal,) = await rally(engine, clock, 1.10)
    await engine.veto(proposal.id, key="v")
    decision = (await journal.entries(kinds=["decision"]))[-1]
    assert decision.proposal_id == proposal.id
    assert decision.payload == {"decision": "veto", "key": "v", "note": ""}
    for hour in range(2, 8):
        await prices(engine, clock, 66_000.0, 3_300.0, T0 + 3600 * hour)
        assert pending(engine, "reserve") == []
    assert [r.payload["kind"] for r in await journal.entries(kinds=["proposal"])].count("reserve") == 1
    assert all(r.payload["amount"] == 0.0 for r in await journal.entries(kinds=["reserve"]))  # nothing moved
    assert engine.snapshot.reserve == 0.0


@pytest.mark.parametrize("factor", [1.0625, 1.09])  # equity about +10% and +14%
async def test_below_the_trigger_no_reserve_is_proposed(book, factor):
    engine, journal, clock = book
    assert await rally(engine, clock, factor, hours=4) == []
    gain = engine.snapshot.risk.equity / START - 1
    assert 0.09 < gain < TRIGGER
    assert all(r.payload["kind"] != "reserve" for r in await journal.entries(kinds=["proposal"]))
    assert engine.snapshot.reserve == 0.0


async def test_a_vetoed_reserve_stays_vetoed_after_a_restart(tmp_path):
    clock = FakeClock()
    path = tmp_path / "j.sqlite"
    engine, journal, _ = await start_engine(path, continuous(), clock=clock)
    try:
        await invested(engine, clock)
        (proposal,) = await rally(engine, clock, 1.10)
        await engine.veto(proposal.id)
        await engine.stop("t")
    finally:
        await journal.close()
    engine, journal, _ = await start_engine(path, continuous(), clock=clock)
    try:
        await prices(engine, clock, 66_000.0, 3_300.0, T0 + 7200)
        assert pending(engine, "reserve") == []
    finally:
        await journal.close()
