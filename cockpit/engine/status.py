"""`cockpit status`: the newest account in the journal, as the journal last recorded it.

It reads, and only reads: the file is opened read-only (SQLite `mode=ro`), the owner lock is not
touched, and no row is appended, so it is safe beside a running cockpit (WAL mode lets a reader
see every committed row while the owner writes). The account is rebuilt exactly as a restart or
`cockpit flatten` rebuilds it (cockpit.journal.rebuild) and valued at the last journaled marks;
the stress report is the same `stress_report` the engine computes for the risk screen.

What it cannot know offline: the price now (a running cockpit journals marks every minute and at
stop, fills carry their own price) and a breaker's current reading (the journal records trips and
resets, not every reading). Engaged breakers are the latches a restart takes back
(cockpit.journal.rebuild.engaged_breakers), whichever run tripped them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cockpit.config import Config
from cockpit.domain.breakers import BreakerState
from cockpit.domain.risk import RiskSnapshot, assess
from cockpit.domain.scenarios import StressReport, scenarios_for, stress_report
from cockpit.domain.types import Gate, Instrument, State
from cockpit.journal import kinds, schema
from cockpit.journal.errors import JournalError
from cockpit.journal.rebuild import engaged_breakers, latest_account, rebuild_paper_account
from cockpit.journal.store import Entry, Journal
from cockpit.journal.verify import read_only_connection
from cockpit.venues.instruments import DEFAULT_INSTRUMENTS, instrument_for_base


@dataclass(frozen=True)
class NothingToReport:
    """There is no account to report on (no journal file, or no account started in it yet):
    `message` is the one line to print."""

    message: str


@dataclass(frozen=True)
class AccountStatus:
    """The newest account as the journal last recorded it. Money in USDT, times in epoch seconds
    (UTC, journal time: when the row was written), leverage as a multiple of equity."""

    account: str
    source: str  # LIVE | PAPER | REPLAY | SYNTHETIC, from the newest START row
    started_at: float
    stopped_at: float | None  # the STOP row after that START; None while running (or after a crash)
    stop_reason: str
    gate: Gate  # from the newest GATE row; ACTIVE when the gate never moved
    gate_since: float | None  # None when the gate never moved
    gate_reason: str
    gate_key: str  # the key a person pressed; "" when a breaker moved it
    risk: RiskSnapshot  # wallet, equity, effective leverage, liquidation prices at the marks
    leverage_ceiling: float  # from the config given to `cockpit status`
    marks_at: float | None  # when the oldest price the positions are valued at was journaled
    unpriced: tuple[str, ...]  # open positions with no journaled price: valued at entry
    stress: StressReport
    breakers: tuple[BreakerState, ...]  # tripped in any run and not reset since; LATCHED, value None
    last_seq: int  # the newest journal row the account was rebuilt from

    def summary_lines(self) -> list[str]:
        """Returns the lines above the stress tables: account and run, gate, money, caveats.
        Short enough for an 80-column terminal with a typical account name."""
        if self.stopped_at is None:
            run = f"started {utc(self.started_at)}, no stop journaled"
        else:
            run = f"stopped {utc(self.stopped_at)}" + (f" ({self.stop_reason})" if self.stop_reason else "")
        lines = [f"account {self.account} · {self.source} · {run}"]
        if self.gate_since is None:
            lines.append(f"gate {self.gate.value} (never moved)")
        else:
            who = f", key {self.gate_key}" if self.gate_key else ""
            lines.append(f"gate {self.gate.value} since {utc(self.gate_since)}: {self.gate_reason}{who}")
        risk = self.risk
        lines.append(
            f"wallet {_money(risk.wallet)} · equity {_money(risk.equity)} USDT · "
            f"leverage {_leverage(risk.effective_leverage)} (ceiling {self.leverage_ceiling:.2f}x)"
        )
        if self.marks_at is None:
            held = ": positions valued at entry price" if self.unpriced else ""
            lines.append(f"no prices journaled yet{held}")
        elif self.unpriced:
            shown = ", ".join(symbol.split("/")[0] for symbol in self.unpriced)
            lines.append(f"no journaled price for {shown}: valued at entry price")
        return lines

    def to_json(self) -> dict:
        """Returns the status as plain JSON types (non-finite numbers as null)."""
        return {
            "account": self.account,
            "source": self.source,
            "started_at": self.started_at,
            "stopped_at": self.stopped_at,
            "gate": {"state": self.gate.value, "reason": self.gate_reason, "since": self.gate_since, "key": self.gate_key},
            **risk_json(self.risk, self.leverage_ceiling),
            "positions": [position_json(row) for row in self.risk.positions],
            "open_orders": [],
            "marks_at": self.marks_at,
            "breakers": [{"breaker": b.breaker, "subject": b.subject} for b in self.breakers],
        }

    def breaker_lines(self) -> list[str]:
        """Returns the line above the breaker table, or the whole breaker report when none is
        engaged."""
        if self.breakers:
            return ["breakers tripped and not reset since (Now: not journaled):"]
        return ["breakers: none tripped since the last reset"]


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def risk_json(risk: RiskSnapshot, ceiling: float) -> dict[str, Any]:
    """Returns the account-level risk numbers as JSON types."""
    return {
        "wallet": _finite(risk.wallet),
        "equity": _finite(risk.equity),
        "effective_leverage": _finite(risk.effective_leverage),
        "leverage_ceiling": ceiling,
        "nearest_liquidation_distance": _finite(risk.nearest_liquidation_distance),
    }


def position_json(row: Any) -> dict[str, Any]:
    """Returns one PositionRisk as JSON types (distance as a fraction of the mark)."""
    return {
        "symbol": row.symbol, "side": row.side, "quantity": row.quantity, "entry_price": row.entry_price,
        "mark_price": row.mark_price, "notional": row.notional, "unrealized_pnl": row.unrealized_pnl,
        "liquidation_price": _finite(row.liquidation_price) if row.liquidation_price > 0 else None,
        "liquidation_distance": _finite(row.liquidation_distance),
    }


def utc(epoch: float) -> str:
    """Returns epoch seconds as "2026-01-01 00:00 UTC"."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _money(value: float) -> str:
    return f"{value:,.2f}" if math.isfinite(value) else "—"


def _leverage(value: float) -> str:
    return f"{value:.2f}x" if math.isfinite(value) else "∞"


async def open_read_only(path: Path) -> Journal:
    """Returns a Journal on a read-only connection. Journal.open would create a missing file,
    migrate an old one and take a write transaction to do so: none of that belongs in a status
    command that runs beside the owner. An append on this Journal fails (read-only database)."""
    db, version = await read_only_connection(path)
    if version != schema.current_version():
        await db.close()
        if version == 0:
            raise EmptyJournal()
        if version > schema.current_version():
            raise JournalError(
                f"{path} has schema version {version}, but this cockpit only knows up to "
                f"{schema.current_version()}; upgrade cockpit to read it"
            )
        raise JournalError(
            f"{path} has the older schema version {version}; start cockpit on it once to migrate it"
        )
    return Journal(db, path, time.time)


class EmptyJournal(Exception):
    """A SQLite file without a single table: nothing was ever journaled in it."""


async def _newest_at_or_before(journal: Journal, kind: str, account: str, seq: int) -> Entry | None:
    # A running cockpit may append rows after the rebuild stopped at `seq`; skip past those.
    limit = 4
    while True:
        rows = await journal.entries(kinds=[kind], account=account, newest_first=True, limit=limit)
        for row in rows:
            if row.seq <= seq:
                return row
        if len(rows) < limit:
            return None
        limit *= 4


async def _mark_times(journal: Journal, account: str, last_seq: int) -> dict[str, float]:
    """Returns {symbol: journal time of the price the rebuild values it at}, mirroring the
    rebuild: the newest MARKS row's prices, overlaid by the price of any later fill."""
    times: dict[str, float] = {}
    marks = await _newest_at_or_before(journal, kinds.MARKS, account, last_seq)
    after = 0
    if marks is not None:
        prices = marks.payload.get("prices")
        if isinstance(prices, dict):
            times = {symbol: marks.ts for symbol in prices}
        after = marks.seq
    for fill in await journal.entries(kinds=[kinds.FILL], account=account, after_seq=after):
        if fill.seq <= last_seq and fill.symbol:
            times[fill.symbol] = fill.ts
    return times


def _instruments(symbols) -> dict[str, Instrument]:
    # The instruments the paper venue trades (their tiers decide liquidation prices); a symbol
    # without a default gets the generic perpetual a replay of it would get.
    instruments = dict(DEFAULT_INSTRUMENTS)
    for symbol in symbols:
        if symbol not in instruments:
            instruments[symbol] = instrument_for_base(symbol.split("/")[0])
    return instruments


def _gate(row: Entry | None) -> Gate:
    if row is None:
        return Gate.ACTIVE  # the gate starts ACTIVE and nothing moved it
    try:
        return Gate(row.payload.get("to"))
    except ValueError as exc:
        raise JournalError(f"journal row {row.seq}: gate payload is unusable ({exc})") from exc


async def _newest_row(journal: Journal, kind: str, account: str) -> Entry | None:
    rows = await journal.entries(kinds=[kind], account=account, newest_first=True, limit=1)
    return rows[0] if rows else None


async def read_status(config: Config, journal_path: str | Path) -> AccountStatus | NothingToReport:
    """Returns the AccountStatus of the newest account in the journal (the one named by the newest
    START row, as `cockpit flatten` picks it), or NothingToReport when there is no journal file,
    the file is empty, or no account has started in it.

    Raises JournalError (one line) for a path that is a directory, a file that is not a SQLite
    database or not a cockpit journal, a schema this code cannot read, or an unusable row.
    """
    path = Path(journal_path).expanduser()
    if path.is_dir():
        raise JournalError(f"{path} is a directory, not a journal file")
    if not path.exists():
        return NothingToReport(f"no journal at {path}: no account to report")
    try:
        journal = await open_read_only(path)
    except EmptyJournal:
        return NothingToReport(f"the journal at {path} is empty: no account to report")
    async with journal:
        account = await latest_account(journal)
        paper = await rebuild_paper_account(journal, account) if account else None
        if account is None or paper is None:
            return NothingToReport(f"the journal at {path} holds no account yet: no account to report")
        start = await _newest_at_or_before(journal, kinds.START, account, paper.last_seq)
        if start is None:  # latest_account found one; only a damaged file gets here
            return NothingToReport(f"the journal at {path} holds no account yet: no account to report")
        stop = await _newest_row(journal, kinds.STOP, account)
        stopped = stop if stop is not None and stop.seq > start.seq else None
        gate_row = await _newest_row(journal, kinds.GATE, account)
        mark_times = await _mark_times(journal, account, paper.last_seq)
        breakers = tuple(await engaged_breakers(journal, account))

    open_symbols = sorted(s for s, p in paper.positions.items() if p.quantity != 0)
    priced = [s for s in open_symbols if paper.marks.get(s, 0.0) > 0 and s in mark_times]
    unpriced = tuple(s for s in open_symbols if s not in priced)
    if priced:
        marks_at: float | None = min(mark_times[s] for s in priced)  # the stalest price in use
    elif mark_times and not open_symbols:
        marks_at = max(mark_times.values())
    else:
        marks_at = None
    # The state's clock is the marks' time: the stress heading then says when its prices are from.
    when = marks_at if marks_at is not None else start.ts
    state = State(when, paper.balance, instruments=_instruments(paper.positions)).with_marks(
        paper.marks, when
    ).with_account(paper.balance, paper.positions)
    gate_payload = gate_row.payload if gate_row is not None else {}
    gate = _gate(gate_row)
    return AccountStatus(
        account=account,
        source=str(start.payload.get("source", "?")),
        started_at=start.ts,
        stopped_at=stopped.ts if stopped is not None else None,
        stop_reason=str(stopped.payload.get("reason", "")) if stopped is not None else "",
        gate=gate,
        gate_since=gate_row.ts if gate_row is not None else None,
        gate_reason=str(gate_payload.get("reason") or ""),
        gate_key=str(gate_payload.get("key") or ""),
        risk=assess(state),
        leverage_ceiling=config.portfolio.leverage_ceiling,
        marks_at=marks_at,
        unpriced=unpriced,
        stress=stress_report(state, scenarios_for(state)),
        breakers=breakers,
        last_seq=paper.last_seq,
    )
