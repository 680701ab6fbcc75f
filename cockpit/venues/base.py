"""The contracts between the engine and where prices and fills come from.

Everything behind these protocols is async at the edge; the engine never knows whether it talks
to the paper exchange, a CSV replay or a real exchange through ccxt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncIterator, Literal, Protocol, runtime_checkable

from cockpit.domain.types import Balance, Fill, FundingPayment, Instrument, Order, Position, Tick

SourceLabel = Literal["LIVE", "PAPER", "REPLAY", "SYNTHETIC"]


@dataclass(frozen=True, slots=True)
class OrderResult:
    """What became of a submitted order. `status` "unknown" means: not known to be filled or
    rejected (a timeout is neither); it must be resolved by querying, never by re-sending.
    "open" means it rests on the venue (a protective stop waiting for its trigger)."""

    client_order_id: str
    status: Literal["filled", "rejected", "unknown", "open"]
    fill: Fill | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Liquidation:
    """The venue closed a position because margin fell below maintenance. `fill` is the close."""

    fill: Fill
    realized_pnl: float  # USDT, the loss on the closed position (negative)
    clearance_fee: float  # USDT, the remaining margin taken by the venue
    insurance_cover: float = 0.0  # USDT the insurance fund paid to lift a negative wallet to 0




@runtime_checkable
class PriceSource(Protocol):
    """A stream of ticks for a fixed set of instruments.

    A source may also offer `history() -> {symbol: (times, prices)}` (epoch seconds and USDT,
    oldest first, all before the first tick): the forecasting models are fitted on it at start
    instead of waiting weeks for bars. The engine looks for it with getattr; it is optional."""

    label: SourceLabel

    def instruments(self) -> dict[str, Instrument]:
        """Returns the instruments this source prices, keyed by ccxt symbol."""
        ...

    def ticks(self) -> AsyncIterator[Tick]:
        """Yields ticks until the source is exhausted or closed."""
        ...

    async def close(self) -> None:
        """Releases network connections or files."""
        ...


@runtime_checkable
class Venue(Protocol):
    """Where orders go and the account lives."""

    name: str

    def account(self) -> tuple[Balance, dict[str, Position]]:
        """Returns the venue's current view of the balance and open positions."""
        ...

    def observe(self, tick: Tick) -> list[VenueEvent]:
        """Folds a tick into the venue; returns what it caused (funding, liquidations)."""
        ...

    async def submit(self, order: Order) -> OrderResult:
        """Sends one order; returns its outcome (possibly "unknown")."""
        ...

    async def cancel_all(self) -> int:
        """Cancels every open order; returns how many were cancelled. Idempotent."""
        ...

    async def cancel(self, client_order_id: str) -> bool:
        """Cancels one resting order; returns False when none rests under that id."""
        ...

    async def open_orders(self) -> list[Order]:
        """Returns the orders resting on the venue."""
        ...


@dataclass(frozen=True, slots=True)
class OrderResolved:
    """An order whose outcome was unknown (or that rested) now has one: the engine journals
    `result` (and its fill) under the order's client id."""

    order: Order
    result: OrderResult


VenueEvent = Fill | FundingPayment | Liquidation | OrderResolved
