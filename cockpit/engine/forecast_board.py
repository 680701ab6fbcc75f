"""What the forecasting side publishes for the screen: per asset the forecast volatility, its
score, the regime, which model is in use and how its fits are going; for the book the regime
override and the drift warnings. Plain values only: no model object crosses into the TUI."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Fit status as the trader reads it.
WAITING = "waiting"  # not enough history yet for a first fit
RUNNING = "running"  # a fit is running in the process pool now
OK = "ok"  # the last fit converged
FALLBACK = "fallback"  # the last fit failed and an older fit (or EWMA) is in use; see fit_note
FAILED = "failed"  # the last fit raised and nothing better exists; forecasts are realized vol


@dataclass(frozen=True, slots=True)
class AssetForecast:
    """One asset's forecasts. Sigmas are fractions over their horizon (0.03 = 3 % over 4h);
    None before the first fit. `score` is 0-100 (NaN = unknown). Times are epoch seconds."""

    symbol: str
    sigma_4h: float | None = None
    sigma_24h: float | None = None
    score: float = math.nan
    model: str = ""  # the volatility model in use, e.g. "gjr"; "" before the first fit
    model_reason: str = ""  # why that one, e.g. "best 24h QLIKE over the last 90 days"
    regime: str | None = None  # bull / consolidation / bear / crisis
    regime_probability: float = math.nan  # of `regime`, 0..1; NaN when the rules decided
    regime_source: str = ""  # "model", "rules" or "override"
    last_fit_at: float | None = None  # wall clock of the last finished fit
    fit_status: str = WAITING
    fit_note: str = ""  # why it is waiting, fell back or failed
    bars: int = 0  # 4h bars of history known for this asset
    losses: dict[str, float] = field(default_factory=dict)  # rolling mean 24h QLIKE per model
    # The chart: 4h bar close times (epoch s), closes (USDT) and the 24h sigma forecast made at
    # each close by the model in use (fraction; NaN where none was made). Same length.
    chart_times: tuple[float, ...] = ()
    chart_prices: tuple[float, ...] = ()
    chart_sigma: tuple[float, ...] = ()

    @property
    def asset(self) -> str:
        """Returns the base asset, e.g. "BTC" for "BTC/USDT:USDT"."""
        return self.symbol.split("/")[0]


@dataclass(frozen=True, slots=True)
class ForecastBoard:
    """Everything the models screen shows. `regime_override` is the trader's regime while set
    (it replaces every learned or rule regime in sizing until cleared). `warnings` are the drift
    monitor's active warnings, newest first. `sharpe` is the strategy's annualized Sharpe ratio
    over the drift window (NaN until there are enough days)."""

    assets: tuple[AssetForecast, ...] = ()
    regime_override: str | None = None
    warnings: tuple[str, ...] = ()
    sharpe: float = math.nan
    running: bool = False  # a fit is running in the process pool
    next_volatility_fit_at: float | None = None  # market time of the next GARCH refit
    next_learning_fit_at: float | None = None  # market time of the next ML and regime refit

    def asset(self, symbol: str) -> AssetForecast | None:
        """Returns the forecast for `symbol`, or None when it is not forecast."""
        return next((a for a in self.assets if a.symbol == symbol), None)
