"""A paper account rebuilt from the journal after a restart.

The fold uses the same settlement functions as the paper venue (cockpit.domain.account), so the
rebuilt wallet and positions equal, float for float, what the venue held when it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

from cockpit.domain.account import settle_fill, settle_funding
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


async def rebuild_paper_account(journal: Journal, account: str) -> PaperAccount | None:
    """Returns the paper account folded from its journal rows, or None if `account` has none.

    Deposits (added to the wallet), fills (settle_fill), funding (settle_funding) and the
    insurance cover of liquidations are folded in seq order, as the paper venue applied them; the balance is in USDT. Marks = the latest
    MARKS row's prices, overlaid by the price of any later fill.
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
    after = 0
    while True:
        page = await journal.entries(account=account, kinds=_FOLDED, after_seq=after, limit=_PAGE)
        for entry in page:
            if entry.seq > last_seq:
                break
            if entry.kind == kinds.DEPOSIT:
                balance = Balance(balance.wallet + _deposit_amount(entry), balance.currency)
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
        if len(page) < _PAGE or not page or page[-1].seq >= last_seq:
            break
        after = page[-1].seq
    return PaperAccount(account, balance, positions, marks, last_seq)


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
    for entry in rows:
        cid = entry.client_order_id or ""
        if entry.kind == kinds.ORDER and entry.payload.get("order_type") == "stop_market":
            try:
                resting[cid] = Order(
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
        elif entry.kind == kinds.ORDER_RESULT and entry.payload.get("status") != "open":
            resting.pop(cid, None)
        elif entry.kind == kinds.FILL:
            resting.pop(cid, None)
        elif entry.kind == kinds.FLATTEN and entry.payload.get("step") == "cancel":
            resting.clear()
    return list(resting.values())
