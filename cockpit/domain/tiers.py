"""Maintenance-margin tiers: reading ccxt's `fetch_leverage_tiers` shape, and the defaults used
when no exchange can be asked (paper and synthetic markets)."""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

from cockpit.domain.types import MaintenanceTier

# Binance USDT-M's published lower brackets for BTCUSDT and ETHUSDT (notional floor in USDT,
# maintenance margin rate, max leverage). The maintenance amount is derived, as Binance does:
# cum_k = cum_{k-1} + floor_k * (mmr_k - mmr_{k-1}).
_DEFAULT_BRACKETS: tuple[tuple[float, float, float], ...] = (
    (0.0, 0.004, 125.0),
    (50_000.0, 0.005, 100.0),
    (600_000.0, 0.0065, 75.0),
    (3_000_000.0, 0.01, 50.0),
    (12_000_000.0, 0.02, 25.0),
)
_LAST_CAP = 50_000_000.0


def brackets_to_tiers(brackets: Iterable[tuple[float, float, float]], last_cap: float) -> tuple[MaintenanceTier, ...]:
    """Returns contiguous tiers from (floor, rate, max leverage) rows, deriving each `cum`."""
    rows = list(brackets)
    tiers: list[MaintenanceTier] = []
    cum = 0.0
    previous_rate = rows[0][1]
    for index, (floor, rate, max_leverage) in enumerate(rows):
        cum += floor * (rate - previous_rate)
        previous_rate = rate
        cap = rows[index + 1][0] if index + 1 < len(rows) else last_cap
        tiers.append(MaintenanceTier(floor, cap, rate, cum, max_leverage))
    return tuple(tiers)


DEFAULT_TIERS: tuple[MaintenanceTier, ...] = brackets_to_tiers(_DEFAULT_BRACKETS, _LAST_CAP)


def tiers_from_ccxt(entries: Iterable[Mapping[str, Any]]) -> tuple[MaintenanceTier, ...]:
    """Returns tiers from ccxt `fetch_leverage_tiers` entries for one symbol, sorted by notional.

    The maintenance amount is `info.cum` (Binance); 0 when the exchange does not report one.
    Raises ValueError naming the field when an entry is malformed or out of range: notionals
    0 <= min < max, a maintenance margin rate in [0, 1), a finite amount >= 0 and max leverage
    >= 0 (a negated rate would move every liquidation price the wrong way).
    """
    tiers = []
    for position, entry in enumerate(entries):
        try:
            info = entry.get("info") or {}
            tier = MaintenanceTier(
                min_notional=float(entry["minNotional"]),
                max_notional=float(entry["maxNotional"]),
                maintenance_margin_rate=float(entry["maintenanceMarginRate"]),
                maintenance_amount=float(info.get("cum", 0.0) or 0.0),
                max_leverage=float(entry.get("maxLeverage") or 0.0),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"leverage tier {position}: missing or bad field {error}") from None
        problem = _out_of_range(tier)
        if problem:
            raise ValueError(f"leverage tier {position}: {problem}")
        tiers.append(tier)
    return tuple(sorted(tiers, key=lambda tier: tier.min_notional))


def _out_of_range(tier: MaintenanceTier) -> str:
    """Returns what is wrong with a tier's figures, or "" when they are usable."""
    if not (0.0 <= tier.min_notional < tier.max_notional):  # False for NaN too
        return f"notional range {tier.min_notional:g} to {tier.max_notional:g}"
    if not 0.0 <= tier.maintenance_margin_rate < 1.0:
        return f"maintenance margin rate {tier.maintenance_margin_rate:g}"
    if not (0.0 <= tier.maintenance_amount < math.inf):
        return f"maintenance amount {tier.maintenance_amount:g}"
    if not (0.0 <= tier.max_leverage < math.inf):
        return f"max leverage {tier.max_leverage:g}"
    return ""
