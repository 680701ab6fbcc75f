"""A run killed between a proposal and its decision, or between an approval and its intents,
leaves the decision unfinished; the next start settles it in the journal and says so. Nothing of
it is carried out (found by the kill -9 drills, tests/drills/test_kill_order_path.py)."""

from __future__ import annotations

from cockpit.journal.store import Journal
from tests.support import BTC, ETH, start_engine, tick


async def killed_with_a_proposal(path) -> str:
    """Runs an engine until its first proposal is journaled and pending, then drops it without a
    stop row, as kill -9 would; returns the proposal id."""
    engine, journal, _ = await start_engine(path)
    await engine.on_tick(tick(BTC, 60_000.0))
    await engine.on_tick(tick(ETH, 3_000.0))
    proposal = engine.snapshot.proposals[0]
    await journal.close()
    return proposal.id


async def rows_of(journal: Journal, proposal_id: str) -> list:
    return [e for e in await journal.entries() if e.proposal_id == proposal_id]


async def test_a_proposal_nobody_decided_is_expired_at_the_next_start(tmp_path):
    path = tmp_path / "j.sqlite"
    proposal = await killed_with_a_proposal(path)

    engine, journal, _ = await start_engine(path)
    try:
        rows = await rows_of(journal, proposal)
        assert [(e.kind, e.payload.get("decision")) for e in rows] == [("proposal", None), ("decision", "expire")]
        assert rows[1].payload["key"] is None and "restart" in rows[1].payload["note"]
        assert proposal not in [p.id for p in engine.snapshot.proposals]
        assert not await journal.entries(kinds=["order"])
    finally:
        await journal.close()

    engine, journal, _ = await start_engine(path)  # settled once, not again
    try:
        assert len(await rows_of(journal, proposal)) == 2
    finally:
        await journal.close()


async def test_an_approval_killed_before_its_intents_is_reported_not_carried_out(tmp_path):
    path = tmp_path / "j.sqlite"
    engine, journal, _ = await start_engine(path)
    await engine.on_tick(tick(BTC, 60_000.0))
    await engine.on_tick(tick(ETH, 3_000.0))
    proposal = engine.snapshot.proposals[0]
    positions = dict(engine.snapshot.state.positions)
    # The approve row is committed, then the process dies before the executor journals an intent.
    await journal.append("decision", {"decision": "approve", "key": "a", "note": ""}, account=engine.account,
                         proposal_id=proposal.id)
    await journal.close()

    engine, journal, _ = await start_engine(path)
    try:
        notes = [e.payload["text"] for e in await rows_of(journal, proposal.id) if e.kind == "note"]
        assert len(notes) == 1 and "nothing was sent" in notes[0] and proposal.id in notes[0]
        assert proposal.id in engine.snapshot.notice
        assert not await journal.entries(kinds=["order"])
        assert dict(engine.snapshot.state.positions) == positions
    finally:
        await journal.close()

    engine, journal, _ = await start_engine(path)  # reported once
    try:
        assert len([e for e in await rows_of(journal, proposal.id) if e.kind == "note"]) == 1
    finally:
        await journal.close()


async def test_an_approval_that_was_carried_out_is_left_alone(tmp_path):
    path = tmp_path / "j.sqlite"
    engine, journal, _ = await start_engine(path)
    await engine.on_tick(tick(BTC, 60_000.0))
    await engine.on_tick(tick(ETH, 3_000.0))
    await engine.approve(engine.snapshot.proposals[0].id)
    await engine.stop("test")
    await journal.close()
    engine, journal, _ = await start_engine(path)
    try:
        rows = await journal.entries(kinds=["note", "decision"])
        assert not [e for e in rows if e.kind == "note" and "nothing was sent" in e.payload["text"]]
        assert [e.payload["decision"] for e in rows if e.kind == "decision"] == ["approve"]
    finally:
        await journal.close()
