"""What a crash would do to the account now: shock scenarios and the stress report.

A scenario moves every mark by a return chosen per base asset and asks three things: what the
account is worth afterwards, how much that is a loss, and which positions the exchange would have
liquidated on the way. Positions, wallet and tiers are left as they are; only marks move.

Units: money in USDT, returns and distances as fractions (-0.2 = a 20 % fall), times as UTC ISO.

Why checking the end point is enough. Take marks along the straight path m_i * (1 + t*r_i), t in
[0, 1] (returns >= -1). A book's margin balance is linear in t. Its maintenance margin is a sum of
`notional * rate - cum` over its positions, where notional is affine in t and, per position,
`notional * rate - cum` is convex in notional: the rate rises from tier to tier and `cum` makes it
continuous, so it is the upper envelope of its tiers' lines. Surplus = balance - maintenance is
therefore concave in t: if it is positive now (t = 0) and at the shocked marks (t = 1), it is
positive everywhere in between. A liquidation on the way would show at one of the two ends.

What a liquidation costs, as this module counts it. Binance closes a liquidated position and keeps
the margin that was left (it goes to the insurance fund); an account that went below zero is reset
to zero by that fund. So a liquidated book is worth exactly 0 afterwards, whatever the marks:
  * cross: if the cross margin balance (wallet - isolated margins + cross PnL) at the shocked marks
    is <= the cross maintenance margin, every cross position is liquidated and the whole cross
    balance is lost (losses beyond it are the insurance fund's, not the trader's);
  * isolated: a position whose margin + PnL is <= its own maintenance margin loses its margin.
This is the trader's worst case: Binance may liquidate a large position in parts and stop early.
It differs from "mark-to-market, floored at zero" by less than the book's maintenance margin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from cockpit.domain.liquidation import maintenance_margin
from cockpit.domain.risk import account_equity, assess, mark_price, tiers_for
from cockpit.domain.stress import account_liquidation_move
from cockpit.domain.types import MarginMode, PositionSide, State


@dataclass(frozen=True, slots=True)
class Scenario:
    """A price shock. `returns` maps a base asset ("BTC") to its return (fraction, >= -1);
    every other asset moves by `default_return`. `window` is the ISO 8601 interval
    "start/end" (UTC) a historical scenario was measured over, "" for a made-up shock."""

    name: str  # stable id, e.g. "mar-2020"
    label: str  # short text for a screen
    returns: Mapping[str, float]
    default_return: float
    window: str = ""

    def __post_init__(self) -> None:
        returns = {asset.upper(): float(value) for asset, value in self.returns.items()}
        for value in (*returns.values(), self.default_return):
            if not value >= -1.0:
                raise ValueError(f"scenario {self.name}: a return below -100% ({value!r})")
        object.__setattr__(self, "returns", MappingProxyType(returns))

    def return_for(self, base: str) -> float:
        """Returns the fraction the price of base asset `base` moves by in this scenario."""
        return self.returns.get(base.upper(), self.default_return)

    @property
    def window_start(self) -> str:
        """Returns the UTC ISO start of the historical window, "" for a made-up shock."""
        return self.window.partition("/")[0]

    @property
    def window_end(self) -> str:
        """Returns the UTC ISO end of the historical window, "" for a made-up shock."""
        return self.window.partition("/")[2]


SHOCKS: tuple[Scenario, ...] = tuple(
    Scenario(f"shock{round(r * 100)}", f"{round(r * 100)}% all", {}, r) for r in (-0.10, -0.20, -0.33)
)

# The worst 24 hours of three crashes, measured on Binance spot 4h bars of that calendar month
# (every bar used opens in the month): from a bar's close, the lowest low of the next 6 bars, the
# start chosen to make BTC's fall the deepest. Lows, not closes, because a liquidation happens at
# the low. ETH is measured over the SAME 24h (its own lowest low in those 6 bars; in all three it
# sits in the same 4h bar as BTC's) so the two fall together as they really did. Any other asset
# gets BTC's return: an altcoin usually fell at least as far, so this is the optimistic guess.
# Spot lows run a little below perpetual mark prices (marks are smoothed), so these are a shade
# harsher than the marks a liquidation engine saw. tests/domain/test_scenarios.py recomputes them
# from ../shared/data/market; the product carries them here so it runs without that folder.
HISTORICAL: tuple[Scenario, ...] = (
    Scenario("mar-2020", "Mar 2020 24h", {"BTC": -0.5064, "ETH": -0.5303}, -0.5064,
             "2020-03-12T04:00:00Z/2020-03-13T04:00:00Z"),
    Scenario("may-2021", "May 2021 24h", {"BTC": -0.3066, "ETH": -0.4451}, -0.3066,
             "2021-05-18T20:00:00Z/2021-05-19T20:00:00Z"),
    Scenario("nov-2022", "Nov 2022 24h", {"BTC": -0.1766, "ETH": -0.2296}, -0.1766,
             "2022-11-07T20:00:00Z/2022-11-08T20:00:00Z"),
)

ALL_SCENARIOS: tuple[Scenario, ...] = SHOCKS + HISTORICAL

# A short is hurt by a rise: the same sizes upward, shown only when the book holds a short.
UP_SHOCKS: tuple[Scenario, ...] = tuple(
    Scenario(f"shock+{round(r * 100)}", f"+{round(r * 100)}% all", {}, r) for r in (0.10, 0.20, 0.33)
)


def scenarios_for(state: State) -> tuple[Scenario, ...]:
    """Returns ALL_SCENARIOS, followed by UP_SHOCKS when any open position is short."""
    has_short = any(p.quantity < 0 for p in state.positions.values())
    return ALL_SCENARIOS + UP_SHOCKS if has_short else ALL_SCENARIOS


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    """One scenario applied to the account. Money in USDT; `loss` > 0 is money lost (< 0 a gain)."""

    name: str
    label: str
    equity_before: float  # wallet + unrealized PnL at today's marks
    equity_after: float  # at the shocked marks, liquidated books counted as 0
    loss: float  # equity_before - equity_after
    loss_fraction: float  # loss / equity_before; inf if equity_before <= 0 and loss > 0
    liquidated: tuple[str, ...]  # symbols the exchange would liquidate, sorted
    marks_after: Mapping[str, float]  # shocked mark of every open position's symbol


@dataclass(frozen=True, slots=True)
class PositionStress:
    """How far one position is from liquidation if its price alone moves against it."""

    symbol: str
    side: PositionSide
    quantity: float  # signed base units
    margin_mode: MarginMode
    mark_price: float  # USDT
    liquidation_price: float  # USDT; 0.0 when it cannot be liquidated
    liquidation_distance: float  # fraction of the mark; inf when no move liquidates


@dataclass(frozen=True, slots=True)
class StressReport:
    """The stress panel for one account. Computed at `marks`; recompute when `key` changes."""

    key: tuple  # positions_key(state) it was computed for
    timestamp: float  # the state's time, seconds since the epoch (UTC)
    marks: Mapping[str, float]  # the marks the numbers are computed at, USDT
    equity: float  # USDT
    positions: tuple[PositionStress, ...]  # sorted by symbol
    portfolio_move: float  # common adverse move that liquidates the cross book; inf if none
    scenarios: tuple[ScenarioResult, ...]  # SHOCKS then HISTORICAL


def base_asset(state: State, symbol: str) -> str:
    """Returns the base asset of `symbol` ("BTC" for "BTC/USDT:USDT"), from the instrument when
    known, else read from the symbol itself."""
    instrument = state.instruments.get(symbol)
    if instrument is not None and instrument.base:
        return instrument.base.upper()
    head = symbol.split("/")[0].split(":")[0].upper()
    if "/" not in symbol and head.endswith("USDT") and len(head) > 4:
        head = head[:-4]  # exchange ids like "BTCUSDT"
    return head


def _book_value(balance: float, maintenance: float, balance_now: float, maintenance_now: float,
                has_positions: bool) -> tuple[float, bool]:
    """(value after, liquidated?) of one margin book; a book already under water now counts too."""
    if has_positions and (balance <= maintenance or balance_now <= maintenance_now):
        return 0.0, True
    return balance, False


def apply_scenario(state: State, scenario: Scenario) -> ScenarioResult:
    """Returns what `scenario` does to the account: equity before and after and the loss in
    USDT, the loss as a fraction of equity, the liquidated symbols and the shocked marks.
    Liquidated books count as worth 0 (see the module docstring). O(positions)."""
    equity_before = account_equity(state)
    marks_after: dict[str, float] = {}
    liquidated: list[str] = []
    cross_wallet = state.balance.wallet
    cross_pnl = cross_mm = cross_pnl_now = cross_mm_now = 0.0
    cross_symbols: list[str] = []
    isolated_value = 0.0
    for symbol in sorted(state.positions):
        position = state.positions[symbol]
        if position.quantity == 0:
            continue
        tiers = tiers_for(state, symbol)
        now = mark_price(state, position)
        after = max(0.0, now * (1.0 + scenario.return_for(base_asset(state, symbol))))
        marks_after[symbol] = after
        pnl, pnl_now = position.unrealized_pnl(after), position.unrealized_pnl(now)
        mm = maintenance_margin(position.notional(after), tiers)
        mm_now = maintenance_margin(position.notional(now), tiers)
        if position.margin_mode == "isolated":
            cross_wallet -= position.isolated_margin  # it backs only its own position
            margin = position.isolated_margin
            value, gone = _book_value(margin + pnl, mm, margin + pnl_now, mm_now, True)
            isolated_value += value
            if gone:
                liquidated.append(symbol)
        else:
            cross_symbols.append(symbol)
            cross_pnl += pnl
            cross_mm += mm
            cross_pnl_now += pnl_now
            cross_mm_now += mm_now
    cross_value, cross_gone = _book_value(cross_wallet + cross_pnl, cross_mm,
                                          cross_wallet + cross_pnl_now, cross_mm_now,
                                          bool(cross_symbols))
    if cross_gone:
        liquidated.extend(cross_symbols)
    equity_after = cross_value + isolated_value
    loss = equity_before - equity_after
    if equity_before > 0:
        fraction = loss / equity_before
    else:
        fraction = math.inf if loss > 0 else 0.0
    return ScenarioResult(
        name=scenario.name,
        label=scenario.label,
        equity_before=equity_before,
        equity_after=equity_after,
        loss=loss,
        loss_fraction=fraction,
        liquidated=tuple(sorted(liquidated)),
        marks_after=MappingProxyType(marks_after),
    )


def positions_key(state: State) -> tuple:
    """Returns a hashable summary of what the stress report depends on besides marks: the
    wallet (USDT) and each open position's (symbol, quantity, entry, margin mode, isolated
    margin). Equal keys mean the positions did not change."""
    return (
        state.balance.wallet,
        tuple(
            (p.symbol, p.quantity, p.entry_price, p.margin_mode, p.isolated_margin)
            for _, p in sorted(state.positions.items())
            if p.quantity != 0
        ),
    )


def stress_report(state: State, scenarios: tuple[Scenario, ...] = ALL_SCENARIOS) -> StressReport:
    """Returns the StressReport at the state's marks: each position's own liquidation price and
    distance (fraction), the common adverse move that liquidates the cross book (fraction, inf if
    none; isolated positions are not part of it), and every scenario's ScenarioResult in order
    (SHOCKS then HISTORICAL by default). O(positions * scenarios); meant to run when
    `positions_key` changes, not on every tick."""
    risk = assess(state)
    modes = {s: p.margin_mode for s, p in state.positions.items()}
    rows = tuple(
        PositionStress(
            symbol=row.symbol,
            side=row.side,
            quantity=row.quantity,
            margin_mode=modes[row.symbol],
            mark_price=row.mark_price,
            liquidation_price=row.liquidation_price,
            liquidation_distance=row.liquidation_distance,
        )
        for row in risk.positions
    )
    return StressReport(
        key=positions_key(state),
        timestamp=state.timestamp,
        marks=MappingProxyType({row.symbol: row.mark_price for row in rows}),
        equity=risk.equity,
        positions=rows,
        portfolio_move=account_liquidation_move(state),
        scenarios=tuple(apply_scenario(state, scenario) for scenario in scenarios),
    )
