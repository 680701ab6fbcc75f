"""A paper account rebuilt from the journal after a restart.

The fold uses the same settlement functions as the paper venue (cockpit.domain.account), so the
rebuilt wallet and positions equal, float for float, what the venue held when it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

from cockpit.domain.account import settle_fill, settle_funding
from cockpit.domain.types import Balance, Fill, FundingPayment, Position
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
