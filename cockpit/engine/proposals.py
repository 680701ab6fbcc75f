"""The proposal queue: pending proposals, their expiry, and the memory of vetoes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from cockpit.domain.types import Proposal


@dataclass(frozen=True, slots=True)
class Expiry:
    """A proposal that stopped being valid, and why."""

    proposal: Proposal
    reason: str


def expiry_reason(
    proposal: Proposal, *, now: float, marks: Mapping[str, float], max_price_move: float
) -> str | None:
    """Returns why `proposal` is no longer valid (time or price move), or None if it still is."""
    if now >= proposal.expires_at:
        return f"ttl: {now - proposal.created_at:.0f}s old"
    for symbol, reference in proposal.reference_prices.items():
        mark = marks.get(symbol)
        if mark is None or reference <= 0:
            continue
        move = abs(mark / reference - 1.0)
        if move > max_price_move:
            return f"price_move {symbol} {move:.2%} > {max_price_move:.2%}"
    return None


class ProposalQueue:
    """Pending proposals in arrival order, plus what the trader vetoed.

    A vetoed proposal's drift is remembered; a new proposal of the same kind is suppressed until
    some drift has moved by more than `veto_memory` weight points from the vetoed one.
    """

    def __init__(self, *, veto_memory: float) -> None:
        self._pending: dict[str, Proposal] = {}
        self._veto_memory = veto_memory
        self._vetoed_drift: dict[str, dict[str, float]] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def pending(self) -> tuple[Proposal, ...]:
        """Returns the pending proposals, oldest first."""
        return tuple(self._pending.values())

    def get(self, proposal_id: str) -> Proposal | None:
        """Returns the pending proposal with that id, or None."""
        return self._pending.get(proposal_id)

    def has_kind(self, kind: str) -> bool:
        """Returns True when a proposal of `kind` is already waiting for a decision."""
        return any(p.kind == kind for p in self._pending.values())

    def add(self, proposal: Proposal) -> None:
        """Queues a proposal."""
        self._pending[proposal.id] = proposal

    def take(self, proposal_id: str) -> Proposal | None:
        """Removes and returns the proposal (for approval or veto), or None if it is gone."""
        return self._pending.pop(proposal_id, None)

    def clear(self) -> tuple[Proposal, ...]:
        """Removes and returns every pending proposal."""
        taken = tuple(self._pending.values())
        self._pending.clear()
        return taken

    def remember_veto(self, proposal: Proposal, drift: Mapping[str, float]) -> None:
        """Records the drift at which the trader said no to a proposal of this kind."""
        self._vetoed_drift[proposal.kind] = dict(drift)

    def suppressed(self, kind: str, drift: Mapping[str, float]) -> bool:
        """Returns True while the drift is materially the same as at the last veto of `kind`."""
        vetoed = self._vetoed_drift.get(kind)
        if vetoed is None:
            return False
        symbols = set(vetoed) | set(drift)
        changed = any(
            abs(drift.get(s, 0.0) - vetoed.get(s, 0.0)) > self._veto_memory for s in symbols
        )
        if changed:
            del self._vetoed_drift[kind]
        return not changed

    def expire(
        self, *, now: float, marks: Mapping[str, float], max_price_move: float
    ) -> list[Expiry]:
        """Removes and returns every proposal that has expired by time or price move."""
        expired = []
        for proposal in list(self._pending.values()):
            reason = expiry_reason(proposal, now=now, marks=marks, max_price_move=max_price_move)
            if reason is not None:
                del self._pending[proposal.id]
                expired.append(Expiry(proposal, reason))
        return expired
