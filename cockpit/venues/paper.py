"""The paper exchange: a USDT-M cross-margin account filled against observed prices.

It charges what Binance would (taker fee, slippage, 8-hourly funding) and liquidates the way a
Binance cross account does, so a strategy that survives on paper has faced the same arithmetic.
Money is USDT, quantities base units, times epoch seconds.

Resting stops: a reduce-only `stop_market` order does not fill when submitted; it rests (status
"open") until a later tick's adverse extreme reaches its stop price - the tick's low for a sell
stop under a long, its high for a buy stop over a short. It then fills, taker fee paid, at the
stop price when the tick is a bar whose range traded through it, or at the tick's own price when
a bare ticker price jumped past the stop (a gap), with slippage against the trader either way
(sell: x (1 - slippage), buy: x (1 + slippage)). Stops are checked before liquidation, since a stop that sits
inside the liquidation price is reached first. A triggered stop is clipped to the position (it
never flips it); a stop whose position is gone, or now lies on the same side, is cancelled.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Callable, Mapping

import numpy as np

from cockpit.domain.account import FLAT_EPSILON, funding_amount, settle_fill, settle_funding
from cockpit.domain.types import Balance, Fill, FundingPayment, Instrument, Order, Position, Tick
from cockpit.venues.base import Liquidation, OrderResult, VenueEvent
from cockpit.venues.funding import FundingSchedule, settlements_between

_STEP_TOLERANCE = 1e-9  # base units; float residue of qty / step
# Relative to the amounts compared: far above float rounding, so a bar the quiet path calls safe
# is one the exact check in `observe` would also find safe.
_QUIET_SLACK = 1e-9


def _maintenance_margin(instrument: Instrument, notional: float) -> float:
    """Maintenance margin in USDT: notional * mmr - cum of the tier holding `notional`."""
    tiers = instrument.tiers
    chosen = tiers[-1]
    for tier in tiers:
        if tier.min_notional <= notional < tier.max_notional:
            chosen = tier
            break
    return max(notional * chosen.maintenance_margin_rate - chosen.maintenance_amount, 0.0)


def _valid_prices(values: np.ndarray) -> np.ndarray:
    return np.isfinite(values) & (values > 0)


def _valid_price(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


class PaperVenue:
    """A simulated Binance USDT-M account (one-way mode) that fills market orders at the mark.

    Positions the venue opens are cross margin. Isolated positions passed in (with
    `isolated_margin`) are honoured: their margin is part of `Balance.wallet`, they pay funding out
    of it and are liquidated alone. Margin rule for orders that open or add exposure (reductions
    are always allowed): after the fill, equity (wallet + unrealized PnL at marks) must exceed the
    total maintenance margin, and gross notional / equity must be <= `max_leverage`.
    """

    name = "paper"

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        balance: Balance,
        positions: Mapping[str, Position] | None = None,
        *,
        taker_fee: float = 0.0005,
        maker_fee: float = 0.0002,
        slippage: float = 0.0005,
        funding: FundingSchedule | None = None,
        clock: Callable[[], float] = time.time,
        margin_mode: str = "cross",
        max_leverage: float = 20.0,
    ) -> None:
        if margin_mode != "cross":
            raise ValueError(f"paper venue: margin_mode {margin_mode!r} is not supported, use 'cross'")
        self._instruments = dict(instruments)
        unknown = [s for s in (positions or {}) if s not in self._instruments]
        if unknown:
            raise ValueError(f"paper venue: positions on unknown symbols {unknown}")
        self._balance = balance
        self._positions = {s: p for s, p in (positions or {}).items() if p.quantity != 0}
        self.taker_fee = taker_fee
        self.maker_fee = maker_fee  # kept for when limit orders rest; market orders pay taker
        self.slippage = slippage
        self.max_leverage = max_leverage
        self._funding = funding if funding is not None else FundingSchedule.constant()
        self._clock = clock
        self._marks: dict[str, float] = {}
        self._last_tick: dict[str, float] = {}
        self._stops: list[Order] = []  # resting reduce-only stop_market orders, oldest first

    # -- account -------------------------------------------------------------------------------

    def account(self) -> tuple[Balance, dict[str, Position]]:
        """Returns (balance in USDT, open positions by symbol); copies, safe to keep."""
        return self._balance, dict(self._positions)

    def marks(self) -> dict[str, float]:
        """Returns the latest mark price per symbol, in USDT."""
        return dict(self._marks)

    def set_marks(self, marks: Mapping[str, float]) -> None:
        """Seeds mark prices (USDT) on restart, before any tick; invalid prices are ignored."""
        for symbol, price in marks.items():
            if symbol in self._instruments and _valid_price(price):
                self._marks[symbol] = float(price)

    def deposit(self, amount: float) -> Balance:
        """Adds `amount` USDT (> 0) to the wallet; returns the new balance."""
        if not (math.isfinite(amount) and amount > 0):
            raise ValueError(f"deposit must be a positive amount of USDT, got {amount!r}")
        self._balance = Balance(self._balance.wallet + amount, self._balance.currency)
        return self._balance

    # -- market --------------------------------------------------------------------------------

    def observe(self, tick: Tick) -> list[VenueEvent]:
        """Folds a tick in: new mark, funding for settlements crossed since this symbol's previous
        tick, resting stops reached by the tick's range, then a liquidation check at the tick's
        adverse extreme. Returns the FundingPayment, Fill (triggered stops) and Liquidation events
        it caused (USDT amounts)."""
        symbol = tick.symbol
        if symbol not in self._instruments or not _valid_price(tick.price):
            return []
        previous = self._last_tick.get(symbol)
        self._last_tick[symbol] = tick.timestamp if previous is None else max(previous, tick.timestamp)
        self._marks[symbol] = tick.price
        events: list[VenueEvent] = []
        if previous is not None and symbol in self._positions:
            events.extend(self._settle_funding(symbol, previous, tick.timestamp))
        low = tick.low if _valid_price(tick.low) else tick.price
        high = tick.high if _valid_price(tick.high) else tick.price
        low, high = min(low, tick.price), max(high, tick.price)
        if self._stops:  # the common case in a replay has none: skip the bookkeeping
            events.extend(self._trigger_stops(symbol, tick.price, low, high, tick.timestamp))
        position = self._positions.get(symbol)
        if position is None:
            return events
        extreme = low if position.quantity > 0 else high
        if position.margin_mode == "isolated":
            events.extend(self._check_isolated(position, extreme, tick.timestamp))
        else:
            events.extend(self._check_cross(symbol, extreme, tick.timestamp))
        if self._stops:
            self._prune_stops()
        return events

    def observe_quiet_bars(
        self, symbol: str, times: np.ndarray, closes: np.ndarray, highs: np.ndarray, lows: np.ndarray
    ) -> tuple[np.ndarray, list[FundingPayment]]:
        """Folds in, as `observe` would bar by bar, the leading bars of `symbol` (close times in
        epoch s; close, high and low in USDT) on which only funding can happen. It stops before
        the first bar whose range might reach a resting stop or the liquidation price, or whose
        close or time is unusable, and leaves that bar to `observe`. Returns the wallet in USDT
        after each bar folded in (as many as were folded, maybe none) and the funding payments
        they settled."""
        position = self._positions.get(symbol)
        if symbol not in self._instruments or (position is not None and position.margin_mode == "isolated"):
            return np.empty(0), []  # an isolated position's own check is left to observe
        times, closes = np.asarray(times, dtype=float), np.asarray(closes, dtype=float)
        usable = np.isfinite(times) & _valid_prices(closes)
        count = closes.size if usable.all() else int(usable.argmin())
        if count == 0:
            return np.empty(0), []
        if self._stops:
            self._prune_stops()  # as observe's first tick would
        times, closes = times[:count], closes[:count]
        previous = self._last_tick.get(symbol)
        latest = np.maximum.accumulate(times)  # the symbol's last tick time after each bar
        if previous is not None:
            latest = np.maximum(latest, previous)
        if position is None:
            wallets, payments = np.full(count, self._balance.wallet), []
        else:
            wallets, payments = self._quiet_funding(
                position, closes, latest, previous if previous is not None else float(times[0])
            )
            # The adverse extreme is all that counts: the liquidation check's price, and the side
            # the position's own (protecting) stops rest on.
            long = position.quantity > 0
            extremes = np.asarray((lows if long else highs)[:count], dtype=float)
            extremes = np.where(_valid_prices(extremes), extremes, closes)
            extremes = np.minimum(extremes, closes) if long else np.maximum(extremes, closes)
            quiet = min(self._before_stop(position, extremes), self._before_liquidation(position, extremes, wallets))
            if quiet < count:
                count, wallets = quiet, wallets[:quiet]
                payments = [p for p in payments if p.timestamp <= latest[count - 1]] if count else []
        if count:
            self._marks[symbol] = float(closes[count - 1])
            self._last_tick[symbol] = float(latest[count - 1])
            self._balance = Balance(float(wallets[-1]), self._balance.currency)
        return wallets, payments

    def _quiet_funding(
        self, position: Position, closes: np.ndarray, latest: np.ndarray, since: float
    ) -> tuple[np.ndarray, list[FundingPayment]]:
        """Returns the wallet (USDT) after each bar, settling the funding `observe` would: each
        settlement after `since` on the first bar whose close time reaches it, at that close."""
        wallet = self._balance.wallet
        settlements = np.array(settlements_between(since, float(latest[-1])))
        if not settlements.size:
            return np.full(closes.size, wallet), []
        rates = self._funding.rates(position.symbol, settlements)
        if not rates.any():  # a zero rate settles nothing
            return np.full(closes.size, wallet), []
        bars = np.searchsorted(latest, settlements)
        amounts = funding_amount(position, closes[bars], rates)
        paid = amounts != 0
        bars, settlements, rates, amounts = bars[paid], settlements[paid], rates[paid], amounts[paid]
        # Added one at a time, in settlement order, as observe does: the same float wallet.
        after = np.add.accumulate(np.concatenate(([wallet], amounts)))
        wallets = after[np.searchsorted(bars, np.arange(closes.size), side="right")]
        payments = [
            FundingPayment(position.symbol, t, r, a)
            for t, r, a in zip(settlements.tolist(), rates.tolist(), amounts.tolist())
        ]
        return wallets, payments

    def _before_stop(self, position: Position, extremes: np.ndarray) -> int:
        """Returns how many leading bars' adverse extremes (USDT) reach none of the stops resting
        under `position`."""
        triggers = [stop.stop_price for stop in self._stops if stop.symbol == position.symbol]
        if not triggers:
            return extremes.size
        reached = extremes <= max(triggers) if position.quantity > 0 else extremes >= min(triggers)
        return int(reached.argmax()) if reached.any() else extremes.size

    def _before_liquidation(self, position: Position, extremes: np.ndarray, wallets: np.ndarray) -> int:
        """Returns how many leading bars are surely safe from `_check_cross`, `position` at each
        bar's adverse extreme (USDT) with the wallet at `wallets` (USDT)."""
        rest = -self._isolated_total()  # what the other positions add to the margin, USDT
        size = abs(position.quantity) * position.entry_price  # with the notionals, bounds the amounts
        for other in self._positions.values():
            if other.margin_mode != "isolated" and other.symbol != position.symbol:
                price = self._price(other)
                notional = other.notional(price)
                pnl = other.unrealized_pnl(price)
                rest += pnl - _maintenance_margin(self._instruments[other.symbol], notional)
                size += abs(pnl) + notional
        # Each bar's maintenance margin is at most the most any notional in the run could need:
        # each tier's figure is linear in the notional, so largest at one end of the run's range.
        notionals = (position.notional(float(extremes.min())), position.notional(float(extremes.max())))
        most = max(0.0, *(notional * tier.maintenance_margin_rate - tier.maintenance_amount
                          for tier in self._instruments[position.symbol].tiers for notional in notionals))
        margin = wallets + position.unrealized_pnl(extremes) + (rest - most)
        safe = margin > _QUIET_SLACK * (np.abs(wallets) + (max(notionals) + size + abs(rest) + most))
        return extremes.size if safe.all() else int(safe.argmin())  # NaN is not safe

    def _trigger_stops(
        self, symbol: str, price: float, low: float, high: float, timestamp: float
    ) -> list[Fill]:
        fills = []
        self._prune_stops()
        for stop in [s for s in self._stops if s.symbol == symbol]:
            if stop not in self._stops:
                continue  # cancelled: an earlier stop closed the position it protected
            trigger = stop.stop_price
            # A replayed bar (a range around its close) traded through the trigger, so the stop
            # fills there; a bare ticker price that jumped past it (a gap) fills at that price.
            through = low < price or high > price
            if stop.side == "sell" and low <= trigger:
                base = (trigger if through else min(trigger, price)) * (1 - self.slippage)
            elif stop.side == "buy" and high >= trigger:
                base = (trigger if through else max(trigger, price)) * (1 + self.slippage)
            else:
                continue
            self._stops.remove(stop)
            position = self._positions[symbol]
            quantity = min(stop.quantity, abs(position.quantity))
            fill = Fill(
                symbol, stop.side, quantity, base, self.taker_fee * quantity * base, timestamp,
                stop.client_order_id,
            )
            balance, positions, _ = settle_fill(self._balance, self._positions, fill)
            after = positions.get(symbol)
            if position.margin_mode == "isolated" and after is not None:
                share = abs(after.quantity) / abs(position.quantity)
                positions[symbol] = replace(after, isolated_margin=position.isolated_margin * share)
            self._balance, self._positions = balance, positions
            fills.append(fill)
            self._prune_stops()  # a stop that closed the position cancels the others
        return fills

    def _prune_stops(self) -> None:
        """Cancels resting stops that no longer reduce a position (it closed or flipped)."""
        def protects(stop: Order) -> bool:
            position = self._positions.get(stop.symbol)
            return position is not None and position.quantity * stop.signed_quantity < 0

        self._stops = [stop for stop in self._stops if protects(stop)]

    def _settle_funding(self, symbol: str, since: float, until: float) -> list[FundingPayment]:
        mark = self._marks[symbol]
        payments = []
        for settlement in settlements_between(since, until):
            position = self._positions[symbol]
            rate = self._funding.rate(symbol, settlement)
            amount = funding_amount(position, mark, rate)
            if amount == 0:
                continue
            payment = FundingPayment(symbol, settlement, rate, amount)
            self._balance = settle_funding(self._balance, payment)
            if position.margin_mode == "isolated":
                # Binance takes an isolated position's funding out of that position's margin.
                self._positions[symbol] = replace(
                    position, isolated_margin=position.isolated_margin + amount
                )
            payments.append(payment)
        return payments

    def _price(self, position: Position) -> float:
        return self._marks.get(position.symbol, position.entry_price)

    def _isolated_total(self) -> float:
        return sum(p.isolated_margin for p in self._positions.values() if p.margin_mode == "isolated")

    def _check_isolated(self, position: Position, price: float, timestamp: float) -> list[Liquidation]:
        instrument = self._instruments[position.symbol]
        pnl = position.unrealized_pnl(price)
        if position.isolated_margin + pnl >= _maintenance_margin(instrument, position.notional(price)):
            return []
        wallet_before = self._balance.wallet
        fee = max(position.isolated_margin + pnl, 0.0)  # what is left of the margin
        fill = self._liquidation_fill(position, price, fee, timestamp)
        balance, self._positions, realized = settle_fill(self._balance, self._positions, fill)
        # The position loses exactly its margin; a deficit beyond it is the insurance fund's.
        self._balance = Balance(wallet_before - position.isolated_margin, balance.currency)
        return [Liquidation(fill, realized, fee)]

    def _check_cross(self, symbol: str, extreme: float, timestamp: float) -> list[Liquidation]:
        cross = [p for p in self._positions.values() if p.margin_mode != "isolated"]
        prices = {p.symbol: (extreme if p.symbol == symbol else self._price(p)) for p in cross}
        unrealized = sum(p.unrealized_pnl(prices[p.symbol]) for p in cross)
        maintenance = {
            p.symbol: _maintenance_margin(self._instruments[p.symbol], p.notional(prices[p.symbol]))
            for p in cross
        }
        cross_wallet = self._balance.wallet - self._isolated_total()
        if cross_wallet + unrealized >= sum(maintenance.values()):
            return []
        events = []
        for position in cross:
            fill = self._liquidation_fill(
                position, prices[position.symbol], maintenance[position.symbol], timestamp
            )
            self._balance, self._positions, realized = settle_fill(
                self._balance, self._positions, fill
            )
            events.append(Liquidation(fill, realized, fill.fee))
        # The insurance fund absorbs a negative cross balance; isolated margins are untouched.
        floor = self._isolated_total()
        if self._balance.wallet < floor:
            # Recorded on the event so a journal replay lands on the same wallet.
            cover = floor - self._balance.wallet
            events[-1] = replace(events[-1], insurance_cover=cover)
            self._balance = Balance(floor, self._balance.currency)
        return events

    @staticmethod
    def _liquidation_fill(position: Position, price: float, fee: float, timestamp: float) -> Fill:
        side = "sell" if position.quantity > 0 else "buy"
        return Fill(
            position.symbol,
            side,
            abs(position.quantity),
            price,
            fee,
            timestamp,
            client_order_id=f"liquidation:{position.symbol}:{timestamp:.0f}",
            liquidation=True,
        )

    # -- orders --------------------------------------------------------------------------------

    async def submit(self, order: Order) -> OrderResult:
        """Fills a market order at once at mark * (1 +/- slippage), paying taker_fee * notional
        (USDT); returns "filled" with the Fill, or "rejected" with the reason (account unchanged).
        A reduce-only stop_market order rests instead and returns "open" (see the module doc)."""
        reason = self._rejection(order)
        if reason:
            return OrderResult(order.client_order_id, "rejected", None, reason)
        if order.order_type == "stop_market":
            self._stops.append(order)
            return OrderResult(order.client_order_id, "open")
        mark = self._marks[order.symbol]
        price = mark * (1 + self.slippage) if order.side == "buy" else mark * (1 - self.slippage)
        fee = self.taker_fee * order.quantity * price
        fill = Fill(
            order.symbol, order.side, order.quantity, price, fee, self._clock(), order.client_order_id
        )
        current = self._positions.get(order.symbol)
        balance, positions, _ = settle_fill(self._balance, self._positions, fill)
        after = positions.get(order.symbol)
        reducing = _reduces(current, order.signed_quantity)
        if current is not None and current.margin_mode == "isolated" and after is not None:
            # A partial close releases margin in proportion to the quantity closed.
            share = abs(after.quantity) / abs(current.quantity)
            positions[order.symbol] = replace(after, isolated_margin=current.isolated_margin * share)
        if not reducing:
            reason = self._margin_problem(balance, positions)
            if reason:
                return OrderResult(order.client_order_id, "rejected", None, reason)
        self._balance, self._positions = balance, positions
        self._prune_stops()
        return OrderResult(order.client_order_id, "filled", fill)

    def _rejection(self, order: Order, *, restoring: bool = False) -> str:
        instrument = self._instruments.get(order.symbol)
        if instrument is None:
            return f"unknown symbol {order.symbol}"
        if order.order_type == "stop_market":
            problem = self._stop_problem(order, restoring=restoring)
            if problem:
                return problem
        elif order.order_type != "market":
            return "limit orders are not supported by the paper venue yet"
        if order.side not in ("buy", "sell"):
            return f"unknown side {order.side!r}"
        if order.symbol not in self._marks:
            return f"no price yet for {order.symbol}"
        quantity = order.quantity
        if not (isinstance(quantity, (int, float)) and math.isfinite(quantity) and quantity > 0):
            return f"quantity must be > 0, got {quantity!r}"
        steps = round(quantity / instrument.step_size)
        if abs(quantity - steps * instrument.step_size) > _STEP_TOLERANCE:
            return f"quantity {quantity:g} is not a multiple of the step {instrument.step_size:g}"
        current = self._positions.get(order.symbol)
        reducing = _reduces(current, order.signed_quantity)
        if order.reduce_only and not reducing:
            return "reduce-only order would open, increase or flip the position"
        if current is not None and current.margin_mode == "isolated" and not reducing:
            return "adding to or flipping an isolated position is not supported by the paper venue"
        notional = quantity * self._marks[order.symbol]
        if notional < instrument.min_notional and not order.reduce_only:
            return f"notional {notional:.2f} USDT is below the minimum {instrument.min_notional:g}"
        return ""

    def _stop_problem(self, order: Order, *, restoring: bool) -> str:
        if not order.reduce_only:
            return "stop orders must be reduce-only on the paper venue"
        stop = order.stop_price
        if not (stop is not None and _valid_price(stop)):
            return f"stop price must be a positive number of USDT, got {stop!r}"
        mark = self._marks.get(order.symbol)
        if mark is None or restoring:
            return ""  # the general check reports a missing price
        if (order.side == "sell" and stop >= mark) or (order.side == "buy" and stop <= mark):
            # Binance refuses these too (-2021 "Order would immediately trigger").
            return f"stop {stop:g} would trigger at once against the mark {mark:g}"
        return ""

    def _margin_problem(self, balance: Balance, positions: Mapping[str, Position]) -> str:
        equity = balance.wallet
        gross = maintenance = 0.0
        for position in positions.values():
            price = self._price(position)
            equity += position.unrealized_pnl(price)
            notional = position.notional(price)
            gross += notional
            maintenance += _maintenance_margin(self._instruments[position.symbol], notional)
        if equity <= maintenance:
            return (
                f"insufficient margin: equity {equity:.2f} USDT after the fill would not exceed "
                f"maintenance margin {maintenance:.2f}"
            )
        if gross / equity > self.max_leverage + 1e-12:
            return (
                f"insufficient margin: leverage {gross / equity:.2f}x after the fill exceeds "
                f"the venue's {self.max_leverage:g}x"
            )
        return ""

    async def cancel_all(self) -> int:
        """Cancels every resting stop; returns how many there were (0 the second time)."""
        cancelled = len(self._stops)
        self._stops = []
        return cancelled

    async def cancel(self, client_order_id: str) -> bool:
        """Cancels the resting order with `client_order_id`; returns False when none rests."""
        before = len(self._stops)
        self._stops = [s for s in self._stops if s.client_order_id != client_order_id]
        return len(self._stops) < before

    async def open_orders(self) -> list[Order]:
        """Returns the resting stop orders, oldest first (market orders never rest)."""
        self._prune_stops()
        return list(self._stops)

    def restore_open_orders(self, orders: list[Order]) -> list[str]:
        """Re-rests stop orders after a restart (e.g. rebuilt from the journal), after `set_marks`
        and before any tick. A stop the market passed while the process was down is kept and
        triggers on the next tick. Returns one "client id: reason" per order it refused."""
        skipped = []
        for order in orders:
            if order.order_type != "stop_market":
                reason = "only stop orders rest on the paper venue"
            else:
                reason = self._rejection(order, restoring=True)
            if reason:
                skipped.append(f"{order.client_order_id or order.symbol}: {reason}")
            else:
                self._stops.append(order)
        return skipped


def _reduces(position: Position | None, change: float) -> bool:
    """True when `change` shrinks |position| without flipping it through zero."""
    if position is None or abs(position.quantity) < FLAT_EPSILON:
        return False
    if position.quantity * change >= 0:
        return False
    return abs(change) <= abs(position.quantity) + FLAT_EPSILON
