"""Drift from target weights, and the orders that bring a portfolio back to them.

Semantics:

- Target weights are fractions of *levered capital* per symbol (negative = short); whatever is
  left to 1.0 is the USDT reserve.
- Levered capital is target_leverage * equity, so a symbol's target notional is
  weight * target_leverage * equity. Example: 50 % BTC / 30 % ETH / 20 % reserve at 2x target
  leverage means BTC notional = 1.0x equity, ETH = 0.6x equity, and the account runs at 1.6x.
- A symbol's current weight is its signed notional / (target_leverage * equity).
- Drift = current weight - target weight, in weight points (0.05 = 5 points). The band is in the
  same absolute points: a symbol breaches when |drift| > band.
- Symbols held but absent from the targets have target 0 (they get closed).

Units: money in USDT, quantities in base units, weights and drift as fractions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, localcontext
from typing import Mapping

from cockpit.domain.stress import nearest_liquidation
from cockpit.domain.risk import (
    account_equity,
    assess,
    fill_price,
    is_risk_reducing,
    mark_price,
    simulate_fills,
)
from cockpit.domain.types import Order, State

# Used when a symbol's instrument is unknown (paper / synthetic markets): Binance's BTCUSDT values.
DEFAULT_STEP_SIZE = 0.001
DEFAULT_MIN_NOTIONAL = 5.0
# When the targets must be scaled down to respect the ceiling, aim a little under it so that fees,
# slippage and rounding do not land the account right on (or over) the line.
CEILING_HEADROOM = 0.995
_SCALE_SEARCH_STEPS = 8
_BISECTION_STEPS = 40
_DECIMAL_DIGITS = 800


def _check_positive(name: str, value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive number, not {value!r}")


def current_weights(state: State, target_leverage: float) -> dict[str, float]:
    """Returns each held symbol's weight: signed notional / (target_leverage * equity), as a
    fraction of levered capital. Weights are NaN when equity <= 0 (they mean nothing then)."""
    _check_positive("target leverage", target_leverage)
    equity = account_equity(state)
    weights = {}
    for symbol in sorted(state.positions):
        position = state.positions[symbol]
        if equity <= 0:
            weights[symbol] = math.nan
        else:
            notional = position.quantity * mark_price(state, position)
            weights[symbol] = notional / (target_leverage * equity)
    return weights


def weight_drift(
    state: State, targets: Mapping[str, float], target_leverage: float
) -> dict[str, float]:
    """Returns current weight - target weight per symbol (in targets or held), in weight points;
    NaN for every symbol when equity <= 0."""
    weights = current_weights(state, target_leverage)
    unknown = any(math.isnan(weight) for weight in weights.values())
    drift = {}
    for symbol in sorted(set(targets) | set(weights)):
        current = math.nan if unknown else weights.get(symbol, 0.0)
        drift[symbol] = current - targets.get(symbol, 0.0)
    return drift


def breaches_band(drift: Mapping[str, float], band: float) -> bool:
    """Returns True when any |drift| exceeds `band` (weight points). NaN drift never breaches."""
    return any(abs(value) > band for value in drift.values())


def round_quantity(quantity: float, step_size: float) -> float:
    """Returns `quantity` (base units) rounded toward zero to a multiple of `step_size`, computed
    in decimal so 0.1 + 0.2 style residue never appears. Raises ValueError for a step <= 0."""
    _check_positive("step size", step_size)
    if not math.isfinite(quantity):
        raise ValueError(f"quantity must be finite, not {quantity!r}")
    step = Decimal(repr(step_size))
    # Enough digits that the division is exact for any float pair: the default 28 could round
    # a huge quantity / tiny step quotient *up* before it is truncated.
    with localcontext(prec=_DECIMAL_DIGITS):
        steps = (Decimal(repr(quantity)) / step).to_integral_value(rounding=ROUND_DOWN)
        return float(steps * step)


@dataclass(frozen=True, slots=True)
class _Leg:
    """One tradable symbol: where it is, and the rules its orders must meet."""

    symbol: str
    mark: float
    quantity: float
    weight: float
    step_size: float
    min_notional: float

    def order(self, change: float, held: float) -> Order | None:
        """The order that changes the position (currently `held`) by `change`, or None when it
        rounds to nothing or is below the minimum notional."""
        quantity = round_quantity(abs(change), self.step_size)
        if quantity <= 0 or quantity * self.mark < self.min_notional:
            return None
        order = Order(self.symbol, "buy" if change > 0 else "sell", quantity)
        if is_risk_reducing(held, order):
            order = Order(self.symbol, order.side, quantity, reduce_only=True)
        return order

    def orders_to(self, target_quantity: float) -> list[Order]:
        """Orders moving the position to `target_quantity`. A flip is split into a reduce-only
        close and a fresh open, so the close can pass a REDUCING gate on its own."""
        held = self.quantity
        if held != 0 and held * target_quantity < 0:
            close = self.order(-held, held)
            if close is not None:
                opened = self.order(target_quantity, 0.0)
                return [close] if opened is None else [close, opened]
        order = self.order(target_quantity - held, held)
        return [] if order is None else [order]


def _legs(state: State, targets: Mapping[str, float]) -> list[_Leg]:
    legs = []
    for symbol in sorted(set(targets) | set(state.positions)):
        weight = float(targets.get(symbol, 0.0))
        if not math.isfinite(weight):
            raise ValueError(f"target weight for {symbol} must be finite, not {weight!r}")
        mark = state.marks.get(symbol)
        if mark is None or not mark > 0:
            continue  # no price to size or fill at: leave the symbol as it is
        instrument = state.instruments.get(symbol)
        position = state.positions.get(symbol)
        legs.append(
            _Leg(
                symbol=symbol,
                mark=mark,
                quantity=position.quantity if position else 0.0,
                weight=weight,
                step_size=instrument.step_size if instrument else DEFAULT_STEP_SIZE,
                min_notional=instrument.min_notional if instrument else DEFAULT_MIN_NOTIONAL,
            )
        )
    return legs


def _orders_at_scale(legs: list[_Leg], levered_capital: float, scale: float) -> tuple[Order, ...]:
    orders = []
    for leg in legs:
        orders.extend(leg.orders_to(leg.weight * levered_capital * scale / leg.mark))
    # Reductions first: they free margin before anything adds exposure.
    return tuple(sorted(orders, key=lambda order: (not order.reduce_only, order.symbol)))


def rebalance_orders(
    state: State,
    targets: Mapping[str, float],
    *,
    target_leverage: float,
    ceiling: float,
    slippage: float,
    fee_rate: float,
) -> tuple[Order, ...]:
    """Returns the market orders that move each symbol to its target notional at the current mark,
    reductions first. Quantities are rounded toward zero to the step size; orders below the
    minimum notional are dropped; `reduce_only` is set on orders that only shrink a position.

    Guarantee: effective leverage after the orders fill (with slippage and fees) is <= ceiling.
    Targets asking for more are scaled down toward ceiling * 0.995. When not even closing every
    tradable symbol gets under the ceiling (untradable positions), returns no orders. Also no
    orders when equity <= 0 or there are no marks.
    """
    _check_positive("target leverage", target_leverage)
    _check_positive("leverage ceiling", ceiling)
    equity = account_equity(state)
    if equity <= 0 or not state.marks:
        return ()
    legs = _legs(state, targets)
    if not legs:
        return ()
    levered_capital = target_leverage * equity

    def leverage_after(orders: tuple[Order, ...]) -> float:
        after = simulate_fills(state, orders, slippage=slippage, fee_rate=fee_rate)
        return assess(after).effective_leverage

    asked = target_leverage * sum(abs(leg.weight) for leg in legs)
    scale = 1.0 if asked <= ceiling else ceiling * CEILING_HEADROOM / asked
    failed = scale
    for _ in range(_SCALE_SEARCH_STEPS):
        orders = _orders_at_scale(legs, levered_capital, scale)
        leverage = leverage_after(orders)
        if leverage <= ceiling:
            return orders
        failed = scale
        if not (math.isfinite(leverage) and leverage > 0):
            break
        scale *= ceiling * CEILING_HEADROOM / leverage

    # Rounding and minimums make leverage a step function of scale: fall back to bisection
    # between "everything targeted flat" (scale 0) and the last scale that failed.
    best = _orders_at_scale(legs, levered_capital, 0.0)
    if leverage_after(best) > ceiling:
        return ()
    low, high = 0.0, failed
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2
        orders = _orders_at_scale(legs, levered_capital, middle)
        if leverage_after(orders) <= ceiling:
            low, best = middle, orders
        else:
            high = middle
    return best


def estimated_cost(state: State, orders: tuple[Order, ...], *, slippage: float,
                   fee_rate: float) -> float:
    """Returns fees + slippage versus the mark for filling `orders`, in USDT (the same
    assumptions as `simulate_fills`)."""
    total = 0.0
    for order in orders:
        mark = state.marks.get(order.symbol)
        if mark is None or not mark > 0:
            continue
        price = fill_price(order, mark, slippage)
        total += order.quantity * abs(price - mark) + fee_rate * order.quantity * price
    return total


@dataclass(frozen=True, slots=True)
class RebalancePlan:
    """A proposed rebalance: the orders, why (drift), and what it does to the account."""

    orders: tuple[Order, ...]
    drift: Mapping[str, float]  # weight points per symbol, before the orders
    leverage_after: float  # effective leverage after the fills
    liquidation_distance_after: float  # first liquidation after, alone or all together; inf flat
    estimated_cost: float  # fees + slippage, USDT


def plan_rebalance(
    state: State,
    targets: Mapping[str, float],
    *,
    target_leverage: float,
    band: float,
    ceiling: float,
    slippage: float,
    fee_rate: float,
) -> RebalancePlan | None:
    """Returns a RebalancePlan when some |drift| exceeds `band` (weight points) and at least one
    order survives rounding, minimums and the leverage ceiling; otherwise None."""
    drift = weight_drift(state, targets, target_leverage)
    if not breaches_band(drift, band):
        return None
    orders = rebalance_orders(
        state, targets, target_leverage=target_leverage, ceiling=ceiling,
        slippage=slippage, fee_rate=fee_rate,
    )
    if not orders:
        return None
    after_state = simulate_fills(state, orders, slippage=slippage, fee_rate=fee_rate)
    after = assess(after_state)
    return RebalancePlan(
        orders=orders,
        drift=drift,
        leverage_after=after.effective_leverage,
        liquidation_distance_after=nearest_liquidation(after_state, after),
        estimated_cost=estimated_cost(state, orders, slippage=slippage, fee_rate=fee_rate),
    )
