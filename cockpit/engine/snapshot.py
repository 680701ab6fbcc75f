"""What the engine publishes: one immutable snapshot per update, read by the screen."""

from __future__ import annotations

from dataclasses import dataclass, field

from cockpit.domain.breakers import BreakerState
from cockpit.domain.risk import RiskSnapshot
from cockpit.domain.scenarios import StressReport
from cockpit.domain.types import Gate, Proposal, RebalanceMode, State
from cockpit.engine.forecast_board import ForecastBoard
from cockpit.engine.hedge_watch import HedgeReading
from cockpit.engine.sizing_watch import Sizing


@dataclass(frozen=True, slots=True)
class EngineSnapshot:
    """Everything the screen needs, at one instant. `version` grows with every publish."""

    version: int
    taken_at: float  # engine clock (epoch s) when the snapshot was built
    state: State
    risk: RiskSnapshot
    account_liquidation_move: float  # common adverse move that liquidates the cross book (fraction)
    stress: StressReport  # redone when positions change or a held price moved 1%, not per tick
    gate: Gate
    mode: RebalanceMode
    interval_hours: float
    next_check_at: float | None  # market time (epoch s) of the next interval check
    source_label: str  # LIVE / PAPER / REPLAY / SYNTHETIC
    source_note: str  # e.g. "offline fallback"
    account: str
    proposals: tuple[Proposal, ...]
    leverage_ceiling: float
    target_leverage: float  # the sized aim: levered capital / equity, after the reserve
    in_flight: int  # orders sent and not yet answered
    last_tick_at: float | None  # wall clock of the newest price
    market_time: float | None  # timestamp of the newest price
    stale: bool
    notice: str = ""  # the last thing the engine wants the trader to read
    drift: dict[str, float] = field(default_factory=dict)
    breakers: tuple[BreakerState, ...] = ()  # every latch, engaged ones first
    sizing: Sizing | None = None  # the sized aim and the numbers behind it
    hedge: HedgeReading | None = None  # None without a hedge leg or while its window fills
    reserve: float = 0.0  # USDT ring-fenced from sizing
    forecasts: ForecastBoard = field(default_factory=ForecastBoard)  # volatility, regimes, drift

    @property
    def aim_leverage(self) -> float | None:
        """Returns the gross leverage (notional / equity) the sized aim asks of the core book,
        or None before sizing has run."""
        if self.sizing is None:
            return None
        return self.target_leverage * self.sizing.gross_weight

    def seconds_to_next_check(self) -> float | None:
        """Returns market-time seconds until the next interval check, or None in continuous mode."""
        if self.mode is not RebalanceMode.INTERVAL or self.next_check_at is None:
            return None
        if self.market_time is None:
            return None
        return max(0.0, self.next_check_at - self.market_time)
