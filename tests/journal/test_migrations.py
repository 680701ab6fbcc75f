"""Schema versions: fresh files, old files (chained once by version 2), a future migration, newer
files, failed migrations."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from cockpit.journal import Journal, JournalError, kinds, schema
from cockpit.journal.chain import GENESIS
from cockpit.journal.verify import verify_journal

NOW = schema.current_version()


def _version(path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])


def _tables(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")
        return {row[0] for row in rows}


def _make_v1_file(path) -> None:
    """A version-1 file made by hand, as an older cockpit would have left it."""
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO meta VALUES ('schema_version', '1');" + schema.MIGRATIONS[0]
    )
    conn.execute(
        "INSERT INTO entries (ts, account, kind, payload) VALUES (1.0, 'paper', 'deposit', ?)",
        ('{"amount":500.0}',),
    )
    conn.commit()
    conn.close()


def test_split_statements_keeps_triggers_whole():
    statements = schema.split_statements(schema.MIGRATIONS[0])
    assert len(statements) == 7  # table, 4 indexes, 2 triggers
    assert sum("RAISE(ABORT" in s for s in statements) == 2


async def test_new_file_starts_at_current_version(tmp_path):
    path = tmp_path / "j.sqlite"
    async with await Journal.open(path):
        pass
    assert _version(path) == NOW == 2
    assert {"meta", "entries", "entries_no_update", "entries_no_delete"} <= _tables(path)


async def test_empty_existing_file_is_version_0_and_migrates(tmp_path):
    path = tmp_path / "j.sqlite"
    path.touch()
    async with await Journal.open(path) as journal:
        assert await journal.append(kinds.NOTE, {"text": "x"}, account="a") == 1
    assert _version(path) == NOW


async def test_version_1_file_is_chained_once_and_keeps_its_rows(tmp_path):
    path = tmp_path / "j.sqlite"
    _make_v1_file(path)
    async with await Journal.open(path) as journal:
        (old,) = await journal.entries()
        assert old.payload == {"amount": 500.0}
        assert await journal.append(kinds.NOTE, {}, account="paper") == 2
    assert _version(path) == NOW
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT seq, payload, prev_hash, row_hash FROM entries ORDER BY seq").fetchall()
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE entries SET payload = '{}'")  # the trigger is back after chaining
    assert rows[0][:3] == (1, '{"amount":500.0}', GENESIS)
    assert rows[1][2] == rows[0][3] and len(rows[1][3]) == 64
    assert (await verify_journal(path)).rows == 2


async def test_a_future_migration_applies_to_a_version_1_file(tmp_path, monkeypatch):
    path = tmp_path / "j.sqlite"
    _make_v1_file(path)
    extra = """
        ALTER TABLE entries ADD COLUMN venue TEXT;
        CREATE TABLE checkpoints (seq INTEGER PRIMARY KEY, digest TEXT NOT NULL);
        CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
        BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
    """
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS + [extra])
    async with await Journal.open(path) as journal:
        assert [e.payload for e in await journal.entries()] == [{"amount": 500.0}]
        await journal.append(kinds.NOTE, {"text": "v2"}, account="paper")
    assert _version(path) == NOW + 1
    assert {"checkpoints", "checkpoints_no_delete", "entries_no_update"} <= _tables(path)
    with sqlite3.connect(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(entries)")]
    assert columns[-1] == "venue"
    # Reopening at version 2 runs nothing again.
    async with await Journal.open(path) as journal:
        assert len(await journal.entries()) == 2


async def test_from_version_0_runs_every_migration(tmp_path, monkeypatch):
    path = tmp_path / "j.sqlite"
    monkeypatch.setattr(
        schema, "MIGRATIONS", schema.MIGRATIONS + ["CREATE TABLE extra (x INTEGER);"]
    )
    async with await Journal.open(path):
        pass
    assert _version(path) == NOW + 1
    assert {"entries", "extra"} <= _tables(path)


async def test_failed_migration_leaves_file_untouched(tmp_path, monkeypatch):
    path = tmp_path / "j.sqlite"
    _make_v1_file(path)
    broken = "CREATE TABLE half (x INTEGER); INSERT INTO no_such_table VALUES (1);"
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS + [broken])
    with pytest.raises(JournalError, match=f"migration to schema version {NOW + 1} failed"):
        await Journal.open(path)
    assert _version(path) == 1
    assert "half" not in _tables(path)
    with sqlite3.connect(path) as conn:  # the chaining before it was rolled back too
        assert "row_hash" not in [row[1] for row in conn.execute("PRAGMA table_info(entries)")]


async def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "j.sqlite"
    _make_v1_file(path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    with pytest.raises(JournalError, match=f"schema version 7.*only knows up to {NOW}.*upgrade"):
        await Journal.open(path)
    assert _version(path) == 7


async def test_two_processes_opening_a_new_file_migrate_once(tmp_path):
    path = tmp_path / "j.sqlite"
    first, second = await asyncio.gather(Journal.open(path), Journal.open(path))
    try:
        await first.append(kinds.NOTE, {}, account="a")
        assert len(await second.entries()) == 1
    finally:
        await first.close()
        await second.close()
    assert _version(path) == NOW
