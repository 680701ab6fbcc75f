"""The journal's tables and how a file is brought up to the current schema.

`MIGRATIONS[i]` turns a version-i file into version i+1; a file at version N has had the first N
applied. A migration is a SQL script, or an async function of the connection when it must compute
something row by row (version 2 hashes the rows already there). To change the schema, append one:
never edit one that has shipped, because files in the field already ran it. The version lives in
`meta` (key "schema_version"), which exists outside the migrations so a version-0 file can be told
apart from a foreign database.
"""

from __future__ import annotations

import sqlite3
from typing import Awaitable, Callable, Union

import aiosqlite

from cockpit.journal.chain import GENESIS, row_hash
from cockpit.journal.errors import JournalError

_V1 = """
CREATE TABLE entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    account TEXT NOT NULL,
    kind TEXT NOT NULL,
    symbol TEXT,
    proposal_id TEXT,
    client_order_id TEXT,
    payload TEXT NOT NULL
);
CREATE INDEX entries_kind ON entries(kind);
CREATE INDEX entries_proposal_id ON entries(proposal_id);
CREATE INDEX entries_client_order_id ON entries(client_order_id);
CREATE INDEX entries_account ON entries(account);
CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
BEGIN
    SELECT RAISE(ABORT, 'journal is append-only');
END;
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
BEGIN
    SELECT RAISE(ABORT, 'journal is append-only');
END;
"""

_NO_UPDATE = """
CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
BEGIN
    SELECT RAISE(ABORT, 'journal is append-only');
END
"""
# Rows hashed per round trip while an old file is chained.
_CHAIN_PAGE = 5000


async def _chain_existing_rows(db: aiosqlite.Connection) -> None:
    """Version 2: adds prev_hash/row_hash (see chain.py) and chains the rows already there, once.

    Rows written before this upgrade are chained as they are found: the chain protects them from
    now on, not before. The no-update trigger is lifted only inside the migration's transaction.
    """
    await db.execute("ALTER TABLE entries ADD COLUMN prev_hash TEXT")
    await db.execute("ALTER TABLE entries ADD COLUMN row_hash TEXT")
    # IF EXISTS: a file whose trigger was dropped by hand gets it back rather than staying unopenable.
    await db.execute("DROP TRIGGER IF EXISTS entries_no_update")
    prev, after = GENESIS, 0
    while True:
        # Paged by seq rather than one cursor: the rows are updated while they are read.
        rows = await db.execute_fetchall(
            "SELECT seq, ts, account, kind, symbol, proposal_id, client_order_id, payload "
            "FROM entries WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, _CHAIN_PAGE),
        )
        updates = []
        for row in rows:
            try:
                digest = row_hash(*row, prev)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"row #{row[0]} cannot be hashed: {exc}") from None
            updates.append((prev, digest, row[0]))
            prev = digest
        if updates:
            await db.executemany("UPDATE entries SET prev_hash = ?, row_hash = ? WHERE seq = ?", updates)
        if len(rows) < _CHAIN_PAGE:
            break
        after = rows[-1][0]
    await db.execute(_NO_UPDATE)


Migration = Union[str, Callable[[aiosqlite.Connection], Awaitable[None]]]
MIGRATIONS: list[Migration] = [_V1, _chain_existing_rows]
CHAIN_VERSION = 2  # the first schema version whose rows carry the hash chain

_META = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
_SET_VERSION = (
    "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value"
)


def current_version() -> int:
    """Returns the schema version this code writes: the number of known migrations."""
    return len(MIGRATIONS)


def split_statements(script: str) -> list[str]:
    """Returns the SQL statements in `script`, keeping trigger bodies (with their inner `;`) whole.

    Migrations run statement by statement inside one transaction, because `executescript` would
    commit first and leave a half-migrated file behind on failure.
    """
    statements: list[str] = []
    buffer = ""
    for piece in script.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \t\r\n;"):
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip(" \t\r\n;"):
        raise ValueError(f"incomplete SQL statement at end of migration: {buffer.strip()[:60]!r}")
    return statements


async def read_version(db: aiosqlite.Connection) -> int:
    """Returns the file's schema version (0 for an empty file).

    Raises JournalError for a SQLite file that holds other tables but no `meta`: some other
    program's database, which must not be written into.
    """
    rows = await db.execute_fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    names = {row[0] for row in rows}
    if "meta" not in names:
        if names:
            shown = ", ".join(sorted(names)[:5])
            raise JournalError(f"not a cockpit journal: it holds other tables ({shown})")
        return 0
    rows = await db.execute_fetchall("SELECT value FROM meta WHERE key = 'schema_version'")
    if not rows:
        return 0
    try:
        return int(rows[0][0])
    except (TypeError, ValueError):
        raise JournalError(f"journal schema_version {rows[0][0]!r} is not a number") from None


async def migrate(db: aiosqlite.Connection, label: str = "journal") -> int:
    """Brings the file forward to `current_version()`; returns the version it is at afterwards.

    Everything happens in one IMMEDIATE transaction, so two processes opening the same old file
    at once migrate it exactly once. Raises JournalError if the file is newer than this code.
    `db` must be in autocommit mode (isolation_level=None).
    """
    target = current_version()
    await db.execute("BEGIN IMMEDIATE")
    try:
        version = await read_version(db)
        if version > target:
            raise JournalError(
                f"{label} has schema version {version}, but this cockpit only knows up to "
                f"{target}; upgrade cockpit to open it"
            )
        if version < target:
            await db.execute(_META)
            for index in range(version, target):
                step = MIGRATIONS[index]
                try:
                    if callable(step):
                        await step(db)
                    else:
                        for statement in split_statements(step):
                            await db.execute(statement)
                except (sqlite3.Error, ValueError) as exc:
                    raise JournalError(
                        f"{label}: migration to schema version {index + 1} failed: {exc}"
                    ) from exc
            await db.execute(_SET_VERSION, (str(target),))
        await db.execute("COMMIT")
    except BaseException:
        try:
            await db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the failed statement may already have ended the transaction
        raise
    return target
