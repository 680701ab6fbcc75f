"""How fills and funding change an account. Used by the paper venue and by the journal rebuild,
so a paper account replayed from the journal lands on exactly the same numbers."""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping

from cockpit.domain.types import Balance, Fill, FundingPayment, Position

# Quantities below this many base units are treated as flat (float residue after closing).
FLAT_EPSILON = 1e-12


def realized_pnl(position: Position | None, fill: Fill) -> float:
    """Returns the PnL a fill realizes by closing part or all of `position`, in USDT (before fees)."""
    if position is None or position.quantity == 0:
        return 0.0
    change = fill.signed_quantity
    if position.quantity * change >= 0:
        return 0.0  # adds to the position: nothing is realized
    closed = min(abs(change), abs(position.quantity))
    direction = 1.0 if position.quantity > 0 else -1.0
    return direction * closed * (fill.price - position.entry_price)


def apply_fill(position: Position | None, fill: Fill) -> Position | None:
    """Returns the position after `fill`, or None when it leaves the symbol flat.

    Adding keeps a quantity-weighted average entry; reducing keeps the entry; flipping through zero
    opens the remainder at the fill price.
    """
    old_quantity = position.quantity if position else 0.0
    new_quantity = old_quantity + fill.signed_quantity
    if abs(new_quantity) < FLAT_EPSILON:
        return None
    if position is None or old_quantity == 0:
        return Position(fill.symbol, new_quantity, fill.price)
    if old_quantity * fill.signed_quantity > 0:
        entry = (abs(old_quantity) * position.entry_price + fill.quantity * fill.price) / abs(
            new_quantity
        )
        return replace(position, quantity=new_quantity, entry_price=entry)
    if old_quantity * new_quantity > 0:
        return replace(position, quantity=new_quantity)
    return replace(position, quantity=new_quantity, entry_price=fill.price)


def settle_fill(
    balance: Balance, positions: Mapping[str, Position], fill: Fill
) -> tuple[Balance, dict[str, Position], float]:
    """Returns (balance, positions, realized PnL in USDT) after `fill`: PnL and fee go to the wallet."""
    current = positions.get(fill.symbol)
    pnl = realized_pnl(current, fill)
    updated = dict(positions)
    after = apply_fill(current, fill)
    if after is None:
        updated.pop(fill.symbol, None)
    else:
        updated[fill.symbol] = after
    return Balance(balance.wallet + pnl - fill.fee, balance.currency), updated, pnl


def settle_funding(balance: Balance, payment: FundingPayment) -> Balance:
    """Returns the balance after a funding payment (received if amount > 0, paid if < 0)."""
    return Balance(balance.wallet + payment.amount, balance.currency)


def funding_amount(position: Position, mark_price: float, rate: float) -> float:
    """Returns the funding a position receives (+) or pays (-) at `rate` per 8h, in USDT.

    Longs pay shorts when the rate is positive, as on Binance.
    """
    return -position.quantity * mark_price * rate
