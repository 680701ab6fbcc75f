"""Liquidation prices for Binance USDT-M perpetuals in one-way mode, with tiered maintenance margin.

A position is liquidated when the margin backing it falls to its maintenance margin. With
side s = +1 long / -1 short, quantity q > 0 and entry EP, the margin balance at price P is
`WB + UPNL1 + s*q*(P - EP)` and the maintenance requirement is `TMM1 + q*P*MMR - cum`. Setting
them equal gives Binance's formula

    LP = (WB - TMM1 + UPNL1 + cum - s*q*EP) / (q*MMR - s*q)

isolated: WB is the position's own margin and TMM1 = UPNL1 = 0; cross: WB is the cross wallet
and TMM1 / UPNL1 are the maintenance margin and unrealized PnL of the *other* cross positions.

Units: prices and money in USDT, quantities in base units, rates as fractions.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

from cockpit.domain.tiers import tiers_from_ccxt
from cockpit.domain.types import MaintenanceTier, MarginMode, PositionSide

TierLike = MaintenanceTier | Mapping[str, Any]

# A short whose account is below maintenance at every price has no positive root. Reporting 0.0
# there would read as "cannot be liquidated" (distance inf), the opposite of the truth; the
# smallest positive price makes `liquidation_distance` report 0.0 instead.
SHORT_LIQUIDATED_AT_ANY_PRICE = math.ulp(0.0)


def _as_tier(entry: TierLike) -> MaintenanceTier:
    if isinstance(entry, MaintenanceTier):
        return entry
    return tiers_from_ccxt([entry])[0]


def normalize_tiers(tiers: Iterable[TierLike]) -> tuple[MaintenanceTier, ...]:
    """Returns `tiers` (ccxt dicts and/or MaintenanceTier) as MaintenanceTier sorted by floor.

    Raises ValueError when there are none or an entry is malformed.
    """
    if isinstance(tiers, tuple) and tiers and all(isinstance(t, MaintenanceTier) for t in tiers):
        table = tiers  # the hot path: instruments already hold sorted MaintenanceTier tuples
    else:
        table = tuple(_as_tier(entry) for entry in tiers)
        if not table:
            raise ValueError("no maintenance tiers")
    if any(a.min_notional > b.min_notional for a, b in zip(table, table[1:])):
        table = tuple(sorted(table, key=lambda tier: tier.min_notional))
    return table


def _tier_index(table: Sequence[MaintenanceTier], notional: float) -> int:
    # The last tier whose floor is <= notional: that is [min, max) for contiguous tables, covers
    # everything above the last cap, and keeps the lower tier across any gap in a table.
    index = 0
    for position, tier in enumerate(table):
        if tier.min_notional <= notional:
            index = position
        else:
            break
    return index


def maintenance_tier(tiers: Iterable[TierLike], notional: float) -> tuple[float, float]:
    """Returns (maintenance margin rate as a fraction, maintenance amount `cum` in USDT) of the
    bracket holding a position of `notional` USDT; above the last cap, the last bracket's."""
    table = normalize_tiers(tiers)
    tier = table[_tier_index(table, abs(notional))]
    return tier.maintenance_margin_rate, tier.maintenance_amount


def maintenance_margin(notional: float, tiers: Iterable[TierLike]) -> float:
    """Returns the maintenance margin a position of `notional` USDT (its absolute value) must
    keep, in USDT: notional * rate - cum of its bracket."""
    size = abs(notional)
    rate, amount = maintenance_tier(tiers, size)
    return size * rate - amount


def _direction(side: PositionSide) -> float:
    if side == "long":
        return 1.0
    if side == "short":
        return -1.0
    raise ValueError(f"side must be 'long' or 'short', not {side!r}")


def _backing(
    margin_mode: MarginMode, wallet_balance: float, other_mm: float, other_upnl: float
) -> float:
    """The money standing between the position and liquidation: WB - TMM1 + UPNL1."""
    if margin_mode == "isolated":
        return wallet_balance
    if margin_mode == "cross":
        return wallet_balance - other_mm + other_upnl
    raise ValueError(f"margin_mode must be 'isolated' or 'cross', not {margin_mode!r}")


def _raw_price(direction: float, quantity: float, entry: float, backing: float,
               rate: float, amount: float) -> float | None:
    denominator = quantity * rate - direction * quantity
    if denominator == 0:
        return None
    return (backing + amount - direction * quantity * entry) / denominator


def _clamped(direction: float, price: float | None) -> float:
    if price is None or not math.isfinite(price):
        return 0.0
    if price <= 0:
        return 0.0 if direction > 0 else SHORT_LIQUIDATED_AT_ANY_PRICE
    return price


def _check_quantity(quantity: float) -> None:
    if not quantity >= 0:
        raise ValueError(f"quantity must be a positive number of base units, not {quantity!r}")


def liquidation_price(
    *,
    side: PositionSide,
    quantity: float,
    entry_price: float,
    wallet_balance: float,
    maintenance_margin_rate: float,
    maintenance_amount: float,
    margin_mode: MarginMode = "isolated",
    other_maintenance_margin: float = 0.0,
    other_unrealized_pnl: float = 0.0,
) -> float:
    """Returns the mark price (USDT) at which the position is liquidated, for one given bracket.

    `quantity` is the position size in base units (> 0). Returns 0.0 when the position cannot be
    liquidated (a long whose formula gives <= 0, a zero quantity, or a zero denominator). A short
    that is already below maintenance at every price returns SHORT_LIQUIDATED_AT_ANY_PRICE (tiny
    positive), so its distance reads 0. In isolated mode `other_*` are ignored.
    """
    _check_quantity(quantity)
    direction = _direction(side)
    if quantity == 0:
        return 0.0
    backing = _backing(margin_mode, wallet_balance, other_maintenance_margin, other_unrealized_pnl)
    price = _raw_price(direction, quantity, entry_price, backing,
                       maintenance_margin_rate, maintenance_amount)
    return _clamped(direction, price)


def liquidation_price_tiered(
    *,
    side: PositionSide,
    quantity: float,
    entry_price: float,
    wallet_balance: float,
    tiers: Iterable[TierLike],
    margin_mode: MarginMode = "isolated",
    other_maintenance_margin: float = 0.0,
    other_unrealized_pnl: float = 0.0,
) -> float:
    """Returns the liquidation mark price (USDT) using the bracket that holds the position's
    notional *at that price*, as Binance does. Same conventions as `liquidation_price`.

    Maintenance margin is continuous and increasing in notional (that is what `cum` is for), so
    margin balance minus maintenance is monotone in price and exactly one bracket is
    self-consistent. If float rounding at a bracket edge leaves none consistent, the bracket
    whose answer lands nearest its own range wins.
    """
    _check_quantity(quantity)
    direction = _direction(side)
    if quantity == 0:
        return 0.0
    table = normalize_tiers(tiers)
    backing = _backing(margin_mode, wallet_balance, other_maintenance_margin, other_unrealized_pnl)
    last = len(table) - 1
    nearest: float | None = None
    nearest_gap = math.inf
    for index, tier in enumerate(table):
        price = _raw_price(direction, quantity, entry_price, backing,
                           tier.maintenance_margin_rate, tier.maintenance_amount)
        if price is None or math.isnan(price):
            continue
        notional = quantity * price
        # The first bracket extends below zero so that "no positive root" is found there too.
        low = -math.inf if index == 0 else tier.min_notional
        high = math.inf if index == last else table[index + 1].min_notional
        if low <= notional < high:
            return _clamped(direction, price)
        gap = low - notional if notional < low else notional - high
        if gap < nearest_gap:
            nearest, nearest_gap = price, gap
    return _clamped(direction, nearest)


def liquidation_distance(side: PositionSide, mark_price: float, liquidation_price: float) -> float:
    """Returns how far the mark must move against the position to reach liquidation, as a
    fraction of the mark (0.25 = 25 %), floored at 0.0 (already past it).

    A long with liquidation price 0.0 gets 1.0 (the price would have to go to zero); a short with
    0.0 (cannot be liquidated) gets math.inf. Raises ValueError for a non-positive mark.
    """
    direction = _direction(side)
    if not mark_price > 0:
        raise ValueError(f"mark price must be positive, not {mark_price!r}")
    if direction > 0:
        return max(0.0, (mark_price - liquidation_price) / mark_price)
    if liquidation_price == 0.0:
        return math.inf
    return max(0.0, (liquidation_price - mark_price) / mark_price)


LIQUIDATION_MISMATCH_TOLERANCE = 0.005  # 0.5 % of the exchange's figure


def liquidation_price_mismatch(
    ours: float, exchange: float, tolerance: float = LIQUIDATION_MISMATCH_TOLERANCE
) -> str | None:
    """Returns a one-line warning when our liquidation price (USDT) and the exchange's differ by
    more than `tolerance` (fraction of the exchange's price), else None. Both 0.0 ("cannot be
    liquidated") agree; one 0.0 and one positive always disagree.

    A live venue reports its own figure; showing both, and warning on a gap, catches a tier table
    or margin figure we hold wrong before it matters."""
    if ours == exchange:
        return None
    if exchange <= 0 or ours <= 0:
        return f"liquidation price: ours {ours:,.2f} vs exchange {exchange:,.2f}"
    gap = abs(ours - exchange) / exchange
    if gap <= tolerance:
        return None
    return f"liquidation price: ours {ours:,.2f} vs exchange {exchange:,.2f} ({gap:.2%} apart > {tolerance:.2%})"
