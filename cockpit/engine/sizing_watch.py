"""Feeds the sizing rules (`cockpit.domain.sizing`): the daily closes the regime is read from, the
equity peak the anti-martingale guard measures drawdown against, and the per-asset volatility.

The answer, `Sizing`, is the gross leverage the policy may aim for now. It only ever lowers the
trader's own `portfolio.target_leverage`:

    book sigma   = sum |w_i| * sigma_i / sum |w_i|     (4h, correlation taken as 1: crypto's
                                                         correlations go to 1 in a crash)
    forecast     = book sigma * sqrt(6 * 365)           annualized, like sizing.target_volatility
    leverage     = sizing.target_leverage(target_volatility, forecast, regime, ceiling = the
                   trader's gross target, drawdown below the peak, Kelly when configured)

The regime is the rule-based one (`cockpit.domain.regime_rules`) on the daily closes of the
largest target (the market proxy, BTC by default), until the learned classifier exists. With
fewer than 220 days of closes the trend is unknown and the rules say "consolidation" (x0.5):
a cockpit that does not know the market sizes as if it were going nowhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from cockpit.config import Config
from cockpit.domain.regime_rules import RegimeReading, classify_regime
from cockpit.domain.sizing import SizingDecision, drawdown, fractional_kelly, target_leverage
from cockpit.domain.stops import stop_distance

DAY_SECONDS = 86_400
KEPT_DAYS = 240  # 200-day trend + 20-day slope + a margin
PERIODS_4H_PER_YEAR = 6 * 365
# Until a symbol has a day of remembered prices its 4h sigma is taken as 2 %: a little above BTC's
# and ETH's usual, so sizing and stops err on the cautious side.
DEFAULT_SIGMA_4H = 0.02


@dataclass(frozen=True, slots=True)
class Sizing:
    """The sizing answer and its inputs. `decision.leverage` is gross notional / trading equity."""

    decision: SizingDecision
    regime: RegimeReading | None  # None before the first close of the market proxy
    book_sigma_4h: float  # weighted 4h volatility of the target book at 1x, fraction
    gross_weight: float  # sum of |target weights|
    regime_aware: bool = True  # False: the regime is shown but does not scale the aim

    @property
    def multiplier(self) -> float:
        """Returns the rebalancer's target leverage (levered capital / equity) that gives
        `decision.leverage` of gross exposure: leverage / sum |w|."""
        return self.decision.leverage / self.gross_weight if self.gross_weight > 0 else 0.0

    def numbers(self) -> dict[str, float]:
        """Returns the figures for a proposal's reason numbers."""
        numbers = self.decision.numbers()
        numbers["book_sigma_4h"] = self.book_sigma_4h
        return numbers

    @property
    def bound_by(self) -> str:
        """Returns what set the aim, in words: "volatility target", "Kelly", "your target
        leverage" or the drawdown guard with its numbers."""
        d = self.decision
        return {
            "volatility": "volatility target",
            "kelly": "Kelly",
            "ceiling": "your target leverage",
            "anti_martingale": f"drawdown {d.drawdown:.1%} > {d.max_drawdown:.0%}: no increase",
        }[d.binding_cap]

    def describe(self) -> str:
        """Returns one line: the aim (gross leverage), what set it and the regime, e.g.
        "aim 1.07x (volatility target): regime consolidation x0.50"."""
        d = self.decision
        regime = f"regime {d.regime} x{d.regime_multiplier:.2f}" if self.regime_aware else f"regime {d.regime} (not applied)"
        return f"aim {d.leverage:.2f}x ({self.bound_by}): {regime}"


class SizingWatch:
    """Remembers what sizing needs between updates."""

    def __init__(self, config: Config, targets: Mapping[str, float], *, peak_equity: float = 0.0) -> None:
        self._config = config
        self._targets = dict(targets)
        self._proxy = max(self._targets, key=lambda s: (abs(self._targets[s]), s)) if self._targets else None
        self._closes: dict[int, float] = {}  # UTC day number -> the last price of that day
        self._seed_peak = peak_equity if math.isfinite(peak_equity) else 0.0  # from the journal, until dated
        self._day_peaks: dict[int, float] = {}  # UTC day number -> the highest equity that day

    @property
    def peak_equity(self) -> float:
        """Returns the highest equity (USDT) of the last `sizing.drawdown_window_days` days: the
        peak the anti-martingale guard measures from. A peak that old no longer holds the book
        back, so an account stopped out flat in a drawdown can trade again after the window."""
        return max(self._day_peaks.values(), default=self._seed_peak)

    def observe(self, market_time: float, marks: Mapping[str, float], equity: float) -> None:
        """Remembers the proxy's price as its day's close so far, and a new equity peak (USDT)."""
        price = marks.get(self._proxy) if self._proxy else None
        if price is not None and price > 0 and math.isfinite(market_time):
            day = int(market_time // DAY_SECONDS)
            if not self._closes or day >= max(self._closes):
                self._closes[day] = price
                if len(self._closes) > KEPT_DAYS:
                    del self._closes[min(self._closes)]
        if not (math.isfinite(equity) and math.isfinite(market_time)):
            return
        day = int(market_time // DAY_SECONDS)
        if not self._day_peaks and self._seed_peak > 0:
            self._day_peaks[day] = self._seed_peak  # the journal's peak counts from the restart
        if day not in self._day_peaks:  # a new day: the oldest may have left the window
            window = self._config.sizing.drawdown_window_days
            for old in [d for d in self._day_peaks if d <= day - window]:
                del self._day_peaks[old]
        self._day_peaks[day] = max(self._day_peaks.get(day, equity), equity)

    def regime(self) -> RegimeReading | None:
        """Returns the rule-based regime on the remembered daily closes, or None before any."""
        if not self._closes:
            return None
        return classify_regime([self._closes[day] for day in sorted(self._closes)], bars_per_day=1.0)

    def decide(self, *, equity: float, trading_equity: float, gross_notional: float,
               sigmas: Mapping[str, float | None], regime: RegimeReading | None = None) -> Sizing | None:
        """Returns the Sizing for now, or None when there is nothing to size (no targets, or no
        trading equity). `equity` is the whole account's, `trading_equity` what is left after the
        reserve (both USDT); `gross_notional` the book's gross position value (USDT); `sigmas` the
        4h volatility per symbol (fraction; None = not known yet, the default 2 % is used);
        `regime` the forecasters' regime (learned, or the trader's override), else the rules on
        the remembered daily closes decide."""
        gross_weight = sum(abs(w) for w in self._targets.values())
        if gross_weight <= 0 or not trading_equity > 0:
            return None
        sizing, portfolio = self._config.sizing, self._config.portfolio
        sigma = {symbol: sigmas.get(symbol) or DEFAULT_SIGMA_4H for symbol in self._targets}
        book_sigma = sum(abs(w) * sigma[s] for s, w in self._targets.items()) / gross_weight
        reading = regime or self.regime()
        kelly = stop = None
        if sizing.uses_kelly:
            kelly = fractional_kelly(sizing.kelly_win_probability, sizing.kelly_win_loss_ratio, sizing.kelly_fraction)
            stop = sum(abs(w) * stop_distance(sigma[s]) for s, w in self._targets.items()) / gross_weight
        decision = target_leverage(
            target_volatility=sizing.target_volatility,
            forecast_volatility=book_sigma * math.sqrt(PERIODS_4H_PER_YEAR),
            regime=reading.regime if reading else "consolidation",
            regime_aware=sizing.regime_aware,
            ceiling=portfolio.target_leverage * gross_weight,
            current_leverage=gross_notional / trading_equity,
            drawdown=drawdown(equity, self.peak_equity) if self.peak_equity > 0 else 0.0,
            max_drawdown=sizing.max_drawdown,
            kelly_fraction=kelly,
            stop_distance=stop,
        )
        return Sizing(decision, reading, book_sigma, gross_weight, sizing.regime_aware)
