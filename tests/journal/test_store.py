"""The journal store: durability, append-only, pragmas, concurrency, bad files."""

from __future__ import annotations

import asyncio
import math
import sqlite3
import threading
import time

import pytest

from cockpit.journal import Journal, JournalError, default_journal_path, kinds
from cockpit.journal.paths import ENV_VAR


@pytest.fixture
def path(tmp_path):
    return tmp_path / "nested" / "dir" / "journal.sqlite"


async def test_open_creates_parent_dirs_and_rows_are_durable_on_return(path):
    async with await Journal.open(path) as journal:
        seq = await journal.append(kinds.NOTE, {"text": "hello"}, account="paper", ts=100.0)
        # A separate plain connection (another process's view) sees the row before close.
        with sqlite3.connect(path) as other:
            rows = other.execute("SELECT seq, ts, account, kind, payload FROM entries").fetchall()
        assert rows == [(seq, 100.0, "paper", "note", '{"text":"hello"}')]


async def test_update_and_delete_are_refused(path):
    async with await Journal.open(path) as journal:
        await journal.append(kinds.DEPOSIT, {"amount": 1000.0}, account="paper")
    conn = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE entries SET payload = '{}'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("DELETE FROM entries")
        assert conn.execute("SELECT payload FROM entries").fetchall() == [('{"amount":1000.0}',)]
    finally:
        conn.close()


async def test_pragmas(path):
    async with await Journal.open(path) as journal:
        db = journal._db
        assert (await db.execute_fetchall("PRAGMA journal_mode"))[0][0] == "wal"
        assert (await db.execute_fetchall("PRAGMA synchronous"))[0][0] == 2
        assert (await db.execute_fetchall("PRAGMA busy_timeout"))[0][0] == 5000


async def test_not_a_database_is_refused_clearly(tmp_path):
    bad = tmp_path / "journal.sqlite"
    bad.write_bytes(b"this is a text file, not a journal\n" * 200)
    with pytest.raises(JournalError, match="is not a SQLite database") as info:
        await Journal.open(bad)
    assert "\n" not in str(info.value)
    assert bad.read_bytes().startswith(b"this is a text file")


async def test_foreign_sqlite_database_is_refused(tmp_path):
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    with pytest.raises(JournalError, match="not a cockpit journal"):
        await Journal.open(other)


async def test_directory_path_is_refused(tmp_path):
    with pytest.raises(JournalError, match="is a directory"):
        await Journal.open(tmp_path)


async def test_many_concurrent_appends_land_in_order(path):
    async with await Journal.open(path) as journal:
        seqs = await asyncio.gather(
            *(journal.append(kinds.NOTE, {"i": i}, account="paper") for i in range(500))
        )
        assert len(set(seqs)) == 500
        assert seqs == sorted(seqs)
        rows = await journal.entries()
    assert [e.payload["i"] for e in rows] == list(range(500))
    assert [e.seq for e in rows] == seqs


async def test_two_instances_share_one_file(path):
    first = await Journal.open(path)
    second = await Journal.open(path)
    try:
        seqs = await asyncio.gather(
            *(
                (first if i % 2 else second).append(kinds.NOTE, {"i": i}, account="paper")
                for i in range(200)
            )
        )
        assert len(set(seqs)) == 200
        seen_by_first = await first.entries()
        seen_by_second = await second.entries()
    finally:
        await first.close()
        await second.close()
    assert [e.seq for e in seen_by_first] == [e.seq for e in seen_by_second] == sorted(seqs)


async def test_append_waits_out_another_writer(path):
    async with await Journal.open(path) as journal:
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")

        def release() -> None:
            time.sleep(0.3)
            other.execute("COMMIT")
            other.close()

        thread = threading.Thread(target=release)
        thread.start()
        seq = await journal.append(kinds.NOTE, {"text": "after the lock"}, account="paper")
        thread.join()
        assert seq == 1


async def test_close_drains_queue_and_is_idempotent(path):
    journal = await Journal.open(path)
    tasks = [
        asyncio.create_task(journal.append(kinds.NOTE, {"i": i}, account="a")) for i in range(20)
    ]
    await asyncio.sleep(0)  # let every task queue its row
    await asyncio.gather(journal.close(), journal.close())
    await journal.close()
    assert sorted(await asyncio.gather(*tasks)) == list(range(1, 21))
    with pytest.raises(JournalError, match="closed"):
        await journal.append(kinds.NOTE, {}, account="a")
    async with await Journal.open(path) as reopened:
        assert len(await reopened.entries()) == 20


async def test_non_finite_floats_are_stored_as_strings(path):
    async with await Journal.open(path) as journal:
        payload = {"a": math.inf, "b": -math.inf, "c": math.nan, "nested": [{"d": math.inf}]}
        await journal.append(kinds.NOTE, payload, account="paper")
        (entry,) = await journal.entries()
    assert entry.payload == {"a": "inf", "b": "-inf", "c": "nan", "nested": [{"d": "inf"}]}
    assert float(entry.payload["a"]) == math.inf and math.isnan(float(entry.payload["c"]))


async def test_bad_appends_are_refused_and_write_nothing(path):
    async with await Journal.open(path) as journal:
        with pytest.raises(JournalError, match="cannot be stored as JSON"):
            await journal.append(kinds.NOTE, {"x": object()}, account="paper")
        with pytest.raises(JournalError, match="unknown journal kind"):
            await journal.append("nope", {}, account="paper")
        with pytest.raises(JournalError, match="account"):
            await journal.append(kinds.NOTE, {}, account="")
        with pytest.raises(JournalError, match="must be a dict"):
            await journal.append(kinds.NOTE, [1, 2], account="paper")
        assert await journal.entries() == []
        # the writer is still healthy afterwards
        assert await journal.append(kinds.NOTE, {"text": "ok"}, account="paper") == 1


async def test_entries_filters(path):
    async with await Journal.open(path) as journal:
        await journal.append(kinds.START, {"pid": 1}, account="a", ts=1.0)
        await journal.append(kinds.ORDER, {"side": "buy"}, account="a", symbol="BTC/USDT:USDT",
                             proposal_id="P-1", client_order_id="c-1", ts=2.0)
        await journal.append(kinds.NOTE, {"text": "x"}, account="b", ts=3.0)
        await journal.append(kinds.NOTE, {"text": "y"}, account="a", ts=4.0)

        assert [e.seq for e in await journal.entries(kinds=[kinds.NOTE])] == [3, 4]
        assert [e.seq for e in await journal.entries(kinds=kinds.NOTE, account="a")] == [4]
        assert [e.seq for e in await journal.entries(after_seq=2)] == [3, 4]
        assert [e.seq for e in await journal.entries(limit=2)] == [1, 2]
        assert [e.seq for e in await journal.entries(limit=2, newest_first=True)] == [4, 3]
        assert await journal.entries(kinds=[]) == []
        assert await journal.last_seq() == 4
        order = (await journal.entries(kinds=[kinds.ORDER]))[0]
        assert (order.symbol, order.proposal_id, order.client_order_id, order.ts) == (
            "BTC/USDT:USDT", "P-1", "c-1", 2.0)


async def test_injected_clock(path):
    async with await Journal.open(path, clock=lambda: 1234.5) as journal:
        await journal.append(kinds.NOTE, {}, account="a")
        assert (await journal.entries())[0].ts == 1234.5


def test_default_journal_path(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "j.sqlite"))
    assert default_journal_path() == tmp_path / "j.sqlite"
    monkeypatch.delenv(ENV_VAR)
    default = default_journal_path()
    assert default.name == "journal.sqlite" and default.parent.name == "cockpit"


async def test_failed_write_is_reported_and_journal_recovers(path, monkeypatch):
    from cockpit.journal import store

    monkeypatch.setattr(store, "BUSY_TIMEOUT_MS", 100)
    async with await Journal.open(path) as journal:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock too long
        with pytest.raises(JournalError, match="row not recorded.*locked"):
            await journal.append(kinds.NOTE, {"text": "lost"}, account="a")
        other.execute("COMMIT")
        other.close()
        assert await journal.append(kinds.NOTE, {"text": "kept"}, account="a") == 1
        assert [e.payload["text"] for e in await journal.entries()] == ["kept"]


async def test_cancelled_caller_still_gets_its_row_written(path):
    async with await Journal.open(path) as journal:
        task = asyncio.create_task(journal.append(kinds.ORDER, {"side": "buy"}, account="a"))
        await asyncio.sleep(0)
        task.cancel()
        await journal.append(kinds.NOTE, {}, account="a")
        assert [e.kind for e in await journal.entries()] == ["order", "note"]
