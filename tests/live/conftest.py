"""Fixtures for tests against the fake Binance USDT-M server (tests/live/fake_binance.py)."""

from __future__ import annotations

from typing import Any, AsyncIterator

import pytest

from tests.live.fake_binance import FakeBinance, client

KEY = "test-key-4f1c2a9e7b3d5a60"
SECRET = "test-secret-9d8e7f6a5b4c3d2e1f00"


@pytest.fixture
async def binance() -> AsyncIterator[FakeBinance]:
    """A started FakeBinance (key KEY, secret SECRET) in the test's event loop; stopped after."""
    server = FakeBinance(key=KEY, secret=SECRET)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def binance_client(binance: FakeBinance) -> AsyncIterator[Any]:
    """A real ccxt.async_support.binanceusdm pointed at `binance` (rate limiter off, 2 s timeout),
    markets loaded; closed after."""
    exchange = client(binance.url, key=KEY, secret=SECRET, enableRateLimit=False, timeout=2000)
    try:
        await exchange.load_markets()
        yield exchange
    finally:
        await exchange.close()
