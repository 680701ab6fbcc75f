"""The one exception the journal raises."""

from __future__ import annotations


class JournalError(Exception):
    """The journal cannot do what was asked; the message is one line meant for a person.

    Raised for files that are not SQLite, schemas newer than this code, payloads that are not
    JSON, writes that failed (nothing from the failed batch was recorded) and use after close.
    """
