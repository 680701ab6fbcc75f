"""Pre-trade checks: every order batch passes these before it is journaled and sent.

Each check returns None when the orders may go, or a denial string `DENIED <code> <numbers>`
that names the rule and the figures that broke it (nautilus_trader's risk engine style), e.g.
`DENIED order_notional=61,000.00 > max=50,000.00`. `pretrade_denial` runs them all in a fixed
order and returns the first denial.

Pure: no I/O, no wall clock. The order-rate limiter reads time only through the clock it is given.

Units: money in USDT, quantities in base units, leverage as a multiple of equity (3.0 = 3x),
exposure as a fraction of equity, times in seconds.

Flatten-all does not go through this module: it is reduce-only by construction and must work
when the gate is HALTED, when limits are hit and when the rate limiter is full.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from cockpit.domain.account import FLAT_EPSILON
from cockpit.domain.risk import (
    account_equity,
    check_leverage_ceiling,
    is_risk_reducing,
    simulate_fills,
)
from cockpit.domain.types import Gate, Instrument, Order, State

# A quantity is on-step when it is within this fraction of a whole number of steps.
STEP_TOLERANCE = 1e-9
# Exposure comparisons allow for float residue, like the leverage check.
EXPOSURE_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class PretradeLimits:
    """The limits `pretrade_denial` enforces. Raises ValueError for a value out of range."""

    leverage_ceiling: float = 3.0
    """Highest effective leverage after the orders, x equity (reductions always pass)."""

    max_order_notional: float = math.inf
    """Largest single order, quantity x mark in USDT; inf = no limit."""

    max_exposure_fraction: float = math.inf
    """Largest |notional| of one asset / equity after the orders; inf = no cap."""

    max_orders_per_second: float = 5.0
    """Orders per second for OrderRateLimiter.from_limits."""

    slippage: float = 0.0005
    """Assumed fill price mark x (1 +/- slippage), against you, as a fraction."""

    fee_rate: float = 0.0005
    """Fee as a fraction of fill notional."""

    def __post_init__(self) -> None:
        for name in ("leverage_ceiling", "max_order_notional", "max_exposure_fraction",
                     "max_orders_per_second"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"{name}: expected a number > 0, got {value!r}")
        if not 0 <= self.slippage < 1:
            raise ValueError(f"slippage: expected 0 <= slippage < 1, got {self.slippage!r}")
        if not 0 <= self.fee_rate < 1:
            raise ValueError(f"fee_rate: expected 0 <= fee_rate < 1, got {self.fee_rate!r}")


def _money(value: float) -> str:
    return f"{value:,.2f}"


def check_precision(order: Order, instrument: Instrument, mark_price: float) -> str | None:
    """Returns None when `order` meets the exchange's rules, else a denial string.

    Denied when the mark (USDT) is not a positive finite number (`DENIED mark ...`), the quantity
    (base units) is not positive and finite, it is not a whole number of `step_size` (within
    1e-9 relative: `DENIED precision quantity=0.0015 not a multiple of step=0.001`), or its
    notional at the mark is below `min_notional` (`DENIED min_notional 3.20 < 5.00`, USDT). A
    reduce-only order is exempt from the minimum notional, so a dust position can be closed.
    """
    if not (math.isfinite(mark_price) and mark_price > 0):
        return f"DENIED mark symbol={order.symbol} mark={mark_price} not positive"
    quantity, step = order.quantity, instrument.step_size
    if not (math.isfinite(quantity) and quantity > 0):
        return f"DENIED precision quantity={quantity} not positive"
    steps = quantity / step
    whole = round(steps)
    if whole < 1 or abs(steps - whole) > STEP_TOLERANCE * steps:
        return f"DENIED precision quantity={quantity} not a multiple of step={step}"
    notional = quantity * mark_price
    if not order.reduce_only and notional < instrument.min_notional:
        return f"DENIED min_notional {_money(notional)} < {_money(instrument.min_notional)}"
    return None


def check_order_notional(order: Order, mark_price: float, limit: float) -> str | None:
    """Returns None when quantity x mark_price (USDT) is at most `limit` (USDT; inf = no limit),
    else `DENIED order_notional=61,000.00 > max=50,000.00`. Applies to reduce-only orders too."""
    notional = order.quantity * mark_price
    if notional <= limit:
        return None
    return f"DENIED order_notional={_money(notional)} > max={_money(limit)}"


def _asset(state: State, symbol: str) -> str:
    instrument = state.instruments.get(symbol)
    return instrument.base if instrument is not None else symbol.split("/")[0]


def check_exposure(state: State, orders: Iterable[Order], *, limits: PretradeLimits) -> str | None:
    """Returns None when, after the orders fill (risk.simulate_fills with the limits' slippage and
    fees), every asset's |quantity| x mark / equity is at most `limits.max_exposure_fraction`,
    else `DENIED exposure BTC=0.62 > cap=0.50 of equity`.

    An asset whose |position| does not grow is never denied, so a reduction always passes even
    when the account is over the cap. Equity <= 0 after the orders counts as infinite exposure.
    """
    cap = limits.max_exposure_fraction
    if math.isinf(cap):
        return None
    after = simulate_fills(state, orders, slippage=limits.slippage, fee_rate=limits.fee_rate)
    equity = account_equity(after)
    for symbol in sorted(after.positions):
        quantity = after.positions[symbol].quantity
        before = state.positions.get(symbol)
        if abs(quantity) <= (abs(before.quantity) if before else 0.0) + FLAT_EPSILON:
            continue
        notional = abs(quantity) * after.marks[symbol]  # grew, so an order here had a mark
        fraction = notional / equity if equity > 0 else math.inf
        if fraction > cap + EXPOSURE_TOLERANCE:
            return (f"DENIED exposure {_asset(state, symbol)}={fraction:.2f} > cap={cap:.2f}"
                    " of equity")
    return None


def check_gate(gate: Gate | str, state: State, orders: Iterable[Order]) -> str | None:
    """Returns None when the risk gate lets every order through, else a denial string.

    ACTIVE: everything passes. HALTED: every order is denied (`DENIED gate=HALTED ...`); flatten
    does not go through this module, so it still works. REDUCING: each order, applied in turn to
    the running position, must only shrink |position| without flipping (risk.is_risk_reducing),
    else `DENIED gate=REDUCING sell 0.5 BTC/USDT:USDT position=0.2 grows |position|`.
    """
    gate = Gate(gate)
    orders = tuple(orders)
    if gate is Gate.ACTIVE or not orders:
        return None
    if gate is Gate.HALTED:
        return f"DENIED gate=HALTED {len(orders)} order(s): only cancels and flatten are allowed"
    held = {symbol: position.quantity for symbol, position in state.positions.items()}
    for order in orders:
        quantity = held.get(order.symbol, 0.0)
        if not is_risk_reducing(quantity, order):
            after = quantity + order.signed_quantity
            what = "flips position" if quantity * after < 0 else "grows |position|"
            return (f"DENIED gate=REDUCING {order.side} {order.quantity} {order.symbol} "
                    f"position={quantity} {what}")
        held[order.symbol] = quantity + order.signed_quantity
    return None


class OrderRateLimiter:
    """Sliding-window order rate limit: at most max_per_second x window_seconds orders in any
    window of `window_seconds` (default 5 orders per 1 s). `clock` returns seconds (any epoch,
    e.g. time.monotonic); an order recorded at t counts while now - t < window_seconds."""

    def __init__(self, clock: Callable[[], float], max_per_second: float = 5.0,
                 window_seconds: float = 1.0) -> None:
        if not max_per_second > 0:
            raise ValueError(f"max_per_second: expected > 0, got {max_per_second!r}")
        if not window_seconds > 0:
            raise ValueError(f"window_seconds: expected > 0, got {window_seconds!r}")
        self._clock = clock
        self.max_per_second = max_per_second
        self.window_seconds = window_seconds
        self.capacity = math.floor(max_per_second * window_seconds + 1e-9)
        self._sent: deque[float] = deque()

    @classmethod
    def from_limits(cls, clock: Callable[[], float], limits: PretradeLimits) -> "OrderRateLimiter":
        """Returns a limiter allowing `limits.max_orders_per_second` over a 1 s window."""
        return cls(clock, limits.max_orders_per_second)

    def _in_window(self) -> int:
        horizon = self._clock() - self.window_seconds
        while self._sent and self._sent[0] <= horizon:
            self._sent.popleft()
        return len(self._sent)

    def check(self, count: int = 1) -> str | None:
        """Returns None when `count` more orders fit in the window now, else
        `DENIED order_rate 6 in 1.0s > 5/s`. Consumes nothing: call `record` once sent."""
        total = self._in_window() + count
        if total <= self.capacity:
            return None
        return (f"DENIED order_rate {total} in {self.window_seconds:.1f}s > "
                f"{self.max_per_second:g}/s")

    def record(self, count: int = 1) -> None:
        """Counts `count` orders as sent at the clock's current time."""
        now = self._clock()
        self._in_window()
        self._sent.extend([now] * count)


def pretrade_denial(
    state: State,
    orders: Sequence[Order],
    *,
    gate: Gate | str,
    limits: PretradeLimits,
    rate_limiter: OrderRateLimiter | None,
) -> str | None:
    """Returns None when the whole batch may go, else the first denial string, checking in order:
    gate, precision and minimums (an order on a symbol without an instrument is denied with
    `DENIED unknown_instrument ...`), order notional, leverage ceiling after the fills
    (risk.check_leverage_ceiling), per-asset exposure, order rate (the batch's trading orders,
    see `trading_orders`; nothing is recorded: call `rate_limiter.record` once they are sent; None skips it).
    """
    orders = tuple(orders)
    denial = check_gate(gate, state, orders)
    if denial:
        return denial
    for order in orders:
        instrument = state.instruments.get(order.symbol)
        if instrument is None:
            return f"DENIED unknown_instrument symbol={order.symbol}"
        mark = state.marks.get(order.symbol, math.nan)
        denial = check_precision(order, instrument, mark)
        if denial:
            return denial
    for order in orders:
        denial = check_order_notional(order, state.marks[order.symbol], limits.max_order_notional)
        if denial:
            return denial
    denial = check_leverage_ceiling(state, orders, ceiling=limits.leverage_ceiling,
                                    slippage=limits.slippage, fee_rate=limits.fee_rate)
    if denial:
        return denial
    denial = check_exposure(state, orders, limits=limits)
    if denial:
        return denial
    if rate_limiter is not None:
        return rate_limiter.check(trading_orders(orders))
    return None


def trading_orders(orders: Iterable[Order]) -> int:
    """Returns how many of `orders` trade at once, i.e. count against the order rate: every order
    but the protective stops, which rest beside the position they protect (one per position)."""
    return sum(1 for order in orders if order.order_type != "stop_market")


__all__ = [
    "OrderRateLimiter",
    "PretradeLimits",
    "check_exposure",
    "check_gate",
    "check_order_notional",
    "check_precision",
    "pretrade_denial",
]
