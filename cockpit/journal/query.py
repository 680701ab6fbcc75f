"""The SQL of journal reads: which rows (an EntryFilter) and in what order, as text and
parameters for the writer's connection and for a reader's own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

COLUMNS = "seq, ts, account, kind, symbol, proposal_id, client_order_id, payload"


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """Which rows a reader wants: every field given must match; None (or empty) matches any.

    `kinds`: only these kinds; `skip_kinds`: none of these (the journal browser hides price
    bookkeeping this way, which stays fast: the newest rows are read first and the read stops at
    its limit). `symbol`: a ccxt symbol, or its base asset ("BTC" matches "BTC/USDT:USDT" and
    "BTC/USDT"), any case. `since`/`until`: row time, epoch seconds, since <= ts < until.
    `words`: each must appear, any ASCII case, in the row's kind, symbol, ids or payload JSON.
    """

    kinds: tuple[str, ...] | None = None
    skip_kinds: tuple[str, ...] = ()
    account: str | None = None
    symbol: str | None = None
    since: float | None = None
    until: float | None = None
    words: tuple[str, ...] = ()


def _like(text: str) -> str:
    # LIKE's own wildcards in what a person typed are meant literally.
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# One text per row for the free-text search: what the journal screen and the CSV show of it.
_SEARCHED = (
    "(kind || ' ' || IFNULL(symbol, '') || ' ' || IFNULL(proposal_id, '') || ' ' || "
    "IFNULL(client_order_id, '') || ' ' || payload)"
)


def where_clauses(where: EntryFilter) -> tuple[list[str], list[Any]]:
    """Returns the SQL conditions (to be joined with AND) and their parameters for `where`."""
    clauses: list[str] = []
    params: list[Any] = []
    if where.kinds is not None:
        clauses.append(f"kind IN ({', '.join('?' * len(where.kinds))})" if where.kinds else "0")
        params.extend(where.kinds)
    if where.skip_kinds:
        clauses.append(f"kind NOT IN ({', '.join('?' * len(where.skip_kinds))})")
        params.extend(where.skip_kinds)
    if where.account is not None:
        clauses.append("account = ?")
        params.append(where.account)
    if where.symbol and where.symbol.strip():
        symbol = where.symbol.strip().upper()
        clauses.append("(UPPER(symbol) = ? OR UPPER(symbol) LIKE ? ESCAPE '\\')")
        params.extend([symbol, _like(symbol) + "/%"])
    if where.since is not None:
        clauses.append("ts >= ?")
        params.append(float(where.since))
    if where.until is not None:
        clauses.append("ts < ?")
        params.append(float(where.until))
    for word in where.words:
        clauses.append(f"{_SEARCHED} LIKE ? ESCAPE '\\'")
        params.append(f"%{_like(word)}%")
    return clauses, params


def select_entries(
    columns: str,
    where: EntryFilter | None = None,
    *,
    kinds: Iterable[str] | str | None = None,
    account: str | None = None,
    after_seq: int | None = None,
    before_seq: int | None = None,
    newest_first: bool = False,
    limit: int | None = None,
) -> tuple[str, list[Any]]:
    """Returns (SELECT statement, parameters) for the rows matching `where` and the other
    filters, in seq order (descending if `newest_first`), at most `limit` of them."""
    clauses, params = where_clauses(where) if where is not None else ([], [])
    if kinds is not None:
        wanted = [kinds] if isinstance(kinds, str) else list(kinds)
        clauses.append(f"kind IN ({', '.join('?' * len(wanted))})" if wanted else "0")
        params.extend(wanted)
    if account is not None:
        clauses.append("account = ?")
        params.append(account)
    if after_seq is not None:
        clauses.append("seq > ?")
        params.append(int(after_seq))
    if before_seq is not None:
        clauses.append("seq < ?")
        params.append(int(before_seq))
    sql = f"SELECT {columns} FROM entries"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += " ORDER BY seq DESC" if newest_first else " ORDER BY seq ASC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    return sql, params


def count_entries(where: EntryFilter | None = None, *, cap: int | None = None) -> tuple[str, list[Any]]:
    """Returns (SELECT COUNT statement, parameters) for the rows matching `where`; with `cap`,
    the count stops at cap + 1."""
    clauses, params = where_clauses(where) if where is not None else ([], [])
    inner = "SELECT 1 FROM entries" + (" WHERE " + " AND ".join(clauses) if clauses else "")
    if cap is not None:
        inner += " LIMIT ?"
        params.append(int(cap) + 1)
    return f"SELECT COUNT(*) FROM ({inner})", params
