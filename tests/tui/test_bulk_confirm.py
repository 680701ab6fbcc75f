"""Approve or veto every pending proposal (A / V), behind a y/n confirmation, driven by keystrokes
on the real engine, paper venue and journal. Each decision is journaled on its own with its key."""

from __future__ import annotations

import pytest

from cockpit.tui.screens.bulk_confirm import BulkConfirm
from tests.support import BTC, ETH, T0, FakeClock
from tests.tui.desk_support import notice
from tests.tui.test_app import journal_rows, make_app, started_with_a_proposal, until


async def two_pending(pilot, app, source) -> tuple[str, str]:
    """The first rebalance and a manual buy of 0.5 ETH, both pending; returns their ids."""
    await started_with_a_proposal(pilot, app, source)
    await app.engine.propose_manual(ETH, "buy", quantity=0.5)
    await until(pilot, lambda: len(app.engine.snapshot.proposals) == 2)
    await pilot.pause(0.3)
    first, second = app.engine.snapshot.proposals
    return first.id, second.id


@pytest.mark.parametrize("key, decision", [("A", "approve"), ("V", "veto")])
async def test_a_bulk_key_with_nothing_pending_says_so_and_asks_nothing(tmp_path, key, decision):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.engine is not None)
        await pilot.press(key)
        await pilot.pause(0.2)
        assert not isinstance(app.screen, BulkConfirm)
        assert f"no proposal pending: nothing to {decision}" in notice(app)
    assert await journal_rows(tmp_path, "decision") == []


async def test_shift_a_then_y_approves_each_pending_proposal_with_key_a(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        ids = await two_pending(pilot, app, source)
        await pilot.press("A")
        await until(pilot, lambda: isinstance(app.screen, BulkConfirm))
        listed = str(app.screen.query_one("#bulk-list").render())
        assert "P-1 rebalance: buy 0.166 BTC, buy 2 ETH, +2 stops" in listed and "P-2 manual: buy 0.5 ETH" in listed
        await pilot.press("y")
        await until(pilot, lambda: not app.engine.snapshot.proposals)
        await until(pilot, lambda: "A: 2 of 2 approved" in notice(app))
        positions = app.engine.snapshot.state.positions
        assert positions[BTC].quantity == pytest.approx(0.166) and positions[ETH].quantity == pytest.approx(2.5)
    decisions = await journal_rows(tmp_path, "decision")
    assert [(d.proposal_id, d.payload["decision"], d.payload["key"]) for d in decisions] == [
        (ids[0], "approve", "A"), (ids[1], "approve", "A")]


async def test_shift_v_then_y_vetoes_each_and_sends_nothing(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        ids = await two_pending(pilot, app, source)
        await pilot.press("V")
        await until(pilot, lambda: isinstance(app.screen, BulkConfirm))
        await pilot.press("y")
        await until(pilot, lambda: "V: 2 of 2 vetoed" in notice(app))
        assert app.engine.snapshot.state.positions == {}
    decisions = await journal_rows(tmp_path, "decision")
    assert [(d.proposal_id, d.payload["decision"], d.payload["key"]) for d in decisions] == [
        (ids[0], "veto", "V"), (ids[1], "veto", "V")]
    assert await journal_rows(tmp_path, "order") == []


@pytest.mark.parametrize("answer", ["n", "escape"])
async def test_no_or_escape_does_nothing_and_other_keys_are_ignored(tmp_path, answer):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await two_pending(pilot, app, source)
        await pilot.press("A")
        await until(pilot, lambda: isinstance(app.screen, BulkConfirm))
        await pilot.press("a", "v", "q", "F", "x")  # wrong keys in this dialog: nothing
        await pilot.pause(0.2)
        assert isinstance(app.screen, BulkConfirm) and app.is_running
        await pilot.press(answer)
        await until(pilot, lambda: not isinstance(app.screen, BulkConfirm))
        assert "A cancelled: nothing was done" in notice(app)
        assert len(app.engine.snapshot.proposals) == 2
    assert await journal_rows(tmp_path, "decision") == []


async def test_bulk_approve_rechecks_each_one_after_the_ones_before_it(tmp_path):
    # The rebalance takes the book to 1.6x; a manual buy of 0.15 BTC (queued while flat, and
    # allowed then) would then take BTC to 1.9x of equity > the 1.5 exposure cap: refused alone.
    from tests.support import config

    app, source = make_app(tmp_path, cfg=config(limits={"max_asset_exposure": 1.5}))
    async with app.run_test(size=(80, 24)) as pilot:
        await started_with_a_proposal(pilot, app, source)
        await app.engine.propose_manual(BTC, "buy", quantity=0.15)
        await until(pilot, lambda: len(app.engine.snapshot.proposals) == 2)
        await pilot.press("A")
        await until(pilot, lambda: isinstance(app.screen, BulkConfirm))
        await pilot.press("y")
        await until(pilot, lambda: "A: 1 of 2 approved; 1 not, first: P-2 DENIED exposure" in notice(app))
        assert app.engine.snapshot.state.positions[BTC].quantity == pytest.approx(0.166)
    decisions = await journal_rows(tmp_path, "decision")
    assert [(d.payload["decision"], d.payload["key"]) for d in decisions] == [("approve", "A"), ("approve", "A")]
    assert [r.proposal_id for r in await journal_rows(tmp_path, "denied")] == ["P-2"]


@pytest.mark.parametrize("size", [(80, 24), (160, 50)])
def test_bulk_confirm_snapshot(tmp_path, snap_compare, size):
    app, source = make_app(tmp_path, clock=FakeClock(T0))

    async def run_before(pilot) -> None:
        await two_pending(pilot, app, source)
        await pilot.press("A")
        await until(pilot, lambda: isinstance(app.screen, BulkConfirm))
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
