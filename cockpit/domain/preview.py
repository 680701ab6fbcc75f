"""What a batch of orders would do to the account: the risk before and after, side by side.

This is the same arithmetic the pre-trade check runs (`risk.simulate_fills` then `risk.assess`,
at the slipped mark with fees), so a preview and the check that follows it on approval can never
disagree about the leverage after the fills, only about prices that moved in between.

Units: money in USDT, leverage as a multiple of equity (3.0 = 3x), distances and weights as
fractions (0.25 = 25 %; a weight is signed notional / (target leverage x equity), the rebalancer's
weight of levered capital).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

from cockpit.domain.pretrade import PretradeLimits, pretrade_denial
from cockpit.domain.rebalance import current_weights, estimated_cost
from cockpit.domain.risk import RiskSnapshot, assess, simulate_fills
from cockpit.domain.stress import nearest_liquidation
from cockpit.domain.types import Gate, Order, State


@dataclass(frozen=True, slots=True)
class TradePreview:
    """The account before and after a batch of orders fills at the current marks."""

    before: RiskSnapshot
    after: RiskSnapshot
    # The nearer of the closest single position and the common move of every price that
    # liquidates the cross book (stress.nearest_liquidation), as a fraction of price; inf if flat.
    liquidation_distance_before: float
    liquidation_distance_after: float
    weights_before: Mapping[str, float]  # symbol -> weight of levered capital, signed
    weights_after: Mapping[str, float]
    estimated_cost: float  # fees + slippage of the trading orders, USDT
    denial: str | None  # the first pre-trade denial ("DENIED ..."), None when the batch may go

    @property
    def leverage_before(self) -> float:
        """Returns effective leverage (gross notional / equity) before the orders, x equity."""
        return self.before.effective_leverage

    @property
    def leverage_after(self) -> float:
        """Returns effective leverage after the orders fill, x equity."""
        return self.after.effective_leverage

    @property
    def allowed(self) -> bool:
        """Returns True when the pre-trade checks let the batch through now."""
        return self.denial is None


def preview_orders(
    state: State,
    orders: Sequence[Order],
    *,
    limits: PretradeLimits,
    gate: Gate | str,
    target_leverage: float,
) -> TradePreview:
    """Returns the TradePreview of `orders` on `state`: every trading order filled in turn at the
    mark slipped by `limits.slippage` with `limits.fee_rate` paid (resting stops fill nothing),
    and the first denial of `pretrade.pretrade_denial` without the order-rate limit (the rate is
    a matter of when, not what: it is checked again on approval). `target_leverage` (levered
    capital / equity, > 0) scales the weights. An empty batch is never denied."""
    orders = tuple(orders)
    after_state = simulate_fills(state, orders, slippage=limits.slippage, fee_rate=limits.fee_rate)
    before, after = assess(state), assess(after_state)
    trading = tuple(order for order in orders if order.order_type != "stop_market")
    denial = None
    if orders:
        denial = pretrade_denial(state, orders, gate=gate, limits=limits, rate_limiter=None)
    aim = target_leverage if target_leverage > 0 and math.isfinite(target_leverage) else 1.0
    return TradePreview(
        before=before,
        after=after,
        liquidation_distance_before=nearest_liquidation(state, before),
        liquidation_distance_after=nearest_liquidation(after_state, after),
        weights_before=current_weights(state, aim),
        weights_after=current_weights(after_state, aim),
        estimated_cost=estimated_cost(state, trading, slippage=limits.slippage, fee_rate=limits.fee_rate),
        denial=denial,
    )


__all__ = ["TradePreview", "preview_orders"]
