"""The hash chain: its definition re-checked from the docstring alone, tampering found (edited,
deleted, inserted rows, a cut tail), what it cannot find without an anchor, concurrent appends,
migrated journals and VACUUM INTO backups."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import struct
from contextlib import closing
from pathlib import Path

import pytest

from cockpit.journal import Journal, JournalError, kinds, schema
from cockpit.journal.backup import backup_journal
from cockpit.journal.chain import GENESIS, row_hash
from cockpit.journal.verify import Anchor, verify_journal

COLUMNS = "seq, ts, account, kind, symbol, proposal_id, client_order_id, payload, prev_hash, row_hash"


async def journal_of(path: Path, rows: int = 10) -> Path:
    async with await Journal.open(path) as journal:
        for i in range(rows):
            await journal.append(kinds.NOTE, {"i": i, "text": f"row {i + 1}"}, account="paper", ts=1000.0 + i)
    return path


def tamper(path: Path, sql: str, *params) -> None:
    """What someone with the sqlite3 shell can do: lift the append-only triggers and write."""
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("DROP TRIGGER IF EXISTS entries_no_update")
        conn.execute("DROP TRIGGER IF EXISTS entries_no_delete")
        conn.execute(sql, params)
        conn.commit()


def all_rows(path: Path) -> list[tuple]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(f"SELECT {COLUMNS} FROM entries ORDER BY seq").fetchall()


def rehash_from(path: Path, first: int) -> None:
    """Rewrites every hash from row `first` on, as a careful forger would."""
    rows = all_rows(path)
    prev = GENESIS if first == 1 else rows[first - 2][9]
    for row in rows[first - 1:]:
        digest = row_hash(*row[:8], prev)
        tamper(path, "UPDATE entries SET prev_hash = ?, row_hash = ? WHERE seq = ?", prev, digest, row[0])
        prev = digest


# ---- the definition ----------------------------------------------------------------------------


def _netstring(value) -> bytes:
    if value is None:
        return b"-"
    data = value.encode("utf-8")
    return f"{len(data)}:".encode() + data + b","


async def test_the_chain_is_what_the_docstring_says(tmp_path):
    """An outside tool with hashlib and the chain.py docstring gets the same hashes."""
    path = tmp_path / "j.sqlite"
    async with await Journal.open(path) as journal:
        await journal.append(kinds.ORDER, {"side": "buy", "note": "ünïcode €"}, account="paper",
                             symbol="BTC/USDT:USDT", proposal_id="P-1", client_order_id="ck-1-0", ts=1.5)
        await journal.append(kinds.NOTE, {}, account="paper", ts=1_700_000_000.123)
    prev = GENESIS
    for seq, ts, account, kind, symbol, proposal_id, client_order_id, payload, stored_prev, digest in all_rows(path):
        message = b"cockpit-journal-chain-v1" + b"".join(_netstring(v) for v in (
            str(seq), struct.pack(">d", ts).hex(), account, kind, symbol, proposal_id, client_order_id,
            payload, prev))
        assert stored_prev == prev
        assert digest == hashlib.sha256(message).hexdigest()
        prev = digest


def test_null_and_empty_text_hash_differently():
    args = (1, 1.0, "paper", "note", None, None, None, "{}", GENESIS)
    assert row_hash(*args) != row_hash(1, 1.0, "paper", "note", "", None, None, "{}", GENESIS)
    # a boundary moved between two fields is a different row
    assert row_hash(1, 1.0, "pa", "pernote", None, None, None, "{}", GENESIS) != row_hash(
        1, 1.0, "pap", "ernote", None, None, None, "{}", GENESIS)


# ---- intact journals -------------------------------------------------------------------------


async def test_an_untouched_journal_is_intact(tmp_path):
    path = await journal_of(tmp_path / "j.sqlite")
    verdict = await verify_journal(path)
    assert verdict.intact and verdict.rows == 10 and verdict.last_seq == 10
    assert verdict.last_hash == all_rows(path)[-1][9]
    (line,) = verdict.lines()
    assert line.startswith("intact: 10 rows checked") and f"anchor 10:{verdict.last_hash[:16]}" in line


async def test_an_empty_journal_is_intact(tmp_path):
    path = await journal_of(tmp_path / "j.sqlite", rows=0)
    verdict = await verify_journal(path)
    assert verdict.intact and verdict.rows == 0
    assert "empty" in verdict.lines()[0]


async def test_concurrent_appends_make_one_unforked_chain(tmp_path):
    path = tmp_path / "j.sqlite"
    first, second = await Journal.open(path), await Journal.open(path)  # two processes' worth
    try:
        seqs = await asyncio.gather(*(
            (first if i % 3 else second).append(kinds.NOTE, {"i": i}, account="paper") for i in range(600)
        ))
    finally:
        await first.close()
        await second.close()
    assert sorted(seqs) == list(range(1, 601))
    verdict = await verify_journal(path)
    assert verdict.intact and verdict.rows == 600
    rows = all_rows(path)
    assert len({row[8] for row in rows}) == 600  # no two rows claim the same predecessor


# ---- tampering -------------------------------------------------------------------------------


async def test_a_payload_edited_by_hand_is_the_first_broken_row(tmp_path):
    path = await journal_of(tmp_path / "j.sqlite")
    tamper(path, "UPDATE entries SET payload = ? WHERE seq = 5", '{"i":4,"text":"row 5, but richer"}')
    verdict = await verify_journal(path)
    assert not verdict.intact
    assert (verdict.broken.seq, verdict.broken.ts, verdict.broken.kind) == (5, 1004.0, "note")
    assert "content edited" in verdict.broken.problem
    assert verdict.rows == 4 and verdict.last_seq == 4
    assert verdict.lines()[0].startswith("BROKEN at row #5 (1970-01-01 00:16:44 UTC, note): content edited")


async def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(tmp_path):
    path = await journal_of(tmp_path / "j.sqlite")
    tamper(path, "UPDATE entries SET ts = 999.0 WHERE seq = 5")
    rows = all_rows(path)
    tamper(path, "UPDATE entries SET row_hash = ? WHERE seq = 5", row_hash(*rows[4][:8], rows[4][8]))
    verdict = await verify_journal(path)
    assert verdict.broken.seq == 6
    assert "does not follow row #5" in verdict.broken.problem


async def test_a_deleted_middle_row_is_found(tmp_path):
    path = await journal_of(tmp_path / "j.sqlite")
    tamper(path, "DELETE FROM entries WHERE seq = 5")
    verdict = await verify_journal(path)
    assert verdict.broken.seq == 6
    assert "row #5 is missing" in verdict.broken.problem
    assert verdict.rows == 4


async def test_a_deleted_first_row_is_found(tmp_path):
    path = await journal_of(tmp_path / "j.sqlite")
    tamper(path, "DELETE FROM entries WHERE seq = 1")
    assert (await verify_journal(path)).broken.seq == 2


async def test_a_row_inserted_by_hand_has_no_hash(tmp_path):
    path = await journal_of(tmp_path / "j.sqlite")
    tamper(path, "INSERT INTO entries (ts, account, kind, payload) VALUES (2000.0, 'paper', 'fill', '{}')")
    verdict = await verify_journal(path)
    assert (verdict.broken.seq, verdict.broken.kind) == (11, "fill")
    assert verdict.broken.problem.startswith("hash missing")


async def test_a_row_swapped_in_for_another_breaks_the_link_after_it(tmp_path):
    path = await journal_of(tmp_path / "j.sqlite")
    rows = all_rows(path)
    forged = (5, 1004.0, "paper", "note", None, None, None, '{"forged":true}')
    tamper(path, "DELETE FROM entries WHERE seq = 5")
    tamper(path, f"INSERT INTO entries ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
           *forged, rows[3][9], row_hash(*forged, rows[3][9]))
    assert (await verify_journal(path)).broken.seq == 6


async def test_a_cut_tail_is_found_and_its_seqs_are_never_reused(tmp_path):
    path = await journal_of(tmp_path / "j.sqlite")
    tamper(path, "DELETE FROM entries WHERE seq > 8")
    verdict = await verify_journal(path)
    assert verdict.broken.after and verdict.broken.seq == 8
    assert "rows #9-#10 are missing at the end" in verdict.broken.problem
    assert verdict.lines()[0].startswith("BROKEN after row #8")
    # The cockpit keeps writing; the next row does not take #9, whose client order ids went out.
    async with await Journal.open(path) as journal:
        assert await journal.append(kinds.NOTE, {}, account="paper") == 11
    verdict = await verify_journal(path)
    assert verdict.broken.seq == 11 and "rows #9-#10 are missing before it" in verdict.broken.problem


async def test_a_rewritten_tail_needs_the_noted_anchor(tmp_path):
    path = await journal_of(tmp_path / "j.sqlite")
    noted = Anchor.parse((await verify_journal(path)).anchor())
    tamper(path, "UPDATE entries SET payload = '{\"i\":99}' WHERE seq = 9")
    rehash_from(path, 9)
    # The limit the README states: a forger who re-hashes every row from the edit on is not caught...
    assert (await verify_journal(path)).intact
    # ...unless the trader noted the last hash.
    verdict = await verify_journal(path, anchor=noted)
    assert "anchor mismatch: row #10" in verdict.broken.problem
    tamper(path, "DELETE FROM entries WHERE seq = 10")
    tamper(path, "DELETE FROM sqlite_sequence")
    tamper(path, "INSERT INTO sqlite_sequence (name, seq) VALUES ('entries', 9)")
    assert "anchor row #10 is gone" in (await verify_journal(path, anchor=noted)).broken.problem


def test_anchors_are_parsed_strictly():
    assert Anchor.parse("12:ABCDEF0123") == Anchor(12, "abcdef0123")
    for bad in ("", "12", "x:abcdef0123", "0:abcdef0123", "12:abc", "12:not-hex-at-all"):
        with pytest.raises(JournalError, match="expected ROW:HASH"):
            Anchor.parse(bad)


async def test_a_damaged_page_fails_sqlites_own_check(tmp_path):
    path = await journal_of(tmp_path / "j.sqlite", rows=400)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'entries'").fetchone()
        (last_page,) = conn.execute("PRAGMA page_count").fetchone()
    damaged = max(root + 1, last_page // 2)
    with open(path, "r+b") as f:
        f.seek((damaged - 1) * page_size + 8)
        f.write(b"\xff" * 64)
    verdict = await verify_journal(path)
    assert not verdict.intact and verdict.broken.seq is None
    assert verdict.broken.line().startswith("BROKEN: SQLite")


# ---- old journals ----------------------------------------------------------------------------


def make_v1_journal(path: Path, payloads: list[str]) -> None:
    """A journal as a cockpit before the chain left it (schema version 1)."""
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "INSERT INTO meta VALUES ('schema_version', '1');" + schema.MIGRATIONS[0]
        )
        for i, payload in enumerate(payloads):
            conn.execute("INSERT INTO entries (ts, account, kind, symbol, payload) VALUES (?, 'paper', 'note', ?, ?)",
                         (100.0 + i, "BTC/USDT:USDT" if i % 2 else None, payload))
        conn.commit()


async def test_a_migrated_old_journal_verifies_and_keeps_growing(tmp_path, monkeypatch):
    path = tmp_path / "old.sqlite"
    make_v1_journal(path, ['{"amount":500.0}', '{"text":"ünïcode €"}', '{"x":[1,2,"inf"]}'] * 4)
    before = all_rows_v1(path)
    monkeypatch.setattr(schema, "_CHAIN_PAGE", 5)  # several pages, as on a long-lived journal
    async with await Journal.open(path) as journal:
        await journal.append(kinds.NOTE, {"text": "after the upgrade"}, account="paper")
    verdict = await verify_journal(path)
    assert verdict.intact and verdict.rows == 13
    assert [row[:8] for row in all_rows(path)[:12]] == before


def all_rows_v1(path: Path) -> list[tuple]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(
            "SELECT seq, ts, account, kind, symbol, proposal_id, client_order_id, payload FROM entries ORDER BY seq"
        ).fetchall()


async def test_verify_reports_an_unmigrated_journal_and_leaves_it_alone(tmp_path):
    path = tmp_path / "old.sqlite"
    make_v1_journal(path, ['{"amount":500.0}'])
    before = path.read_bytes()
    verdict = await verify_journal(path)
    assert "predates the hash chain" in verdict.broken.problem
    assert path.read_bytes() == before


async def test_an_old_row_that_cannot_be_hashed_stops_the_upgrade_and_changes_nothing(tmp_path):
    path = tmp_path / "old.sqlite"
    make_v1_journal(path, ['{"a":1}', '{"a":2}'])
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("DROP TRIGGER entries_no_update")
        conn.execute("UPDATE entries SET ts = 'yesterday' WHERE seq = 2")
        conn.commit()
    before = all_rows_v1(path)
    with pytest.raises(JournalError, match="migration to schema version 2 failed: row #2 cannot be hashed"):
        await Journal.open(path)
    assert all_rows_v1(path) == before
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("1",)
        assert "row_hash" not in [row[1] for row in conn.execute("PRAGMA table_info(entries)")]


# ---- backups ---------------------------------------------------------------------------------


async def test_a_backup_verifies_and_holds_the_same_rows(tmp_path):
    source = await journal_of(tmp_path / "j.sqlite", rows=50)
    dest = tmp_path / "backups" / "j-backup.sqlite"
    dest.parent.mkdir()
    async with await Journal.open(source) as journal:  # a cockpit is running on it meanwhile
        verdict = await backup_journal(source, dest)
        await journal.append(kinds.NOTE, {"text": "after the backup"}, account="paper")
    assert verdict.intact and verdict.rows == 50 and verdict.path == dest
    assert all_rows(dest) == all_rows(source)[:50]
    async with await Journal.open(dest) as restored:  # the backup is a journal a cockpit can use
        assert len(await restored.entries()) == 50


async def test_a_backup_never_overwrites(tmp_path):
    source = await journal_of(tmp_path / "j.sqlite")
    dest = tmp_path / "b.sqlite"
    dest.write_bytes(b"yesterday's backup")
    with pytest.raises(JournalError, match="already exists; a backup never overwrites"):
        await backup_journal(source, dest)
    assert dest.read_bytes() == b"yesterday's backup"
    with pytest.raises(JournalError, match="does not exist"):
        await backup_journal(source, tmp_path / "no" / "such" / "dir.sqlite")


async def test_a_backup_of_a_broken_journal_says_so(tmp_path):
    source = await journal_of(tmp_path / "j.sqlite")
    tamper(source, "DELETE FROM entries WHERE seq = 3")
    verdict = await backup_journal(source, tmp_path / "b.sqlite")
    assert verdict.broken.seq == 4
    assert all_rows(tmp_path / "b.sqlite") == all_rows(source)


async def test_a_backup_of_something_that_is_not_a_journal_writes_nothing(tmp_path):
    notes = tmp_path / "notes.sqlite"
    notes.write_text("my notes")
    with pytest.raises(JournalError, match="not a SQLite database"):
        await backup_journal(notes, tmp_path / "b.sqlite")
    assert not (tmp_path / "b.sqlite").exists()
    assert notes.read_text() == "my notes"
