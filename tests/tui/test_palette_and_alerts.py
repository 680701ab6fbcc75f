"""The command palette (every binding, run through the same checks as its key), the
notifications of breaker trips and gate moves (with the bell only when configured), and help
generated from the bindings; on the real engine, paper venue and journal."""

from __future__ import annotations

import pytest
from textual.binding import Binding
from textual.command import CommandList, CommandPalette
from textual.widgets import Input

from cockpit.domain.types import Gate, RebalanceMode
from cockpit.tui.app import CockpitApp
from cockpit.tui.commands import RESULTS_TITLE
from cockpit.tui.keys import cockpit_screens, help_title
from cockpit.tui.screens.help_screen import HelpScreen
from cockpit.tui.screens.journal_screen import JournalScreen
from cockpit.tui.screens.path_prompt import PathPrompt
from cockpit.tui.screens.results_screen import ResultsScreen
from cockpit.tui.screens.typed_confirm import TypedConfirm
from tests.support import BTC, ETH, T0, FakeClock, config, tick
from tests.tui.test_app import journal_rows, make_app, started_with_a_proposal, until


def described_bindings(owner) -> list[str]:
    return [b.description for b in Binding.make_bindings(owner.__dict__["BINDINGS"]) if b.description]


async def open_palette(pilot) -> list[str]:
    """Opens ctrl+p and returns the titles it lists once the providers have answered."""
    await pilot.press("ctrl+p")
    await until(pilot, lambda: isinstance(pilot.app.screen, CommandPalette))
    listed: list[str] = []

    def gathered() -> bool:
        commands = pilot.app.screen.query_one(CommandList)
        listed[:] = [str(commands.get_option_at_index(i).prompt).split("\n")[0] for i in range(commands.option_count)]
        return RESULTS_TITLE in listed and "Theme" in listed

    await until(pilot, gathered)
    return listed


async def run_command(pilot, text: str) -> None:
    """Types `text` in the open palette and runs the best match."""
    await pilot.press(*text)
    await pilot.pause(0.4)  # the search answers; the best match is highlighted
    await pilot.press("enter")
    await until(pilot, lambda: not isinstance(pilot.app.screen, CommandPalette))
    await pilot.pause(0.2)


class Recorder:
    """Stands in for App.notify / App.bell and remembers every call (notify still shows)."""

    def __init__(self, app: CockpitApp) -> None:
        self.notes: list[tuple[str, str, str]] = []
        self.bells = 0
        self._notify = app.notify
        app.notify = self.notify
        app.bell = self.bell

    def notify(self, message, *, title="", severity="information", timeout=None, markup=True):
        self.notes.append((title, message, severity))
        self._notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def bell(self):
        self.bells += 1


# ---- the palette --------------------------------------------------------------------------


async def test_the_palette_lists_every_binding_once_with_theme_and_results(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.engine is not None)
        listed = await open_palette(pilot)
        for description in described_bindings(CockpitApp):
            assert listed.count(description) == 1, description
        assert listed.count("Quit") == 1  # ours, which asks first with orders in flight
        assert {"Theme", RESULTS_TITLE} <= set(listed)
        await pilot.press("escape")


async def test_a_palette_command_does_what_its_key_does_and_is_journaled_with_the_key(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await started_with_a_proposal(pilot, app, source)
        await open_palette(pilot)
        await run_command(pilot, "Mode")
        await until(pilot, lambda: app.engine.mode is RebalanceMode.CONTINUOUS)
    modes = await journal_rows(tmp_path, "mode")
    assert [(m.payload["mode"], m.payload["key"]) for m in modes] == [("continuous", "m")]


async def test_flatten_from_the_palette_still_asks_for_the_typed_word(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await started_with_a_proposal(pilot, app, source)
        await open_palette(pilot)
        await run_command(pilot, "Flatten")
        await until(pilot, lambda: isinstance(app.screen, TypedConfirm))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, TypedConfirm))
        assert app.engine.gate is Gate.ACTIVE
    assert await journal_rows(tmp_path, "flatten") == []


async def test_a_dashboard_only_command_from_another_screen_is_refused_with_a_line(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await started_with_a_proposal(pilot, app, source)
        recorder = Recorder(app)
        await pilot.press("j")
        await until(pilot, lambda: isinstance(app.screen, JournalScreen))
        listed = await open_palette(pilot)
        # The journal screen's own keys are offered there, named after it.
        assert {"Journal: Export CSV", "Journal: Older page", "Journal: Clear the filters"} <= set(listed)
        await run_command(pilot, "Approve")
        await until(pilot, lambda: recorder.notes)
        assert recorder.notes[-1] == ("", "Approve: only on the dashboard (Escape returns there); nothing was done",
                                      "warning")
        assert isinstance(app.screen, JournalScreen) and len(app.engine.snapshot.proposals) == 1
    assert await journal_rows(tmp_path, "decision") == []


async def test_the_palette_opens_a_backtest_result_and_refuses_a_bad_path_with_a_line(tmp_path):
    good = tmp_path / "result.json"
    good.write_text('{"strategies": {"hold_1x": {"cagr": 0.1}}, "claims": []}')
    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.engine is not None)
        await open_palette(pilot)
        await run_command(pilot, "backtest results")
        await until(pilot, lambda: isinstance(app.screen, PathPrompt))
        field = app.screen.query_one(Input)
        await pilot.press(*str(tmp_path / "missing.json"), "enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, PathPrompt)
        assert str(app.screen.query_one("#path-problem").render()) == f"no file {tmp_path / 'missing.json'}"
        field.value = str(good)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ResultsScreen))
        await pilot.press("escape")
        await until(pilot, lambda: app.screen.query("#proposals"))


# ---- notifications ------------------------------------------------------------------------


async def holding_the_book(pilot, app, source) -> None:
    await started_with_a_proposal(pilot, app, source)
    await pilot.press("a")
    await until(pilot, lambda: len(app.engine.snapshot.state.positions) == 2)
    await app.engine._venue.cancel_all()  # the crash must reach the breakers, not the stops


@pytest.mark.parametrize("bell", [False, True])
async def test_a_breaker_trip_and_the_gate_move_are_notified_and_ring_only_when_configured(tmp_path, bell):
    app, source = make_app(tmp_path, cfg=config(ui={"bell": bell}))
    async with app.run_test(size=(100, 30)) as pilot:
        await holding_the_book(pilot, app, source)
        recorder = Recorder(app)
        await pilot.pause(0.3)
        assert recorder.notes == [] and recorder.bells == 0  # nothing moved yet
        # BTC -20% within the day: its day-loss breaker and the portfolio's trip; the gate reduces.
        source.push(tick(BTC, 48_000.0, T0 + 3600))
        await until(pilot, lambda: len(recorder.notes) == 3)
        assert sorted(recorder.notes) == [
            ("Breaker tripped", "BTC pos day loss 20.0% > 15.0%: its proposal waits for you; s shows it", "error"),
            ("Breaker tripped", f"day loss {recorder.notes[0][1].split()[2]} > 8.0%: its proposal waits for you; s shows it",
             "error"),
            ("Risk gate", "ACTIVE → REDUCING: only orders that shrink positions pass; R resumes", "warning"),
        ]
        assert recorder.bells == (1 if bell else 0)  # once for the three
        # More of the same crash is not news: the trips are already on screen.
        source.push(tick(BTC, 47_000.0, T0 + 3700))
        await pilot.pause(0.5)
        assert len(recorder.notes) == 3
        # The trader's resume is said quietly: no bell for a loosening.
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.focused, Input))
        await pilot.press(*"RESUME", "enter")
        await until(pilot, lambda: len(recorder.notes) == 4)
        assert recorder.notes[-1] == (
            "Risk gate", "REDUCING → ACTIVE: every order that passes the checks may go, after your approval", "information")
        assert recorder.bells == (1 if bell else 0)


async def test_a_flatten_halts_the_gate_with_an_error_notification_on_any_screen(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await started_with_a_proposal(pilot, app, source)
        recorder = Recorder(app)
        await pilot.press("j")
        await until(pilot, lambda: isinstance(app.screen, JournalScreen))
        await pilot.press("F")
        await until(pilot, lambda: isinstance(app.focused, Input))
        await pilot.press(*"FLATTEN", "enter")
        await until(pilot, lambda: recorder.notes)
        assert recorder.notes == [("Risk gate", "ACTIVE → HALTED: only cancels and flatten pass; R resumes", "error")]
        assert recorder.bells == 0  # the default config does not ring


async def test_a_gate_already_halted_at_start_is_not_news(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await started_with_a_proposal(pilot, app, source)
        await app.engine.flatten(key="F", origin="tui")
        await pilot.press("q")
        await pilot.pause(0.3)
    again, source = make_app(tmp_path)
    async with again.run_test(size=(100, 30)) as pilot:
        recorder = Recorder(again)
        await until(pilot, lambda: again.engine is not None)
        source.push(tick(BTC, 60_000.0), tick(ETH, 3_000.0))
        await pilot.pause(0.6)
        assert again.engine.gate is Gate.HALTED and recorder.notes == []


# ---- help -----------------------------------------------------------------------------------


async def test_help_lists_every_key_of_the_app_and_of_every_screen_and_the_safety_model(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.engine is not None)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = app.screen.text().plain
        for description in described_bindings(CockpitApp):
            assert description in text, description
        for screen in cockpit_screens():
            assert help_title(screen) in text
            for description in described_bindings(screen):
                assert description in text, (screen, description)
        assert "esc / j  Back" in text and "^p  command palette" in text
        for word in ("keystroke", "gate", "Circuit breakers", "FLATTEN", "journal"):
            assert word in text
        await pilot.press("escape")


def test_help_snapshot_at_80x24(tmp_path, snap_compare):
    app, source = make_app(tmp_path, clock=FakeClock(T0))

    async def run_before(pilot) -> None:
        await until(pilot, lambda: app.engine is not None)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_help_snapshot_at_160x50(tmp_path, snap_compare):
    app, source = make_app(tmp_path, clock=FakeClock(T0))

    async def run_before(pilot) -> None:
        await until(pilot, lambda: app.engine is not None)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(160, 50), run_before=run_before)
