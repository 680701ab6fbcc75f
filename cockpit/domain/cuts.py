"""Orders that only shrink positions: what a breaker proposes ("cut 50%", "exit").

Every order here is reduce-only and rounded *down* to the instrument's step, so it can never
grow or flip a position, whatever the rounding.
"""

from __future__ import annotations

from typing import Iterable

from cockpit.domain.rebalance import round_quantity
from cockpit.domain.types import Order, State


def cut_orders(state: State, fraction: float, symbols: Iterable[str] | None = None) -> tuple[Order, ...]:
    """Returns reduce-only market orders that cut each position in `symbols` (every open position
    when None) by `fraction` of its size (1.0 closes it), rounded down to the step size.

    A cut that rounds to nothing is left out, except that a full exit (fraction 1.0) always
    closes the exact quantity held. Raises ValueError unless 0 < fraction <= 1.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"cut fraction must be within (0, 1], not {fraction!r}")
    chosen = sorted(state.positions) if symbols is None else sorted(set(symbols) & set(state.positions))
    orders = []
    for symbol in chosen:
        held = state.positions[symbol].quantity
        instrument = state.instruments.get(symbol)
        size = abs(held) * fraction
        if fraction < 1 and instrument is not None:
            size = round_quantity(size, instrument.step_size)
        if size <= 0:
            continue
        orders.append(Order(symbol, "sell" if held > 0 else "buy", min(size, abs(held)), reduce_only=True))
    return tuple(orders)
