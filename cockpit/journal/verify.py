"""Checking a journal file, read-only: SQLite's integrity check, then the whole hash chain.

The file is opened with SQLite's `mode=ro` and read in one read transaction, so a cockpit may keep
appending while it is checked (its new rows are simply not part of the check) and nothing is ever
written, not even a migration. Bad input (no file, a directory, not a journal) raises JournalError;
a journal that is damaged or tampered with comes back as a Verdict with a `ChainBreak`.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import aiosqlite

from cockpit.journal import schema
from cockpit.journal.chain import GENESIS, HASH_LENGTH, row_hash
from cockpit.journal.errors import JournalError
from cockpit.journal.store import BUSY_TIMEOUT_MS

HASH_SHOWN = 16  # hex digits of the last hash printed: enough to note down and compare by eye
_PAGE = 5000
_HEX = re.compile(rf"[0-9a-f]{{{HASH_LENGTH}}}")
_ROWS = (
    "SELECT seq, ts, account, kind, symbol, proposal_id, client_order_id, payload, prev_hash, row_hash "
    "FROM entries ORDER BY seq"
)
_ISSUED = "SELECT seq FROM sqlite_sequence WHERE name = 'entries'"


def utc_text(ts: object) -> str:
    """Returns epoch seconds as "2026-01-01 12:00:00 UTC", or the raw value if it is no time."""
    try:
        return datetime.fromtimestamp(float(ts), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return repr(ts)


@dataclass(frozen=True, slots=True)
class Anchor:
    """A row's hash noted down earlier (`SEQ:HEX`, as verify prints it), checked against the file
    to catch a rewrite of the chain's tail, which the chain alone cannot."""

    seq: int
    prefix: str

    @classmethod
    def parse(cls, text: str) -> "Anchor":
        """Returns the anchor in `text` ("1234:3fa2c1d09b7e4a11"); raises JournalError if it is
        not a row number and at least 8 hex digits."""
        seq, _, prefix = text.strip().partition(":")
        prefix = prefix.strip().lower()
        if not seq.isdigit() or int(seq) < 1 or not re.fullmatch(rf"[0-9a-f]{{8,{HASH_LENGTH}}}", prefix):
            raise JournalError(
                f"--anchor {text!r}: expected ROW:HASH as verify prints it, e.g. 1234:3fa2c1d09b7e4a11"
            )
        return cls(int(seq), prefix)


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first thing found wrong. `seq`, `ts`, `kind` name the row (None when no row is to
    blame, e.g. SQLite's own check failed); `after` means the damage lies after that row."""

    problem: str
    seq: int | None = None
    ts: float | None = None
    kind: str | None = None
    after: bool = False

    def line(self) -> str:
        """Returns the break as one line for a person."""
        if self.seq is None:
            return f"BROKEN: {self.problem}"
        where = "after" if self.after else "at"
        return f"BROKEN {where} row #{self.seq} ({utc_text(self.ts)}, {self.kind}): {self.problem}"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What verify found. `rows` counts the rows whose hashes were checked and found intact;
    `last_seq`/`last_ts`/`last_hash` describe the last of them (0/None/GENESIS if none)."""

    path: Path
    rows: int
    last_seq: int
    last_ts: float | None
    last_hash: str
    broken: ChainBreak | None = None

    @property
    def intact(self) -> bool:
        """Returns True when SQLite's check and the whole chain passed."""
        return self.broken is None

    def anchor(self) -> str:
        """Returns the last row's anchor, "SEQ:first 16 hex digits of its hash"."""
        return f"{self.last_seq}:{self.last_hash[:HASH_SHOWN]}"

    def lines(self) -> list[str]:
        """Returns the report: one summary line when intact, else the break and, if any, how many
        rows before it were intact."""
        if self.broken is None:
            if self.rows == 0:
                return ["intact: the journal is empty (0 rows; SQLite integrity ok)"]
            return [
                f"intact: {self.rows} rows checked, SQLite integrity ok; last row #{self.last_seq} "
                f"{utc_text(self.last_ts)}; anchor {self.anchor()}"
            ]
        if not self.rows:
            return [self.broken.line()]
        return [self.broken.line(), f"{self.rows} rows intact before the break (#1-#{self.last_seq})"]


async def read_only_connection(path: Path) -> tuple[aiosqlite.Connection, int]:
    """Returns a read-only connection (autocommit, with the journal's busy timeout) to the SQLite
    file at `path` and its cockpit schema version (0: no journal tables). Judging the version is
    the caller's. Raises JournalError, one line, when the file cannot be opened or read."""
    try:
        db = await aiosqlite.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise JournalError(f"cannot open journal {path}: {exc}") from exc
    try:
        await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return db, await schema.read_version(db)
    except sqlite3.DatabaseError as exc:
        await db.close()
        if "not a database" in str(exc):
            raise JournalError(f"{path} is not a SQLite database (or is corrupt)") from exc
        raise JournalError(f"cannot read journal {path}: {exc}") from exc
    except JournalError as exc:  # another program's database: say which file
        await db.close()
        raise JournalError(f"{path}: {exc}") from exc
    except BaseException:
        await db.close()
        raise


async def connect_read_only(path: Path) -> aiosqlite.Connection:
    """Returns a read-only connection (autocommit) to the cockpit journal at `path`, whose schema
    version this code can read (older ones included).

    Raises JournalError, one line, for a missing file, a directory, a file that is not SQLite, a
    SQLite file that is not a cockpit journal, or a journal newer than this code.
    """
    if not path.exists():
        raise JournalError(f"no journal at {path}")
    if path.is_dir():
        # Refused before connecting: a failed aiosqlite connect leaves its worker thread behind.
        raise JournalError(f"{path} is a directory, not a journal file")
    db, version = await read_only_connection(path)
    if version == 0:
        await db.close()
        raise JournalError(f"{path} is not a cockpit journal (it holds no journal tables)")
    if version > schema.current_version():
        await db.close()
        raise JournalError(
            f"{path} has schema version {version}, but this cockpit only knows up to "
            f"{schema.current_version()}; upgrade cockpit to verify it"
        )
    return db


def _rows(first: int, last: int) -> str:
    return f"row #{first} is" if first == last else f"rows #{first}-#{last} are"


def _row_problem(row: tuple, expected_seq: int, prev: str) -> str | None:
    seq, ts, account, kind, symbol, proposal_id, client_order_id, payload, prev_hash, digest = row
    if seq != expected_seq:
        return f"sequence gap: {_rows(expected_seq, seq - 1)} missing before it (deleted, or this row was inserted)"
    if not isinstance(digest, str) or not isinstance(prev_hash, str):
        return "hash missing: the row was written without the chain (inserted by hand?)"
    if not _HEX.fullmatch(digest) or not _HEX.fullmatch(prev_hash):
        return "hash damaged: its stored hash is not 64 hex digits"
    try:
        recomputed = row_hash(seq, ts, account, kind, symbol, proposal_id, client_order_id, payload, prev_hash)
    except (TypeError, ValueError) as exc:
        return f"content edited: {exc}"
    if recomputed != digest:
        return "content edited: its stored hash does not match what the row holds"
    if prev_hash != prev:
        if prev == GENESIS:
            return "chain broken: the first row does not start from the genesis hash (its hashes were rewritten)"
        return (
            f"chain broken: it does not follow row #{seq - 1} (that row was rewritten with a new "
            "hash, or rows were deleted or inserted between them)"
        )
    return None


async def _check_chain(db: aiosqlite.Connection, path: Path, anchor: Anchor | None) -> Verdict:
    rows, last_seq, last_ts, last_kind, prev = 0, 0, None, None, GENESIS
    anchor_hash: str | None = None
    async with db.execute(_ROWS) as cursor:
        while page := await cursor.fetchmany(_PAGE):
            for row in page:
                problem = _row_problem(row, last_seq + 1, prev)
                if problem:
                    broken = ChainBreak(problem, seq=row[0], ts=row[1], kind=row[3])
                    return Verdict(path, rows, last_seq, last_ts, prev, broken)
                rows += 1
                last_seq, last_ts, last_kind, prev = row[0], row[1], row[3], row[9]
                if anchor is not None and last_seq == anchor.seq:
                    anchor_hash = prev
    issued_rows = await db.execute_fetchall(_ISSUED)
    issued = int(issued_rows[0][0]) if issued_rows and issued_rows[0][0] is not None else 0
    if issued > last_seq:
        # SQLite records the highest seq ever issued; a cut tail leaves it behind the last row.
        problem = f"tail cut: {_rows(last_seq + 1, issued)} missing at the end (SQLite issued up to #{issued})"
        if last_seq == 0:
            return Verdict(path, 0, 0, None, GENESIS, ChainBreak(problem))
        return Verdict(path, rows, last_seq, last_ts, prev,
                       ChainBreak(problem, seq=last_seq, ts=last_ts, kind=last_kind, after=True))
    verdict = Verdict(path, rows, last_seq, last_ts, prev)
    if anchor is None:
        return verdict
    if anchor_hash is None:
        return Verdict(path, rows, last_seq, last_ts, prev, ChainBreak(
            f"anchor row #{anchor.seq} is gone: the journal ends at #{last_seq} (tail cut)"))
    if not anchor_hash.startswith(anchor.prefix):
        return Verdict(path, rows, last_seq, last_ts, prev, ChainBreak(
            f"anchor mismatch: row #{anchor.seq} now hashes to {anchor_hash[:len(anchor.prefix)]}, "
            f"noted {anchor.prefix}: the chain was rewritten from that row or before"))
    return verdict


async def verify_journal(path: str | Path, *, anchor: Anchor | None = None) -> Verdict:
    """Returns the Verdict on the journal at `path`: SQLite's integrity check, then every row's
    hash and link from the first row to the last, then (if given) the noted `anchor`.

    Raises JournalError for bad input (see connect_read_only). Never writes to the file.
    """
    path = Path(path).expanduser()
    db = await connect_read_only(path)
    try:
        await db.execute("BEGIN")  # one snapshot for every check below
        try:
            return await _check(db, path, anchor)
        finally:
            try:
                await db.execute("COMMIT")
            except sqlite3.Error:
                pass  # a damaged file may already have ended the read transaction
    finally:
        await db.close()


async def _check(db: aiosqlite.Connection, path: Path, anchor: Anchor | None) -> Verdict:
    try:
        found = await db.execute_fetchall("PRAGMA integrity_check")
        if [tuple(row) for row in found] != [("ok",)]:
            first = str(found[0][0]) if found else "no answer"
            return Verdict(path, 0, 0, None, GENESIS, ChainBreak(f"SQLite integrity check failed: {first}"))
        if await schema.read_version(db) < schema.CHAIN_VERSION:
            return Verdict(path, 0, 0, None, GENESIS, ChainBreak(
                "hash missing: this journal predates the hash chain (schema version 1); "
                "`cockpit journal` on it once adds the chain"))
        return await _check_chain(db, path, anchor)
    except sqlite3.DatabaseError as exc:
        return Verdict(path, 0, 0, None, GENESIS, ChainBreak(f"SQLite cannot read the file: {exc}"))
