"""Mark-to-market, leverage and liquidation for a whole account, and the pre-trade leverage check.

Units: money in USDT, quantities in base units, leverage as a multiple of equity (3.0 = 3x),
distances as fractions of the mark price.

Margin model (Binance one-way mode): `Balance.wallet` is the whole wallet, isolated margins
included. Equity is wallet + every position's unrealized PnL. A cross position is backed by the
*cross* wallet, i.e. the wallet less the margin locked in isolated positions, plus the other cross
positions' PnL; an isolated position is backed by its own margin only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping

from cockpit.domain.account import FLAT_EPSILON, settle_fill
from cockpit.domain.liquidation import (
    liquidation_distance,
    liquidation_price_tiered,
    maintenance_margin,
)
from cockpit.domain.tiers import DEFAULT_TIERS
from cockpit.domain.types import Fill, MaintenanceTier, Order, Position, PositionSide, State

# Leverage comparisons allow for float residue from summing notionals.
LEVERAGE_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class PositionRisk:
    """One position marked to market. Money in USDT; `quantity` signed (+ long, - short)."""

    symbol: str
    side: PositionSide
    quantity: float
    entry_price: float
    mark_price: float
    notional: float  # |quantity| * mark
    unrealized_pnl: float
    leverage: float  # notional / account equity; inf when equity <= 0
    maintenance_margin: float
    liquidation_price: float  # 0.0 when it cannot be liquidated
    liquidation_distance: float  # fraction of mark to an adverse move that liquidates


@dataclass(frozen=True, slots=True)
class RiskSnapshot:
    """The account's risk at one moment. Money in USDT, leverage as a multiple of equity."""

    equity: float  # wallet + total unrealized PnL
    wallet: float
    unrealized_pnl: float
    gross_notional: float  # sum of |notional|
    net_notional: float  # sum of signed notional (long - short)
    effective_leverage: float  # gross / equity; 0.0 flat; inf when equity <= 0 with positions
    maintenance_margin: float
    margin_ratio: float  # maintenance / equity; 1.0 or more means liquidation
    nearest_liquidation_distance: float  # min over positions; inf when flat
    positions: tuple[PositionRisk, ...]  # sorted by symbol

    def position(self, symbol: str) -> PositionRisk | None:
        """Returns the risk of the position in `symbol`, or None when flat there."""
        for row in self.positions:
            if row.symbol == symbol:
                return row
        return None


def mark_price(state: State, position: Position) -> float:
    """Returns the price a position is valued at, in USDT: the mark, or its entry price when the
    mark is missing or not positive."""
    mark = state.marks.get(position.symbol)
    if mark is not None and mark > 0:
        return mark
    return position.entry_price


def tiers_for(state: State, symbol: str) -> tuple[MaintenanceTier, ...]:
    """Returns the maintenance tiers of `symbol`, or DEFAULT_TIERS when the instrument is unknown."""
    instrument = state.instruments.get(symbol)
    if instrument is None or not instrument.tiers:
        return DEFAULT_TIERS
    return instrument.tiers


def account_equity(state: State) -> float:
    """Returns wallet + total unrealized PnL at the marks, in USDT (cheap: no liquidation math)."""
    total = state.balance.wallet
    for position in state.positions.values():
        total += position.unrealized_pnl(mark_price(state, position))
    return total


def _ratio(numerator: float, equity: float) -> float:
    if equity > 0:
        return numerator / equity
    return math.inf if numerator > 0 else 0.0


def _leverage(gross: float, equity: float, has_positions: bool) -> float:
    if not has_positions:
        return 0.0
    return gross / equity if equity > 0 else math.inf


def _distance(side: PositionSide, mark: float, liquidation: float) -> float:
    if not mark > 0:
        return 0.0  # no usable price at all: report the worst case rather than crash the loop
    return liquidation_distance(side, mark, liquidation)


def assess(state: State) -> RiskSnapshot:
    """Returns the account's RiskSnapshot: every position marked to market (missing marks fall
    back to entry price) with its tiered liquidation price and distance. O(positions)."""
    wallet = state.balance.wallet
    rows = []
    cross_mm = cross_upnl = locked_isolated = 0.0
    for symbol in sorted(state.positions):
        position = state.positions[symbol]
        if position.quantity == 0:
            continue
        mark = mark_price(state, position)
        tiers = tiers_for(state, symbol)
        notional = abs(position.quantity) * mark
        upnl = position.unrealized_pnl(mark)
        maintenance = maintenance_margin(notional, tiers)
        rows.append((position, mark, tiers, notional, upnl, maintenance))
        if position.margin_mode == "isolated":
            locked_isolated += position.isolated_margin
        else:
            cross_mm += maintenance
            cross_upnl += upnl

    total_upnl = sum(row[4] for row in rows)
    equity = wallet + total_upnl
    cross_wallet = wallet - locked_isolated
    risks = []
    for position, mark, tiers, notional, upnl, maintenance in rows:
        isolated = position.margin_mode == "isolated"
        liquidation = liquidation_price_tiered(
            side=position.side,
            quantity=abs(position.quantity),
            entry_price=position.entry_price,
            wallet_balance=position.isolated_margin if isolated else cross_wallet,
            tiers=tiers,
            margin_mode="isolated" if isolated else "cross",
            other_maintenance_margin=0.0 if isolated else cross_mm - maintenance,
            other_unrealized_pnl=0.0 if isolated else cross_upnl - upnl,
        )
        risks.append(
            PositionRisk(
                symbol=position.symbol,
                side=position.side,
                quantity=position.quantity,
                entry_price=position.entry_price,
                mark_price=mark,
                notional=notional,
                unrealized_pnl=upnl,
                leverage=notional / equity if equity > 0 else math.inf,
                maintenance_margin=maintenance,
                liquidation_price=liquidation,
                liquidation_distance=_distance(position.side, mark, liquidation),
            )
        )

    gross = sum(row.notional for row in risks)
    total_mm = sum(row.maintenance_margin for row in risks)
    return RiskSnapshot(
        equity=equity,
        wallet=wallet,
        unrealized_pnl=total_upnl,
        gross_notional=gross,
        net_notional=sum(math.copysign(row.notional, row.quantity) for row in risks),
        effective_leverage=_leverage(gross, equity, bool(risks)),
        maintenance_margin=total_mm,
        margin_ratio=_ratio(total_mm, equity),
        nearest_liquidation_distance=min(
            (row.liquidation_distance for row in risks), default=math.inf
        ),
        positions=tuple(risks),
    )


def fill_price(order: Order, mark: float, slippage: float) -> float:
    """Returns the assumed fill price in USDT: a buy pays mark*(1+slippage), a sell gets
    mark*(1-slippage)."""
    return mark * (1.0 + slippage) if order.side == "buy" else mark * (1.0 - slippage)


def simulate_fills(
    state: State, orders: Iterable[Order], *, slippage: float, fee_rate: float
) -> State:
    """Returns the hypothetical State after every order fills in turn at the slipped mark, paying
    fee_rate * fill notional (USDT). Orders for symbols without a positive mark, and resting stop
    orders, are skipped; marks are unchanged, so the slippage shows up as unrealized loss."""
    balance, positions = state.balance, dict(state.positions)
    for order in orders:
        mark = state.marks.get(order.symbol)
        if mark is None or not mark > 0 or order.quantity <= 0:
            continue
        if order.order_type == "stop_market":
            continue  # a protective stop rests; it fills only if the market reaches it
        price = fill_price(order, mark, slippage)
        fill = Fill(
            symbol=order.symbol,
            side=order.side,
            quantity=order.quantity,
            price=price,
            fee=fee_rate * order.quantity * price,
            timestamp=state.timestamp,
            client_order_id=order.client_order_id,
        )
        balance, positions, _ = settle_fill(balance, positions, fill)
    return state.with_account(balance, positions)


def check_leverage_ceiling(
    state: State,
    orders: Iterable[Order],
    *,
    ceiling: float,
    slippage: float,
    fee_rate: float,
) -> str | None:
    """Returns None when the orders may go, else a denial like
    `DENIED leverage_after=3.42 > ceiling=3.00`.

    Allowed when effective leverage after the fills is <= ceiling (within 1e-9), or when it is
    strictly lower than before: a reduction is never blocked, so an account already above the
    ceiling can always de-lever.
    """
    orders = tuple(orders)
    after = assess(simulate_fills(state, orders, slippage=slippage, fee_rate=fee_rate))
    leverage_after = after.effective_leverage
    if leverage_after <= ceiling + LEVERAGE_TOLERANCE:
        return None
    if leverage_after < assess(state).effective_leverage:
        return None
    return f"DENIED leverage_after={leverage_after:.2f} > ceiling={ceiling:.2f}"


def is_risk_reducing(position_quantity: float, order: Order) -> bool:
    """Returns True when `order` only shrinks |position| (closing it exactly counts) without
    flipping it; False for an order on a flat position, one that adds, or one that flips."""
    change = order.signed_quantity
    if position_quantity == 0 or change == 0 or position_quantity * change > 0:
        return False
    return abs(change) <= abs(position_quantity) + FLAT_EPSILON
