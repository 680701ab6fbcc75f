"""Plain, immutable trading types shared by every layer.

Units, unless a field says otherwise: prices and money in the quote currency (USDT), quantities in
base units (BTC, ETH), times in seconds since the Unix epoch (UTC), rates and fractions as plain
fractions (0.004 = 0.4 %). Position quantities are signed: positive is long, negative is short
(Binance USDT-M one-way mode).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Literal, Mapping

PositionSide = Literal["long", "short"]
OrderSide = Literal["buy", "sell"]
MarginMode = Literal["isolated", "cross"]

QUOTE = "USDT"


class Gate(str, Enum):
    """The risk gate: what kinds of order the engine lets through."""

    ACTIVE = "ACTIVE"  # everything that passes the pre-trade checks
    REDUCING = "REDUCING"  # only orders that shrink |position|
    HALTED = "HALTED"  # only cancels and flatten


class RebalanceMode(str, Enum):
    """When the engine looks for drift: on every update, or every N hours."""

    CONTINUOUS = "continuous"
    INTERVAL = "interval"


@dataclass(frozen=True, slots=True)
class MaintenanceTier:
    """One leverage bracket: maintenance margin applies to position notional in [min, max)."""

    min_notional: float
    max_notional: float
    maintenance_margin_rate: float
    maintenance_amount: float  # Binance `cum`, USDT
    max_leverage: float


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable perpetual: precision, minimums and its maintenance tiers."""

    symbol: str  # ccxt unified symbol, e.g. "BTC/USDT:USDT"
    base: str  # "BTC"
    step_size: float  # smallest quantity increment, base units
    min_notional: float  # smallest order value, USDT
    tick_size: float  # smallest price increment, USDT
    tiers: tuple[MaintenanceTier, ...]


@dataclass(frozen=True, slots=True)
class Position:
    """An open one-way position. `quantity` is signed: + long, - short."""

    symbol: str
    quantity: float
    entry_price: float
    margin_mode: MarginMode = "cross"
    isolated_margin: float = 0.0  # USDT, only meaningful when margin_mode == "isolated"
    # What a live exchange reports as this position's liquidation price (USDT); None when the
    # venue reports none (paper). Shown beside ours, never used in place of it.
    exchange_liquidation_price: float | None = None

    @property
    def side(self) -> PositionSide:
        """Returns "long" for a positive quantity, "short" otherwise."""
        return "long" if self.quantity >= 0 else "short"

    def notional(self, mark_price: float) -> float:
        """Returns the absolute position value at `mark_price`, in USDT."""
        return abs(self.quantity) * mark_price

    def unrealized_pnl(self, mark_price: float) -> float:
        """Returns the profit (+) or loss (-) if closed at `mark_price`, in USDT."""
        return self.quantity * (mark_price - self.entry_price)


@dataclass(frozen=True, slots=True)
class Balance:
    """The account's cash: deposits + realized PnL - fees +/- funding, in `currency`."""

    wallet: float
    currency: str = QUOTE


@dataclass(frozen=True, slots=True)
class Order:
    """An instruction to trade. `quantity` is positive; `side` gives the direction."""

    symbol: str
    side: OrderSide
    quantity: float
    reduce_only: bool = False
    order_type: Literal["market", "limit", "stop_market"] = "market"
    limit_price: float | None = None
    client_order_id: str = ""
    stop_price: float | None = None  # USDT; the trigger of a "stop_market" order

    @property
    def signed_quantity(self) -> float:
        """Returns the change in position this order makes when filled, in base units."""
        return self.quantity if self.side == "buy" else -self.quantity


@dataclass(frozen=True, slots=True)
class Fill:
    """An executed trade. `fee` is what was paid, in USDT (always >= 0)."""

    symbol: str
    side: OrderSide
    quantity: float
    price: float
    fee: float
    timestamp: float
    client_order_id: str = ""
    liquidation: bool = False

    @property
    def signed_quantity(self) -> float:
        """Returns the change in position this fill made, in base units."""
        return self.quantity if self.side == "buy" else -self.quantity


@dataclass(frozen=True, slots=True)
class Tick:
    """A price update. `high`/`low` are the extremes since the previous tick of this symbol
    (a replayed bar's range; equal to `price` for a live ticker)."""

    symbol: str
    timestamp: float
    price: float
    high: float
    low: float


@dataclass(frozen=True, slots=True)
class FundingPayment:
    """Funding settled on a position: `amount` > 0 was received, < 0 was paid, in USDT."""

    symbol: str
    timestamp: float
    rate: float  # per 8h, as a fraction
    amount: float


@dataclass(frozen=True, slots=True)
class Proposal:
    """An action the engine suggests. Nothing happens until a person approves it.

    `reason_numbers` holds the figures that triggered it (drift per symbol, band, ...), so the
    journal and the screen can show exactly why.
    """

    id: str
    kind: str  # "rebalance"
    orders: tuple[Order, ...]
    reason: str
    reason_numbers: Mapping[str, float]
    estimated_cost: float  # fees + slippage, USDT
    leverage_after: float  # gross notional / equity after the orders
    liquidation_distance_after: float  # nearest position's distance, fraction of mark; inf if flat
    created_at: float
    expires_at: float
    reference_prices: Mapping[str, float]  # marks when proposed, for price-move expiry


def _frozen(mapping: Mapping) -> Mapping:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True)
class State:
    """One immutable snapshot of account and market: the input to every risk computation."""

    timestamp: float
    balance: Balance
    positions: Mapping[str, Position] = field(default_factory=dict)
    marks: Mapping[str, float] = field(default_factory=dict)
    instruments: Mapping[str, Instrument] = field(default_factory=dict)

    def with_marks(self, marks: Mapping[str, float], timestamp: float) -> "State":
        """Returns a new State with `marks` merged over the current marks."""
        merged = dict(self.marks)
        merged.update(marks)
        return State(timestamp, self.balance, self.positions, _frozen(merged), self.instruments)

    def with_account(self, balance: Balance, positions: Mapping[str, Position]) -> "State":
        """Returns a new State with the account replaced and flat positions dropped."""
        open_positions = {s: p for s, p in positions.items() if p.quantity != 0}
        return State(self.timestamp, balance, _frozen(open_positions), self.marks, self.instruments)
