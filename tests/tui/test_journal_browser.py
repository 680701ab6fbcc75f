"""The journal browser (key j): filter by kind, symbol and time, search, page, and export as CSV,
driven by keystrokes on the real engine and journal; bad input changes nothing."""

from __future__ import annotations

import csv

import pytest
from textual.widgets import Input, Log

from cockpit.journal.filters import FilterText
from cockpit.tui.screens import journal_screen
from cockpit.tui.screens.journal_screen import JournalScreen
from cockpit.tui.screens.path_prompt import PathPrompt
from tests.support import BTC, ETH, T0, FakeClock, tick
from tests.tui.test_app import make_app, started_with_a_proposal, until


async def browsing(pilot, app, source) -> JournalScreen:
    """Approves the first proposal (orders, fills, stops in the journal), opens the journal."""
    await started_with_a_proposal(pilot, app, source)
    await pilot.press("a")
    await until(pilot, lambda: len(app.engine.snapshot.state.positions) == 2)
    await pilot.press("j")
    await until(pilot, lambda: isinstance(app.screen, JournalScreen) and app.screen.query_one(Log).lines)
    return app.screen


def lines(screen: JournalScreen) -> list[str]:
    return list(screen.query_one(Log).lines)


def status(screen: JournalScreen) -> str:
    return str(screen.query_one("#journal-status").render())


def title(screen: JournalScreen) -> str:
    return str(screen.query_one("#journal-title").render())


async def type_into(pilot, key: str, text: str) -> None:
    """Focuses a field with its key (f: kind, /: search), replaces its text, presses Enter."""
    await pilot.press(key)
    field = pilot.app.focused
    assert isinstance(field, Input)
    field.value = ""
    await pilot.press(*text, "enter")


async def loaded(pilot, screen: JournalScreen, condition) -> None:
    await until(pilot, lambda: condition(lines(screen)))
    await pilot.pause(0.05)


async def test_kind_filter_shows_only_that_kind_and_the_title_says_so(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await browsing(pilot, app, source)
        before = lines(screen)
        assert any(" proposal " in line for line in before) and any(" fill " in line for line in before)
        assert not any(" marks " in line for line in before)  # price bookkeeping is hidden
        await type_into(pilot, "f", "fill")
        await loaded(pilot, screen, lambda rows: rows and all(" fill " in row for row in rows))
        assert len(lines(screen)) == 2
        assert "fill · 2 rows · all shown" in title(screen)
        assert isinstance(app.focused, Log)  # Enter applied and handed the keys back to the rows


async def test_symbol_and_kind_together(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await browsing(pilot, app, source)
        await pilot.press("f")
        kinds = app.focused
        kinds.value = "order fill"
        await pilot.press("tab")  # to the symbol field
        await pilot.press(*"eth", "enter")
        await loaded(pilot, screen, lambda rows: rows and all(" ETH " in row for row in rows))
        shown = lines(screen)
        assert len(shown) == 3  # the market order, its stop and the fill
        assert all(" order " in row or " fill " in row for row in shown)


async def test_time_range_and_a_bad_time_changes_nothing(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await browsing(pilot, app, source)
        everything = lines(screen)
        since = screen.query_one("#filter-since", Input)
        until_ = screen.query_one("#filter-until", Input)
        # The journal's rows carry the time they were written (now): a range that ends a day
        # ago is empty, one from an hour ago has them all, and so has one ending with today.
        until_.value = "1d"
        await type_into(pilot, "f", "")
        await until(pilot, lambda: "no rows" in title(screen))
        assert lines(screen) == [] and "to " in title(screen)
        since.value, until_.value = "1h", "today"
        await type_into(pilot, "f", "")
        await loaded(pilot, screen, lambda rows: rows == everything)
        since.value, until_.value = "2000-01-01", "2000-01-01 12:00"
        await type_into(pilot, "f", "")
        await until(pilot, lambda: "no rows" in title(screen))
        assert "from 2000-01-01 00:00 · to 2000-01-01 12:00" in title(screen)
        since.value, until_.value = "2000-01-01", ""
        await type_into(pilot, "f", "")
        await loaded(pilot, screen, lambda rows: rows == everything)
        where = screen.where
        # An unreadable time: one line, the filter and the rows stay as they were.
        since.value = "2026-13-45"
        await type_into(pilot, "f", "fill")
        await pilot.pause(0.2)
        assert status(screen).startswith("from: cannot read '2026-13-45' as a time — the filter is unchanged (e.g. ")
        assert screen.where == where and lines(screen) == everything
        # A range that ends before it starts is refused the same way.
        since.value, until_.value = "2001-01-02", "2001-01-01"
        await type_into(pilot, "f", "")
        await pilot.pause(0.2)
        assert status(screen) == "from '2001-01-02' is not before to '2001-01-01' — the filter is unchanged"
        assert screen.where == where and lines(screen) == everything


async def test_an_unknown_kind_is_one_line_and_changes_nothing(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await browsing(pilot, app, source)
        everything = lines(screen)
        await type_into(pilot, "f", "fils")
        await pilot.pause(0.2)
        assert status(screen).startswith("kind: unknown 'fils' — the filter is unchanged (one of: ")
        assert "fill, " in status(screen)
        assert lines(screen) == everything


async def test_search_finds_words_in_the_payload_and_escape_leaves_the_field_first(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await browsing(pilot, app, source)
        await type_into(pilot, "slash", "stop_market")
        await loaded(pilot, screen, lambda rows: rows and all("stop" in row for row in rows))
        assert len(lines(screen)) == 3  # the proposal (it holds both stops) and the two stop orders
        assert "'stop_market'" in title(screen)
        # Escape in a field returns to the rows; the next Escape leaves the screen.
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"xyz", "escape")
        assert isinstance(app.screen, JournalScreen) and isinstance(app.focused, Log)
        await pilot.press("c")  # clear: every field empty, every row back
        await loaded(pilot, screen, lambda rows: len(rows) > 3)
        assert screen.query_one("#filter-search", Input).value == ""
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, JournalScreen))


async def test_keys_typed_in_a_field_are_text_not_commands(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await browsing(pilot, app, source)
        await pilot.press("slash", *"jqFeaT")
        await pilot.pause(0.1)
        assert app.screen is screen and app.is_running
        assert screen.query_one("#filter-search", Input).value == "jqFeaT"


async def test_older_and_newer_pages(tmp_path, monkeypatch):
    monkeypatch.setattr(journal_screen, "PAGE", 4)
    app, source = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await browsing(pilot, app, source)
        newest, newest_seqs = lines(screen), [entry.seq for entry in screen._shown]
        assert len(newest) == 4 and "page 1 from the newest" in title(screen)
        await pilot.press("o")
        await loaded(pilot, screen, lambda rows: rows != newest)
        older = lines(screen)
        assert "page 2 from the newest" in title(screen)
        # The next four back, newest last, with nothing skipped between the pages.
        all_seqs = [entry.seq for entry in await app.engine.journal.entries(kinds=None, newest_first=True)
                    if entry.kind != "marks"]
        assert [entry.seq for entry in screen._shown] == sorted(all_seqs[4:8])
        assert newest_seqs == sorted(all_seqs[:4])
        await pilot.press("n")
        await loaded(pilot, screen, lambda rows: rows == newest)
        await pilot.press("n")
        await pilot.pause(0.1)
        assert "this is the newest page" in status(screen)
        assert older != newest


async def test_export_writes_the_filtered_rows_and_says_where_and_how_many(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app, source = make_app(tmp_path, clock=FakeClock(T0))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await browsing(pilot, app, source)
        await type_into(pilot, "f", "order")
        await loaded(pilot, screen, lambda rows: rows and all(" order " in row for row in rows))
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, PathPrompt))
        field = app.screen.query_one(Input)
        assert field.value.startswith("cockpit-journal-") and field.value.endswith(".csv")
        field.value = "orders.csv"
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is screen)
        written = tmp_path / "orders.csv"
        rows = list(csv.DictReader(written.open()))
        assert [row["kind"] for row in rows] == ["order"] * 4
        assert status(screen) == f"exported 4 rows (order) to {written}"


async def test_the_default_export_name_goes_to_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app, source = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await browsing(pilot, app, source)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, PathPrompt))
        name = app.screen.query_one(Input).value
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is screen)
        assert (tmp_path / name).exists()
        assert status(screen).startswith("exported ") and status(screen).endswith(f"to {tmp_path / name}")


@pytest.mark.parametrize("where", ["no-such-folder/out.csv", "taken.csv", "."])
async def test_an_unwritable_export_path_is_one_line_and_writes_nothing(tmp_path, monkeypatch, where):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken.csv").write_text("mine\n")
    app, source = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await browsing(pilot, app, source)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, PathPrompt))
        app.screen.query_one(Input).value = where
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, PathPrompt)  # still asking, with the reason
        problem = str(app.screen.query_one("#path-problem").render())
        assert "nothing was written" in problem and "\n" not in problem
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)
        assert status(screen) == "export cancelled: nothing was written"
    assert (tmp_path / "taken.csv").read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".csv") == ["taken.csv"]
    assert not (tmp_path / "no-such-folder").exists()


@pytest.fixture
def journal_at_t0(monkeypatch):
    """The journal stamps rows with its own clock (wall time): fixed at T0 for the snapshots."""
    from cockpit.journal.store import Journal

    opened = Journal.open.__func__

    async def open_at_t0(cls, path, *, clock=None, durable=True):
        return await opened(cls, path, clock=FakeClock(T0), durable=durable)

    monkeypatch.setattr(Journal, "open", classmethod(open_at_t0))


def test_journal_browser_snapshot_at_80x24(tmp_path, snap_compare, journal_at_t0):
    app, source = make_app(tmp_path, clock=FakeClock(T0))

    async def run_before(pilot) -> None:
        await browsing(pilot, app, source)
        await type_into(pilot, "f", "order fill")
        await until(pilot, lambda: "order,fill" in title(app.screen))
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_journal_browser_snapshot_at_160x50(tmp_path, snap_compare, journal_at_t0):
    app, source = make_app(tmp_path, clock=FakeClock(T0))

    async def run_before(pilot) -> None:
        await browsing(pilot, app, source)
        # Not the start row: it holds the process id.
        await type_into(pilot, "slash", "USDT")
        await until(pilot, lambda: "'USDT'" in title(app.screen))
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(160, 50), run_before=run_before)
