"""Realized volatility from irregularly spaced prices: the stand-in forecast until the GARCH
models (a later issue) publish theirs."""

from __future__ import annotations

import math
from typing import Sequence

FOUR_HOURS = 4 * 3600.0
MIN_RETURNS = 10  # fewer returns than this say too little about volatility


def realized_sigma(times: Sequence[float], prices: Sequence[float], horizon_seconds: float = FOUR_HOURS) -> float | None:
    """Returns the standard deviation of log returns over `horizon_seconds` (a fraction: 0.03 =
    3 % per 4h by default), scaled from the sampled prices by time (variance per second x
    horizon), or None with fewer than MIN_RETURNS usable returns. Times in seconds, increasing."""
    squared = elapsed = 0.0
    count = 0
    for (t0, p0), (t1, p1) in zip(zip(times, prices), zip(times[1:], prices[1:])):
        if t1 > t0 and p0 > 0 and p1 > 0:
            squared += math.log(p1 / p0) ** 2
            elapsed += t1 - t0
            count += 1
    if count < MIN_RETURNS or elapsed <= 0:
        return None
    return math.sqrt(squared / elapsed * horizon_seconds)
