"""Sizes a person types: a manual order (symbol, side, quantity or notional, reduce-only) and a
pending proposal's orders scaled by a factor. Both end as exchange-valid quantities, rounded down
to the instrument's step, or as an OrderSizeError whose message is the one line the trader reads.

Pure: nothing here decides whether the orders may go; that is the pre-trade check's job
(`cockpit.domain.pretrade`), run on the result like on any proposal.

Units: quantities in base units (positive; the side gives the direction), notional in USDT.
"""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal
from typing import Mapping, Sequence

from cockpit.domain.account import FLAT_EPSILON
from cockpit.domain.rebalance import round_quantity
from cockpit.domain.types import QUOTE, Instrument, Order, OrderSide, State


class OrderSizeError(ValueError):
    """A typed size or symbol that cannot become an order; str() is one line for the screen."""


def _tradable(instruments: Mapping[str, Instrument]) -> str:
    return ", ".join(sorted(instrument.base for instrument in instruments.values())) or "none"


def resolve_symbol(text: str, instruments: Mapping[str, Instrument]) -> str:
    """Returns the unified symbol ("BTC/USDT:USDT") that `text` names: a base ("btc"), a
    Binance name ("BTCUSDT"), "BTC/USDT" or the unified symbol itself, any case. Raises
    OrderSizeError naming the tradable bases when none matches."""
    wanted = text.strip().upper()
    if not wanted:
        raise OrderSizeError(f"no symbol: type one of {_tradable(instruments)}")
    for symbol, instrument in instruments.items():
        base = instrument.base.upper()
        if wanted in (symbol.upper(), base, f"{base}{QUOTE}", f"{base}/{QUOTE}"):
            return symbol
    raise OrderSizeError(f"unknown symbol {text.strip()!r}: tradable here: {_tradable(instruments)}")


def _exactly(product: Decimal) -> float:
    # Products and quotients in decimal: 4.082 x 1.5 is 6.123, where floats say 6.122999... and
    # the round-down to the step would then take a whole step off.
    return float(product)


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise OrderSizeError(f"{name} must be a number above zero, not {value!r}")
    return float(value)


def manual_order(
    state: State,
    symbol: str,
    side: OrderSide,
    *,
    quantity: float | None = None,
    notional: float | None = None,
    reduce_only: bool = False,
) -> Order:
    """Returns the market Order a person typed: `quantity` in base units, or `notional` in USDT
    turned into base units at the current mark; either way rounded down to the step.

    Raises OrderSizeError (one line) for an unknown symbol, a side other than buy/sell, not
    exactly one of quantity and notional, a size that is not a number above zero, no mark yet,
    a size that rounds down to nothing, and a reduce-only order with no opposite position to
    reduce or larger than that position (it would flip it; the exchange would refuse it too)."""
    instrument = state.instruments.get(symbol)
    if instrument is None:
        raise OrderSizeError(f"unknown symbol {symbol!r}: tradable here: {_tradable(state.instruments)}")
    if side not in ("buy", "sell"):
        raise OrderSizeError(f"side must be buy or sell, not {side!r}")
    if (quantity is None) == (notional is None):
        raise OrderSizeError("give a quantity or a notional, not both")
    mark = state.marks.get(symbol)
    if mark is None or not (mark > 0 and math.isfinite(mark)):
        raise OrderSizeError(f"no price for {instrument.base} yet: wait for the first mark")
    if notional is not None:
        wanted = _exactly(Decimal(repr(_positive("notional", notional))) / Decimal(repr(mark)))
    else:
        wanted = _positive("quantity", quantity)  # type: ignore[arg-type]
    size = round_quantity(wanted, instrument.step_size)
    if size <= 0:
        raise OrderSizeError(
            f"{wanted:.8g} {instrument.base} rounds down to nothing: the step is {instrument.step_size:g}")
    if reduce_only:
        held = state.positions.get(symbol)
        quantity_held = held.quantity if held is not None else 0.0
        reduces = quantity_held < 0 if side == "buy" else quantity_held > 0
        if not reduces:
            need = "short" if side == "buy" else "long"
            raise OrderSizeError(f"reduce-only {side} needs a {need} {instrument.base} position to reduce; none is held")
        if size > abs(quantity_held) + FLAT_EPSILON:
            raise OrderSizeError(
                f"reduce-only {side} {size:g} {instrument.base} is more than the {abs(quantity_held):g} held")
    return Order(symbol, side, size, reduce_only=reduce_only)


def scale_orders(state: State, orders: Sequence[Order], factor: float) -> tuple[Order, ...]:
    """Returns the trading orders of `orders` with each quantity multiplied by `factor` and
    rounded down to its instrument's step (kept as is without an instrument); resting stops are
    left out (they cover the position after the fills, so they are re-derived, not scaled).

    A reduce-only order never grows past the position it reduces, held in turn through the batch,
    so scaling up cannot turn a cut into a flip. An order that rounds to nothing is left out.
    Raises OrderSizeError when `factor` is not a number above zero or nothing is left to send."""
    factor = _positive("scale", factor)
    held = {symbol: position.quantity for symbol, position in state.positions.items()}
    scaled = []
    for order in orders:
        if order.order_type == "stop_market":
            continue
        instrument = state.instruments.get(order.symbol)
        size = _exactly(Decimal(repr(order.quantity)) * Decimal(repr(factor)))
        if instrument is not None:
            size = round_quantity(size, instrument.step_size)
        position = held.get(order.symbol, 0.0)
        if order.reduce_only:
            size = min(size, abs(position))
        if size <= 0:
            continue
        new = replace(order, quantity=size)
        held[order.symbol] = position + new.signed_quantity
        scaled.append(new)
    if not scaled:
        raise OrderSizeError(f"x{factor:g} rounds every order down to nothing")
    return tuple(scaled)


__all__ = ["OrderSizeError", "manual_order", "resolve_symbol", "scale_orders"]
