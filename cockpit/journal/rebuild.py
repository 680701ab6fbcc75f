"""What a restart takes back from the journal: the paper account, its resting stops, and the
circuit-breaker latches a person has not reset yet.

The account fold uses the same settlement functions as the paper venue (cockpit.domain.account),
so the rebuilt wallet and positions equal, float for float, what the venue held when it stopped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cockpit.domain.account import settle_fill, settle_funding
from cockpit.domain.breakers import BreakerState, BreakerStatus
from cockpit.domain.regime_rules import REGIMES
from cockpit.domain.types import Balance, Fill, FundingPayment, Order, Position
from cockpit.journal import kinds
from cockpit.journal.errors import JournalError
from cockpit.journal.store import Entry, Journal

# Rows are read in pages so a long-lived journal does not have to fit in memory at once.
_PAGE = 2000
_FOLDED = (kinds.DEPOSIT, kinds.FILL, kinds.FUNDING, kinds.LIQUIDATION, kinds.MARKS)


@dataclass(frozen=True)
class PaperAccount:
    """An account as the journal recorded it: wallet in USDT, open positions by symbol, last
    known mark prices in USDT, and the seq of the newest row the rebuild took into account."""

    account: str
    balance: Balance
    positions: dict[str, Position]
    marks: dict[str, float]
    last_seq: int
    peak_equity: float = 0.0  # highest equity (USDT) at any MARKS row or deposit, for the drawdown guard


def _unusable(entry: Entry, exc: Exception) -> JournalError:
    return JournalError(f"journal row {entry.seq}: {entry.kind} payload is unusable ({exc!r})")


def fill_from_entry(entry: Entry) -> Fill:
    """Returns the Fill a FILL row records (symbol and client_order_id from the row's columns)."""
    p = entry.payload
    try:
        return Fill(
            symbol=entry.symbol or "",
            side=p["side"],
            quantity=float(p["quantity"]),
            price=float(p["price"]),
            fee=float(p.get("fee", 0.0)),
            timestamp=float(p.get("timestamp", entry.ts)),
            client_order_id=entry.client_order_id or "",
            liquidation=bool(p.get("liquidation", False)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _unusable(entry, exc) from exc


def funding_from_entry(entry: Entry) -> FundingPayment:
    """Returns the FundingPayment a FUNDING row records (symbol from the row's column)."""
    p = entry.payload
    try:
        return FundingPayment(
            symbol=entry.symbol or "",
            timestamp=float(p.get("timestamp", entry.ts)),
            rate=float(p.get("rate", 0.0)),
            amount=float(p["amount"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _unusable(entry, exc) from exc


def _deposit_amount(entry: Entry) -> float:
    try:
        return float(entry.payload["amount"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _unusable(entry, exc) from exc


def _insurance_cover(entry: Entry) -> float:
    try:
        return float(entry.payload.get("insurance_cover", 0.0) or 0.0)
    except (TypeError, ValueError) as exc:
        raise _unusable(entry, exc) from exc


def _marks(entry: Entry) -> dict[str, float]:
    prices = entry.payload.get("prices")
    if not isinstance(prices, dict):
        return {}
    marks: dict[str, float] = {}
    for symbol, price in prices.items():
        try:
            marks[symbol] = float(price)
        except (TypeError, ValueError):
            continue  # one damaged price should not cost the others
    return marks


def _equity(balance: Balance, positions: dict[str, Position], marks: dict[str, float]) -> float:
    # Valued like the engine values it: at the mark, or at entry for a symbol with no price.
    return balance.wallet + sum(
        p.quantity * (marks.get(symbol, p.entry_price) - p.entry_price) for symbol, p in positions.items()
    )


async def rebuild_paper_account(journal: Journal, account: str) -> PaperAccount | None:
    """Returns the paper account folded from its journal rows, or None if `account` has none.

    Deposits (added to the wallet), fills (settle_fill), funding (settle_funding) and the
    insurance cover of liquidations are folded in seq order, as the paper venue applied them; the
    balance is in USDT. Marks = the latest MARKS row's prices, overlaid by the price of any later
    fill. `peak_equity` is the highest equity seen at a deposit or a MARKS row (once a minute).
    Rows appended while the fold runs are left out; `last_seq` says where it stopped.
    Raises JournalError if a deposit, fill or funding row cannot be read.
    """
    newest = await journal.entries(account=account, limit=1, newest_first=True)
    if not newest:
        return None
    last_seq = newest[0].seq
    balance = Balance(0.0)
    positions: dict[str, Position] = {}
    marks: dict[str, float] = {}
    peak = 0.0
    after = 0
    while True:
        page = await journal.entries(account=account, kinds=_FOLDED, after_seq=after, limit=_PAGE)
        for entry in page:
            if entry.seq > last_seq:
                break
            if entry.kind == kinds.DEPOSIT:
                balance = Balance(balance.wallet + _deposit_amount(entry), balance.currency)
                peak = max(peak, _equity(balance, positions, marks))
            elif entry.kind == kinds.FILL:
                fill = fill_from_entry(entry)
                balance, positions, _ = settle_fill(balance, positions, fill)
                marks[fill.symbol] = fill.price
            elif entry.kind == kinds.FUNDING:
                balance = settle_funding(balance, funding_from_entry(entry))
            elif entry.kind == kinds.LIQUIDATION:
                # The fill row already moved the money; this adds what the insurance fund covered.
                balance = Balance(balance.wallet + _insurance_cover(entry), balance.currency)
            else:
                marks = _marks(entry)
                peak = max(peak, _equity(balance, positions, marks))
        if len(page) < _PAGE or not page or page[-1].seq >= last_seq:
            break
        after = page[-1].seq
    return PaperAccount(account, balance, positions, marks, last_seq, peak)


async def latest_account(journal: Journal) -> str | None:
    """Returns the account named by the newest START row, or None if nothing has started yet."""
    newest = await journal.entries(kinds=[kinds.START], limit=1, newest_first=True)
    return newest[0].account if newest else None


async def resting_stops(journal: Journal, account: str) -> list[Order]:
    """Returns the protective stop orders that still rest according to the journal, oldest first:
    each stop ORDER whose result was "open" and that has since neither filled, been cancelled or
    rejected, nor been swept by a flatten's cancel step. A restart puts these back on the paper
    venue, so a stop the trader approved is not silently lost with the process."""
    rows = await journal.entries(kinds=[kinds.ORDER, kinds.ORDER_RESULT, kinds.FILL, kinds.FLATTEN], account=account)
    resting: dict[str, Order] = {}
    sent: dict[str, Order] = {}  # stop intents not yet answered: a crash may have kept them home
    for entry in rows:
        cid = entry.client_order_id or ""
        if entry.kind == kinds.ORDER and entry.payload.get("order_type") == "stop_market":
            try:
                sent[cid] = Order(
                    symbol=str(entry.symbol),
                    side=entry.payload["side"],
                    quantity=float(entry.payload["quantity"]),
                    reduce_only=True,
                    order_type="stop_market",
                    stop_price=float(entry.payload["stop_price"]),
                    client_order_id=cid,
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise _unusable(entry, exc) from None
        elif entry.kind == kinds.ORDER_RESULT and entry.payload.get("status") == "open":
            if cid in sent:
                resting[cid] = sent.pop(cid)
        elif entry.kind == kinds.ORDER_RESULT:
            sent.pop(cid, None)
            resting.pop(cid, None)
        elif entry.kind == kinds.FILL:
            resting.pop(cid, None)
        elif entry.kind == kinds.FLATTEN and entry.payload.get("step") == "cancel":
            resting.clear()
    return list(resting.values())


def _breaker_number(value: object) -> float | None:
    # Payload floats may be the strings "inf"/"nan" (see kinds.py), null, or missing; an unknown
    # reading is None rather than an error, because the latch matters more than its figure.
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _breaker_key(entry: Entry) -> tuple[str, str]:
    names = []
    for field in ("breaker", "subject"):
        name = entry.payload.get(field)
        if not isinstance(name, str) or not name:
            raise _unusable(entry, KeyError(field))
        names.append(name)
    return names[0], names[1]


async def engaged_breakers(journal: Journal, account: str) -> list[BreakerState]:
    """Returns the circuit-breaker latches of `account` that tripped and no person has reset
    since, oldest trip first, each with status LATCHED.

    BREAKER rows are folded in seq order: a "tripped" row engages its (breaker, subject) with
    `tripped_value` = the row's value (the breaker's unit, see cockpit.domain.breakers; None if
    not a number), `tripped_at` = the row's journal time (epoch seconds) and its threshold (NaN if
    not a number); a "reset" row clears exactly its own (breaker, subject). A reset never clears
    others: older engines journaled resets only for the latches engaged in their own run, so a trip
    from an earlier run that a later reset did not name was never acknowledged.

    LATCHED, not TRIPPED, and `value` None: the reading now is not journaled. The latch holds until
    a person's reset; the next live reading moves it to TRIPPED if the condition still holds
    (cockpit.domain.breakers.advance), without journaling a second trip. Rows of any other
    status are skipped.
    Raises JournalError if a BREAKER row names no breaker or no subject.
    """
    engaged: dict[tuple[str, str], BreakerState] = {}
    for entry in await journal.entries(kinds=[kinds.BREAKER], account=account):
        key = _breaker_key(entry)
        status = entry.payload.get("status")
        if status == "tripped":
            threshold = _breaker_number(entry.payload.get("threshold"))
            engaged.pop(key, None)  # re-inserted, so the order stays oldest trip first
            engaged[key] = BreakerState(
                breaker=key[0],
                subject=key[1],
                status=BreakerStatus.LATCHED,
                value=None,
                threshold=math.nan if threshold is None else threshold,
                tripped_value=_breaker_number(entry.payload.get("value")),
                tripped_at=entry.ts,
            )
        elif status == "reset":
            engaged.pop(key, None)
    return list(engaged.values())


async def regime_override(journal: Journal, account: str) -> str | None:
    """Returns the regime the trader set on `account` and has not cleared since (the newest
    MODEL row with event "regime_override"), or None. A row naming no known regime is skipped:
    sizing must never run on a regime it cannot price."""
    for entry in await journal.entries(kinds=[kinds.MODEL], account=account, newest_first=True):
        if entry.payload.get("event") != "regime_override":
            continue
        regime = entry.payload.get("regime")
        if regime is None or regime in REGIMES:
            return regime
    return None
