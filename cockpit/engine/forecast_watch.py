"""Feeds the forecasting models (`cockpit.models.live_fit`) and keeps their answers between fits.

- Prices become 4h bars: a bar's close is the last price of its 4h UTC period (a price stamped
  exactly on the boundary closes that period at once, so a 4h replay is not a bar late). A source
  may also hand over past prices (`seed`), so forecasts start without waiting weeks.
- `due` says when a refit is on schedule (market time): the GARCH family every
  `volatility_refit_hours`, the gradient-boosting forecasters, model choice and regime classifier
  every `learning_refit_hours`. `refit` runs them in the process pool it is given and installs
  the results; the fits see only bars up to the moment they were submitted, and the bars that
  closed while they ran are then applied by recursion.
- Between refits each new bar advances every model's recursion (no refit per tick), scores the
  24h forecasts made 6 bars earlier (rolling QLIKE per model) and makes new ones.

Nothing here imports arch or scikit-learn at module level: `cockpit.models.live_fit` is loaded
(off the event loop, see `load_models`) only when the first fit is about to run, so the first
screen draws before the heavy imports.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import math
import time
from collections import deque
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from cockpit.config import Config
from cockpit.domain.regime_rules import REGIMES, RegimeReading
from cockpit.engine.forecast_board import FAILED, FALLBACK, OK, RUNNING, WAITING, AssetForecast, ForecastBoard

BAR_SECONDS = 4 * 3600.0
MIN_FIT_BARS = 300  # a GARCH fit needs 250 returns; a little more to fill the realized window
KEPT_BARS = 4000  # ~22 months of 4h bars: the regime classifier wants a year after its warm-up
CHART_BARS = 180  # 30 days on the chart
DRIFT_BARS = 42  # the drift monitor reads the last week of scored forecasts
LEARNING_MIN_BARS = 400  # the gradient-boosting forecasters need 30 days of features + 200 rows


def load_models() -> Any:
    """Returns the `cockpit.models.live_fit` module, importing it (arch, scikit-learn) if needed."""
    return importlib.import_module("cockpit.models.live_fit")


@dataclass(frozen=True, slots=True)
class FitJob:
    """What a refit does: which models, at what market time."""

    learn: bool  # also the gradient-boosting forecasters, the model choice and the regime
    market_time: float


class _Track:
    """One asset: its 4h bars, its fitted models and what happened since the fit."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.times: deque[float] = deque(maxlen=KEPT_BARS)  # bar end (epoch s)
        self.closes: deque[float] = deque(maxlen=KEPT_BARS)
        self.sigma_24h: deque[float] = deque(maxlen=CHART_BARS)  # forecast made at each close
        self.count = 0  # bars ever closed: the absolute number of the newest bar
        self.period: int | None = None  # the open period
        self.last_price: float | None = None
        self.fit: Any = None  # live_fit.VolatilityFit
        self.fit_count = 0  # the bar the fit's states are ready after
        self.states: dict[str, Any] = {}
        self.losses: dict[str, deque[float]] = {}
        self.pending: deque[tuple[int, dict[str, float]]] = deque()  # (bar due, 24h variances)
        self.current: dict[str, tuple[float, float]] = {}  # per model: 4h and 24h variance
        self.since_fit: list[float] = []  # 24h sigmas of the model in use since the last fit
        self.score = math.nan  # of the newest 24h forecast, 0-100; set once per bar, read per tick
        self.regime: Any = None  # live_fit.RegimeFit
        self.charted_past = False  # the chart's history before the first fit is filled in
        self.status, self.note = WAITING, ""
        self.last_fit_at: float | None = None

    # ---- bars ------------------------------------------------------------------------------

    def add_price(self, timestamp: float, price: float) -> float | None:
        """Folds one price in; returns the log return of a bar it closed, or None."""
        if not (price > 0 and math.isfinite(price) and math.isfinite(timestamp)):
            return None
        period = math.ceil(timestamp / BAR_SECONDS)
        closed = None
        if self.period is not None and period > self.period and self.last_price is not None:
            closed = self._close(self.period, self.last_price)
        if self.period is None or period >= self.period:
            if self.times and period * BAR_SECONDS <= self.times[-1]:
                return closed  # inside a bar already closed (seeded history overlaps the stream)
            self.period, self.last_price = period, price
            if timestamp == period * BAR_SECONDS:  # the period's last instant: it is complete
                closed = self._close(period, price)
                self.period, self.last_price = None, None
        return closed

    def _close(self, period: int, price: float) -> float | None:
        previous = self.closes[-1] if self.closes else None
        self.times.append(period * BAR_SECONDS)
        self.closes.append(price)
        self.sigma_24h.append(math.nan)  # filled in when the models forecast from this close
        self.count += 1
        return None if previous is None else math.log(price / previous)

    def returns(self) -> np.ndarray:
        """Returns the log returns of the kept bars (fractions, oldest first)."""
        closes = np.fromiter(self.closes, dtype=np.float64)
        return np.diff(np.log(closes)) if closes.size > 1 else np.empty(0)

    # ---- models ----------------------------------------------------------------------------

    def install(self, fit: Any, fit_count: int, models: Any) -> None:
        """Takes a finished fit made on bars up to `fit_count` and applies the bars since."""
        previous_model = self.fit.model if self.fit is not None else None
        self.fit, self.fit_count, self.states = fit, fit_count, dict(fit.states)
        if previous_model != fit.model or not self.losses:
            self.losses = {m: deque(v, maxlen=models.LOSS_MEMORY) for m, v in fit.recent_losses.items()}
        if fit.evaluated:  # a new score history: the forecasts since the last one are in it
            self.since_fit = []
            self._chart_past(fit, fit_count)
        behind = self.count - fit_count
        r = self.returns()
        for k in range(behind):
            self.advance(float(r[r.size - behind + k]), models)
        if not behind:
            self._forecast(r, models)
        self.status = FALLBACK if fit.fell_back else OK
        self.note = "; ".join(fit.problems)
        self.last_fit_at = time.time()

    def _chart_past(self, fit: Any, fit_count: int) -> None:
        # The first evaluation's out-of-sample forecasts fill the chart for the history handed
        # over at start. Its last one was made 6 bars before the fit's last close (its outcome
        # had to be known). Only once: a later evaluation picks its model with data from after
        # those bars, and what was shown at a time must not change with what came later.
        if self.charted_past:
            return
        self.charted_past = True
        history = fit.score_history
        for k in range(len(history)):
            back = self.count - (fit_count - 6 - (len(history) - 1 - k))  # bars before the newest
            if 0 <= back < len(self.sigma_24h) and math.isnan(self.sigma_24h[-1 - back]):
                self.sigma_24h[-1 - back] = history[k]

    def _loss_arrays(self) -> dict[str, np.ndarray]:
        return {m: np.fromiter(v, dtype=np.float64) for m, v in self.losses.items()}

    def advance(self, r: float, models: Any) -> None:
        """One more bar: the recursion, the score of forecasts now due, new forecasts."""
        if self.fit is None:
            return
        self.states = models.advance(self.states, r)
        returns = self.returns()
        while self.pending and self.pending[0][0] <= self.count:
            due, forecast = self.pending.popleft()
            realized = float(np.sum(returns[returns.size - (self.count - due) - 6 : returns.size - (self.count - due)] ** 2))
            for m, variance in forecast.items():
                loss = float(models.qlike(realized, variance))
                if math.isfinite(loss):
                    self.losses.setdefault(m, deque(maxlen=models.LOSS_MEMORY)).append(loss)
        self._forecast(returns, models)

    def _forecast(self, returns: np.ndarray, models: Any) -> None:
        # Forecasts from the newest close: kept for scoring in 6 bars, the score and the chart.
        self.current = models.forecasts_now(self.fit, self.states, returns, self._loss_arrays())
        self.pending.append((self.count + 6, {m: v[1] for m, v in self.current.items()}))
        sigma = self.sigma(1)
        if sigma is not None:
            self.score = models.score(self.fit, sigma, self.since_fit)
            self.since_fit.append(sigma)
            if self.sigma_24h:
                self.sigma_24h[-1] = sigma

    def sigma(self, which: int) -> float | None:
        """Returns the model in use's sigma (fraction) over 4h (which=0) or 24h (which=1)."""
        if self.fit is None:
            return None
        variance = self.current.get(self.fit.model) or self.current.get("ewma")
        return math.sqrt(variance[which]) if variance else None

    def rolling_loss(self, model: str, bars: int) -> tuple[float, int]:
        """Returns the mean 24h QLIKE of `model` over its last `bars` scored forecasts, and how many."""
        losses = list(self.losses.get(model, ()))[-bars:]
        return (float(np.mean(losses)) if losses else math.nan), len(losses)


class ForecastWatch:
    """Every tracked asset's bars and models, the refit schedule and the regime override."""

    def __init__(self, config: Config, symbols: Sequence[str], *, regime_override: str | None = None) -> None:
        self._config = config.models
        self._tracks = {symbol: _Track(symbol) for symbol in symbols}
        self._proxy = symbols[0] if symbols else None
        self.override = regime_override
        self.running = False
        self._next_volatility: float | None = None
        self._next_learning: float | None = None
        self._models: Any = None
        # The board's assets change with a bar, a fit, the override or the running flag, not with
        # every price: they are rebuilt only then, not on each publish.
        self._changes = 0
        self._assets: tuple[tuple, tuple[AssetForecast, ...]] | None = None

    # ---- prices ----------------------------------------------------------------------------

    def seed(self, history: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> None:
        """Takes past prices per symbol, (timestamps epoch s, prices USDT), oldest first."""
        for symbol, (times, prices) in history.items():
            track = self._tracks.get(symbol)
            if track is None:
                continue
            for timestamp, price in zip(times, prices):
                track.add_price(float(timestamp), float(price))

    def observe(self, market_time: float, marks: Mapping[str, float]) -> None:
        """Folds the marks in at `market_time`; a closed bar advances that asset's models."""
        for symbol, price in marks.items():
            track = self._tracks.get(symbol)
            if track is None:
                continue
            bars = track.count
            r = track.add_price(market_time, price)
            if r is not None and self._models is not None:
                track.advance(r, self._models)
            self._changes += track.count != bars

    # ---- schedule --------------------------------------------------------------------------

    def due(self, market_time: float | None) -> FitJob | None:
        """Returns the refit due at `market_time`, or None (none due, one running, or too few bars)."""
        if self.running or market_time is None:
            return None
        if not any(t.count >= MIN_FIT_BARS for t in self._tracks.values()):
            return None
        if self._next_learning is None or market_time >= self._next_learning:
            return FitJob(learn=True, market_time=market_time)
        if self._next_volatility is None or market_time >= self._next_volatility:
            return FitJob(learn=False, market_time=market_time)
        return None

    async def refit(self, job: FitJob, run: Callable[[Callable[[], Any]], Any]) -> list[str]:
        """Runs the fits of `job` through `run` (which awaits a callable in the process pool) and
        installs them; returns one line per asset for the journal."""
        self.running = True
        self._changes += 1
        lines = []
        try:
            if self._models is None:
                self._models = await asyncio.to_thread(load_models)
                # arch, scipy and scikit-learn stay loaded for good: out of the collector's sight,
                # full collections on the screen's loop stay short (benchmarks/ui_latency).
                gc.freeze()
            models = self._models
            closes_by_symbol = {}
            ready = []
            for track in self._tracks.values():
                if track.count < MIN_FIT_BARS:
                    track.status, track.note = WAITING, f"{track.count} of {MIN_FIT_BARS} 4h bars"
                    continue
                ready.append(track)
                closes_by_symbol[track.symbol] = (list(track.times), list(track.closes))
            # The assets' fits are independent: with more than one worker they run side by side.
            lines += await asyncio.gather(*(self._fit_one(track, job, run, models) for track in ready))
            self._changes += len(ready)
            if job.learn and closes_by_symbol:
                lines += await self._fit_regimes(closes_by_symbol, run, models)
        finally:
            self.running = False
            self._changes += 1
        hours = 3600.0
        self._next_volatility = job.market_time + self._config.volatility_refit_hours * hours
        if job.learn:
            self._next_learning = job.market_time + self._config.learning_refit_hours * hours
        return lines

    async def _fit_one(self, track: _Track, job: FitJob, run, models) -> str:
        returns, fit_count = track.returns(), track.count
        learn = job.learn and returns.size >= LEARNING_MIN_BARS
        previous_status = track.status
        track.status = RUNNING
        previous = track.fit
        if previous is not None and not learn:
            # The boosted trees are most of a fit's pickle (~150 KB); a daily refit neither reads
            # nor changes them, so they stay in this process instead of crossing to the pool.
            previous = replace(previous, hgb={})
        task = partial(models.fit_volatility, track.symbol, returns, previous=previous, learn=learn,
                       configured=self._config.volatility_model, window=self._config.window_bars)
        try:
            fit = await run(task)
            if not learn and track.fit is not None:
                fit = replace(fit, hgb=track.fit.hgb)
        except Exception as error:  # noqa: BLE001 - a crashed fit leaves the last good one in use
            track.status = FAILED if track.fit is None else FALLBACK
            track.note = f"fit failed: {type(error).__name__}: {error}"
            if previous_status == WAITING and track.fit is None:
                track.note += "; sizing uses realized volatility"
            return f"{track.symbol} volatility fit failed: {track.note}"
        track.install(fit, fit_count, models)
        what = "GARCH family, HGB and model choice" if learn else "GARCH family"
        fell = f"; fell back: {track.note}" if track.note else ""
        return (f"{track.symbol} refit {what} on {returns.size} bars in {fit.seconds:.1f}s: "
                f"{fit.model} in use ({fit.model_reason}){fell}")

    async def _fit_regimes(self, closes_by_symbol, run, models) -> list[str]:
        import pandas as pd  # already loaded with the models; kept out of the engine's start-up

        frame = pd.DataFrame({s: pd.Series(c, index=pd.to_datetime(t, unit="s", utc=True))
                              for s, (t, c) in closes_by_symbol.items()}).dropna()
        async def fit_one(symbol: str) -> str:
            track = self._tracks[symbol]
            try:
                track.regime = await run(partial(models.fit_regime, symbol, frame))
            except Exception as error:  # noqa: BLE001 - the rules still give a regime
                return f"{symbol} regime fit failed: {type(error).__name__}: {error}"
            fit = track.regime
            said = f"{fit.regime} p={fit.probability:.0%}" if fit.source == "model" else f"{fit.regime} by the rules ({fit.reason})"
            return f"{symbol} regime {said}"

        # Independent per asset, like the volatility fits: side by side when the pool has room.
        return list(await asyncio.gather(*(fit_one(symbol) for symbol in closes_by_symbol)))

    # ---- answers ---------------------------------------------------------------------------

    def sigma_4h(self, symbol: str) -> float | None:
        """Returns the model in use's 4h sigma forecast for `symbol` (fraction), or None."""
        track = self._tracks.get(symbol)
        return track.sigma(0) if track else None

    def score(self, symbol: str) -> float:
        """Returns the 0-100 volatility score of `symbol` (NaN when unknown)."""
        track = self._tracks.get(symbol)
        return track.score if track is not None and track.fit is not None else math.nan

    def regime(self) -> RegimeReading | None:
        """Returns the regime sizing should use: the trader's override, else the learned (or
        rule) regime of the market proxy from the last fit, else None (sizing's own rules)."""
        nan = math.nan
        if self.override is not None:
            return RegimeReading(self.override, nan, nan, nan, nan, "set by the trader (override)")
        track = self._tracks.get(self._proxy) if self._proxy else None
        fit = track.regime if track else None
        if fit is None:
            return None
        reason = f"learned model p={fit.probability:.0%}" if fit.source == "model" else f"rules: {fit.reason}"
        return RegimeReading(fit.regime, nan, nan, nan, nan, reason)

    def model_drift(self) -> list[tuple[str, str, float, float, int]]:
        """Returns per fitted asset (symbol, model in use, its rolling 24h QLIKE over the last
        week, its evaluated QLIKE, forecasts scored) for the drift monitor."""
        out = []
        for track in self._tracks.values():
            if track.fit is None or track.fit.model not in track.fit.recent_qlike:
                continue
            rolling, n = track.rolling_loss(track.fit.model, DRIFT_BARS)
            out.append((track.symbol, track.fit.model, rolling, track.fit.recent_qlike[track.fit.model], n))
        return out

    def board(self, *, warnings: tuple[str, ...] = (), sharpe: float = math.nan) -> ForecastBoard:
        """Returns what the models screen shows now."""
        key = (self._changes, self.override, self.running)
        if self._assets is None or self._assets[0] != key:
            self._assets = key, tuple(self._asset(t) for t in self._tracks.values())
        return ForecastBoard(
            assets=self._assets[1],
            regime_override=self.override,
            warnings=warnings,
            sharpe=sharpe,
            running=self.running,
            next_volatility_fit_at=self._next_volatility,
            next_learning_fit_at=self._next_learning,
        )

    def _asset(self, track: _Track) -> AssetForecast:
        regime = track.regime
        if self.override is not None:
            name, probability, source = self.override, math.nan, "override"
        elif regime is not None:
            name, probability, source = regime.regime, regime.probability, regime.source
        else:
            name, probability, source = None, math.nan, ""
        fit = track.fit
        n = len(track.sigma_24h)
        status = RUNNING if self.running and track.count >= MIN_FIT_BARS else track.status
        note = track.note or (f"{track.count} of {MIN_FIT_BARS} 4h bars" if track.status == WAITING else "")
        return AssetForecast(
            symbol=track.symbol,
            sigma_4h=track.sigma(0),
            sigma_24h=track.sigma(1),
            score=track.score if track.fit is not None else math.nan,
            model=fit.model if fit else "",
            model_reason=fit.model_reason if fit else "",
            regime=name,
            regime_probability=probability,
            regime_source=source,
            last_fit_at=track.last_fit_at,
            fit_status=status,
            fit_note=note,
            bars=track.count,
            losses={m: float(np.mean(v)) for m, v in track.losses.items() if v},
            chart_times=tuple(list(track.times)[-n:]) if n else (),
            chart_prices=tuple(list(track.closes)[-n:]) if n else (),
            chart_sigma=tuple(track.sigma_24h),
        )
