"""The journal for people: CSV export and one line per entry for `cockpit journal`."""

from __future__ import annotations

import csv
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, TextIO

from cockpit.journal import kinds
from cockpit.journal.codec import compact_json
from cockpit.journal.errors import JournalError
from cockpit.journal.store import Entry, EntryFilter, Journal

CSV_COLUMNS = (
    "seq", "time_utc", "account", "kind", "symbol", "proposal_id", "client_order_id", "payload",
)
_PAGE = 2000
_SUMMARY_WIDTH = 160


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds")


async def export_csv(
    journal: Journal, out: TextIO, *, limit: int | None = None, account: str | None = None,
    where: EntryFilter | None = None,
) -> int:
    """Writes a header and the journal rows to `out` as CSV, oldest first; returns the number of
    rows written (header excluded). With `limit`, only the newest `limit` rows are written; with
    `where`, only the rows it matches (read page by page, so a big journal never sits in memory).

    time_utc is ISO-8601 with milliseconds and +00:00; payload is compact JSON.
    """
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)

    def write(entries: Iterable[Entry]) -> int:
        count = 0
        for e in entries:
            writer.writerow(
                (e.seq, _iso(e.ts), e.account, e.kind, e.symbol or "", e.proposal_id or "",
                 e.client_order_id or "", compact_json(e.payload))
            )
            count += 1
        return count

    if limit is not None:
        newest = await journal.entries(limit=limit, account=account, newest_first=True, where=where)
        return write(reversed(newest))
    written, after = 0, 0
    while True:
        page = await journal.entries(limit=_PAGE, account=account, after_seq=after, where=where)
        written += write(page)
        if len(page) < _PAGE:
            return written
        after = page[-1].seq


async def export_csv_file(journal: Journal, path: str | Path, *, where: EntryFilter | None = None) -> tuple[Path, int]:
    """Writes the rows `where` matches to the new file `path` as CSV (see export_csv); returns
    (its absolute path, the number of rows). A relative path is from the current directory.

    Raises JournalError, one line, when the file exists (it is never overwritten), its folder
    does not, or it cannot be written; a file begun and not finished is removed again.
    """
    target = Path(path).expanduser()
    where_to = target.absolute()
    if target.is_dir():
        raise JournalError(f"{where_to} is a folder: give a file name (nothing was written)")
    try:
        out = open(target, "x", encoding="utf-8", newline="")
    except FileExistsError:
        raise JournalError(f"{where_to} exists: choose another name (nothing was written)") from None
    except FileNotFoundError:
        raise JournalError(f"no folder {where_to.parent}: nothing was written") from None
    except IsADirectoryError:
        raise JournalError(f"{where_to} is a folder: give a file name (nothing was written)") from None
    except OSError as exc:
        raise JournalError(f"cannot write {where_to}: {exc.strerror or exc} (nothing was written)") from None
    try:
        with out:
            rows = await export_csv(journal, out, where=where)
            out.flush()
            os.fsync(out.fileno())
    except BaseException as exc:
        target.unlink(missing_ok=True)
        if isinstance(exc, (OSError, JournalError)):
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise JournalError(f"cannot write {where_to}: {detail} (nothing was written)") from None
        raise
    return where_to, rows


def _num(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:.10g}"


def _pct(value: Any) -> str:
    try:
        return f"{float(value) * 100:.4g}%"
    except (TypeError, ValueError):
        return str(value)


def _pairs(payload: dict, skip: Iterable[str] = ()) -> str:
    skipped = set(skip)
    shown = (f"{k}={_num(v)}" for k, v in payload.items() if k not in skipped and v is not None)
    return " ".join(shown)


def _key(p: dict) -> str:
    return f" key={p['key']}" if p.get("key") else ""


def _start(e: Entry, p: dict) -> str:
    config = str(p.get("config_hash") or "")[:8]
    return f"v{p.get('version')} source={p.get('source')} pid={p.get('pid')} config={config}"


def _mode(e: Entry, p: dict) -> str:
    every = f" every {_num(p['interval_hours'])}h" if p.get("interval_hours") else ""
    return f"{p.get('mode')}{every}{_key(p)}"


def _gate(e: Entry, p: dict) -> str:
    return f"{p.get('from')} -> {p.get('to')} {p.get('reason') or ''}".rstrip() + _key(p)


def _proposal(e: Entry, p: dict) -> str:
    orders = ", ".join(
        f"{o.get('side')} {_num(o.get('quantity'))} {o.get('symbol')}"
        + (f" stop@{_num(o.get('stop_price'))}" if o.get("order_type") == "stop_market" else "")
        + (" RO" if o.get("reduce_only") else "")
        for o in p.get("orders") or []
        if isinstance(o, dict)
    )
    return (
        f"{e.proposal_id} {p.get('kind')}: {orders or 'no orders'}; {p.get('reason')}; "
        f"lev {_num(p.get('leverage_after'))}x cost {_num(p.get('estimated_cost'))}"
    )


def _decision(e: Entry, p: dict) -> str:
    note = f" {p['note']}" if p.get("note") else ""
    return f"{p.get('decision')}{_key(p)} proposal={e.proposal_id}{note}"


def _order(e: Entry, p: dict) -> str:
    ro = " reduce-only" if p.get("reduce_only") else ""
    at = f" @ {_num(p['limit_price'])}" if p.get("limit_price") is not None else ""
    if p.get("stop_price") is not None:
        at = f" stop@{_num(p['stop_price'])}"
    side = f"{p.get('side')} {_num(p.get('quantity'))} {p.get('order_type')}"
    return f"{side}{at}{ro} id={e.client_order_id}"


def _order_result(e: Entry, p: dict) -> str:
    reason = f": {p['reason']}" if p.get("reason") else ""
    return f"{p.get('status')} id={e.client_order_id}{reason}"


def _fill(e: Entry, p: dict) -> str:
    liq = " LIQUIDATION" if p.get("liquidation") else ""
    return (
        f"{p.get('side')} {_num(p.get('quantity'))} @ {_num(p.get('price'))} "
        f"fee {_num(p.get('fee'))} pnl {_num(p.get('realized_pnl'))}{liq}"
    )


def _funding(e: Entry, p: dict) -> str:
    return f"rate {_pct(p.get('rate'))} amount {_num(p.get('amount'))}"


def _liquidation(e: Entry, p: dict) -> str:
    return (
        f"{_num(p.get('quantity'))} @ {_num(p.get('price'))} pnl {_num(p.get('realized_pnl'))} "
        f"clearance {_num(p.get('clearance_fee'))}"
    )


def _denied(e: Entry, p: dict) -> str:
    return str(p.get("reason", "")) + (f" proposal={e.proposal_id}" if e.proposal_id else "")


def _flatten(e: Entry, p: dict) -> str:
    rest = _pairs(p, skip=("step",))
    return f"{p.get('step')} {rest}".rstrip()


def _marks(e: Entry, p: dict) -> str:
    prices = p.get("prices") if isinstance(p.get("prices"), dict) else {}
    return " ".join(f"{s}={_num(v)}" for s, v in prices.items())


_SUMMARIES: dict[str, Callable[[Entry, dict], str]] = {
    kinds.START: _start,
    kinds.STOP: lambda e, p: str(p.get("reason", "")),
    kinds.MODE: _mode,
    kinds.GATE: _gate,
    kinds.DEPOSIT: lambda e, p: f"{_num(p.get('amount'))} USDT",
    kinds.PROPOSAL: _proposal,
    kinds.DECISION: _decision,
    kinds.DENIED: _denied,
    kinds.ORDER: _order,
    kinds.ORDER_RESULT: _order_result,
    kinds.FILL: _fill,
    kinds.FUNDING: _funding,
    kinds.LIQUIDATION: _liquidation,
    kinds.FLATTEN: _flatten,
    kinds.MARKS: _marks,
    kinds.NOTE: lambda e, p: str(p.get("text", "")),
}


def summarize(entry: Entry) -> str:
    """Returns a short one-line description of the entry's payload (no time, kind or symbol)."""
    describe = _SUMMARIES.get(entry.kind)
    try:
        text = describe(entry, entry.payload) if describe else compact_json(entry.payload)
    except Exception:  # a damaged payload must still print as something
        text = str(entry.payload)
    text = " ".join(text.split())  # no newlines from free text may break the one-line layout
    if len(text) > _SUMMARY_WIDTH:
        text = text[: _SUMMARY_WIDTH - 1] + "…"
    return text


def format_entries(entries: Iterable[Entry], *, compact: bool = False) -> list[str]:
    """Returns one line per entry: "#seq  YYYY-MM-DD HH:MM:SS UTC  kind  symbol  summary".

    `compact` (for an 80-column screen) drops the seq and the year ("01-31 14:05:09") and shows
    the base asset ("BTC" for "BTC/USDT:USDT"), so the summary keeps its room.
    """
    lines = []
    for e in entries:
        moment = datetime.fromtimestamp(e.ts, tz=timezone.utc)
        if compact:
            symbol = (e.symbol or "-").split("/")[0]
            lines.append(f"{moment:%m-%d %H:%M:%S} {e.kind:<12} {symbol:<5} {summarize(e)}")
        else:
            symbol = e.symbol or "-"
            lines.append(f"#{e.seq:<6} {moment:%Y-%m-%d %H:%M:%S} UTC  {e.kind:<12} {symbol:<15} {summarize(e)}")
    return lines
