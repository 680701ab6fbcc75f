"""How domain objects are written to the journal: one payload shape per kind, in one place."""

from __future__ import annotations

from typing import Any

from cockpit.domain.types import Fill, FundingPayment, Order, Proposal


def order_payload(order: Order) -> dict[str, Any]:
    """Returns the journal payload of an order intent."""
    return {
        "side": order.side,
        "quantity": order.quantity,
        "reduce_only": order.reduce_only,
        "order_type": order.order_type,
    }


def proposal_payload(proposal: Proposal) -> dict[str, Any]:
    """Returns the journal payload of a proposal, with every number that justified it."""
    return {
        "kind": proposal.kind,
        "orders": [
            {"symbol": o.symbol, "side": o.side, "quantity": o.quantity, "reduce_only": o.reduce_only}
            for o in proposal.orders
        ],
        "reason": proposal.reason,
        "reason_numbers": dict(proposal.reason_numbers),
        "estimated_cost": proposal.estimated_cost,
        "leverage_after": proposal.leverage_after,
        "liquidation_distance_after": proposal.liquidation_distance_after,
        "created_at": proposal.created_at,
        "expires_at": proposal.expires_at,
        "reference_prices": dict(proposal.reference_prices),
    }


def fill_payload(fill: Fill, realized_pnl: float) -> dict[str, Any]:
    """Returns the journal payload of a fill (the journal rebuild reads exactly these keys)."""
    return {
        "side": fill.side,
        "quantity": fill.quantity,
        "price": fill.price,
        "fee": fill.fee,
        "realized_pnl": realized_pnl,
        "liquidation": fill.liquidation,
        "timestamp": fill.timestamp,
    }


def funding_payload(payment: FundingPayment) -> dict[str, Any]:
    """Returns the journal payload of a funding settlement."""
    return {"rate": payment.rate, "amount": payment.amount, "timestamp": payment.timestamp}
