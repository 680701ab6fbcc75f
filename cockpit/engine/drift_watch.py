"""The drift monitor: is the strategy still earning, and are the models still forecasting as
well as they did when they were evaluated?

- Strategy: the annualized Sharpe ratio of daily equity returns over the last `sharpe_days`
  (UTC day closes of equity, sqrt(365) annualization: crypto trades every day). Below
  `min_sharpe` it warns.
- Models: for each asset, the model in use's mean 24h QLIKE over its last week of scored
  forecasts, against the mean it had in the out-of-sample evaluation that chose it. Beyond
  `drift_loss_ratio` times that, it warns. A week must be scored first (42 forecasts).

A warning is raised once, stays on the board while it holds, and clears when it no longer does;
the engine journals both moments.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from cockpit.config import Config

DAY_SECONDS = 86_400
MIN_SCORED = 42  # a week of 4h forecasts before a model's loss is judged
MIN_SHARPE_DAYS = 7  # fewer daily returns than this say nothing about a Sharpe ratio


class DriftWatch:
    """Daily equity closes and the active warnings, keyed by what they are about."""

    def __init__(self, config: Config) -> None:
        self._config = config.models
        self._equity: dict[int, float] = {}  # UTC day number -> that day's last equity (USDT)
        self.active: dict[str, str] = {}  # subject -> warning text

    def observe(self, market_time: float, equity: float) -> None:
        """Remembers `equity` (USDT) as its UTC day's close so far."""
        if not (math.isfinite(market_time) and math.isfinite(equity) and equity > 0):
            return
        day = int(market_time // DAY_SECONDS)
        if self._equity and day < max(self._equity):
            return
        self._equity[day] = equity
        while len(self._equity) > self._config.sharpe_days + 1:
            del self._equity[min(self._equity)]

    def sharpe(self) -> float:
        """Returns the annualized Sharpe ratio of daily equity log returns over the window
        (unitless; NaN with fewer than a week of returns or no variation)."""
        closes = np.array([self._equity[d] for d in sorted(self._equity)], dtype=np.float64)
        if closes.size - 1 < MIN_SHARPE_DAYS:
            return math.nan
        daily = np.diff(np.log(closes))
        spread = float(np.std(daily, ddof=1))
        if not spread > 0:
            return math.nan
        return float(np.mean(daily)) / spread * math.sqrt(365.0)

    def check(self, models: Iterable[tuple[str, str, float, float, int]]) -> tuple[list[str], list[str]]:
        """Updates the warnings from the Sharpe ratio and `models` (symbol, model, rolling 24h
        QLIKE, evaluated QLIKE, forecasts scored); returns (newly raised, newly cleared) texts."""
        now: dict[str, str] = {}
        sharpe, floor = self.sharpe(), self._config.min_sharpe
        if math.isfinite(sharpe) and sharpe < floor:
            now["strategy"] = (f"strategy Sharpe {sharpe:.2f} over {len(self._equity) - 1} days "
                               f"is below {floor:.2f}")
        ratio_limit = self._config.drift_loss_ratio
        for symbol, model, rolling, evaluated, scored in models:
            if scored < MIN_SCORED or not (evaluated > 0 and math.isfinite(rolling)):
                continue
            if rolling > ratio_limit * evaluated:
                now[symbol] = (f"{symbol.split('/')[0]} {model} 24h QLIKE {rolling:.2f} over the last week "
                               f"is {rolling / evaluated:.1f}x its evaluated {evaluated:.2f}")
        raised = [text for key, text in now.items() if key not in self.active]
        cleared = [text for key, text in self.active.items() if key not in now]
        self.active = now
        return raised, cleared

    @property
    def warnings(self) -> tuple[str, ...]:
        """Returns the active warnings."""
        return tuple(self.active.values())
