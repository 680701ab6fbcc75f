"""The rebalancing policy: when to look for drift (continuous or interval) and what to propose.

It proposes; it never journals or sends. The engine decides whether a proposal may be made now
(gate, stale prices, one pending at a time, vetoes) and records it.
"""

from __future__ import annotations

from typing import Callable, Mapping

from cockpit.config import Config
from cockpit.domain.rebalance import RebalancePlan, estimated_cost, plan_rebalance
from cockpit.domain.risk import RiskSnapshot, assess, simulate_fills
from cockpit.domain.stops import protective_stop, stop_price
from cockpit.domain.stress import nearest_liquidation
from cockpit.domain.types import Order, Proposal, RebalanceMode, State
from cockpit.engine.sizing_watch import DEFAULT_SIGMA_4H, Sizing


def target_symbols(config: Config) -> dict[str, float]:
    """Returns the configured target weights keyed by perpetual symbol ("BTC" -> "BTC/USDT:USDT")."""
    return {f"{base}/USDT:USDT": weight for base, weight in config.portfolio.targets.items()}


def _base(symbol: str) -> str:
    return symbol.split("/")[0]


def protective_stops(state: State, orders: tuple[Order, ...], sigmas: Mapping[str, float | None],
                     *, slippage: float, fee_rate: float) -> tuple[tuple[Order, ...], dict[str, float]]:
    """Returns (a reduce-only stop for every position the orders open or enlarge, the figures
    behind each: 4h sigma and stop price). The stop sits a volatility-scaled distance from the
    mark and always at least 2 % of the mark inside the liquidation price after the fills; a
    position already too close to liquidation for that gets no stop (the figures say so)."""
    after_state = simulate_fills(state, orders, slippage=slippage, fee_rate=fee_rate)
    after = assess(after_state)
    stops, numbers = [], {}
    for symbol in sorted({o.symbol for o in orders if o.order_type == "market"}):
        before = state.positions.get(symbol)
        row = after.position(symbol)
        if row is None or (before is not None and abs(row.quantity) <= abs(before.quantity)):
            continue  # closed or shrunk: the stop already resting still covers it
        sigma = sigmas.get(symbol) or DEFAULT_SIGMA_4H
        instrument = state.instruments.get(symbol)
        level = stop_price(row.side, row.mark_price, sigma, row.liquidation_price,
                           tick_size=instrument.tick_size if instrument else None)
        numbers[f"sigma4h_{_base(symbol)}"] = sigma
        if not level.feasible:
            numbers[f"stop_{_base(symbol)}"] = 0.0
            continue
        numbers[f"stop_{_base(symbol)}"] = level.price
        stops.append(protective_stop(symbol, row.quantity, level.price))
    return tuple(stops), numbers


class RebalancePolicy:
    """Holds the mode and the interval schedule (in market time) and builds rebalance proposals."""

    def __init__(
        self,
        config: Config,
        targets: Mapping[str, float],
        *,
        mode: RebalanceMode,
        proposal_counter: int,
        clock: Callable[[], float],
    ) -> None:
        self._config = config
        self.targets = dict(targets)
        self.mode = mode
        self.next_check_at: float | None = None  # market time; None = check at the next price
        self._counter = proposal_counter
        self._clock = clock

    @property
    def _interval_seconds(self) -> float:
        return self._config.rebalance.interval_hours * 3600

    def toggle(self, market_time: float | None) -> RebalanceMode:
        """Switches continuous <-> interval; returns the new mode. Interval counts from now."""
        if self.mode is RebalanceMode.CONTINUOUS:
            self.mode = RebalanceMode.INTERVAL
            if market_time is not None:
                self.next_check_at = market_time + self._interval_seconds
        else:
            self.mode = RebalanceMode.CONTINUOUS
        return self.mode

    def check_soon(self) -> None:
        """Makes the next price trigger a check (after an expiry or a resumed gate)."""
        self.next_check_at = None

    def ready(self, state: State) -> bool:
        """Returns True when every target has a price (a scheduled check waits for that)."""
        return all(symbol in state.marks for symbol in self.targets)

    def due(self, market_time: float | None) -> bool:
        """Returns True if a check is due now, and then books the next interval check."""
        if self.mode is RebalanceMode.CONTINUOUS:
            return True
        if market_time is None:
            return False
        if self.next_check_at is None or market_time >= self.next_check_at:
            self.next_check_at = market_time + self._interval_seconds
            return True
        return False

    def plan(self, state: State, target_leverage: float, targets: Mapping[str, float] | None = None) -> RebalancePlan | None:
        """Returns the rebalance the drift band calls for now, or None. `target_leverage` is
        levered capital / equity (the sized aim, after the reserve); `targets` default to the
        configured weights (a hedge leg adds one)."""
        portfolio = self._config.portfolio
        if not target_leverage > 0:
            return None
        return plan_rebalance(
            state,
            targets if targets is not None else self.targets,
            target_leverage=target_leverage,
            band=portfolio.drift_band,
            ceiling=portfolio.leverage_ceiling,
            slippage=self._config.paper.slippage,
            fee_rate=self._config.paper.taker_fee,
        )

    def proposal(self, plan: RebalancePlan, state: State, risk: RiskSnapshot,
                 sigmas: Mapping[str, float | None] | None = None, sizing: Sizing | None = None,
                 extra: Mapping[str, float] | None = None, note: str = "") -> Proposal:
        """Returns the Proposal for `plan`, with the numbers that justify it and its expiry. A
        reduce-only protective stop follows every position the plan opens or enlarges, sized
        from `sigmas` (4h volatility per symbol, fraction). `sizing` (the aim the plan was made
        for) and `extra` (e.g. the hedge ratio) add their figures to the reason, `note` a clause."""
        band = self._config.portfolio.drift_band
        worst_symbol, worst_drift = max(plan.drift.items(), key=lambda item: abs(item[1]))
        numbers = {f"drift_{_base(symbol)}": value for symbol, value in plan.drift.items()}
        numbers.update(band=band, equity=risk.equity, leverage_before=risk.effective_leverage)
        numbers.update(sizing.numbers() if sizing else {})
        numbers.update(extra or {})
        paper = self._config.paper
        stops, stop_numbers = protective_stops(state, plan.orders, sigmas or {},
                                               slippage=paper.slippage, fee_rate=paper.taker_fee)
        numbers.update(stop_numbers)
        return self._new(
            "rebalance",
            plan.orders + stops,
            f"drift {_base(worst_symbol)} {worst_drift * 100:+.1f} pts beyond band {band * 100:.1f}"
            + (f"; {sizing.describe()}" if sizing else "") + (f"; {note}" if note else ""),
            numbers,
            state,
            estimated_cost=plan.estimated_cost,
            leverage_after=plan.leverage_after,
            liquidation_distance_after=plan.liquidation_distance_after,
        )

    def risk_proposal(
        self, kind: str, orders: tuple[Order, ...], reason: str, numbers: Mapping[str, float], state: State
    ) -> Proposal:
        """Returns a Proposal of `kind` (e.g. "breaker") for reducing `orders`, with the leverage,
        liquidation distance and cost they would leave, simulated at the current marks."""
        paper = self._config.paper
        after_state = simulate_fills(state, orders, slippage=paper.slippage, fee_rate=paper.taker_fee)
        after = assess(after_state)
        return self._new(
            kind,
            orders,
            reason,
            numbers,
            state,
            estimated_cost=estimated_cost(state, orders, slippage=paper.slippage, fee_rate=paper.taker_fee),
            leverage_after=after.effective_leverage,
            liquidation_distance_after=nearest_liquidation(after_state, after),
        )

    def _new(self, kind: str, orders: tuple[Order, ...], reason: str, numbers: Mapping[str, float],
             state: State, *, estimated_cost: float, leverage_after: float,
             liquidation_distance_after: float) -> Proposal:
        self._counter += 1
        now = self._clock()
        return Proposal(
            id=f"P-{self._counter}",
            kind=kind,
            orders=orders,
            reason=reason,
            reason_numbers=dict(numbers),
            estimated_cost=estimated_cost,
            leverage_after=leverage_after,
            liquidation_distance_after=liquidation_distance_after,
            created_at=now,
            expires_at=now + self._config.proposals.ttl_seconds,
            # Leverage after depends on every price held, targeted or traded (a hedge not yet held).
            reference_prices={
                symbol: state.marks[symbol]
                for symbol in set(self.targets) | set(state.positions) | {o.symbol for o in orders}
                if symbol in state.marks
            },
        )
