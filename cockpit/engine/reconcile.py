"""Startup reconciliation of a real account: the journal against the exchange, before anything
else runs.

1. Every order whose outcome the journal does not know (an intent without an answer: the process
   died between "journal intent" and "send", or between "send" and "ack") is looked up by its
   client id. "Not found" is tolerated for the grace period, counted from the intent; then the
   order is concluded never placed. An approved order concluded never placed is sent now, under
   the same client id, only while its approval is fresh (younger than the proposal time-to-live,
   prices within the proposal's price-move limit); otherwise it lapses. Either way the journal
   says which, and no client id is ever sent twice. An order answered "filled" whose fill row
   was never written (the process died between the two rows) is looked up too, and its fill
   journaled.
2. Orders the journal thinks rest (protective stops) but the exchange no longer has are looked up:
   a fill while away is journaled as a fill, a cancel as cancelled.
3. Liquidations on the exchange since the journal's last row are journaled.
4. The positions and open orders are compared. A difference is journaled and shown, the
   exchange's figures become the journal's new baseline (a RECONCILE row), and the gate is HALTED
   until a person has looked and pressed R. A report that could not be read is never taken as
   "flat": reconciliation then fails and the cockpit does not start.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from cockpit.domain.account import apply_fill, realized_pnl
from cockpit.domain.types import Fill, Order, Position
from cockpit.journal import kinds
from cockpit.journal.kinds import fill_payload
from cockpit.journal.store import Entry, Journal
from cockpit.venues.exchange import Exchange
from cockpit.venues.exchange_errors import NotFound

LOOKUP_PAUSE_SECONDS = 2.0  # between "not found" answers while the grace period runs
TERMINAL = {"filled", "rejected", "cancelled", "not_sent", "lapsed"}


@dataclass(frozen=True)
class Reconciliation:
    """What the startup comparison found. `agreed` = no difference to show."""

    agreed: bool
    differences: tuple[str, ...] = ()
    found: tuple[str, ...] = ()  # orders resolved, fills and liquidations journaled while away

    def summary(self) -> str:
        """Returns one line for the header and the journal."""
        if self.agreed:
            extra = f"; {len(self.found)} change(s) journaled" if self.found else ""
            return f"reconciled with the exchange: journal and exchange agree{extra}"
        return "journal and exchange differed: " + "; ".join(self.differences) + " (the exchange's figures adopted; review, then R)"


@dataclass
class JournalView:
    """The account as the journal knows it."""

    positions: dict[str, Position] = field(default_factory=dict)
    resting: dict[str, Order] = field(default_factory=dict)  # client id -> order believed open
    pending: dict[str, Entry] = field(default_factory=dict)  # client id -> ORDER row without an outcome
    unfilled: dict[str, Entry] = field(default_factory=dict)  # client id -> ORDER row "filled" without a FILL row
    last_seen: float = 0.0  # time of the account's newest row (epoch seconds)


def order_from_entry(entry: Entry) -> Order:
    """Returns the Order an ORDER row recorded (its client id from the row's column)."""
    payload = entry.payload
    stop = payload.get("stop_price")
    limit = payload.get("limit_price")
    return Order(
        str(entry.symbol), payload["side"], float(payload["quantity"]), bool(payload.get("reduce_only")),
        payload.get("order_type", "market"), float(limit) if limit is not None else None,
        entry.client_order_id or "", float(stop) if stop is not None else None,
    )


async def journal_view(journal: Journal, account: str) -> JournalView:
    """Returns the journal's positions (from the newest RECONCILE baseline, plus later fills),
    the orders it believes rest, and the intents without an outcome."""
    view = JournalView()
    intents: dict[str, Entry] = {}
    rows = await journal.entries(account=account)
    if rows:
        view.last_seen = rows[-1].ts
    for entry in rows:
        cid = entry.client_order_id or ""
        if entry.kind == kinds.RECONCILE:
            view.positions = {
                symbol: Position(symbol, float(quantity), float(entry_price))
                for symbol, (quantity, entry_price) in entry.payload.get("positions", {}).items()
            }
            view.resting = {o["client_order_id"]: Order(
                o["symbol"], o["side"], float(o["quantity"]), bool(o.get("reduce_only")), o.get("order_type", "market"),
                o.get("limit_price"), o["client_order_id"], o.get("stop_price"),
            ) for o in entry.payload.get("orders", []) if o.get("client_order_id")}
        elif entry.kind == kinds.ORDER:
            view.pending[cid] = intents[cid] = entry
        elif entry.kind == kinds.ORDER_RESULT:
            status = entry.payload.get("status")
            # An intent found "not_sent" at a restart and sent then is answered twice.
            if status == "open" and cid in intents:
                view.resting[cid] = order_from_entry(intents[cid])
            if status in TERMINAL or status == "open":
                view.pending.pop(cid, None)
            if status == "filled" and cid in intents:
                view.unfilled[cid] = intents[cid]
            if status != "open":
                view.resting.pop(cid, None)
        elif entry.kind == kinds.FILL:
            view.resting.pop(cid, None)
            view.unfilled.pop(cid, None)
            fill = Fill(str(entry.symbol), entry.payload["side"], float(entry.payload["quantity"]),
                        float(entry.payload["price"]), 0.0, float(entry.payload.get("timestamp", entry.ts)), cid)
            position = apply_fill(view.positions.get(fill.symbol), fill)
            view.positions.pop(fill.symbol, None)
            if position is not None and position.quantity != 0:
                view.positions[fill.symbol] = position
        elif entry.kind == kinds.FLATTEN and entry.payload.get("step") == "cancel":
            view.resting.clear()
    return view


class Reconciler:
    """Runs the startup reconciliation for one account (see the module docstring)."""

    def __init__(
        self,
        journal: Journal,
        account: str,
        exchange: Exchange,
        *,
        grace_seconds: float,
        approval_ttl_seconds: float,
        max_price_move: float,
        step_sizes: dict[str, float],
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.journal = journal
        self.account = account
        self.exchange = exchange
        self.grace = grace_seconds
        self.ttl = approval_ttl_seconds
        self.max_move = max_price_move
        self.steps = step_sizes
        self.clock = clock
        self.sleep = sleep
        self.found: list[str] = []

    async def _append(self, kind: str, payload: dict, *, symbol: str | None = None, cid: str | None = None,
                      proposal_id: str | None = None) -> int:
        return await self.journal.append(kind, payload, account=self.account, symbol=symbol,
                                         client_order_id=cid, proposal_id=proposal_id)

    async def run(self, marks: dict[str, float]) -> Reconciliation:
        """Reconciles and returns the outcome; raises ExchangeFailure when the exchange cannot
        be read (nothing is concluded from a missing report)."""
        symbols = list(self.steps)
        view = await journal_view(self.journal, self.account)
        for cid, entry in view.pending.items():
            await self._resolve_intent(order_from_entry(entry), entry, view, marks)
        view = await journal_view(self.journal, self.account)
        for entry in view.unfilled.values():
            await self._journal_missing_fill(order_from_entry(entry), entry, view)
        open_now = {order.client_order_id: order for order in await self.exchange.open_orders(symbols)}
        for cid, order in view.resting.items():
            if cid not in open_now:
                await self._resolve_vanished(order, view)
        if view.last_seen:
            for fill in await self.exchange.liquidations_since(symbols, view.last_seen):
                await self._journal_liquidation(fill)
        view = await journal_view(self.journal, self.account)
        _, positions = await self.exchange.account(symbols)
        differences = self._differences(view, positions, open_now)
        result = Reconciliation(not differences, tuple(differences), tuple(self.found))
        await self._append(kinds.RECONCILE, {
            "agreed": result.agreed,
            "differences": list(differences),
            "found": list(self.found),
            "positions": {s: [p.quantity, p.entry_price] for s, p in positions.items()},
            "orders": [{"client_order_id": o.client_order_id, "symbol": o.symbol, "side": o.side, "quantity": o.quantity,
                        "order_type": o.order_type, "reduce_only": o.reduce_only, "stop_price": o.stop_price,
                        "limit_price": o.limit_price} for o in open_now.values()],
        })
        return result

    async def _resolve_intent(self, order: Order, entry: Entry, view: JournalView, marks: dict[str, float]) -> None:
        while True:
            try:
                result = await self.exchange.lookup(order)
                break
            except NotFound:
                if self.clock() - entry.ts >= self.grace:
                    result = None
                    break
                await self.sleep(LOOKUP_PAUSE_SECONDS if self.grace > LOOKUP_PAUSE_SECONDS else self.grace / 4)
        cid = order.client_order_id
        if result is not None:
            await self._journal_result(order, result.status, f"resolved at restart: {result.reason or result.status}",
                                       result.fill, view, entry.proposal_id)
            self.found.append(f"{cid} {result.status} (outcome was unknown)")
            return
        reason = f"never reached the exchange (not found {self.grace:.0f}s after the intent)"
        fresh = await self._fresh_approval(entry, marks)
        if fresh is not None:
            await self._append(kinds.ORDER_RESULT, {"status": "not_sent", "reason": reason}, symbol=order.symbol,
                               cid=cid, proposal_id=entry.proposal_id)
            await self._append(kinds.NOTE, {"text": f"{cid}: approved {fresh:.0f}s ago and never sent; sending it now, once"},
                               symbol=order.symbol, cid=cid, proposal_id=entry.proposal_id)
            sent = await self.exchange.submit(order)
            await self._journal_result(order, sent.status, sent.reason or "sent at restart", sent.fill, view, entry.proposal_id)
            self.found.append(f"{cid} never sent before the restart: sent now ({sent.status})")
        else:
            await self._append(kinds.ORDER_RESULT, {"status": "lapsed", "reason": reason + "; the approval is too old to send now"},
                               symbol=order.symbol, cid=cid, proposal_id=entry.proposal_id)
            self.found.append(f"{cid} never sent; its approval lapsed")

    async def _journal_missing_fill(self, order: Order, entry: Entry, view: JournalView) -> None:
        # The answer was journaled, its fill row not: without it the positions would differ and
        # the gate halt for something the exchange can tell. Asked, never re-sent.
        try:
            result = await self.exchange.lookup(order)
        except NotFound:
            result = None
        cid = order.client_order_id
        if result is None or result.fill is None:
            return  # the comparison of positions shows what is missing, and halts
        pnl = realized_pnl(view.positions.get(order.symbol), result.fill)
        await self._append(kinds.FILL, fill_payload(result.fill, pnl), symbol=order.symbol, cid=cid,
                           proposal_id=entry.proposal_id)
        self.found.append(f"{cid} filled; its fill was not journaled before the restart: journaled now")

    async def _fresh_approval(self, entry: Entry, marks: dict[str, float]) -> float | None:
        """Seconds since the approval when it may still be carried out; None when it lapsed."""
        if not entry.proposal_id:
            return None  # a flatten's close: the trader presses F again (flatten is idempotent)
        age = self.clock() - entry.ts
        if age > self.ttl:
            return None
        rows = await self.journal.entries(kinds=[kinds.PROPOSAL], account=self.account)
        proposal = next((row for row in rows if row.proposal_id == entry.proposal_id), None)
        references = proposal.payload.get("reference_prices", {}) if proposal else {}
        for symbol, reference in references.items():
            mark = marks.get(symbol)
            if mark is None or abs(mark / float(reference) - 1.0) > self.max_move:
                return None
        return age

    async def _journal_result(self, order: Order, status: str, reason: str, fill: Fill | None,
                              view: JournalView, proposal_id: str | None) -> None:
        cid = order.client_order_id
        await self._append(kinds.ORDER_RESULT, {"status": status, "reason": reason}, symbol=order.symbol, cid=cid,
                           proposal_id=proposal_id)
        if fill is not None:
            pnl = realized_pnl(view.positions.get(order.symbol), fill)
            await self._append(kinds.FILL, fill_payload(fill, pnl), symbol=order.symbol, cid=cid, proposal_id=proposal_id)

    async def _resolve_vanished(self, order: Order, view: JournalView) -> None:
        try:
            result = await self.exchange.lookup(order)
        except NotFound:
            result = None
        cid = order.client_order_id
        if result is not None and result.fill is not None:
            await self._journal_result(order, "filled", "filled on the exchange while the cockpit was away", result.fill, view, None)
            self.found.append(f"stop {cid} filled while away")
        else:
            await self._append(kinds.ORDER_RESULT, {"status": "cancelled", "reason": "no longer on the exchange (cancelled while away)"},
                               symbol=order.symbol, cid=cid)
            self.found.append(f"stop {cid} gone from the exchange")

    async def _journal_liquidation(self, fill: Fill) -> None:
        await self._append(kinds.FILL, fill_payload(fill, 0.0), symbol=fill.symbol, cid=fill.client_order_id)
        await self._append(kinds.LIQUIDATION, {"quantity": fill.quantity, "price": fill.price, "realized_pnl": 0.0,
                                               "clearance_fee": 0.0, "insurance_cover": 0.0, "while_away": True},
                           symbol=fill.symbol)
        self.found.append(f"LIQUIDATED on the exchange while away: {fill.symbol} {fill.quantity:g} @ {fill.price:,.2f}")

    def _differences(self, view: JournalView, positions: dict[str, Position], open_now: dict[str, Order]) -> list[str]:
        out = []
        for symbol in sorted(set(view.positions) | set(positions)):
            ours = view.positions[symbol].quantity if symbol in view.positions else 0.0
            theirs = positions[symbol].quantity if symbol in positions else 0.0
            if abs(ours - theirs) > self.steps.get(symbol, 1e-9) / 2:
                out.append(f"{symbol.split('/')[0]} position: journal {ours:+g}, exchange {theirs:+g}")
        unknown = sorted(cid for cid in open_now if cid not in view.resting)
        if unknown:
            out.append(f"{len(unknown)} open order(s) on the exchange the journal does not know: {', '.join(unknown[:3])}")
        return out
