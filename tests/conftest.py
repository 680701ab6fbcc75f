"""Shared fixtures: the real market data in ../shared (tests that need it skip without it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# The default suite is deterministic: the same examples on every run, so CI is never red by the
# luck of a seed. `HYPOTHESIS_PROFILE=explore pytest` draws fresh random examples to hunt bugs.
settings.register_profile("default", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

REPO = Path(__file__).resolve().parents[1]
MARKET = REPO.parent / "shared" / "data" / "market"


@pytest.fixture
def market_data() -> Path:
    """Returns the shared Binance data folder, or skips the test when it is absent."""
    if not MARKET.exists():
        pytest.skip("../shared/data/market is not beside this checkout")
    return MARKET
