"""The replay venue: the paper venue the cockpit trades on, with a backtest's execution latency,
and a ledger of what every strategy paid, so all of them are charged the same way.

Latency: each market order waits a random 50-500 ms before it fills. Over that wait the price
drifts against it by the bar's range (high - low, as a fraction of the close) scaled by
sqrt(latency / bar length), the way a random walk's typical move scales with time. That extra
cost is added to the configured slippage for that one order, so the fill stays within the bar.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from cockpit.domain.types import Balance, Fill, FundingPayment, Instrument, Order, Tick
from cockpit.venues.base import Liquidation, OrderResult, VenueEvent
from cockpit.venues.funding import FundingSchedule
from cockpit.venues.paper import PaperVenue

LATENCY_SECONDS = (0.05, 0.5)


@dataclass
class Ledger:
    """What a strategy paid and traded over a run (USDT)."""

    fees: float = 0.0
    funding: float = 0.0  # paid; funding received counts negative
    traded_notional: float = 0.0  # orders and triggered stops, not liquidations
    liquidations: int = 0  # liquidation events (a cross liquidation closing two legs is one)
    fills: int = 0
    liquidated_at: list[float] = field(default_factory=list)

    def record_fill(self, fill: Fill) -> None:
        """Counts a fill of an order or a triggered stop."""
        self.fees += fill.fee
        self.traded_notional += fill.quantity * fill.price
        self.fills += 1

    def record(self, event: VenueEvent) -> None:
        """Counts a venue event: funding, a liquidation, or a triggered stop's fill."""
        if isinstance(event, FundingPayment):
            self.funding -= event.amount
        elif isinstance(event, Liquidation):
            self.fees += event.fill.fee + event.clearance_fee
            if not self.liquidated_at or self.liquidated_at[-1] != event.fill.timestamp:
                self.liquidations += 1
                self.liquidated_at.append(event.fill.timestamp)
        elif isinstance(event, Fill):
            self.record_fill(event)


class BacktestVenue(PaperVenue):
    """PaperVenue whose market orders also pay a random execution latency; keeps a Ledger."""

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        balance: Balance,
        *,
        bar_seconds: float,
        seed: int,
        taker_fee: float,
        slippage: float,
        funding: FundingSchedule,
        clock,
        latency_seconds: tuple[float, float] = LATENCY_SECONDS,
        max_leverage: float = 20.0,
    ) -> None:
        super().__init__(instruments, balance, taker_fee=taker_fee, slippage=slippage, funding=funding, clock=clock,
                         max_leverage=max_leverage)
        self.ledger = Ledger()
        self._bar_seconds = bar_seconds
        self._latency = latency_seconds
        self._rng = random.Random(seed)
        self._base_slippage = slippage
        self._ranges: dict[str, float] = {}

    def observe(self, tick: Tick) -> list[VenueEvent]:
        """Settles the bar (stops, funding, intrabar liquidation) and records what it cost."""
        self._ranges[tick.symbol] = (tick.high - tick.low) / tick.price if tick.price > 0 else 0.0
        events = super().observe(tick)
        for event in events:
            self.ledger.record(event)
        return events

    def observe_quiet_bars(
        self, symbol: str, times: np.ndarray, closes: np.ndarray, highs: np.ndarray, lows: np.ndarray
    ) -> tuple[np.ndarray, list[FundingPayment]]:
        """Folds in the leading quiet bars like the paper venue (returns the wallet in USDT after
        each and the funding they settled), and records the funding and the last bar's range."""
        wallets, payments = super().observe_quiet_bars(symbol, times, closes, highs, lows)
        if wallets.size:
            last = wallets.size - 1
            self._ranges[symbol] = float((highs[last] - lows[last]) / closes[last])
        for payment in payments:
            self.ledger.record(payment)
        return wallets, payments

    def latency_cost(self, symbol: str) -> float:
        """Returns the extra adverse price move (fraction) of one order's random latency."""
        seconds = self._rng.uniform(*self._latency)
        return self._ranges.get(symbol, 0.0) * math.sqrt(seconds / self._bar_seconds) if self._bar_seconds > 0 else 0.0

    async def submit(self, order: Order) -> OrderResult:
        """Fills like the paper venue, a market order at a price worse by its latency cost."""
        if order.order_type == "market":
            self.slippage = self._base_slippage + self.latency_cost(order.symbol)
        try:
            result = await super().submit(order)
        finally:
            self.slippage = self._base_slippage
        if result.fill is not None:
            self.ledger.record_fill(result.fill)
        return result
