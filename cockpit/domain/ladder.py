"""The liquidation ladder of one position: price levels from the mark to its liquidation price,
and what the account looks like at each (every other price held where it is, as the position's
own liquidation price assumes).

Each rung gives the move from the mark, how far that price still is from liquidation, the
position's unrealized PnL there, the margin ratio backing it (maintenance / margin balance;
1.0 is liquidation) and the maintenance bracket its notional falls in. Extra rungs mark the
resting stop and every price where the notional crosses a bracket floor, the "tier steps" at
which the maintenance rate changes.

Units: prices and money in USDT, moves and distances as fractions (-0.10 = 10 % below the mark).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cockpit.domain.liquidation import liquidation_distance, maintenance_margin, normalize_tiers
from cockpit.domain.risk import assess, tiers_for
from cockpit.domain.types import MaintenanceTier, PositionSide, State

DEFAULT_STEPS = 6
# Without a liquidation price the ladder walks these moves against the position instead.
UNLIQUIDATABLE_STEP = 0.15


@dataclass(frozen=True, slots=True)
class Rung:
    """One price level on the way to liquidation."""

    price: float  # USDT
    move: float  # signed change from the mark, fraction of the mark (-0.1 = 10 % below)
    to_liquidation: float  # distance left from this price to liquidation, fraction of this price; inf if none
    unrealized_pnl: float  # the position's, at this price, USDT
    margin_ratio: float  # maintenance margin / margin balance backing the position; >= 1.0 liquidates
    maintenance_rate: float  # the bracket's rate at this price's notional, fraction
    tier: int  # the bracket, 1 = the lowest
    label: str  # "mark", "stop", "tier 2→1", "liquidation", or "" for an even step


@dataclass(frozen=True, slots=True)
class Ladder:
    """The rungs of one position, from the mark (first) toward liquidation (last when there is
    a liquidation price)."""

    symbol: str
    side: PositionSide
    quantity: float  # signed base units
    mark: float  # USDT
    liquidation_price: float  # USDT; 0.0 = this position alone cannot be liquidated
    liquidation_distance: float  # from the mark, fraction of the mark (as the positions table)
    margin_mode: str
    rungs: tuple[Rung, ...]


def _tier_index(tiers: tuple[MaintenanceTier, ...], notional: float) -> int:
    index = 0
    for position, tier in enumerate(tiers):
        if tier.min_notional <= notional:
            index = position
    return index


def liquidation_ladder(state: State, symbol: str, *, steps: int = DEFAULT_STEPS,
                       stop_price: float | None = None) -> Ladder | None:
    """Returns the Ladder of the position in `symbol`, or None when none is open.

    Rungs: the mark, `steps` even steps to the liquidation price (the last rung is exactly that
    price), every bracket floor the notional crosses on the way, and `stop_price` (USDT) when it
    lies on the adverse side of the mark. Without a liquidation price the even steps are moves of
    15 %, 30 %, ... against the position (a long stops at -90 %). Sorted from the mark outward.
    Raises ValueError for steps < 1."""
    if steps < 1:
        raise ValueError(f"a ladder needs at least one step, not {steps!r}")
    risk = assess(state)
    row = risk.position(symbol)
    if row is None:
        return None
    position = state.positions[symbol]
    tiers = normalize_tiers(tiers_for(state, symbol))
    direction = 1.0 if row.side == "long" else -1.0
    quantity = abs(row.quantity)
    mark, liquidation = row.mark_price, row.liquidation_price
    isolated = position.margin_mode == "isolated"
    # What backs the position besides its own PnL, and the maintenance the others need: held
    # fixed along the ladder, which moves this one price only.
    if isolated:
        backing, other_maintenance = position.isolated_margin, 0.0
    else:
        locked = sum(p.isolated_margin for p in state.positions.values() if p.margin_mode == "isolated")
        others = [r for r in risk.positions if r.symbol != symbol
                  and state.positions[r.symbol].margin_mode != "isolated"]
        backing = state.balance.wallet - locked + sum(r.unrealized_pnl for r in others)
        other_maintenance = sum(r.maintenance_margin for r in others)

    def rung(price: float, label: str) -> Rung:
        notional = quantity * price
        upnl = direction * quantity * (price - row.entry_price)
        balance = backing + upnl
        maintenance = other_maintenance + maintenance_margin(notional, tiers)
        index = _tier_index(tiers, notional)
        return Rung(
            price=price,
            move=price / mark - 1.0,
            to_liquidation=liquidation_distance(row.side, price, liquidation) if price > 0 else 0.0,
            unrealized_pnl=upnl,
            margin_ratio=maintenance / balance if balance > 0 else math.inf,
            maintenance_rate=tiers[index].maintenance_margin_rate,
            tier=index + 1,
            label=label,
        )

    if liquidation > 0 and (liquidation < mark if direction > 0 else liquidation > mark):
        far = liquidation
        levels = [mark + (far - mark) * k / steps for k in range(1, steps)]
        ends = [(far, "liquidation")]
    elif liquidation > 0:
        far, levels, ends = mark, [], [(liquidation, "liquidation")]  # already past it
    else:
        moves = [UNLIQUIDATABLE_STEP * k for k in range(1, steps + 1)]
        levels = [mark * (1.0 - direction * min(move, 0.9 if direction > 0 else math.inf)) for move in moves]
        levels = sorted(set(levels), key=lambda p: abs(p - mark))
        far, ends = levels[-1], []
    low, high = min(mark, far), max(mark, far)
    labelled: list[tuple[float, str]] = [(mark, "mark")] + [(p, "") for p in levels] + ends
    for index, tier in enumerate(tiers[1:], start=1):
        price = tier.min_notional / quantity if quantity > 0 else math.inf
        if low < price < high:
            # Walking away from the mark a long's notional falls (bracket index+1 -> index), a
            # short's rises (index -> index+1).
            step = f"tier {index + 1}→{index}" if direction > 0 else f"tier {index}→{index + 1}"
            labelled.append((price, step))
    if stop_price is not None and stop_price > 0 and direction * (mark - stop_price) > 0:
        labelled.append((stop_price, "stop"))  # on the adverse side; beyond liquidation it shows so
    labelled.sort(key=lambda item: (abs(item[0] - mark), item[1] != "mark"))
    return Ladder(
        symbol=symbol,
        side=row.side,
        quantity=row.quantity,
        mark=mark,
        liquidation_price=liquidation,
        liquidation_distance=row.liquidation_distance,
        margin_mode=position.margin_mode,
        rungs=tuple(rung(price, label) for price, label in labelled),
    )


__all__ = ["Ladder", "Rung", "liquidation_ladder"]
