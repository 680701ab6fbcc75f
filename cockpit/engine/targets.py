"""`cockpit targets`: suggest `[portfolio.targets]` weights from kline history.

It reads Binance kline CSVs (the files `--replay` takes; the asset comes from the file name),
keeps the closes every file has in common over the last N days, estimates annualised moments and
runs the optimiser with the config's own limits: the leverage it runs at
(`portfolio.target_leverage`), the per-asset cap (`limits.max_asset_exposure`) and the reserve
it keeps in USDT (`portfolio.reserve`, what its current targets leave over). It prints; it never
writes the config.

The suggested weights are fractions of levered capital, the unit `[portfolio.targets]` takes:
the engine holds weight x target_leverage x equity of each asset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from cockpit.config import Config
from cockpit.models.optimizer import OBJECTIVES, PERIODS_PER_YEAR, OptimizedWeights, estimate_moments, optimize_weights
from cockpit.venues.instruments import base_from_filename
from cockpit.venues.replay import ReplayDataError, bar_seconds, load_bars

DEFAULT_LOOKBACK_DAYS = 365
# Fewer common closes than this and the covariance is mostly noise: refuse rather than suggest.
MIN_COMMON_BARS = 30
DECIMALS = 3  # the weights pasted into the config
_SECONDS_PER_DAY = 86_400.0
_BAR_LABELS = {3_600.0: "1h", 14_400.0: "4h", 86_400.0: "1d"}


class TargetsInputError(ValueError):
    """Files or settings `cockpit targets` cannot work from; the message is one line."""


@dataclass(frozen=True)
class AssetRow:
    """One asset of the suggestion. Weight is a fraction of levered capital (as pasted);
    exposure a multiple of equity; return and volatility annualised fractions of the asset's
    own log returns; risk share the asset's fraction of the book's variance."""

    asset: str
    weight: float
    exposure: float
    expected_return: float
    volatility: float
    risk_share: float


@dataclass(frozen=True)
class TargetsSuggestion:
    """What `cockpit targets` prints: the window the estimates come from, the limits the
    optimiser ran under, its answer, and the rounded targets to paste."""

    objective: str
    lookback_days: int
    bar: str  # "1d", "4h", "1h" or e.g. "2h"
    periods_per_year: float
    first_open: float  # epoch seconds (UTC) of the first common bar used
    last_open: float  # epoch seconds (UTC) of the last common bar used
    bars: int  # common closes used
    target_leverage: float  # x equity
    reserve: float  # fraction of capital kept in USDT
    asset_cap: float  # x equity per asset
    result: OptimizedWeights  # weights as fractions of equity, unrounded
    targets: dict[str, float]  # rounded to DECIMALS, fractions of levered capital
    rows: tuple[AssetRow, ...]

    def lines(self) -> list[str]:
        """Returns the report as plain text lines, ending with the TOML block to paste."""
        result = self.result
        lines = [
            f"{self.objective} · {self.bar} bars {_day(self.first_open)} to {_day(self.last_open)} UTC "
            f"({self.lookback_days} days, {self.bars} common closes)",
            f"target leverage {self.target_leverage:.2f}x · reserve {self.reserve:.1%} · "
            f"cap {self.asset_cap:.2f}x equity per asset",
            "",
            f"{'asset':<8}{'weight':>8}{'x equity':>10}{'return/yr':>11}{'vol/yr':>9}{'risk share':>12}",
        ]
        for row in self.rows:
            lines.append(
                f"{row.asset:<8}{row.weight:>8.3f}{row.exposure:>9.2f}x{_pct(row.expected_return, True):>11}"
                f"{_pct(row.volatility):>9}{_pct(row.risk_share):>12}"
            )
        total = sum(self.targets.values())
        lines.append(
            f"{'book':<8}{total:>8.3f}{total * self.target_leverage:>9.2f}x"
            f"{_pct(result.expected_return, True):>11}{_pct(result.volatility):>9}{'':>12}"
        )
        lines += [
            "weight: share of levered capital · return/yr: annualised mean log return",
            "book: the whole book per unit of equity, leverage included",
            f"converged: {'yes' if result.converged else 'no'} · fallback: {result.fallback or 'none'}",
            f"note: {result.note or 'none'}",
            "",
            f"# paste into your config, replacing the table ({1 - total:.1%} stays in USDT)",
            *self.toml().splitlines(),
        ]
        return lines

    def toml(self) -> str:
        """Returns the `[portfolio.targets]` block with the rounded weights."""
        body = "\n".join(f"{asset} = {weight:.{DECIMALS}f}" for asset, weight in self.targets.items())
        return f"[portfolio.targets]\n{body}\n"


def _day(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d")


def _pct(fraction: float, signed: bool = False) -> str:
    if not math.isfinite(fraction):
        return "n/a"
    return f"{fraction:+.1%}" if signed else f"{fraction:.1%}"


def round_targets(targets: dict[str, float], *, target_leverage: float, asset_cap: float) -> dict[str, float]:
    """Returns `targets` (fractions of levered capital, >= 0) rounded to DECIMALS so that the
    config accepts them: they never sum to more than the unrounded weights (so at most 1) and no
    weight x `target_leverage` exceeds `asset_cap` (x equity). Within those rules each weight is
    as close to its unrounded value as the total allows (largest remainder)."""
    unit = 10**DECIMALS
    scaled = {asset: max(0.0, weight) * unit for asset, weight in targets.items()}
    # The small tolerance keeps 0.8 (stored as 0.7999999...) from losing a thousandth.
    units = {asset: math.floor(value + 1e-6) for asset, value in scaled.items()}
    cap_units = math.floor(asset_cap / target_leverage * unit + 1e-6)
    while cap_units > 0 and cap_units / unit * target_leverage > asset_cap:
        cap_units -= 1  # the config checks weight x leverage <= cap exactly, in floats
    units = {asset: min(count, cap_units) for asset, count in units.items()}
    left = math.floor(sum(scaled.values()) + 1e-6) - sum(units.values())
    for asset in sorted(scaled, key=lambda a: units[a] - scaled[a]):  # largest remainder first
        if left <= 0:
            break
        if units[asset] + 1 <= cap_units and units[asset] + 1 - scaled[asset] < 1:
            units[asset] += 1
            left -= 1
    return {asset: units[asset] / unit for asset in targets}


def _bar_label(seconds: float) -> str:
    if seconds in _BAR_LABELS:
        return _BAR_LABELS[seconds]
    if seconds % 3600 == 0:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 60:.0f}m"


def _periods_per_year(seconds: float) -> float:
    label = _BAR_LABELS.get(seconds)
    if label in PERIODS_PER_YEAR:
        return PERIODS_PER_YEAR[label]
    return 365.0 * _SECONDS_PER_DAY / seconds  # crypto trades around the clock, like the table


def _read_closes(paths: Sequence[str | Path]) -> tuple[pd.DataFrame, float]:
    """Returns (closes indexed by bar open time in epoch seconds, one column per base asset, only
    the times every file has; the bar length in seconds)."""
    closes: dict[str, pd.Series] = {}
    lengths: dict[str, float] = {}
    names: dict[str, str] = {}
    for path in paths:
        name = Path(path).name
        try:
            base = base_from_filename(path)
        except ValueError as error:
            raise TargetsInputError(str(error)) from None
        if base in closes:
            raise TargetsInputError(f"{name}: a second file for {base} (the first was {names[base]})")
        try:
            bars = load_bars(path)
        except ReplayDataError as error:
            raise TargetsInputError(str(error)) from None
        if len(bars) < 2:
            raise TargetsInputError(f"{name}: one bar is not a history")
        closes[base] = pd.Series(bars["close"].to_numpy(), index=bars["open_time"].to_numpy())
        lengths[base] = bar_seconds(bars)
        names[base] = name
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{names[b]} {_bar_label(s)}" for b, s in lengths.items())
        raise TargetsInputError(f"the files have different bar sizes ({shown}): give one bar size")
    frame = pd.DataFrame(closes).sort_index().dropna()  # the outer join leaves NaN where a file has no bar
    return frame, next(iter(lengths.values()))


def suggest_targets(
    paths: Sequence[str | Path],
    config: Config,
    *,
    objective: str = "risk_parity",
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
) -> TargetsSuggestion:
    """Returns the TargetsSuggestion for the kline files `paths` (one per asset, at least two)
    over the last `lookback_days` days of the closes they share, under the config's leverage,
    cap and reserve. Raises TargetsInputError (one line) for fewer than two files, a file that
    is missing or malformed or names no asset, two files for one asset, mixed bar sizes, fewer
    than MIN_COMMON_BARS common closes in the window, or settings that leave nothing to invest.
    """
    if objective not in OBJECTIVES:
        raise TargetsInputError(f"--objective: expected one of {', '.join(OBJECTIVES)}, not {objective!r}")
    if lookback_days <= 0:
        raise TargetsInputError("--lookback-days: expected a positive number of days")
    if len(paths) < 2:
        raise TargetsInputError(f"targets needs kline files for at least 2 assets, got {len(paths)}")
    reserve = config.portfolio.reserve
    if reserve >= 1.0:
        raise TargetsInputError(
            "portfolio.targets weights sum to 0, so the whole account is reserve: set targets whose "
            "weights sum to the share you want invested, then ask again"
        )
    frame, seconds = _read_closes(paths)
    if frame.empty:
        raise TargetsInputError("the files share no bar time: they cover different periods")
    last = float(frame.index[-1])
    window = frame[frame.index > last - lookback_days * _SECONDS_PER_DAY]
    if len(window) < MIN_COMMON_BARS:
        raise TargetsInputError(
            f"too few overlapping bars: {len(window)} common closes in the last {lookback_days} days "
            f"of the files, need at least {MIN_COMMON_BARS}"
        )
    periods = _periods_per_year(seconds)
    assets = [str(column) for column in window.columns]
    moments = estimate_moments(window.to_numpy(dtype=float), periods)
    leverage = config.portfolio.target_leverage
    cap = config.limits.max_asset_exposure
    result = optimize_weights(
        moments.mean,
        moments.covariance,
        objective=objective,  # type: ignore[arg-type]
        leverage_ceiling=leverage,
        asset_cap=cap,
        reserve_fraction=reserve,
        names=assets,
    )
    targets = round_targets(result.as_targets(leverage), target_leverage=leverage, asset_cap=cap)
    volatilities = np.sqrt(np.diag(moments.covariance))
    rows = tuple(
        AssetRow(asset, targets[asset], targets[asset] * leverage, float(moments.mean[i]),
                 float(volatilities[i]), result.risk_contributions[i])
        for i, asset in enumerate(assets)
    )
    return TargetsSuggestion(
        objective=objective,
        lookback_days=lookback_days,
        bar=_bar_label(seconds),
        periods_per_year=periods,
        first_open=float(window.index[0]),
        last_open=last,
        bars=len(window),
        target_leverage=leverage,
        reserve=reserve,
        asset_cap=cap,
        result=result,
        targets=targets,
        rows=rows,
    )
