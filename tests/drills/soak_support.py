"""The soak drill's faulty venue (test_soak.py).

`FaultyVenue` is the backtest's replay venue (cockpit/backtest/venue.py) with seeded faults on
the order path, the way an exchange fails:

- rejected: the order is refused, nothing happens;
- lost answer, filled: the exchange filled the order but its answer is lost ("unknown"); the
  account shows the fill only when the order is resolved, 1 to 3 bars later (the lookups by
  client id and the account reads lag it, as with ExchangeVenue), and then the fill is told;
- lost answer, never placed: "unknown", resolved 1 to 3 bars later as never placed;
- partial fill: a market order fills only in part and the rest expires.

It remembers every order it was sent with the gate at that moment, every fill it made, and what
the account holds once the fills nobody was told of yet are counted (`true_leverage`): that is
the exposure the exchange carries, whatever the cockpit knows.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, replace

from cockpit.backtest.venue import BacktestVenue
from cockpit.domain.account import settle_fill
from cockpit.domain.risk import account_equity
from cockpit.domain.types import Balance, Fill, Gate, Order, Position, State, Tick
from cockpit.venues.base import Liquidation, OrderResolved, OrderResult, VenueEvent

FAULTS = ("rejected", "lost answer, filled", "lost answer, never placed", "partial fill")


@dataclass(frozen=True)
class Sent:
    """One order the venue was sent: when, under which gate, and what it did."""

    at: float
    order: Order
    gate: Gate
    reducing: bool  # it only shrank a position
    fault: str  # "" or one of FAULTS
    status: str  # what the engine was told


@dataclass
class Lost:
    """An order whose answer was lost: what really happened, told when `bars` reach 0."""

    order: Order
    bars: int
    fill: Fill | None  # None: never placed


class FaultyVenue(BacktestVenue):
    """BacktestVenue that fails orders at random (seeded), as described in the module doc."""

    def __init__(self, *args, fault_rate: float, fault_seed: int, faults: tuple[str, ...] = FAULTS, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fault_rate = fault_rate
        self.kinds = faults
        self._faults = random.Random(fault_seed)
        self.gate = lambda: Gate.ACTIVE  # the engine's, set by the drill once the engine exists
        self.sent: list[Sent] = []
        self.faults: Counter[str] = Counter()
        self.fills: list[Fill] = []  # every fill this venue made: orders, stops, liquidations
        self._lost: list[Lost] = []

    # ---- the order path ------------------------------------------------------------------

    async def submit(self, order: Order) -> OrderResult:
        gate = self.gate()
        held = self.account()[1].get(order.symbol)
        reducing = held is not None and held.quantity * order.signed_quantity < 0 \
            and order.quantity <= abs(held.quantity) + 1e-12
        fault = self._pick_fault(order)
        self.faults[fault] += bool(fault)
        lost = OrderResult(order.client_order_id, "unknown", reason="drill: timeout (outcome unknown)")
        if fault == "rejected":
            result = OrderResult(order.client_order_id, "rejected", reason="drill: -2019 Margin is insufficient")
        elif fault == "lost answer, never placed":
            self._lost.append(Lost(order, self._faults.randint(1, 3), None))
            result = lost
        elif fault == "lost answer, filled" and order.order_type == "market" and not self._rejection(order):
            self._lost.append(Lost(order, self._faults.randint(1, 3), self._fill_price(order)))
            result = lost
        elif fault == "partial fill":
            part = replace(order, quantity=self._part(order))
            real = await self._fill(part)
            result = replace(real, reason="drill: partly filled, then expired") if real.fill else real
        else:  # no fault (a lost answer on a stop or a refused order: it simply goes through)
            result = await self._fill(order)
        self.sent.append(Sent(self._clock(), order, gate, reducing, fault, result.status))
        return result

    def _pick_fault(self, order: Order) -> str:
        if self._faults.random() >= self.fault_rate:
            return ""
        choices = [f for f in self.kinds if f != "partial fill" or (order.order_type == "market" and self._part(order) > 0)]
        return self._faults.choice(choices) if choices else ""

    def _part(self, order: Order) -> float:
        """A whole number of steps, from a fifth to four fifths of the order (0 if too small)."""
        step = self._instruments[order.symbol].step_size
        steps = round(order.quantity / step)
        if steps < 2:
            return 0.0
        return max(1, min(steps - 1, int(steps * self._faults.uniform(0.2, 0.8)))) * step

    def _fill_price(self, order: Order) -> Fill:
        """The fill the exchange made now, at the price the venue would have filled it."""
        slip = self._base_slippage + self.latency_cost(order.symbol)
        mark = self._marks[order.symbol]
        price = mark * (1 + slip) if order.side == "buy" else mark * (1 - slip)
        return Fill(order.symbol, order.side, order.quantity, price, self.taker_fee * order.quantity * price,
                    self._clock(), order.client_order_id)

    async def _fill(self, order: Order) -> OrderResult:
        result = await super().submit(order)
        if result.fill is not None:
            self.fills.append(result.fill)
        return result

    # ---- the market ----------------------------------------------------------------------

    def observe(self, tick: Tick) -> list[VenueEvent]:
        """The lost answers due now (their fills enter the account first: they happened first),
        then the bar's own events."""
        resolved = self._tell_due()
        events = super().observe(tick)
        for event in events:
            if isinstance(event, Fill):
                self.fills.append(event)
            elif isinstance(event, Liquidation):
                self.fills.append(event.fill)
        return [*resolved, *events]

    def _tell_due(self) -> list[VenueEvent]:
        out: list[VenueEvent] = []
        for lost in list(self._lost):
            lost.bars -= 1
            if lost.bars > 0:
                continue
            self._lost.remove(lost)
            cid = lost.order.client_order_id
            if lost.fill is None:
                result = OrderResult(cid, "rejected", reason="drill: not on the exchange after the grace period: never placed")
            elif lost.order.reduce_only and not self._still_reduces(lost.fill):
                result = OrderResult(cid, "rejected", reason="drill: reduce-only, the position was gone")
            else:
                self._balance, self._positions, _ = settle_fill(self._balance, self._positions, lost.fill)
                self._prune_stops()
                self.ledger.record_fill(lost.fill)
                self.fills.append(lost.fill)
                result = OrderResult(cid, "filled", lost.fill)
            out.append(OrderResolved(lost.order, result))
        return out

    def _still_reduces(self, fill: Fill) -> bool:
        held = self._positions.get(fill.symbol)
        change = fill.quantity if fill.side == "buy" else -fill.quantity
        return held is not None and held.quantity * change < 0 and fill.quantity <= abs(held.quantity) + 1e-12

    @property
    def unresolved(self) -> set[str]:
        """Returns the client ids of lost answers not told yet."""
        return {lost.order.client_order_id for lost in self._lost}

    # ---- what the exchange really carries ----------------------------------------------

    def true_account(self) -> tuple[Balance, dict[str, Position]]:
        """Returns the account with the fills of lost answers counted (the exchange's truth)."""
        balance, positions = self.account()
        for lost in self._lost:
            if lost.fill is not None:
                balance, positions, _ = settle_fill(balance, positions, lost.fill)
        return balance, positions

    def true_leverage(self) -> float:
        """Returns gross notional / equity of the true account at the venue's marks (inf when
        equity is gone while positions are held)."""
        balance, positions = self.true_account()
        marks = self.marks()
        state = State(self._clock(), balance, instruments=self._instruments).with_marks(marks, self._clock()) \
            .with_account(balance, positions)
        equity = account_equity(state)
        gross = sum(abs(p.quantity) * marks.get(s, p.entry_price) for s, p in positions.items())
        if gross == 0:
            return 0.0
        return gross / equity if equity > 0 else math.inf


def stale_gap_bars(rng: random.Random, gap_rate: float) -> int:
    """Returns how many bars to withhold from the engine now (a dead feed): usually 0."""
    return rng.choice([3, 4, 6]) if rng.random() < gap_rate else 0


def spiked(tick: Tick, factor: float) -> Tick:
    """Returns `tick` as a bad print: its price (and the bar's range with it) times `factor`."""
    price = tick.price * factor
    return Tick(tick.symbol, tick.timestamp, price, max(tick.high, price), min(tick.low, price))
