"""The append-only SQLite decision journal: schema and migrations, the single writer, queries,
rebuild of a paper account, export, and the hash chain with its verify and backup."""

from cockpit.journal.backup import backup_journal
from cockpit.journal.errors import JournalError
from cockpit.journal.export import export_csv, format_entries
from cockpit.journal.paths import default_journal_path
from cockpit.journal.rebuild import PaperAccount, latest_account, rebuild_paper_account
from cockpit.journal.store import Entry, Journal
from cockpit.journal.verify import Anchor, ChainBreak, Verdict, verify_journal

__all__ = [
    "Anchor",
    "ChainBreak",
    "Entry",
    "Journal",
    "JournalError",
    "PaperAccount",
    "Verdict",
    "backup_journal",
    "default_journal_path",
    "export_csv",
    "format_entries",
    "latest_account",
    "rebuild_paper_account",
    "verify_journal",
]
