"""How far the whole account is from liquidation when prices move together.

A cross-margined position's own liquidation price assumes every other price stays put. For a
book of correlated longs that is the optimistic case: in a crash everything falls at once. The
account-level number here is the smallest common move (all marks scaled by the same factor, in
the direction that hurts) at which cross equity falls to the cross maintenance margin.

With every mark scaled by a factor s, cross equity is linear in s and each position's maintenance
margin is linear in s within a tier and continuous across tiers (Binance's `cum` makes it so).
The surplus is therefore piecewise linear with breaks only where some position crosses a tier
floor: evaluating it at those breaks and interpolating inside the crossing segment is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cockpit.domain.liquidation import maintenance_margin, normalize_tiers
from cockpit.domain.risk import RiskSnapshot, mark_price, tiers_for
from cockpit.domain.types import MaintenanceTier, State

_MAX_RISE = 10.0  # a common rise of 1,000% is treated as "cannot liquidate"


@dataclass(frozen=True, slots=True)
class _Leg:
    quantity: float  # signed base units
    mark: float
    entry: float
    tiers: tuple[MaintenanceTier, ...]


def _cross_book(state: State) -> tuple[float, list[_Leg]]:
    """Returns the cross wallet (USDT, isolated margins locked away) and the cross positions."""
    wallet = state.balance.wallet
    legs = []
    for position in state.positions.values():
        if position.margin_mode == "isolated":
            wallet -= position.isolated_margin  # it backs only its own position
        elif position.quantity != 0:
            tiers = normalize_tiers(tiers_for(state, position.symbol))
            legs.append(_Leg(position.quantity, mark_price(state, position), position.entry_price, tiers))
    return wallet, legs


def _surplus(wallet: float, legs: list[_Leg], scale: float) -> float:
    """Returns cross equity minus cross maintenance margin, in USDT, with every mark x `scale`."""
    total = wallet
    for leg in legs:
        price = leg.mark * scale
        total += leg.quantity * (price - leg.entry)
        total -= maintenance_margin(abs(leg.quantity) * price, leg.tiers)
    return total


def _tier_breaks(legs: list[_Leg], low: float, high: float) -> list[float]:
    """Returns the scale factors in (low, high) where some position's notional meets a tier floor."""
    breaks = set()
    for leg in legs:
        base = abs(leg.quantity) * leg.mark
        for tier in leg.tiers:
            if tier.min_notional > 0:
                scale = tier.min_notional / base
                if low < scale < high:
                    breaks.add(scale)
    return sorted(breaks)


def _first_zero(wallet: float, legs: list[_Leg], stops: list[float]) -> float | None:
    """Walks the scale factors `stops` away from 1.0; returns the factor where the surplus first
    reaches zero (linear inside a segment), or None if it never does."""
    previous, previous_surplus = 1.0, _surplus(wallet, legs, 1.0)
    for scale in stops:
        surplus = _surplus(wallet, legs, scale)
        if surplus <= 0:
            return previous + (scale - previous) * previous_surplus / (previous_surplus - surplus)
        previous, previous_surplus = scale, surplus
    return None


def account_liquidation_move(state: State) -> float:
    """Returns the smallest common price move, as a fraction (0.58 = every price 58% against
    the book), that brings the cross account to its maintenance margin; 0.0 if it is already
    there, inf if no move of prices down to zero or up 1,000% does."""
    wallet, legs = _cross_book(state)
    if not legs:
        return math.inf
    if _surplus(wallet, legs, 1.0) <= 0:
        return 0.0
    moves = []
    down = _first_zero(wallet, legs, _tier_breaks(legs, 0.0, 1.0)[::-1] + [0.0])
    if down is not None:
        moves.append(1.0 - down)
    up = _first_zero(wallet, legs, _tier_breaks(legs, 1.0, 1.0 + _MAX_RISE) + [1.0 + _MAX_RISE])
    if up is not None:
        moves.append(up - 1.0)
    return min(moves, default=math.inf)


def nearest_liquidation(state: State, risk: RiskSnapshot) -> float:
    """Returns the smaller of the nearest single-position distance and the common-move
    distance: how far the account is from its first liquidation, as a fraction of price."""
    return min(risk.nearest_liquidation_distance, account_liquidation_move(state))
