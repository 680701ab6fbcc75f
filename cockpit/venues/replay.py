"""Replaying history: candles from CSV files turned into ticks, one per symbol per bar.

Input is Binance kline CSV (`open_time_ms,timestamp,open,high,low,close,volume`, gzip inferred
from the suffix). Bad files fail with one line naming the file and the problem, never a pandas
traceback.
"""

from __future__ import annotations

import asyncio
import gzip
import math
import re
import zlib
from datetime import datetime
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable, Iterable

import numpy as np
import pandas as pd

from cockpit.domain.types import Instrument, Tick
from cockpit.venues.base import SourceLabel
from cockpit.venues.instruments import base_from_filename, instrument_for_base

PRICE_COLUMNS = ("open", "high", "low", "close")
TimeLike = float | int | str | datetime | pd.Timestamp


class ReplayDataError(ValueError):
    """A market-data file that cannot be replayed; the message is one line naming file and problem."""


def load_bars(path: str | Path) -> pd.DataFrame:
    """Returns the bars of a kline CSV as a DataFrame indexed by bar open time (UTC) with columns
    `open_time` (epoch seconds), `open`, `high`, `low`, `close` (USDT) and `volume` (base units;
    0 when the file has none). Raises ReplayDataError on malformed input."""
    path = Path(path)
    name = path.name

    def fail(problem: str) -> ReplayDataError:
        return ReplayDataError(f"{name}: {problem}")

    try:
        raw = pd.read_csv(path, dtype=str, skipinitialspace=True, keep_default_na=False)
    except FileNotFoundError:
        raise fail("file not found") from None
    except IsADirectoryError:
        raise fail("is a directory, not a CSV file") from None
    except pd.errors.EmptyDataError:
        raise fail("empty file") from None
    except pd.errors.ParserError as error:
        ragged = re.search(r"expected \d+ fields in line \d+, saw \d+", str(error), re.IGNORECASE)
        problem = f"malformed CSV: {ragged.group(0).lower()}" if ragged else "not a CSV or gzip file"
        raise fail(problem) from None
    except (gzip.BadGzipFile, zlib.error, EOFError, UnicodeDecodeError):
        raise fail("not a CSV or gzip file") from None
    except OSError as error:
        raise fail(f"cannot read file ({error.strerror or error})") from None
    raw.columns = [str(column).strip().lower() for column in raw.columns]
    for column in PRICE_COLUMNS:
        if column not in raw.columns:
            raise fail(f"missing column {column}")
    if raw.empty:
        raise fail("empty file (a header but no rows)")

    open_time = _open_times(raw, fail)
    frame = pd.DataFrame({"open_time": open_time})
    for column in (*PRICE_COLUMNS, "volume"):
        if column not in raw.columns:
            frame[column] = 0.0
            continue
        frame[column] = _numbers(raw, column, fail)
    _check_rows(frame, fail)
    frame.index = pd.to_datetime(frame["open_time"], unit="s", utc=True)
    frame.index.name = "timestamp"
    return frame


def _numbers(raw: pd.DataFrame, column: str, fail: Callable[[str], ReplayDataError]) -> np.ndarray:
    values = pd.to_numeric(raw[column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(bad.argmax())
        text = str(raw[column].iloc[row]).strip()
        if not text:
            raise fail(f"empty value in column {column} at row {row + 1}")
        raise fail(f"non-numeric value {text!r} in column {column} at row {row + 1}")
    return values


def _open_times(raw: pd.DataFrame, fail: Callable[[str], ReplayDataError]) -> np.ndarray:
    if "open_time_ms" in raw.columns:
        return _numbers(raw, "open_time_ms", fail) / 1000.0
    if "timestamp" not in raw.columns:
        raise fail("missing column open_time_ms (or timestamp)")
    parsed = pd.to_datetime(raw["timestamp"], utc=True, errors="coerce", format="ISO8601")
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(bad.argmax())
        raise fail(f"unparseable time {raw['timestamp'].iloc[row]!r} in column timestamp at row {row + 1}")
    # Through microseconds, which hold any year pandas parses (nanoseconds overflow before 1678).
    return parsed.dt.as_unit("us").astype("int64").to_numpy() / 1e6


# The bars are indexed by nanosecond timestamps: what pandas can hold, in epoch seconds.
FIRST_TIME, LAST_TIME = pd.Timestamp.min.ceil("s").timestamp(), pd.Timestamp.max.floor("s").timestamp()


def _check_rows(frame: pd.DataFrame, fail: Callable[[str], ReplayDataError]) -> None:
    times = frame["open_time"].to_numpy()
    outside = np.flatnonzero((times < FIRST_TIME) | (times > LAST_TIME))
    if outside.size:
        raise fail(f"time out of range at row {int(outside[0]) + 1} (expected a date between 1678 and 2262)")
    backwards = np.flatnonzero(np.diff(times) <= 0)
    if backwards.size:
        raise fail(f"non-increasing timestamps at row {int(backwards[0]) + 2}")
    for column in PRICE_COLUMNS:
        nonpositive = np.flatnonzero(frame[column].to_numpy() <= 0)
        if nonpositive.size:
            raise fail(f"non-positive price in column {column} at row {int(nonpositive[0]) + 1}")
    inverted = np.flatnonzero(frame["high"].to_numpy() < frame["low"].to_numpy())
    if inverted.size:
        raise fail(f"high < low at row {int(inverted[0]) + 1}")


def bar_seconds(bars: pd.DataFrame) -> float:
    """Returns the bar duration in seconds: the most common spacing of open times (0 for one bar)."""
    steps = np.diff(bars["open_time"].to_numpy())
    if steps.size == 0:
        return 0.0
    values, counts = np.unique(steps, return_counts=True)
    return float(values[counts.argmax()])


def _epoch(value: TimeLike | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.timestamp()


class ReplaySource:
    """Ticks from historical bars: for each bar, one Tick per symbol at the bar's close time with
    price = close and the bar's high/low; `speed` bars per second of wall time."""

    label: SourceLabel = "REPLAY"

    def __init__(
        self,
        paths: Iterable[str | Path] | str | Path,
        *,
        speed: float = 200.0,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        """Loads every file now (bad data fails here, not mid-replay). `start`/`end` keep bars
        whose open time is in [start, end) (epoch seconds, or anything pandas reads as a time;
        naive times are UTC)."""
        if isinstance(paths, (str, Path)):
            paths = [paths]
        self.speed = speed
        self._sleep = sleep
        self._closed = False
        self._instruments: dict[str, Instrument] = {}
        self.bars: dict[str, pd.DataFrame] = {}
        self.bar_seconds: dict[str, float] = {}
        begin, finish = _epoch(start), _epoch(end)
        for path in paths:
            try:
                base = base_from_filename(path)
            except ValueError as error:
                raise ReplayDataError(str(error)) from None
            instrument = instrument_for_base(base)
            if instrument.symbol in self.bars:
                raise ReplayDataError(f"{Path(path).name}: a second file for {instrument.symbol}")
            bars = load_bars(path)
            self.bar_seconds[instrument.symbol] = bar_seconds(bars)
            keep = np.ones(len(bars), dtype=bool)
            if begin is not None:
                keep &= bars["open_time"].to_numpy() >= begin
            if finish is not None:
                keep &= bars["open_time"].to_numpy() < finish
            self.bars[instrument.symbol] = bars[keep]
            self._instruments[instrument.symbol] = instrument
        if not self.bars:
            raise ReplayDataError("no replay files given")

    def instruments(self) -> dict[str, Instrument]:
        """Returns the instruments replayed, keyed by ccxt symbol (default tiers and precision)."""
        return dict(self._instruments)

    def timeline(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Returns every bar in time order as arrays: close time (epoch s), the symbol's index in
        `bars`, close, high and low (USDT)."""
        parts = [
            (
                bars["open_time"].to_numpy() + self.bar_seconds[symbol],
                np.full(len(bars), index),
                bars["close"].to_numpy(),
                bars["high"].to_numpy(),
                bars["low"].to_numpy(),
            )
            for index, (symbol, bars) in enumerate(self.bars.items())
        ]
        times, which, close, high, low = (np.concatenate(column) for column in zip(*parts))
        order = np.lexsort((which, times))
        return times[order], which[order], close[order], high[order], low[order]

    async def ticks(self) -> AsyncIterator[Tick]:
        """Yields Ticks in time order (timestamp = bar close time, epoch seconds), sleeping
        1/speed seconds between bar times; no sleep when speed <= 0 or infinite."""
        symbols = list(self.bars)
        times, which, close, high, low = self.timeline()
        pause = 1.0 / self.speed if self.speed > 0 and math.isfinite(self.speed) else 0.0
        previous = None
        for i in range(len(times)):
            if self._closed:
                return
            if previous is not None and times[i] != previous and pause:
                await self._sleep(pause)
                if self._closed:
                    return
            previous = times[i]
            yield Tick(symbols[which[i]], float(times[i]), float(close[i]), float(high[i]), float(low[i]))

    async def close(self) -> None:
        """Stops the replay; ticks() ends at its next step."""
        self._closed = True
