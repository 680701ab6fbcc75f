"""`cockpit models evaluate`: how the volatility models and the regime classifier did out of
sample on kline history, as plain-text tables.

Pure: bar frames in (as `cockpit.venues.replay.load_bars` returns them: indexed by bar open time,
UTC, with a `close` column), report lines out. `plan_evaluation` checks everything the user gave
(time frame, dates, enough bars) before any model is fitted, so a mistake costs no minutes;
`EvaluationPlan.reports` then evaluates one asset at a time.

For each asset:

- volatility, 4h and 24h ahead: `vol_evaluation.walk_forward` with its defaults (refit every 42
  bars on the last 2000 returns, the first forecast after 1000) on the asset's log returns in the
  window. Per model: mean QLIKE and MSE over the origins where every model's loss is finite, the
  Diebold-Mariano test of its QLIKE against EWMA's on the same origins, total fit time, refits
  and fallbacks (refits that did not go cleanly). The window settings are counted in bars and
  tuned for 4h bars; other time frames run them as they are.
- the default model: `vol_evaluation.best_model` on the 24h forecasts of the last `recent_days`.
- the regime: `regime.walk_forward_regimes` on the closes of every file, aligned on the times
  they all have, so the cross-asset correlation feature is used; scored by
  `regime_evaluation.evaluate_regimes` against the majority-class and rule-based baselines.
  No funding is given to it.

Units: variances are fraction^2 over the horizon; the report shows MSE in (%^2)^2 (fraction^2
x 1e4 = %^2), which puts BTC's and ETH's 4h and 24h errors between ~10 and ~2,000 instead of
around 1e-6.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from cockpit.models.regime import DEFAULT_LABELS, walk_forward_regimes
from cockpit.models.regime_evaluation import evaluate_regimes, format_evaluation
from cockpit.models.vol_evaluation import (
    DEFAULT_MIN_TRAIN,
    WalkForwardResult,
    best_model,
    diebold_mariano,
    walk_forward,
)
from cockpit.models.vol_features import log_returns
from cockpit.models.volatility import ALL_MODELS, MAX_HORIZON_BARS, qlike

HORIZONS_HOURS = (4, 24)
DEFAULT_HOURS = 24  # the horizon the default model is chosen on
DEFAULT_TIMEFRAME = "4h"
DEFAULT_RECENT_DAYS = 365
BASELINE = "ewma"  # what the Diebold-Mariano column compares every model with
# Binance kline intervals up to a day, in seconds. Only those whose 24h horizon is a whole number
# of bars the EGARCH forecast reaches (at most MAX_HORIZON_BARS) can be evaluated.
TIMEFRAMES = {
    "1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1_800, "1h": 3_600, "2h": 7_200,
    "4h": 14_400, "6h": 21_600, "8h": 28_800, "12h": 43_200, "1d": 86_400,
}
_DAY = 86_400
MSE_SCALE = 1e8  # (fraction^2)^2 -> (%^2)^2
MSE_UNIT = "(%²)²"
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class EvaluationInputError(ValueError):
    """Files or options `cockpit models evaluate` cannot work from; the message is one line."""


@dataclass(frozen=True)
class KlineFile:
    """One file's bars (as `load_bars` returns them) and the file name used in messages."""

    name: str
    bars: pd.DataFrame

    @property
    def asset(self) -> str:
        """Returns the asset the file name starts with ("BTCUSDT_4h.csv.gz" -> "BTC"; a name
        without a USDT pair, "prices.csv" -> "prices")."""
        stem = re.split(r"[_.]", self.name, maxsplit=1)[0]
        return stem[:-4] if stem.upper().endswith("USDT") and len(stem) > 4 else stem


# --- checking the input -------------------------------------------------------------------------


def bar_seconds(index: pd.DatetimeIndex) -> int:
    """Returns the most common spacing of `index` in whole seconds (0 for fewer than two bars)."""
    if len(index) < 2:
        return 0
    offsets = (index - index[0]).total_seconds().to_numpy()
    values, counts = np.unique(np.rint(np.diff(offsets)).astype(np.int64), return_counts=True)
    return int(values[counts.argmax()])


def _label(seconds: int) -> str:
    for name, length in TIMEFRAMES.items():
        if length == seconds:
            return name
    return f"a bar every {seconds:,} s"


def _timeframe_seconds(timeframe: str) -> int:
    if timeframe not in TIMEFRAMES:
        raise EvaluationInputError(
            f"--timeframe: {timeframe!r} is not a kline interval "
            f"(expected one of {', '.join(TIMEFRAMES)})"
        )
    seconds = TIMEFRAMES[timeframe]
    if _DAY % seconds or _DAY // seconds > MAX_HORIZON_BARS:
        usable = [n for n, s in TIMEFRAMES.items()
                  if not _DAY % s and _DAY // s <= MAX_HORIZON_BARS]
        raise EvaluationInputError(
            f"--timeframe {timeframe}: the 24h horizon would be {_DAY / seconds:g} bars, beyond "
            f"the {MAX_HORIZON_BARS} the models forecast; use {', '.join(usable)} bars"
        )
    return seconds


def _bound(option: str, text: str | None, *, end: bool) -> pd.Timestamp | None:
    """Returns the UTC instant a --from/--to value means; a plain date as --to means the end of
    that day (its bars are in)."""
    if text is None:
        return None
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError):
        stamp = pd.NaT
    if stamp is pd.NaT:
        raise EvaluationInputError(f"{option}: expected a date like 2024-01-31, not {text!r}")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    if end and _DATE_ONLY.match(text.strip()):
        stamp += pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    return stamp


def bars_needed(bar_length: int) -> int:
    """Returns the fewest bars the volatility walk-forward can run on: DEFAULT_MIN_TRAIN returns
    to train on, the longest horizon ahead of the first origin, and one bar before the first
    return."""
    return DEFAULT_MIN_TRAIN + max(_horizons(bar_length).values()) + 1


def _horizons(bar_length: int) -> dict[int, int]:
    """Returns {hours: bars} for the horizons that are a whole number of bars."""
    return {h: h * 3600 // bar_length for h in HORIZONS_HOURS if not (h * 3600) % bar_length}


def _day(stamp: pd.Timestamp) -> str:
    return f"{stamp:%Y-%m-%d %H:%M}" if (stamp.hour or stamp.minute) else f"{stamp:%Y-%m-%d}"


# --- the plan -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluationPlan:
    """Checked input: each asset's closes in the window, the closes they share (for the regime),
    the bar length (seconds) and the recent window (days) the default model is chosen on."""

    files: tuple[KlineFile, ...]
    closes: dict[str, pd.Series]  # asset -> closes in the window, by bar open time
    common: pd.DataFrame  # the closes every file has, one column per asset in file order
    bar_length: int
    timeframe: str
    recent_days: int

    @property
    def bars_per_day(self) -> int:
        """Returns the number of bars in a day."""
        return _DAY // self.bar_length

    def reports(self) -> Iterator[str]:
        """Yields the report of each asset in file order (minutes each on a full history)."""
        for file in self.files:
            yield evaluate_asset(self, file.asset)


def plan_evaluation(
    files: Sequence[KlineFile],
    *,
    timeframe: str = DEFAULT_TIMEFRAME,
    start: str | None = None,
    end: str | None = None,
    recent_days: int = DEFAULT_RECENT_DAYS,
) -> EvaluationPlan:
    """Returns the checked EvaluationPlan. Raises EvaluationInputError (one line) for no file, two
    files of one asset, an unknown or unusable time frame, a file whose bars are not that time
    frame, a date that does not parse or --from after --to, --recent-days < 1, or a window with
    too few bars for the walk-forward (the message says how many are needed)."""
    if not files:
        raise EvaluationInputError("give at least one --data FILE")
    seen: dict[str, str] = {}
    for file in files:
        if file.asset in seen:
            raise EvaluationInputError(
                f"{file.name}: a second file for {file.asset} (the first was {seen[file.asset]})"
            )
        seen[file.asset] = file.name
    if recent_days < 1:
        raise EvaluationInputError(
            f"--recent-days: expected a positive number of days, not {recent_days}"
        )
    seconds = _timeframe_seconds(timeframe)
    first, last = _bound("--from", start, end=False), _bound("--to", end, end=True)
    if first is not None and last is not None and first > last:
        raise EvaluationInputError(f"--from {start} is after --to {end}")
    needed = bars_needed(seconds)
    closes: dict[str, pd.Series] = {}
    for file in files:
        have = bar_seconds(file.bars.index)
        if have == 0:
            raise EvaluationInputError(f"{file.name}: one bar is not a history")
        if have != seconds:
            raise EvaluationInputError(
                f"{file.name}: has {_label(have)} bars, not {timeframe}; --timeframe must be the "
                "file's own bar size (bars are not resampled)"
            )
        close = file.bars["close"].astype(float)
        inside = np.ones(len(close), dtype=bool)
        if first is not None:
            inside &= close.index >= first
        if last is not None:
            inside &= close.index <= last
        close = close[inside]
        if len(close) < needed:
            where = ""
            if start or end:
                where = f" between {start or 'the start'} and {end or 'the end'}"
            raise EvaluationInputError(
                f"{file.name}: {len(close):,} {timeframe} bars{where}; the volatility walk-forward "
                f"needs at least {needed:,} ({DEFAULT_MIN_TRAIN:,} returns to train on, "
                f"{needed - DEFAULT_MIN_TRAIN - 1} bars ahead, one more for the first return)"
            )
        closes[file.asset] = close
    common = pd.DataFrame(closes).dropna()
    if len(common) < 2:
        raise EvaluationInputError(
            f"the files share {len(common)} bar times in the window: the regime needs them "
            "side by side (give files that cover the same period)"
        )
    return EvaluationPlan(tuple(files), closes, common, seconds, timeframe, recent_days)


# --- the volatility table -------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelRow:
    """One model at one horizon: mean QLIKE (unitless), MSE in (%^2)^2, the DM statistic and
    two-sided p-value against EWMA (None for EWMA itself), fit seconds, refits, fallbacks."""

    model: str
    qlike: float
    mse: float
    dm_statistic: float | None
    dm_p_value: float | None
    fit_seconds: float
    refits: int
    fallbacks: int


@dataclass(frozen=True)
class VolatilityTable:
    """The walk-forward of every model at one horizon, scored on the same origins."""

    hours: int
    horizon_bars: int
    origins: int  # origins scored (every model's loss finite)
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    best: str
    rows: tuple[ModelRow, ...]

    def lines(self) -> list[str]:
        """Returns the table as plain text, the best QLIKE marked with *."""
        bars = "bar" if self.horizon_bars == 1 else "bars"
        span = f", {_day(self.first)} to {_day(self.last)}" if self.first is not None else ""
        head = (f"{'model':<10}{'QLIKE':>8}  {'MSE ' + MSE_UNIT:>11}{'DM vs EWMA':>12}"
                f"{'p-value':>9}{'fit s':>9}{'refits':>8}{'fallbacks':>11}")
        lines = [f"volatility {self.hours}h ahead ({self.horizon_bars} {bars}): "
                 f"{self.origins:,} out-of-sample forecasts{span}", head]
        for row in self.rows:
            mark = "*" if row.model == self.best else " "
            lines.append(
                f"{row.model:<10}{row.qlike:>8.4f}{mark} {row.mse:>11.3f}"
                f"{_dm(row.dm_statistic):>12}"
                f"{_p(row.dm_p_value):>9}{row.fit_seconds:>9.1f}{row.refits:>8}{row.fallbacks:>11}"
            )
        return lines


def _dm(value: float | None) -> str:
    if value is None:
        return "—"
    return "n/a" if math.isnan(value) else f"{value:+.2f}"


def _p(value: float | None) -> str:
    if value is None:
        return "—"
    if not math.isfinite(value):
        return "n/a"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def volatility_table(result: WalkForwardResult, hours: int) -> VolatilityTable:
    """Returns the VolatilityTable of a walk-forward (all models in ALL_MODELS order that it
    has): losses on the origins where every model's QLIKE is finite, DM against EWMA on the same
    origins with horizon - 1 Newey-West lags."""
    models = [m for m in ALL_MODELS if m in result.forecasts]
    losses = {m: qlike(result.realized, result.forecasts[m]) for m in models}
    scored = np.logical_and.reduce([np.isfinite(v) for v in losses.values()])
    means = result.mean_losses()
    best, _ = best_model(result)
    rows = []
    for m in models:
        dm = None
        if m != BASELINE and BASELINE in losses:
            dm = diebold_mariano(losses[m][scored], losses[BASELINE][scored], result.horizon_bars)
        rows.append(ModelRow(
            model=m,
            qlike=means[m]["qlike"],
            mse=means[m]["mse"] * MSE_SCALE,
            dm_statistic=None if dm is None else dm.statistic,
            dm_p_value=None if dm is None else dm.p_value,
            fit_seconds=result.fit_seconds.get(m, 0.0),
            refits=result.refits.get(m, 0),
            fallbacks=len(result.notes.get(m, ())),
        ))
    stamps = result.timestamps
    first = last = None
    if stamps is not None and scored.any():
        first, last = stamps[np.flatnonzero(scored)[0]], stamps[np.flatnonzero(scored)[-1]]
    return VolatilityTable(hours, result.horizon_bars, int(scored.sum()), first, last, best,
                           tuple(rows))


# --- one asset ----------------------------------------------------------------------------------


def evaluate_asset(plan: EvaluationPlan, asset: str) -> str:
    """Returns the report of one asset of `plan`: its volatility tables, the default model and
    the regime evaluation. CPU-bound: minutes on a full 4h history."""
    close = plan.closes[asset]
    name = next(f.name for f in plan.files if f.asset == asset)
    returns = log_returns(close)
    lines = [f"== {name}: {asset}, {plan.timeframe} bars {_day(close.index[0])} to "
             f"{_day(close.index[-1])} UTC ({len(close):,} closes) =="]
    results: dict[int, WalkForwardResult] = {}
    for hours, horizon in _horizons(plan.bar_length).items():
        results[hours] = walk_forward(returns, horizon_bars=horizon, bars_per_day=plan.bars_per_day)
        lines += ["", *volatility_table(results[hours], hours).lines()]
    skipped = [h for h in HORIZONS_HOURS if h not in results]
    if skipped:
        lines += ["", f"volatility {', '.join(f'{h}h' for h in skipped)} ahead: not a whole number "
                      f"of {plan.timeframe} bars, not evaluated"]
    lines += [f"QLIKE: mean loss, lower is better (* the best) · MSE of the variance, {MSE_UNIT}",
              "DM vs EWMA: Diebold-Mariano on QLIKE, < 0 = lower loss than EWMA; p two-sided"]
    lines += ["", *default_model_lines(results[DEFAULT_HOURS], plan.recent_days, plan.bars_per_day)]
    lines += ["", *regime_lines(plan, asset)]
    return "\n".join(lines)


def default_model_lines(
    result: WalkForwardResult, recent_days: int, bars_per_day: int
) -> list[str]:
    """Returns the "default model" line (best 24h QLIKE over the last `recent_days`, or over all
    the out-of-sample history when it is shorter) and the recent mean QLIKE of every model."""
    recent_bars = recent_days * bars_per_day
    model, means = best_model(result, recent_bars=recent_bars)
    days = min(recent_days, result.realized.size // bars_per_day)
    ranked = " · ".join(f"{m} {q:.4f}" for m, q in sorted(means.items(), key=lambda kv: kv[1]))
    return [f"default model: {model} (best {DEFAULT_HOURS}h QLIKE over the last {days} days)",
            f"  over those days: {ranked}"]


def regime_lines(plan: EvaluationPlan, asset: str) -> list[str]:
    """Returns the regime classifier's evaluation for `asset`, walk-forward on the closes every
    file has (the others feed the correlation feature), against its two baselines."""
    closes = plan.common
    forecast = walk_forward_regimes(closes, target=asset, bars_per_day=plan.bars_per_day)
    evaluation = evaluate_regimes(closes, target=asset, bars_per_day=plan.bars_per_day,
                                  forecast=forecast)
    others = [c for c in closes.columns if c != asset]
    inputs = f"with {', '.join(others)} for correlation" if others else "alone (no correlation)"
    common = "common " if others else ""
    return [f"regime {DEFAULT_LABELS.horizon_days:g} days ahead: {asset} {inputs}, "
            f"{len(closes):,} {common}{plan.timeframe} closes "
            f"{_day(closes.index[0])} to {_day(closes.index[-1])}",
            format_evaluation(evaluation)]
