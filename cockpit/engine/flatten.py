"""Flatten all: cancel, halt, close with reduce-only orders, verify, journal every step.

Used by the running engine (the `F` key, or a request from `cockpit flatten` in another shell) and
by the headless command when no engine is running. It needs no price feed and no model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Awaitable, Callable

from cockpit.domain.types import Order
from cockpit.engine.executor import Executor
from cockpit.journal.store import Journal
from cockpit.venues.base import Venue


@dataclass(frozen=True, slots=True)
class FlattenReport:
    """The outcome of one flatten: how much was cancelled and closed, and whether it is flat."""

    cancelled: int
    closed: int
    flat: bool
    remaining: dict[str, float] = field(default_factory=dict)  # symbol -> signed quantity

    def summary(self) -> str:
        """Returns a one-line account for the screen and the shell."""
        if self.flat:
            return f"FLAT: cancelled {self.cancelled} orders, closed {self.closed} positions"
        left = ", ".join(f"{s} {q:+g}" for s, q in self.remaining.items())
        return f"NOT FLAT after flatten: still open {left}"


def closing_orders(positions: dict) -> tuple[Order, ...]:
    """Returns one reduce-only market order per open position that brings it to zero."""
    return tuple(
        Order(symbol, "sell" if position.quantity > 0 else "buy", abs(position.quantity), reduce_only=True)
        for symbol, position in sorted(positions.items())
        if position.quantity != 0
    )


async def flatten_all(
    *,
    venue: Venue,
    journal: Journal,
    executor: Executor,
    account: str,
    key: str,
    origin: str,
    halt: Callable[[str], Awaitable[None]],
) -> FlattenReport:
    """Runs the flatten procedure and returns its report. Safe to run twice: a flat account
    only gets its (empty) cancel, halt and verify steps journaled again."""

    async def step(name: str, **numbers: object) -> int:
        return await journal.append("flatten", {"step": name, **numbers}, account=account)

    request_seq = await step("request", key=key, origin=origin)
    cancelled = await venue.cancel_all()
    await step("cancel", cancelled=cancelled)
    await halt("flatten")
    await step("gate", to="HALTED")
    orders = closing_orders(venue.account()[1])
    await step("close", orders=len(orders))
    execution = await executor.execute(orders, decision_seq=request_seq, proposal_id=None)
    remaining = {s: p.quantity for s, p in venue.account()[1].items() if p.quantity != 0}
    await step("verify", flat=not remaining, remaining=remaining)
    report = FlattenReport(cancelled, execution.filled, not remaining, remaining)
    await step("done", summary=report.summary())
    return report
