"""The journal screen's filter fields: kind, symbol, from, to and search, one line each way."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Input, Label

from cockpit.journal.filters import FilterText
from cockpit.journal.kinds import ALL_KINDS

FIELDS = ("kinds", "symbol", "since", "until", "search")


class JournalFilterBar(Widget):
    """Two lines of one-line fields. Enter in any field posts Apply with what all five hold;
    nothing is applied while typing."""

    DEFAULT_CSS = """
    JournalFilterBar { height: 2; background: $panel; }
    JournalFilterBar > Horizontal { height: 1; }
    JournalFilterBar Label { width: auto; padding: 0 1; color: $text-muted; }
    JournalFilterBar Input { height: 1; border: none; padding: 0 1; width: 1fr; background: $surface; }
    JournalFilterBar Input:focus { border: none; background: $boost; text-style: bold; }
    JournalFilterBar #filter-symbol { width: 10; }
    JournalFilterBar #filter-since, JournalFilterBar #filter-until { width: 14; }
    """

    class Apply(Message):
        """The fields as typed, when Enter was pressed in one of them."""

        def __init__(self, typed: FilterText) -> None:
            super().__init__()
            self.typed = typed

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label("kind")
            yield Input(placeholder="all but marks", id="filter-kinds",
                        suggester=SuggestFromList(sorted(ALL_KINDS), case_sensitive=False))
            yield Label("symbol")
            yield Input(placeholder="any", id="filter-symbol")
            yield Label("from")
            yield Input(placeholder="date or 2h", id="filter-since")
            yield Label("to")
            yield Input(placeholder="now", id="filter-until")
        with Horizontal():
            yield Label("search")
            yield Input(placeholder="words in the row (Enter applies every field)", id="filter-search")

    def typed(self) -> FilterText:
        """Returns what the five fields hold now."""
        return FilterText(**{name: self.query_one(f"#filter-{name}", Input).value for name in FIELDS})

    def clear(self) -> None:
        """Empties every field (the caller applies the empty filter)."""
        for name in FIELDS:
            self.query_one(f"#filter-{name}", Input).value = ""

    def focus_field(self, name: str) -> None:
        """Puts the cursor in one field: kinds, symbol, since, until or search."""
        self.query_one(f"#filter-{name}", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Apply(self.typed()))
