"""How far the whole account is from liquidation when prices move together.

A cross-margined position's own liquidation price assumes every other price stays put. For a
book of correlated longs that is the optimistic case: in a crash everything falls at once. The
account-level number here is the smallest common move (all marks scaled by the same factor, in
the direction that hurts) at which cross equity falls to the cross maintenance margin.
"""

from __future__ import annotations

import math

from cockpit.domain.liquidation import maintenance_margin
from cockpit.domain.risk import RiskSnapshot, mark_price, tiers_for
from cockpit.domain.types import State

_GRID = 64  # coarse scan, then bisection: the surplus need not be monotone for a hedged book
_BISECTIONS = 50
_MAX_RISE = 10.0  # a common rise of 1,000% is treated as "cannot liquidate"


def _cross_surplus(state: State, scale: float) -> float:
    """Returns cross equity minus cross maintenance margin, in USDT, with every mark x `scale`."""
    surplus = state.balance.wallet
    for position in state.positions.values():
        if position.margin_mode == "isolated":
            surplus -= position.isolated_margin  # locked away: it backs only its own position
            continue
        price = mark_price(state, position) * scale
        surplus += position.unrealized_pnl(price)
        surplus -= maintenance_margin(abs(position.quantity) * price, tiers_for(state, position.symbol))
    return surplus


def _first_breach(state: State, moves: list[float], direction: float) -> float:
    previous = 0.0
    for move in moves:
        if _cross_surplus(state, 1.0 + direction * move) <= 0:
            low, high = previous, move
            for _ in range(_BISECTIONS):
                middle = (low + high) / 2
                if _cross_surplus(state, 1.0 + direction * middle) <= 0:
                    high = middle
                else:
                    low = middle
            return high
        previous = move
    return math.inf


def account_liquidation_move(state: State) -> float:
    """Returns the smallest common price move, as a fraction (0.58 = every price 58% against
    the book), that brings the cross account to its maintenance margin; 0.0 if it is already
    there, inf if no move of prices down to zero or up 1,000% does."""
    crossed = [p for p in state.positions.values() if p.margin_mode != "isolated" and p.quantity != 0]
    if not crossed:
        return math.inf
    if _cross_surplus(state, 1.0) <= 0:
        return 0.0
    down = [i / _GRID for i in range(1, _GRID + 1)]
    up = [_MAX_RISE * i / _GRID for i in range(1, _GRID + 1)]
    return min(_first_breach(state, down, -1.0), _first_breach(state, up, +1.0))


def nearest_liquidation(state: State, risk: RiskSnapshot) -> float:
    """Returns the smaller of the nearest single-position distance and the common-move
    distance: how far the account is from its first liquidation, as a fraction of price."""
    return min(risk.nearest_liquidation_distance, account_liquidation_move(state))
