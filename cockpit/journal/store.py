"""The append-only decision journal: one SQLite file, one writer task per Journal.

`append()` returns only after its row is COMMITTED with synchronous=FULL, so the engine can await
an order intent and know it survives a crash before the order goes out (journal before network).
WAL mode and a busy timeout let a second process (`cockpit flatten` from another SSH session)
read and append to the same file while this one runs.

Each row is hash-chained to the one before it (chain.py defines the hash). The writer reads the
chain's tip inside its write transaction (BEGIN IMMEDIATE), so appends from this process and from
any other one are chained in commit order and can never fork the chain.
"""

from __future__ import annotations

import asyncio
import secrets
import math
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import aiosqlite

from cockpit.journal import schema
from cockpit.journal.chain import GENESIS, row_hash
from cockpit.journal.codec import decode_payload, encode_payload
from cockpit.journal.errors import JournalError
from cockpit.journal.kinds import ALL_KINDS
from cockpit.journal.query import COLUMNS as _COLUMNS
from cockpit.journal.query import EntryFilter, count_entries, select_entries

BUSY_TIMEOUT_MS = 5000
# Rows already waiting when the writer wakes share one transaction (one fsync), up to this many.
MAX_BATCH = 256

_INSERT = (
    "INSERT INTO entries (seq, ts, account, kind, symbol, proposal_id, client_order_id, payload, "
    "prev_hash, row_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# The newest row and the highest seq ever handed out (AUTOINCREMENT's record), in one round trip.
_TIP = (
    "SELECT (SELECT seq FROM entries ORDER BY seq DESC LIMIT 1), "
    "(SELECT row_hash FROM entries ORDER BY seq DESC LIMIT 1), "
    "(SELECT seq FROM sqlite_sequence WHERE name = 'entries')"
)
_STOP = object()


@dataclass(frozen=True, slots=True)
class Entry:
    """One journal row. `ts` is seconds since the epoch (UTC); `payload` is the decoded JSON
    (non-finite floats appear as the strings "inf"/"-inf"/"nan")."""

    seq: int
    ts: float
    account: str
    kind: str
    symbol: str | None
    proposal_id: str | None
    client_order_id: str | None
    payload: dict


def _entry(row: tuple) -> Entry:
    return Entry(row[0], row[1], row[2], row[3], row[4], row[5], row[6], decode_payload(row[7]))


def _open_error(path: Path, exc: sqlite3.Error) -> JournalError:
    text = str(exc)
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in text:
        return JournalError(f"{path} is not a SQLite database (or is corrupt); refusing to use it")
    return JournalError(f"cannot open journal {path}: {text}")


async def _configure(db: aiosqlite.Connection, path: Path, durable: bool) -> None:
    # busy_timeout first: switching to WAL itself needs a lock another process may hold.
    await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    rows = await db.execute_fetchall("PRAGMA journal_mode = WAL")
    mode = str(rows[0][0]).lower() if rows else ""
    if mode != "wal":
        raise JournalError(f"cannot open journal {path}: WAL mode unavailable (got {mode!r})")
    # A backtest's journal is rebuilt by running it again: it need not survive a power cut.
    await db.execute(f"PRAGMA synchronous = {'FULL' if durable else 'OFF'}")


async def _identity(db: aiosqlite.Connection) -> str:
    """The journal's random id (hex), made once when the file is first opened."""
    await db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('journal_id', ?)", (secrets.token_hex(8),))
    rows = await db.execute_fetchall("SELECT value FROM meta WHERE key = 'journal_id'")
    return str(rows[0][0])


class Journal:
    """An open journal file. Create with `await Journal.open(path)`; close with `await close()`
    or use `async with`."""

    def __init__(self, db: aiosqlite.Connection, path: Path, clock: Callable[[], float]):
        self._db = db
        self._path = path
        self._clock = clock
        self._queue: asyncio.Queue = asyncio.Queue()
        # Reads share the writer's connection; holding this keeps them out of an open batch, so a
        # read never sees rows that might still roll back.
        self._lock = asyncio.Lock()
        self._closing: asyncio.Task | None = None
        self.identity = ""  # the file's random id, set by open(); tags a real account's order ids
        self._writer = asyncio.get_running_loop().create_task(
            self._run_writer(), name=f"journal-writer:{path.name}"
        )

    @classmethod
    async def open(cls, path: str | Path, *, clock: Callable[[], float] = time.time, durable: bool = True) -> "Journal":
        """Returns an open Journal on `path`, creating the file and its parent directories and
        migrating an older schema forward. `clock` gives the default row time, epoch seconds.
        `durable` False skips the disk flush per row (backtests only: a crash may lose rows).

        Raises JournalError if the file is not a SQLite database, is not a cockpit journal, has a
        newer schema than this code, or cannot be opened.
        """
        path = Path(path).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JournalError(
                f"cannot create journal directory {path.parent}: {exc.strerror or exc}"
            ) from exc
        if path.is_dir():
            # Refused before connecting: a failed aiosqlite connect leaves its worker thread behind.
            raise JournalError(f"{path} is a directory, not a journal file")
        try:
            db = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise _open_error(path, exc) from exc
        try:
            await _configure(db, path, durable)
            await schema.migrate(db, str(path))
        except sqlite3.Error as exc:
            await db.close()
            raise _open_error(path, exc) from exc
        except BaseException:
            await db.close()
            raise
        journal = cls(db, path, clock)
        journal.identity = await _identity(db)
        return journal

    @property
    def path(self) -> Path:
        """Returns the journal file's path."""
        return self._path

    @property
    def clock(self) -> Callable[[], float]:
        """Returns the journal's clock (epoch seconds): the time new rows get by default."""
        return self._clock

    @property
    def closed(self) -> bool:
        """Returns True once close() has been called."""
        return self._closing is not None

    async def append(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        account: str,
        symbol: str | None = None,
        proposal_id: str | None = None,
        client_order_id: str | None = None,
        ts: float | None = None,
    ) -> int:
        """Returns the seq of the new row, once it is committed to disk.

        `ts` is epoch seconds (default: the journal's clock). Raises JournalError for an unknown
        kind, an empty account, a payload that is not JSON, a closed journal, or a failed write
        (in which case the row was not recorded). If the caller is cancelled while waiting, the
        row is still written.
        """
        if self._closing is not None:
            raise JournalError("journal is closed")
        if self._writer.done():
            raise JournalError("journal writer has stopped; reopen the journal")
        if kind not in ALL_KINDS:
            raise JournalError(f"unknown journal kind {kind!r}; add it to cockpit/journal/kinds.py")
        if not isinstance(account, str) or not account:
            raise JournalError("journal rows need a non-empty account name")
        text = encode_payload(payload)
        when = self._clock() if ts is None else float(ts)
        if not math.isfinite(when):
            raise JournalError(f"journal row time must be finite, got {when}")
        future = asyncio.get_running_loop().create_future()
        row = (when, account, kind, symbol, proposal_id, client_order_id, text)
        self._queue.put_nowait((row, future))
        return await future

    async def entries(
        self,
        *,
        limit: int | None = None,
        kinds: Iterable[str] | None = None,
        account: str | None = None,
        after_seq: int | None = None,
        before_seq: int | None = None,
        newest_first: bool = False,
        where: EntryFilter | None = None,
    ) -> list[Entry]:
        """Returns committed rows matching every given filter, in seq order (descending if
        `newest_first`). `limit` counts from the start of that order: the newest rows when
        `newest_first` (before `before_seq`, for the next page back), else the oldest after
        `after_seq`. `where` adds the filters of an EntryFilter."""
        if self._closing is not None:
            raise JournalError("journal is closed")
        if limit is not None and limit < 0:
            raise JournalError(f"limit must be >= 0, got {limit}")
        sql, params = select_entries(
            _COLUMNS, where, kinds=kinds, account=account, after_seq=after_seq, before_seq=before_seq,
            newest_first=newest_first, limit=limit,
        )
        async with self._lock:
            try:
                rows = await self._db.execute_fetchall(sql, params)
            except sqlite3.Error as exc:
                raise JournalError(f"journal read failed: {exc}") from exc
        return [_entry(row) for row in rows]

    async def count(self, where: EntryFilter | None = None, *, cap: int | None = None) -> int:
        """Returns how many committed rows match `where`; with `cap`, counting stops at cap + 1
        (a reader can say "more than cap" without scanning a big journal to its end)."""
        if self._closing is not None:
            raise JournalError("journal is closed")
        sql, params = count_entries(where, cap=cap)
        async with self._lock:
            try:
                rows = await self._db.execute_fetchall(sql, params)
            except sqlite3.Error as exc:
                raise JournalError(f"journal read failed: {exc}") from exc
        return int(rows[0][0])

    async def last_seq(self) -> int:
        """Returns the highest committed seq in the file (any process), or 0 if it is empty."""
        newest = await self.entries(limit=1, newest_first=True)
        return newest[0].seq if newest else 0

    async def close(self) -> None:
        """Writes every row already appended, stops the writer and closes the file. Idempotent."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._shutdown())
        await asyncio.shield(self._closing)

    async def _shutdown(self) -> None:
        self._queue.put_nowait(_STOP)
        try:
            await self._writer
        finally:
            await self._db.close()

    async def __aenter__(self) -> "Journal":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _run_writer(self) -> None:
        stopping = False
        while not stopping:
            item = await self._queue.get()
            if item is _STOP:
                return
            batch = [item]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            await self._write_batch(batch)

    async def _write_batch(self, batch: list[tuple[tuple, asyncio.Future]]) -> None:
        seqs: list[int] = []
        async with self._lock:
            try:
                await self._db.execute("BEGIN IMMEDIATE")
                # Seqs are given here, not by SQLite, because each row's hash covers its seq.
                last_seq, prev, issued = (await self._db.execute_fetchall(_TIP))[0]
                # Past AUTOINCREMENT's record, so a seq (and the client order ids made from it) is
                # never reused, even if the tail was cut: verify then reports the gap.
                seq = max(last_seq or 0, issued or 0)
                # A tip without a hash was put there by hand and verify reports it; the journal
                # stays writable, because no order may leave without its row.
                prev = prev or GENESIS
                rows = []
                for row, _ in batch:
                    seq += 1
                    digest = row_hash(seq, *row, prev)
                    rows.append((seq, *row, prev, digest))
                    seqs.append(seq)
                    prev = digest
                await self._db.executemany(_INSERT, rows)
                await self._db.execute("COMMIT")
            except BaseException as exc:
                try:
                    await self._db.execute("ROLLBACK")
                except Exception:
                    pass  # the failure may already have ended the transaction
                for _, future in batch:
                    if not future.done():
                        future.set_exception(
                            JournalError(f"journal write failed, row not recorded: {exc}")
                        )
                if not isinstance(exc, Exception):
                    raise
                return
        for (_, future), seq in zip(batch, seqs):
            if not future.done():
                future.set_result(seq)
