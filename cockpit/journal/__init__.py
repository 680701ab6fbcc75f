"""The append-only SQLite decision journal: schema and migrations, the single writer, queries,
rebuild of a paper account, and export."""

from cockpit.journal.errors import JournalError
from cockpit.journal.export import export_csv, format_entries
from cockpit.journal.paths import default_journal_path
from cockpit.journal.rebuild import PaperAccount, latest_account, rebuild_paper_account
from cockpit.journal.store import Entry, Journal

__all__ = [
    "Entry",
    "Journal",
    "JournalError",
    "PaperAccount",
    "default_journal_path",
    "export_csv",
    "format_entries",
    "latest_account",
    "rebuild_paper_account",
]
