"""The journal browser: decisions and events, filtered by kind, symbol, time and words, a page at
a time, and exported as CSV."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Log, Static

from cockpit.journal.errors import JournalError
from cockpit.journal.export import export_csv_file, format_entries
from cockpit.journal.filters import FilterError, FilterText, build_filter, describe_filter
from cockpit.journal.query import EntryFilter
from cockpit.journal.store import Entry, Journal
from cockpit.tui.screens.path_prompt import PathPrompt
from cockpit.tui.widgets.journal_filter_bar import JournalFilterBar

PAGE = 200
# From this width each row shows its seq, its date with the year and the full symbol.
FULL_ROWS_WIDTH = 120
HINT = "Enter applies the fields · o older · n newer page · c clear · e export"
# Counting stops here: on a big journal an exact "1,234,567 rows" costs a full scan per search.
COUNT_CAP = 100_000


def default_export_name(now: float) -> str:
    """Returns the file name an export suggests, in the current directory:
    cockpit-journal-20260131-140509.csv (UTC)."""
    return datetime.fromtimestamp(now, tz=timezone.utc).strftime("cockpit-journal-%Y%m%d-%H%M%S.csv")


class JournalScreen(Screen[None]):
    """Shows a page of the rows the filter matches, newest last. Enter in a filter field
    applies every field; a field it cannot read is said on the last line and changes nothing.
    The rows are read on a read-only connection of the screen's own, so a slow search never
    holds up the engine's journal writes."""

    BINDINGS = [
        Binding("escape,j", "back", "Back", id="journal-back"),
        Binding("slash", "search", "Search", key_display="/", id="journal-search"),
        Binding("f", "filter", "Filter", id="journal-filter"),
        Binding("e", "export", "Export CSV", id="journal-export"),
        # Off the footer, which is full at 80 columns (flatten must stay in it); the line above
        # the footer, help (?) and the palette list them.
        Binding("o", "older", "Older page", id="journal-older", show=False),
        Binding("n", "newer", "Newer page", id="journal-newer", show=False),
        Binding("c", "clear", "Clear the filters", id="journal-clear", show=False),
        Binding("r", "reload", "Reload", id="journal-reload", show=False),
    ]
    HELP_TITLE = "On the journal screen (j)"
    DEFAULT_CSS = """
    JournalScreen > #journal-title { height: 1; background: $panel; padding: 0 1; text-style: bold; }
    JournalScreen > Log { height: 1fr; }
    JournalScreen > #journal-status { height: auto; max-height: 3; padding: 0 1; background: $surface; color: $text-muted; }
    JournalScreen > #journal-status.-problem { color: $error; }
    """

    def __init__(self, journal: Journal, *, now: Callable[[], float] | None = None) -> None:
        """`journal`: the engine's; `now` (epoch s) anchors ages like "2h" and names exports
        (default: the journal's clock)."""
        super().__init__()
        self._journal = journal
        self._reader: Journal | None = None
        self._now = now or journal.clock
        self._where = build_filter(FilterText(), self._now())
        self._newer_pages: list[int | None] = []  # before_seq of each page newer than this one
        self._before: int | None = None  # None: the newest page
        self._shown: list[Entry] = []
        self._compact = True
        self._matching = 0

    def compose(self) -> ComposeResult:
        yield Static("Journal", id="journal-title")
        yield JournalFilterBar(id="journal-filters")
        yield Log(id="journal-log", auto_scroll=True)
        yield Static("", id="journal-status")
        yield Footer()

    async def on_mount(self) -> None:
        self.query_one(Log).focus()
        self._say(HINT)
        await self._open_reader()
        self.load()

    async def _open_reader(self) -> None:
        from cockpit.engine.status import EmptyJournal, open_read_only

        try:
            self._reader = await open_read_only(self._journal.path)
        except (JournalError, EmptyJournal, OSError):
            self._reader = None  # read through the engine's own connection instead

    async def on_unmount(self) -> None:
        if self._reader is not None:
            await self._reader.close()

    @property
    def _source(self) -> Journal:
        return self._reader if self._reader is not None else self._journal

    # ---- reading -------------------------------------------------------------------------

    @work(exclusive=True, group="journal-read")
    async def load(self) -> None:
        """Reads the current page of the current filter and redraws (a newer request cancels
        this one)."""
        try:
            page = await self._source.entries(where=self._where, limit=PAGE, newest_first=True,
                                              before_seq=self._before)
            if self._before is None and len(page) < PAGE:
                matching = len(page)  # all of them are on screen: no count needed
            else:
                matching = await self._source.count(self._where, cap=COUNT_CAP)
        except JournalError as error:
            self._say(str(error), problem=True)
            return
        self._shown = list(reversed(page))
        self._matching = matching
        self._draw_rows()
        self._title()

    def _draw_rows(self) -> None:
        self._compact = self.size.width < FULL_ROWS_WIDTH
        log = self.query_one(Log)
        log.clear()
        log.write_lines(format_entries(self._shown, compact=self._compact))

    def on_resize(self) -> None:
        if self._shown and self._compact != (self.size.width < FULL_ROWS_WIDTH):
            self._draw_rows()

    def _title(self) -> None:
        count = f"{COUNT_CAP:,}+ rows" if self._matching > COUNT_CAP else (
            "1 row" if self._matching == 1 else f"{self._matching:,} rows")
        if not self._shown:
            where = "no rows"
        elif self._before is None and len(self._shown) == self._matching:
            where = "all shown"
        else:
            page = len(self._newer_pages) + 1
            where = f"page {page} from the newest, {len(self._shown)} rows"
        self.query_one("#journal-title", Static).update(
            Text(f"Journal (UTC) · {describe_filter(self._where)} · {count} · {where}")
        )

    def _say(self, line: str, *, problem: bool = False) -> None:
        status = self.query_one("#journal-status", Static)
        status.update(Text(line))
        status.set_class(problem, "-problem")

    # ---- keys ----------------------------------------------------------------------------

    def on_journal_filter_bar_apply(self, message: JournalFilterBar.Apply) -> None:
        self.apply(message.typed)

    def apply(self, typed: FilterText) -> bool:
        """Applies the typed filter from the newest page; returns False (and says why, changing
        nothing) when a field cannot be read."""
        try:
            where = build_filter(typed, self._now())
        except FilterError as error:
            # What is wrong first: a narrow screen cuts the hint, never the problem.
            hint = f" ({error.hint})" if error.hint else ""
            self._say(f"{error.problem} — the filter is unchanged{hint}", problem=True)
            return False
        self._where = where
        self._before, self._newer_pages = None, []
        self._say(HINT)
        self.query_one(Log).focus()
        self.load()
        return True

    @property
    def where(self) -> EntryFilter:
        """Returns the filter the rows on screen were read with."""
        return self._where

    def action_back(self) -> None:
        # Escape in a field leaves the field (what is typed stays, unapplied); on the rows, the screen.
        if self.query_one(JournalFilterBar).has_focus_within:
            self.query_one(Log).focus()
            return
        self.app.pop_screen()

    def action_search(self) -> None:
        self.query_one(JournalFilterBar).focus_field("search")

    def action_filter(self) -> None:
        self.query_one(JournalFilterBar).focus_field("kinds")

    def action_clear(self) -> None:
        self.query_one(JournalFilterBar).clear()
        self.apply(FilterText())

    def action_reload(self) -> None:
        self.load()

    def action_older(self) -> None:
        if len(self._shown) < PAGE:
            self._say("no older rows for this filter")
            return
        self._newer_pages.append(self._before)
        self._before = self._shown[0].seq
        self.load()

    def action_newer(self) -> None:
        if not self._newer_pages:
            self._say("this is the newest page (r reloads it)")
            return
        self._before = self._newer_pages.pop()
        self.load()

    def action_export(self) -> None:
        where = self._where
        name = default_export_name(self._now())

        async def export(path: str) -> tuple[bool, str]:
            try:
                written, rows = await export_csv_file(self._source, path, where=where)
            except JournalError as error:
                return False, str(error)
            return True, f"exported {rows:,} rows ({describe_filter(where)}) to {written}"

        def done(line: str | None) -> None:
            self._say(line or "export cancelled: nothing was written")

        self.app.push_screen(
            PathPrompt("Export the filtered rows as CSV",
                       f"All {describe_filter(where)} rows, oldest first, to a new file "
                       "(an existing one is never overwritten; a relative path is from the current folder).",
                       export, default=name),
            done,
        )
