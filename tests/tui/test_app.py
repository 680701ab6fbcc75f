"""The cockpit screen driven by keystrokes (Textual Pilot), on the real engine, paper venue and
journal; only the price source is fed by the test."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cockpit.domain.types import Gate, RebalanceMode
from cockpit.engine.bootstrap import MarketChoice
from cockpit.engine.session import Session
from cockpit.journal.store import Journal
from cockpit.tui.app import CockpitApp
from cockpit.tui.screens.quit_confirm import QuitConfirm
from cockpit.tui.screens.typed_confirm import TypedConfirm
from cockpit.tui.widgets.positions_table import PositionsTable
from textual.widgets import Input, Log
from tests.support import BTC, ETH, T0, FakeClock, QueueSource, config, tick


def make_app(tmp_path: Path, *, clock=None, cfg=None, themes=None) -> tuple[CockpitApp, QueueSource]:
    source = QueueSource()
    session = Session(
        cfg or config(), tmp_path / "journal.sqlite", choice=MarketChoice("demo", "paper-test", "demo"),
        source=source, clock=clock or FakeClock(),
    )
    return CockpitApp(session, themes), source


async def until(pilot, condition, timeout: float = 5.0) -> None:
    """Lets the app run until `condition()` holds; fails the test after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.05)


async def started_with_a_proposal(pilot, app: CockpitApp, source: QueueSource) -> None:
    await until(pilot, lambda: app.engine is not None)
    source.push(tick(BTC, 60_000.0), tick(ETH, 3_000.0))
    await until(pilot, lambda: len(app.engine.snapshot.proposals) == 1)
    await pilot.pause(0.3)  # one refresh of the screen


async def journal_rows(tmp_path: Path, kind: str):
    async with await Journal.open(tmp_path / "journal.sqlite") as journal:
        return await journal.entries(kinds=[kind])


async def test_a_approves_the_selected_proposal_and_the_position_appears(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await started_with_a_proposal(pilot, app, source)
        await pilot.press("a")
        await until(pilot, lambda: len(app.engine.snapshot.state.positions) == 2)
        await pilot.pause(0.3)
        table = app.query_one(PositionsTable)
        symbols = {str(table.get_row_at(i)[0]) for i in range(table.row_count)}
        assert symbols == {"BTC", "ETH"}
        assert "approved: 2/2 filled, 2 stops resting" in str(app.query_one("#notice").render())
    decisions = await journal_rows(tmp_path, "decision")
    assert [(d.payload["decision"], d.payload["key"]) for d in decisions] == [("approve", "a")]
    orders = await journal_rows(tmp_path, "order")
    assert [o.payload["order_type"] for o in orders] == ["market", "market", "stop_market", "stop_market"]


async def test_v_vetoes_and_nothing_is_sent(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await started_with_a_proposal(pilot, app, source)
        await pilot.press("v")
        await until(pilot, lambda: app.engine.snapshot.proposals == ())
        assert app.engine.snapshot.state.positions == {}
    decisions = await journal_rows(tmp_path, "decision")
    assert [(d.payload["decision"], d.payload["key"]) for d in decisions] == [("veto", "v")]
    assert await journal_rows(tmp_path, "order") == []


async def test_a_with_no_proposal_says_so_and_changes_nothing(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.engine is not None)
        await pilot.press("a", "v")
        await pilot.pause(0.1)
        assert "no proposal selected" in str(app.query_one("#notice").render())
    assert await journal_rows(tmp_path, "decision") == []


async def test_m_toggles_the_mode_and_the_header_shows_it(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await started_with_a_proposal(pilot, app, source)
        assert "interval 4h" in str(app.query_one("#status").render())
        await pilot.press("m")
        await until(pilot, lambda: app.engine.mode is RebalanceMode.CONTINUOUS)
        await pilot.pause(0.3)
        assert "continuous" in str(app.query_one("#status").render())
    modes = await journal_rows(tmp_path, "mode")
    assert [(m.payload["mode"], m.payload["key"]) for m in modes] == [("continuous", "m")]


async def test_flatten_with_the_typed_word_closes_everything_and_halts(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await started_with_a_proposal(pilot, app, source)
        await pilot.press("a")
        await until(pilot, lambda: len(app.engine.snapshot.state.positions) == 2)
        await pilot.press("F")
        await until(pilot, lambda: isinstance(app.focused, Input))
        await pilot.press(*"FLATTEN", "enter")
        await until(pilot, lambda: app.engine.gate is Gate.HALTED and not app.engine.snapshot.state.positions)
        await pilot.pause(0.3)
        assert "HALTED" in str(app.query_one("#status").render())
        assert "FLAT" in str(app.query_one("#notice").render())
    steps = [row.payload["step"] for row in await journal_rows(tmp_path, "flatten")]
    assert steps == ["request", "cancel", "gate", "close", "verify", "done"]
    assert (await journal_rows(tmp_path, "flatten"))[0].payload["key"] == "F"


@pytest.mark.parametrize("typed", ["flatten", "FLATTE", "YES", ""])
async def test_flatten_without_the_exact_word_does_nothing(tmp_path, typed):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await started_with_a_proposal(pilot, app, source)
        await pilot.press("a")
        await until(pilot, lambda: len(app.engine.snapshot.state.positions) == 2)
        await pilot.press("F")
        await until(pilot, lambda: isinstance(app.focused, Input))
        await pilot.press(*typed, "enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, TypedConfirm)  # still asking
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, TypedConfirm))
        assert len(app.engine.snapshot.state.positions) == 2
        assert app.engine.gate is Gate.ACTIVE
        assert "flatten cancelled" in str(app.query_one("#notice").render())
    assert await journal_rows(tmp_path, "flatten") == []


async def test_q_quits_and_journals_the_stop(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.engine is not None)
        await pilot.press("q")
        await pilot.pause(0.3)
        assert not app.is_running
    assert [r.payload["reason"] for r in await journal_rows(tmp_path, "stop")] == ["quit"]


class SlowPaperVenue:
    """Wraps the real paper venue so an order stays in flight until the test releases it."""

    def __init__(self, venue) -> None:
        self._venue = venue
        self.release = asyncio.Event()

    def __getattr__(self, name):
        return getattr(self._venue, name)

    async def submit(self, order):
        await self.release.wait()
        return await self._venue.submit(order)


async def test_q_asks_first_while_orders_are_in_flight(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await started_with_a_proposal(pilot, app, source)
        slow = SlowPaperVenue(app.engine._venue)
        app.engine._venue = app.engine._executor._venue = slow
        approving = asyncio.create_task(app.engine.approve(app.engine.snapshot.proposals[0].id))
        await until(pilot, lambda: app.engine.in_flight == 1)
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, QuitConfirm))
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, QuitConfirm))
        assert app.is_running
        slow.release.set()
        await approving
        assert app.engine.in_flight == 0
        await pilot.press("q")
        await pilot.pause(0.3)
        assert not app.is_running


async def test_j_opens_the_journal_and_escape_returns(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await started_with_a_proposal(pilot, app, source)
        await pilot.press("j")
        await pilot.pause(0.3)
        log = app.screen.query_one(Log)
        text = "\n".join(log.lines)
        assert "proposal" in text and "deposit" in text
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert app.screen.query("#proposals")


def test_dashboard_snapshot_at_80x24(tmp_path, snap_compare):
    app, source = make_app(tmp_path, clock=FakeClock(T0))

    async def run_before(pilot) -> None:
        await until(pilot, lambda: app.engine is not None)
        source.push(tick(BTC, 60_000.0), tick(ETH, 3_000.0))
        await until(pilot, lambda: len(app.engine.snapshot.proposals) == 1)
        await app.engine.approve(app.engine.snapshot.proposals[0].id)
        await app.engine.toggle_mode()
        # BTC -5%, ETH +20%: BTC's weight falls ~6 points below target, so a rebalance is pending
        # (no breaker trips, and BTC stays above its protective stop 6.6% down).
        source.push(tick(ETH, 3_600.0, T0), tick(BTC, 57_000.0, T0))
        await until(pilot, lambda: len(app.engine.snapshot.proposals) == 1)
        await pilot.pause(0.4)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


async def test_deciding_keys_do_nothing_on_the_journal_screen(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await started_with_a_proposal(pilot, app, source)
        await pilot.press("j")
        await pilot.pause(0.2)
        await pilot.press("a", "v", "m")
        await pilot.pause(0.2)
        assert len(app.engine.snapshot.proposals) == 1
        assert app.engine.mode is RebalanceMode.INTERVAL
    assert await journal_rows(tmp_path, "decision") == []


async def test_help_opens_with_question_mark_and_closes_with_escape(tmp_path):
    from cockpit.tui.screens.help_screen import HelpScreen

    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.engine is not None)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("F")  # the dashboard's keys are asleep under a dialog
        await pilot.pause(0.1)
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen))
        await pilot.press("q")
        await pilot.pause(0.3)
        assert not app.is_running


async def test_no_new_proposal_while_an_approval_is_in_flight(tmp_path):
    app, source = make_app(tmp_path, cfg=config(rebalance={"mode": "continuous"}))
    async with app.run_test(size=(100, 30)) as pilot:
        await started_with_a_proposal(pilot, app, source)
        slow = SlowPaperVenue(app.engine._venue)
        app.engine._venue = app.engine._executor._venue = slow
        approving = asyncio.create_task(app.engine.approve(app.engine.snapshot.proposals[0].id))
        await until(pilot, lambda: app.engine.in_flight == 1)
        source.push(tick(BTC, 60_010.0, T0 + 1), tick(ETH, 3_001.0, T0 + 1))
        await pilot.pause(0.3)
        assert app.engine.snapshot.proposals == ()  # the drift is still there, but orders are out
        slow.release.set()
        await approving
    assert len(await journal_rows(tmp_path, "proposal")) == 1
