"""A real exchange account behind the `Venue` protocol.

The engine reads the account synchronously (`account()`), so this venue keeps the exchange's
last answer and refreshes it: after every order, and every `poll_seconds` in `run()`, the
background task the engine starts. That task also resolves orders of unknown outcome (by client
id, tolerating "not found" for the grace period), notices protective stops that filled,
funding settled and liquidations, and hands them to the engine as venue events through
`observe()`. It keeps the exchange's dead-man's switch armed while `heartbeat(armed=True)`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import Awaitable, Callable

from cockpit.domain.account import settle_fill
from cockpit.domain.types import Balance, Instrument, Order, Position, Tick
from cockpit.venues.base import Liquidation, OrderResolved, OrderResult, VenueEvent
from cockpit.venues.exchange import Exchange
from cockpit.venues.exchange_errors import ExchangeFailure, NotFound

log = logging.getLogger(__name__)

QUICK_LOOKUP_SECONDS = 1.0  # one query this soon after a lost answer, before handing it to run()


class ExchangeVenue:
    """One exchange account: orders go out through `Exchange`, the account comes back from it."""

    def __init__(
        self,
        exchange: Exchange,
        instruments: dict[str, Instrument],
        balance: Balance,
        positions: dict[str, Position],
        resting: list[Order],
        *,
        post_only: bool = False,
        poll_seconds: float = 5.0,
        not_found_grace_seconds: float = 60.0,
        dead_man_seconds: float = 0.0,
        since: float | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        """`resting` are the orders open on the exchange now; `since` (epoch seconds) is where the
        search for funding and liquidations starts (default: now)."""
        self.name = exchange.id
        self.exchange = exchange
        self.symbols = list(instruments)
        self._instruments = instruments
        self._balance = balance
        self._positions = dict(positions)
        self._resting = {order.client_order_id: order for order in resting}
        self._post_only = post_only
        self._poll_seconds = poll_seconds
        self._grace = not_found_grace_seconds
        self._dead_man = dead_man_seconds
        self._clock = clock
        self._sleep = sleep
        self._marks: dict[str, float] = {}
        self._funding_rates: dict[str, float] = {}
        self._events: list[VenueEvent] = []
        self._unknown: dict[str, tuple[Order, float]] = {}  # client id -> (order, first "unknown" time)
        self._since = clock() if since is None else since
        self._read_at = clock()  # the balance and positions given were read just now
        self._failing = False  # the last read of the account failed
        self._beat_at = 0.0
        self._armed = False
        self.last_error = ""  # the last failure of the background reads, for the screen

    # ---- the Venue protocol ------------------------------------------------------------

    def account(self) -> tuple[Balance, dict[str, Position]]:
        """Returns the exchange's balance and positions as last read."""
        return self._balance, dict(self._positions)

    def account_age(self) -> float:
        """Returns the seconds since balance and positions were last read from the exchange while
        its reads fail, 0 while they succeed (however slowly the rate limiter lets a round go):
        the engine's stale-data breaker halts automation when the REST API is down too long."""
        return self._clock() - self._read_at if self._failing else 0.0

    def observe(self, tick: Tick) -> list[VenueEvent]:
        """Keeps the mark; returns the events the background task found since the last call."""
        self._marks[tick.symbol] = tick.price
        events, self._events = self._events, []
        return events

    async def submit(self, order: Order) -> OrderResult:
        """Sends `order` (a rebalance market order as a post-only limit at the mark when so
        configured); returns its outcome. A lost answer is asked about once after a second and
        otherwise left "unknown" for run() to resolve: never sent again."""
        order = self._maybe_post_only(order)
        result = await self.exchange.submit(order, post_only=self._post_only)
        if result.status == "unknown":
            await self._sleep(QUICK_LOOKUP_SECONDS)
            resolved = await self._lookup(order)
            if resolved is None:
                self._unknown[order.client_order_id] = (order, self._clock())
                return result
            result = resolved
        await self._after(order, result)
        return result

    def _maybe_post_only(self, order: Order) -> Order:
        mark = self._marks.get(order.symbol)
        if not self._post_only or order.reduce_only or order.order_type != "market" or mark is None:
            return order
        tick = self._instruments[order.symbol].tick_size if order.symbol in self._instruments else 0.0
        price = mark - tick if order.side == "buy" else mark + tick
        return replace(order, order_type="limit", limit_price=round(price / tick) * tick if tick else price)

    async def _after(self, order: Order, result: OrderResult) -> None:
        if result.status == "open":
            self._resting[order.client_order_id] = order
        if result.fill is not None:
            self._resting.pop(order.client_order_id, None)
            # The fill moves the account at once; the exchange's own figures replace it next.
            self._balance, self._positions, _ = settle_fill(self._balance, self._positions, result.fill)
            await self.refresh()

    async def _lookup(self, order: Order) -> OrderResult | None:
        """The order's outcome, or None while the exchange cannot say."""
        try:
            return await self.exchange.lookup(order)
        except NotFound:
            return None
        except ExchangeFailure as failure:
            self.last_error = str(failure)
            return None

    async def cancel_all(self) -> int:
        """Cancels every open order on the traded symbols; returns how many there were."""
        try:
            count = len(await self.exchange.open_orders(self.symbols))
        except ExchangeFailure:
            count = len(self._resting)
        await self.exchange.cancel_all(self.symbols)
        self._resting.clear()
        return count

    async def cancel(self, client_order_id: str) -> bool:
        """Cancels one resting order; returns False when none rests under that id."""
        order = self._resting.get(client_order_id)
        if order is None:
            return False
        cancelled = await self.exchange.cancel(order.symbol, client_order_id, stop=order.order_type == "stop_market")
        self._resting.pop(client_order_id, None)
        return cancelled

    async def open_orders(self) -> list[Order]:
        """Returns the orders resting on the exchange now (read fresh)."""
        orders = await self.exchange.open_orders(self.symbols)
        self._resting = {order.client_order_id: order for order in orders}
        return orders

    # ---- the background task ---------------------------------------------------------------

    async def refresh(self) -> None:
        """Reads balance and positions again; keeps the last answer if the exchange fails."""
        try:
            self._balance, self._positions = await self.exchange.account(self.symbols)
            self._read_at, self._failing = self._clock(), False
        except ExchangeFailure as failure:
            self.last_error, self._failing = str(failure), True

    async def run(self) -> None:
        """Every poll: resolves unknown orders, notices stops that filled, funding and
        liquidations, and refreshes the account. Runs until cancelled; never raises."""
        while True:
            await self._sleep(self._poll_seconds)
            try:
                await self.sync()
                self.last_error = ""
            except ExchangeFailure as failure:
                self.last_error, self._failing = str(failure), True
            except Exception:  # noqa: BLE001 - one bad round must not end the account's updates
                self._failing = True
                log.exception("exchange sync failed")

    async def sync(self) -> None:
        """One round of run(); raises ExchangeFailure when the exchange cannot be read."""
        await self._resolve_unknown()
        await self._notice_stops()
        now = self._clock()
        for symbol, (_, rate) in (await self.exchange.marks(self.symbols)).items():
            if rate is not None:
                self._funding_rates[symbol] = rate
        for payment in await self.exchange.funding_since(self.symbols, self._since):
            self._events.append(replace(payment, rate=self._funding_rates.get(payment.symbol, payment.rate)))
        for fill in await self.exchange.liquidations_since(self.symbols, self._since):
            position = self._positions.get(fill.symbol)
            pnl = (fill.price - position.entry_price) * fill.quantity * (1 if position.quantity > 0 else -1) if position else 0.0
            self._events.append(Liquidation(fill, pnl, 0.0))
        self._since = now
        balance, positions = await self.exchange.account(self.symbols)
        self._balance, self._positions = balance, positions
        self._read_at, self._failing = self._clock(), False

    async def _resolve_unknown(self) -> None:
        for cid, (order, since) in list(self._unknown.items()):
            result = await self._lookup(order)
            if result is None and self._clock() - since < self._grace:
                continue  # "cannot find it" for a while is normal: ask again next round
            if result is None:
                result = OrderResult(cid, "rejected", reason=f"not on the exchange after {self._grace:.0f}s: never placed")
            del self._unknown[cid]
            await self._after(order, result)
            self._events.append(OrderResolved(order, result))

    async def _notice_stops(self) -> None:
        if not self._resting:
            return
        still = {order.client_order_id for order in await self.exchange.open_orders(self.symbols)}
        for cid, order in list(self._resting.items()):
            if cid in still:
                continue
            result = await self._lookup(order)
            if result is None or result.status == "open":
                continue
            self._resting.pop(cid, None)
            if result.fill is not None:
                self._events.append(result.fill)  # a protective stop triggered
            else:
                self._events.append(OrderResolved(order, OrderResult(cid, "cancelled", reason=result.reason or "cancelled on the exchange")))  # type: ignore[arg-type]

    @property
    def unresolved(self) -> int:
        """Returns how many sent orders still have an unknown outcome."""
        return len(self._unknown)

    async def heartbeat(self, *, armed: bool) -> None:
        """Keeps the exchange's dead-man's switch armed while `armed` (re-armed every third of
        its period) and disarms it once when automation stops. Failures are kept in last_error."""
        if self._dead_man <= 0:
            return
        now = self._clock()
        if armed and (not self._armed or now - self._beat_at >= self._dead_man / 3):
            seconds = self._dead_man
        elif not armed and self._armed:
            seconds = 0.0
        else:
            return
        try:
            await self.exchange.heartbeat(self.symbols, seconds)
            self._armed, self._beat_at = armed, now
        except ExchangeFailure as failure:
            self.last_error = f"dead-man's switch: {failure}"

    async def close(self) -> None:
        """Disarms the dead-man's switch (a clean stop leaves protective stops resting) and
        closes the client."""
        if self._armed:
            try:
                await self.exchange.heartbeat(self.symbols, 0.0)
                self._armed = False
            except ExchangeFailure as failure:
                self.last_error = f"dead-man's switch: {failure}"
        await self.exchange.close()
