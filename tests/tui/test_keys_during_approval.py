"""The screen answers keys while an approval's orders wait on the exchange (found by the storm
drill, tests/drills/test_storm.py: `a` during an error storm froze every key, flatten included,
until the last retry of the last order gave up)."""

from __future__ import annotations

import asyncio

from cockpit.tui.screens.help_screen import HelpScreen
from cockpit.tui.screens.typed_confirm import TypedConfirm
from cockpit.venues.paper import PaperVenue
from tests.tui.test_app import make_app, started_with_a_proposal, until


async def test_keys_answer_while_an_approval_waits_on_the_exchange(tmp_path, monkeypatch):
    answer = asyncio.Event()  # the exchange holds the answer to every order until the test lets go
    send = PaperVenue.submit

    async def held(self, order):
        await answer.wait()
        return await send(self, order)

    monkeypatch.setattr(PaperVenue, "submit", held)
    app, source = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await started_with_a_proposal(pilot, app, source)
        await pilot.press("a")
        await until(pilot, lambda: app.engine.in_flight == 1, timeout=2)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), timeout=1)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen), timeout=1)
        await pilot.press("F")  # the flatten dialog opens while the approval waits
        await until(pilot, lambda: isinstance(app.screen, TypedConfirm), timeout=1)
        await pilot.press("escape")
        assert app.engine.in_flight == 1
        answer.set()
        await until(pilot, lambda: len(app.engine.snapshot.state.positions) == 2, timeout=5)
        await until(pilot, lambda: "approved: 2/2 filled" in str(app.query_one("#notice").render()), timeout=2)
