"""Volatility-adjusted protective stops, always inside the liquidation price.

Stop distance (fraction of the mark) is a straight line in the 4h volatility forecast through the
two anchors of the issue, 4h sigma 3 % -> 8 % and 8 % -> 15 %:

    distance = 0.038 + 1.4 * sigma_4h,   clipped to [STOP_FLOOR, STOP_CAP] = [3.8 %, 25 %]

so a quiet market (BTC's typical 4h sigma ~1.3 %) gets ~5.6 %, i.e. still more than four 4h
sigmas of room, and no stop is ever placed further than 25 % from the mark. The stop then has to
trigger before liquidation: it is pulled in until it is at least `buffer` (fraction of the mark)
on the safe side of the liquidation price.

Stops are reduce-only stop-market orders that close the whole position: sell for a long, buy for
a short. Units: prices in USDT, distances and sigmas as fractions, quantities in base units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cockpit.domain.liquidation import liquidation_distance
from cockpit.domain.types import Order, PositionSide

STOP_INTERCEPT = 0.038  # distance at zero forecast volatility
STOP_SLOPE = 1.4  # extra distance per unit of 4h sigma: (0.15 - 0.08) / (0.08 - 0.03)
STOP_FLOOR = STOP_INTERCEPT
STOP_CAP = 0.25
DEFAULT_LIQUIDATION_BUFFER = 0.02  # the stop stays >= 2 % of the mark clear of liquidation


def stop_distance(forecast_sigma_4h: float) -> float:
    """Returns how far from the mark the protective stop goes, as a fraction of the mark:
    0.038 + 1.4 * sigma, clipped to [0.038, 0.25] (3 % -> 8.0 %, 8 % -> 15.0 %).

    `forecast_sigma_4h` is the forecast standard deviation of 4h returns, a fraction (0.03 = 3 %);
    inf gives the cap. Raises ValueError for a negative or NaN sigma.
    """
    if not forecast_sigma_4h >= 0:
        raise ValueError(f"4h volatility forecast must be a fraction >= 0, not {forecast_sigma_4h!r}")
    if math.isinf(forecast_sigma_4h):
        return STOP_CAP
    return min(STOP_CAP, max(STOP_FLOOR, STOP_INTERCEPT + STOP_SLOPE * forecast_sigma_4h))


@dataclass(frozen=True, slots=True)
class StopLevel:
    """Where a protective stop goes. `price` in USDT; distances as fractions of the mark.

    `feasible` is False when the position is already within `buffer` of its liquidation price:
    no stop fits between mark and liquidation, `price` is then the mark itself (distance 0) and
    the position should be cut, not protected.
    """

    price: float
    distance: float  # (mark - price) / mark for a long, (price - mark) / mark for a short
    volatility_distance: float  # what the volatility alone asked for
    liquidation_distance: float  # mark to liquidation; inf when the position cannot be liquidated
    pulled_in: bool  # True when the liquidation buffer, not the volatility, set the distance
    feasible: bool


def _round_to_tick(price: float, tick_size: float, direction: str) -> float:
    steps = price / tick_size
    whole = round(steps)
    if abs(steps - whole) < 1e-9:
        return whole * tick_size
    return (math.ceil(steps) if direction == "up" else math.floor(steps)) * tick_size


def _on_tick(price: float, limit: float, mark: float, tick_size: float | None, long: bool) -> float:
    """Rounds a stop to the tick towards the mark; if that reaches the mark, away from it as long
    as it stays on the safe side of `limit`."""
    if tick_size is None:
        return price
    towards = _round_to_tick(price, tick_size, "up" if long else "down")
    if (towards < mark) if long else (towards > mark):
        return towards
    away = _round_to_tick(price, tick_size, "down" if long else "up")
    return away if ((away >= limit) if long else (away <= limit)) else towards


def stop_price(
    side: PositionSide,
    mark_price: float,
    forecast_sigma_4h: float,
    liquidation_price: float,
    *,
    buffer: float = DEFAULT_LIQUIDATION_BUFFER,
    tick_size: float | None = None,
) -> StopLevel:
    """Returns the StopLevel for a `side` position at `mark_price` (USDT) whose liquidation price
    is `liquidation_price` (USDT; 0.0 = cannot be liquidated, as `liquidation_price_tiered` says).

    The volatility stop sits `stop_distance(sigma)` from the mark; if that is closer than `buffer`
    (fraction of the mark) to the liquidation price, it is pulled in so that a long's stop is
    >= liquidation + buffer * mark and a short's <= liquidation - buffer * mark. With `tick_size`
    the price is rounded towards the mark (the safe side), or away from it when that would put
    the stop on the mark and the buffer still allows it. Raises ValueError for a bad side, a
    non-positive mark, a negative buffer or sigma.
    """
    if not (mark_price > 0 and math.isfinite(mark_price)):
        raise ValueError(f"mark price must be a positive number of USDT, not {mark_price!r}")
    if not (buffer >= 0 and math.isfinite(buffer)):
        raise ValueError(f"liquidation buffer must be a fraction >= 0, not {buffer!r}")
    if tick_size is not None and not (tick_size > 0 and math.isfinite(tick_size)):
        raise ValueError(f"tick size must be a positive number of USDT, not {tick_size!r}")
    wanted = stop_distance(forecast_sigma_4h)
    to_liquidation = liquidation_distance(side, mark_price, liquidation_price)
    long = side == "long"
    if long:
        vol_price = mark_price * (1.0 - wanted)
        limit = liquidation_price + buffer * mark_price  # the lowest safe stop
        price = _on_tick(max(vol_price, limit), limit, mark_price, tick_size, long)
        pulled_in = vol_price < limit
        # A mark below a tick rounds the stop to 0, which is no stop at all (and no valid order).
        feasible = 0.0 < price < mark_price
    else:
        vol_price = mark_price * (1.0 + wanted)
        limit = (liquidation_price - buffer * mark_price) if liquidation_price > 0 else math.inf
        price = _on_tick(min(vol_price, limit), limit, mark_price, tick_size, long)
        pulled_in = vol_price > limit
        feasible = price > mark_price
    if not feasible:
        price = mark_price
    distance = (mark_price - price) / mark_price if long else (price - mark_price) / mark_price
    return StopLevel(
        price=price,
        distance=max(0.0, distance),
        volatility_distance=wanted,
        liquidation_distance=to_liquidation,
        pulled_in=pulled_in or not feasible,
        feasible=feasible,
    )


def protective_stop(
    position_symbol: str, signed_quantity: float, stop_price: float, *, client_order_id: str = ""
) -> Order:
    """Returns the reduce-only stop-market Order that closes the whole position of
    `signed_quantity` base units (+ long, - short) when the mark reaches `stop_price` (USDT): a
    sell stop below a long, a buy stop above a short.

    Raises ValueError for a zero or non-finite quantity or a non-positive stop price.
    """
    if not (math.isfinite(signed_quantity) and signed_quantity != 0):
        raise ValueError(f"a stop protects an open position, not quantity {signed_quantity!r}")
    if not (stop_price > 0 and math.isfinite(stop_price)):
        raise ValueError(f"stop price must be a positive number of USDT, not {stop_price!r}")
    return Order(
        symbol=position_symbol,
        side="sell" if signed_quantity > 0 else "buy",
        quantity=abs(signed_quantity),
        reduce_only=True,
        order_type="stop_market",
        client_order_id=client_order_id,
        stop_price=stop_price,
    )
