"""Shared fixtures: the real market data in ../shared (tests that need it skip without it)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MARKET = REPO.parent / "shared" / "data" / "market"


@pytest.fixture
def market_data() -> Path:
    """Returns the shared Binance data folder, or skips the test when it is absent."""
    if not MARKET.exists():
        pytest.skip("../shared/data/market is not beside this checkout")
    return MARKET
