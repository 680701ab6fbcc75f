"""The journal: the newest entries of the decision journal, one line each."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Log, Static

from cockpit.journal.export import format_entries
from cockpit.journal.kinds import ALL_KINDS, MARKS
from cockpit.journal.store import Journal

SHOWN = 300
# Price bookkeeping (marks) would drown the decisions; `cockpit journal` still shows it.
DECISION_KINDS = sorted(ALL_KINDS - {MARKS})


class JournalScreen(Screen):
    """Shows the last entries of the journal; `r` reloads, Escape or `j` goes back."""

    BINDINGS = [
        Binding("escape,j", "app.pop_screen", "Back", id="journal-back"),
        Binding("r", "reload", "Reload", id="journal-reload"),
    ]
    DEFAULT_CSS = """
    JournalScreen > #journal-title { height: 1; background: $panel; padding: 0 1; }
    JournalScreen > Log { height: 1fr; }
    """

    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self._journal = journal

    def compose(self) -> ComposeResult:
        yield Static(f"Journal — newest {SHOWN} decisions and events, UTC (all: cockpit journal)", id="journal-title")
        yield Log(id="journal-log", auto_scroll=True)
        yield Footer()

    async def on_mount(self) -> None:
        await self.action_reload()

    async def action_reload(self) -> None:
        entries = await self._journal.entries(kinds=DECISION_KINDS, limit=SHOWN, newest_first=True)
        log = self.query_one(Log)
        log.clear()
        log.write_lines(format_entries(list(reversed(entries)), compact=True))
