"""The history a backtest runs over: bars of every symbol on one timeline, and funding.

Bars come from Binance kline CSV files (the replay format, checked the same way); a tick is
made per symbol at each bar's close time, with the bar's high and low for intrabar liquidation
and stops. Funding comes from funding CSV files: given any, the symbols and times they do not
cover pay the exchange's base rate (config paper.funding_rate); given none, no funding is paid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from cockpit.domain.types import Instrument, Tick
from cockpit.venues.funding import FundingSchedule
from cockpit.venues.instruments import base_from_filename, symbol_for_base
from cockpit.venues.replay import ReplayDataError, ReplaySource, TimeLike


class HistoryError(ValueError):
    """History a backtest cannot run on; the message is one line."""


@dataclass(frozen=True)
class History:
    """Bars of every symbol aligned on their close times (epoch s); NaN where a symbol has no bar."""

    instruments: dict[str, Instrument]
    bar_seconds: float
    times: np.ndarray
    close: dict[str, np.ndarray]
    high: dict[str, np.ndarray]
    low: dict[str, np.ndarray]
    funding: FundingSchedule
    funding_files: tuple[str, ...] = ()

    @property
    def symbols(self) -> list[str]:
        """Returns the symbols, in file order."""
        return list(self.close)

    def ticks_at(self, index: int) -> list[Tick]:
        """Returns the ticks of bar `index`: one per symbol that has a bar then."""
        stamp = float(self.times[index])
        out = []
        for symbol, closes in self.close.items():
            price = closes[index]
            if price == price:  # not NaN
                out.append(Tick(symbol, stamp, float(price), float(self.high[symbol][index]), float(self.low[symbol][index])))
        return out

    def first_index_with_all(self) -> int:
        """Returns the first bar at which every symbol has a price (strategies start there)."""
        have = np.ones(len(self.times), dtype=bool)
        for closes in self.close.values():
            have &= np.isfinite(np.fmax.accumulate(np.nan_to_num(closes, nan=-np.inf)))
        found = np.flatnonzero(have)
        if not found.size:
            raise HistoryError("the files never overlap in time: no bar where every symbol has a price")
        return int(found[0])

    def last_prices(self, index: int) -> dict[str, float]:
        """Returns each symbol's latest close at or before bar `index`."""
        out = {}
        for symbol, closes in self.close.items():
            seen = closes[: index + 1]
            seen = seen[np.isfinite(seen)]
            if seen.size:
                out[symbol] = float(seen[-1])
        return out


def load_history(
    data: Sequence[str | Path],
    funding: Sequence[str | Path] = (),
    *,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    base_funding_rate: float = 0.0001,
) -> History:
    """Returns the history in `data` between `start` (inclusive) and `end` (exclusive, bar open
    times). Raises HistoryError (one line) on unusable files or an empty or mixed-interval range."""
    try:
        replay = ReplaySource(list(data), start=start, end=end)
    except (ReplayDataError, ValueError) as error:
        raise HistoryError(str(error)) from None
    periods = set(replay.bar_seconds.values())
    if len(periods) != 1:
        raise HistoryError("the data files have different bar lengths: give files of one interval (e.g. all 4h)")
    bar = periods.pop()
    if any(len(bars) < 2 for bars in replay.bars.values()):
        raise HistoryError("fewer than two bars in the chosen range: widen --from/--to")
    times, which, close, high, low = replay.timeline()
    stamps = np.unique(times)
    position = np.searchsorted(stamps, times)
    columns: dict[str, dict[str, np.ndarray]] = {"close": {}, "high": {}, "low": {}}
    for index, symbol in enumerate(replay.bars):
        mine = which == index
        for name, values in (("close", close), ("high", high), ("low", low)):
            column = np.full(stamps.size, np.nan)
            column[position[mine]] = values[mine]
            columns[name][symbol] = column
    schedule = FundingSchedule(None, base_funding_rate if funding else 0.0)
    for path in funding:
        try:
            symbol = symbol_for_base(base_from_filename(path))
            schedule = schedule.with_series(symbol, FundingSchedule.from_csv(path, symbol).series(symbol))
        except (ValueError, OSError) as error:
            raise HistoryError(str(error)) from None
    return History(replay.instruments(), bar, stamps, columns["close"], columns["high"], columns["low"], schedule,
                   tuple(Path(p).name for p in funding))
