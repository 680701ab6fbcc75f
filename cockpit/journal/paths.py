"""Where the journal lives unless told otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

ENV_VAR = "COCKPIT_JOURNAL"


def default_journal_path() -> Path:
    """Returns the journal file path: `$COCKPIT_JOURNAL` if set and non-empty, else
    `<user data dir>/cockpit/journal.sqlite` (e.g. ~/.local/share/cockpit/journal.sqlite)."""
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        return Path(override).expanduser()
    return platformdirs.user_data_path("cockpit") / "journal.sqlite"
