"""Sending approved orders: journal the intent, send, journal the result. Nothing else sends."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from cockpit.domain.account import realized_pnl
from cockpit.domain.types import Order
from cockpit.journal.kinds import fill_payload, order_payload
from cockpit.journal.store import Journal
from cockpit.venues.base import OrderResult, Venue


def client_order_id(decision_seq: int, index: int, tag: str = "") -> str:
    """Returns the deterministic client order id of the `index`-th order of a journaled decision.

    Derived from the decision's journal sequence number, so a restart that replays the decision
    can ask the exchange about the same id instead of sending a second order. `tag` names the
    journal (a real account's ids must not collide with those of an older journal on the same
    exchange account); paper accounts leave it empty.
    """
    return f"ck{tag}-{decision_seq}-{index}"


@dataclass(frozen=True, slots=True)
class Execution:
    """What happened to each order of one decision."""

    results: tuple[OrderResult, ...]

    @property
    def filled(self) -> int:
        """Returns how many orders filled."""
        return sum(1 for r in self.results if r.status == "filled")

    def summary(self) -> str:
        """Returns a one-line account of the outcome for the screen."""
        rejected = [r for r in self.results if r.status == "rejected"]
        unknown = sum(1 for r in self.results if r.status == "unknown")
        resting = sum(1 for r in self.results if r.status == "open")
        text = f"{self.filled}/{len(self.results) - resting} filled"
        if resting:
            text += f", {resting} stop{'s' if resting > 1 else ''} resting"
        if rejected:
            text += f"; rejected: {rejected[0].reason}"
        if unknown:
            text += f"; {unknown} unknown (will be resolved by query, never re-sent)"
        return text


class Executor:
    """Sends orders for one account, journaling before and after every network call."""

    def __init__(self, venue: Venue, journal: Journal, account: str, *, id_tag: str = "") -> None:
        self._id_tag = id_tag
        self._venue = venue
        self._journal = journal
        self._account = account
        self.in_flight = 0

    async def execute(
        self, orders: tuple[Order, ...], *, decision_seq: int, proposal_id: str | None,
        may_send: Callable[[Order], str | None] | None = None,
    ) -> Execution:
        """Sends `orders` one by one; returns their results. Every intent of the decision is
        committed to the journal before the first order leaves. `may_send(order)` is asked right
        before each send: a reason means the order is not sent and is journaled as rejected with it
        (what was approved may no longer be allowed once earlier orders took their time)."""
        # Every intent of the decision is committed before the first order leaves: a crash
        # between two sends leaves the rest journaled, for the restart to resolve or send once.
        orders = tuple(replace(order, client_order_id=client_order_id(decision_seq, index, self._id_tag))
                       for index, order in enumerate(orders))
        for order in orders:
            await self._journal.append(
                "order",
                order_payload(order),
                account=self._account,
                symbol=order.symbol,
                proposal_id=proposal_id,
                client_order_id=order.client_order_id,
            )
        results = []
        for order in orders:
            refusal = may_send(order) if may_send is not None else None
            if refusal:
                results.append(await self._refuse(order, proposal_id, refusal))
                continue
            if order.order_type == "stop_market":
                await self._replace_stops(order, proposal_id)
            results.append(await self._send(order, proposal_id))
        return Execution(tuple(results))

    async def _refuse(self, order: Order, proposal_id: str | None, reason: str) -> OrderResult:
        await self._journal.append(
            "order_result",
            {"status": "rejected", "reason": reason},
            account=self._account,
            symbol=order.symbol,
            proposal_id=proposal_id,
            client_order_id=order.client_order_id,
        )
        return OrderResult(order.client_order_id, "rejected", reason=reason)

    async def _replace_stops(self, stop: Order, proposal_id: str | None) -> None:
        # One protective stop per position: the new one (sized for the position after this
        # decision) takes the place of any stop already resting on the symbol.
        for resting in await self._venue.open_orders():
            if resting.symbol == stop.symbol and resting.order_type == "stop_market":
                if await self._venue.cancel(resting.client_order_id):
                    await self._journal.append(
                        "order_result",
                        {"status": "cancelled", "reason": f"replaced by {stop.client_order_id}"},
                        account=self._account,
                        symbol=resting.symbol,
                        proposal_id=proposal_id,
                        client_order_id=resting.client_order_id,
                    )

    async def _send(self, order: Order, proposal_id: str | None) -> OrderResult:
        positions_before = self._venue.account()[1]
        self.in_flight += 1
        try:
            result = await self._venue.submit(order)
        finally:
            self.in_flight -= 1
        await self._journal.append(
            "order_result",
            {"status": result.status, "reason": result.reason},
            account=self._account,
            symbol=order.symbol,
            proposal_id=proposal_id,
            client_order_id=order.client_order_id,
        )
        if result.fill is not None:
            pnl = realized_pnl(positions_before.get(order.symbol), result.fill)
            await self._journal.append(
                "fill",
                fill_payload(result.fill, pnl),
                account=self._account,
                symbol=order.symbol,
                proposal_id=proposal_id,
                client_order_id=order.client_order_id,
            )
        return result
