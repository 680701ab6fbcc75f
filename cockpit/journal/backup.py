"""A journal backup: SQLite's `VACUUM INTO` a new file, flushed to disk, then verified.

Never a file copy: copying a WAL journal while a cockpit writes to it can catch the main file and
its -wal at different moments. VACUUM INTO writes one consistent snapshot through SQLite itself,
from a read-only connection, so a running cockpit keeps appending meanwhile.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from cockpit.journal.errors import JournalError
from cockpit.journal.verify import Verdict, connect_read_only, verify_journal


def _claim_destination(dest: Path) -> None:
    """Creates `dest` empty (VACUUM INTO accepts an empty file), failing if anything is there:
    from then on the file is ours to fill or remove."""
    if dest.exists() or dest.is_symlink():
        raise JournalError(f"{dest} already exists; a backup never overwrites a file, choose a new name")
    if not dest.parent.is_dir():
        raise JournalError(f"cannot write backup {dest}: directory {dest.parent} does not exist")
    try:
        os.close(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise JournalError(f"{dest} already exists; a backup never overwrites a file, choose a new name") from None
    except OSError as exc:
        raise JournalError(f"cannot write backup {dest}: {exc.strerror or exc}") from exc


def _flush_to_disk(dest: Path) -> None:
    # SQLite does not fsync the file VACUUM INTO writes; a backup that a power cut can lose is none.
    fd = os.open(dest, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        fd = os.open(dest.parent, os.O_RDONLY)
    except OSError:
        return  # platforms without directory handles
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a directory; the file itself is on disk
    finally:
        os.close(fd)


async def backup_journal(source: str | Path, dest: str | Path) -> Verdict:
    """Writes a consistent snapshot of the journal at `source` to the new file `dest`, flushes it
    to disk, and returns the backup's own Verdict (integrity and hash chain, see verify.py).

    Raises JournalError, having written nothing, if `dest` exists or its directory does not, or if
    `source` is not a readable cockpit journal. The source is only read.
    """
    source = Path(source).expanduser()
    dest = Path(dest).expanduser()
    db = await connect_read_only(source)
    try:
        _claim_destination(dest)
        try:
            await db.execute("VACUUM INTO ?", (str(dest),))
        except sqlite3.Error as exc:
            dest.unlink(missing_ok=True)
            raise JournalError(f"backup to {dest} failed, nothing kept: {exc}") from exc
    finally:
        await db.close()
    try:
        _flush_to_disk(dest)
    except OSError as exc:
        raise JournalError(f"backup {dest} written but not flushed to disk: {exc.strerror or exc}") from exc
    return await verify_journal(dest)
