"""Perpetual funding: when it settles and at what rate.

Binance USDT-M settles funding every 8 hours at 00:00, 08:00 and 16:00 UTC; rates are per 8h,
as fractions (0.0001 = 0.01 %).
"""

from __future__ import annotations

import bisect
import math
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

SETTLEMENT_INTERVAL = 8 * 3600.0  # seconds; the grid starts at the epoch, so it hits 00/08/16 UTC
DEFAULT_RATE = 0.0001  # Binance's baseline (interest component) rate per 8h


def settlements_between(t0: float, t1: float) -> list[float]:
    """Returns the funding settlement times in (t0, t1], as epoch seconds (UTC), oldest first."""
    if not (math.isfinite(t0) and math.isfinite(t1)) or t1 <= t0:
        return []
    first = (math.floor(t0 / SETTLEMENT_INTERVAL) + 1) * SETTLEMENT_INTERVAL
    out = []
    t = first
    while t <= t1:
        out.append(t)
        t += SETTLEMENT_INTERVAL
    return out


class FundingSchedule:
    """Funding rates per symbol over time, with a constant rate wherever no series covers."""

    settlements_between = staticmethod(settlements_between)

    def __init__(
        self,
        series: Mapping[str, Iterable[tuple[float, float]]] | None = None,
        default_rate: float = DEFAULT_RATE,
    ) -> None:
        """`series` maps a symbol to (settlement time in epoch seconds, rate per 8h) pairs."""
        self.default_rate = float(default_rate)
        self._times: dict[str, list[float]] = {}
        self._rates: dict[str, list[float]] = {}
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # the same, for `rates`
        for symbol, pairs in (series or {}).items():
            ordered = sorted((float(t), float(r)) for t, r in pairs)
            self._times[symbol] = [t for t, _ in ordered]
            self._rates[symbol] = [r for _, r in ordered]
            self._arrays[symbol] = (np.array(self._times[symbol]), np.array(self._rates[symbol]))

    @classmethod
    def constant(cls, rate: float = DEFAULT_RATE) -> "FundingSchedule":
        """Returns a schedule paying `rate` per 8h at every settlement for every symbol."""
        return cls(None, rate)

    @classmethod
    def from_csv(
        cls, path: str | Path, symbol: str, default_rate: float = DEFAULT_RATE
    ) -> "FundingSchedule":
        """Returns a schedule for `symbol` read from a funding CSV (`funding_time_ms,funding_time,
        funding_rate` or `funding_time,funding_rate`; gzip inferred from the suffix).

        Raises ValueError naming the file and the problem when the file is unusable.
        """
        return cls({symbol: _read_funding_csv(Path(path))}, default_rate)

    def with_series(self, symbol: str, pairs: Iterable[tuple[float, float]]) -> "FundingSchedule":
        """Returns a copy of this schedule with `symbol`'s series replaced by `pairs`."""
        series = {s: list(zip(self._times[s], self._rates[s])) for s in self._times}
        series[symbol] = list(pairs)
        return FundingSchedule(series, self.default_rate)

    def series(self, symbol: str) -> list[tuple[float, float]]:
        """Returns `symbol`'s (settlement time epoch s, rate per 8h) pairs, oldest first."""
        return list(zip(self._times.get(symbol, []), self._rates.get(symbol, [])))

    def rate(self, symbol: str, timestamp: float) -> float:
        """Returns the rate per 8h (fraction) of `symbol`'s settlement at or just before
        `timestamp`; the default rate outside the series (before its first settlement or more
        than one interval after its last)."""
        times = self._times.get(symbol)
        if not times:
            return self.default_rate
        index = bisect.bisect_right(times, timestamp) - 1
        if index < 0:
            return self.default_rate
        if index == len(times) - 1 and timestamp - times[index] >= SETTLEMENT_INTERVAL:
            return self.default_rate  # past the end of the series

        return self._rates[symbol][index]

    def rates(self, symbol: str, timestamps: np.ndarray) -> np.ndarray:
        """Returns `rate(symbol, t)` for each t of `timestamps` (epoch s): rates per 8h."""
        timestamps = np.asarray(timestamps, dtype=float)
        if not self._times.get(symbol):
            return np.full(timestamps.shape, self.default_rate)
        times, rates = self._arrays[symbol]
        index = np.searchsorted(times, timestamps, side="right") - 1
        past_end = (index == times.size - 1) & (timestamps - times[-1] >= SETTLEMENT_INTERVAL)
        return np.where((index < 0) | past_end, self.default_rate, rates[np.maximum(index, 0)])


def _read_funding_csv(path: Path) -> list[tuple[float, float]]:
    where = f"funding file {path.name}"
    try:
        frame = pd.read_csv(path, dtype=str)
    except FileNotFoundError:
        raise ValueError(f"{where}: file not found") from None
    except pd.errors.EmptyDataError:
        raise ValueError(f"{where}: empty file") from None
    except (OSError, EOFError, UnicodeDecodeError, pd.errors.ParserError):
        raise ValueError(f"{where}: not a CSV or gzip file") from None
    if "funding_rate" not in frame.columns:
        raise ValueError(f"{where}: missing column funding_rate")
    if frame.empty:
        raise ValueError(f"{where}: no rows")
    if "funding_time_ms" in frame.columns:
        ms = pd.to_numeric(frame["funding_time_ms"], errors="coerce")
        _first_bad(ms, where, "funding_time_ms", "non-numeric value")
        # Binance stamps some settlements a few ms late (…001); the settlement itself is on the second.
        times = (ms / 1000.0).round().astype(float)
    elif "funding_time" in frame.columns:
        parsed = pd.to_datetime(frame["funding_time"], utc=True, errors="coerce", format="ISO8601")
        _first_bad(parsed, where, "funding_time", "unparseable time")
        times = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds().round()
    else:
        raise ValueError(f"{where}: missing column funding_time_ms or funding_time")
    rates = pd.to_numeric(frame["funding_rate"], errors="coerce")
    _first_bad(rates, where, "funding_rate", "non-numeric value")
    steps = times.diff().iloc[1:]
    if (steps <= 0).any():
        row = int(steps.index[(steps <= 0).to_numpy()][0]) + 1
        raise ValueError(f"{where}: non-increasing funding times at row {row}")
    return list(zip(times.tolist(), rates.astype(float).tolist()))


def _first_bad(values: pd.Series, where: str, column: str, problem: str) -> None:
    bad = values.isna().to_numpy()
    if bad.any():
        row = int(bad.argmax()) + 1
        raise ValueError(f"{where}: {problem} in column {column} at row {row}")
