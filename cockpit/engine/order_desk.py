"""What a person sizes by hand, turned into orders the engine can check: a pending proposal's
orders scaled by a factor, and a manual order. Both come with the protective stop every
proposal that opens or enlarges a position carries (cockpit.engine.policy.protective_stops), so
a hand-sized order is protected exactly like a proposed one.

Nothing here journals, queues or sends: the Engine does that, after the same pre-trade checks as
for any proposal.
"""

from __future__ import annotations

from typing import Mapping

from cockpit.config import Config
from cockpit.domain.order_size import manual_order, scale_orders
from cockpit.domain.types import Order, OrderSide, Proposal, State
from cockpit.engine.policy import protective_stops


def _base(symbol: str) -> str:
    return symbol.split("/")[0]


def edited_orders(state: State, proposal: Proposal, scale: float, sigmas: Mapping[str, float | None],
                  config: Config) -> tuple[Order, ...]:
    """Returns `proposal`'s trading orders x `scale` (rounded down to the step, reduce-only ones
    never past the position), followed by fresh protective stops for the positions they open or
    enlarge when the proposal carried stops (a stop covers the position after the fills, so it
    is re-derived, never scaled). Raises OrderSizeError (one line) for a bad scale or when every
    order rounds to nothing."""
    trading = scale_orders(state, proposal.orders, scale)
    if not any(order.order_type == "stop_market" for order in proposal.orders):
        return trading
    paper = config.paper
    stops, _ = protective_stops(state, trading, sigmas, slippage=paper.slippage, fee_rate=paper.taker_fee)
    return trading + stops


def manual_orders(state: State, symbol: str, side: OrderSide, *, quantity: float | None, notional: float | None,
                  reduce_only: bool, sigmas: Mapping[str, float | None], config: Config) -> tuple[Order, ...]:
    """Returns the manual market order (cockpit.domain.order_size.manual_order) and, unless it is
    reduce-only, the protective stop for the position it opens or enlarges. Raises
    OrderSizeError (one line) for anything typed that cannot become an order."""
    order = manual_order(state, symbol, side, quantity=quantity, notional=notional, reduce_only=reduce_only)
    if reduce_only:
        return (order,)
    paper = config.paper
    stops, _ = protective_stops(state, (order,), sigmas, slippage=paper.slippage, fee_rate=paper.taker_fee)
    return (order,) + stops


def order_rows(orders: tuple[Order, ...]) -> list[dict]:
    """Returns the orders as journal rows: {symbol, side, quantity, reduce_only, order_type
    [, stop_price]} (quantity in base units, stop price in USDT), as in a PROPOSAL payload."""
    return [
        {"symbol": order.symbol, "side": order.side, "quantity": order.quantity, "reduce_only": order.reduce_only,
         "order_type": order.order_type, **({"stop_price": order.stop_price} if order.stop_price is not None else {})}
        for order in orders
    ]


def describe_edit(original: tuple[Order, ...], edited: tuple[Order, ...], scale: float) -> str:
    """Returns the edit in one line for the journal's note and the screen:
    "x0.5: buy 0.166→0.083 BTC, buy 2→1 ETH" (trading orders; a dropped one reads "→0")."""
    after: dict[tuple[str, str], float] = {}
    for order in edited:
        if order.order_type != "stop_market":
            after[(order.symbol, order.side)] = after.get((order.symbol, order.side), 0.0) + order.quantity
    parts = [
        f"{order.side} {order.quantity:g}→{after.get((order.symbol, order.side), 0.0):g} {_base(order.symbol)}"
        for order in original if order.order_type != "stop_market"
    ]
    return f"x{scale:g}: " + ", ".join(parts)
