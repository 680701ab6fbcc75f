"""Shared fixtures for venue tests: the real market data folder and a local fake of Binance
USDT-M's public REST API (its own JSON shapes, abridged to two symbols)."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from aiohttp import web

MARKET_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "market"


@pytest.fixture
def market_data() -> Path:
    if not (MARKET_DATA / "binance_spot" / "BTCUSDT_4h.csv.gz").exists():
        pytest.skip(f"shared market data not found at {MARKET_DATA}")
    return MARKET_DATA


def _symbol(base: str, tick: str, min_notional: str) -> dict[str, Any]:
    # One entry of GET /fapi/v1/exchangeInfo "symbols", as Binance sends it (fields ccxt ignores
    # trimmed).
    return {
        "symbol": f"{base}USDT",
        "pair": f"{base}USDT",
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": base,
        "quoteAsset": "USDT",
        "marginAsset": "USDT",
        "pricePrecision": 2,
        "quantityPrecision": 3,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": ["PoW"],
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.10", "maxPrice": "4529764", "tickSize": tick},
            {"filterType": "LOT_SIZE", "stepSize": "0.001", "maxQty": "1000", "minQty": "0.001"},
            {"filterType": "MARKET_LOT_SIZE", "stepSize": "0.001", "maxQty": "120", "minQty": "0.001"},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": min_notional},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500", "multiplierDecimal": "4"},
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
        "permissionSet": ["GRID", "COPY"],
    }


EXCHANGE_INFO = {
    "timezone": "UTC",
    "serverTime": 1767225600000,
    "futuresType": "U_MARGINED",
    "rateLimits": [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
    ],
    "exchangeFilters": [],
    "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
    "symbols": [_symbol("BTC", "0.10", "100"), _symbol("ETH", "0.01", "20")],
}


def ticker_24hr(symbol: str, last: str) -> dict[str, Any]:
    """One entry of GET /fapi/v1/ticker/24hr, as Binance sends it."""
    return {
        "symbol": symbol,
        "priceChange": "-1.00",
        "priceChangePercent": "-0.001",
        "weightedAvgPrice": last,
        "lastPrice": last,
        "lastQty": "0.010",
        "openPrice": last,
        "highPrice": last,
        "lowPrice": last,
        "volume": "100.000",
        "quoteVolume": "1000000.00",
        "openTime": 1767139200000,
        "closeTime": 1767225599999,
        "firstId": 1,
        "lastId": 2,
        "count": 2,
    }


class FakeBinance:
    """A local HTTP server answering /fapi/v1/exchangeInfo and /fapi/v1/ticker/24hr.

    Tests set `tickers` (the JSON body) or `raw_ticker_body` (sent verbatim), and read `requests`.
    """

    def __init__(self) -> None:
        self.tickers: Any = [ticker_24hr("BTCUSDT", "60000.10"), ticker_24hr("ETHUSDT", "3000.01")]
        self.raw_ticker_body: str | None = None
        self.fail_next = 0  # answer this many ticker requests with HTTP 503
        self.delay_seconds = 0.0  # stall ticker answers this long
        self.requests: list[str] = []
        self.port = 0

    ticker = staticmethod(ticker_24hr)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request.path)
        if request.path == "/fapi/v1/exchangeInfo":
            return web.json_response(copy.deepcopy(EXCHANGE_INFO))
        if request.path == "/fapi/v1/ticker/24hr":
            if self.delay_seconds:
                await asyncio.sleep(self.delay_seconds)
            if self.fail_next > 0:
                self.fail_next -= 1
                return web.Response(status=503, text="Service Unavailable")
            if self.raw_ticker_body is not None:
                return web.Response(text=self.raw_ticker_body, content_type="application/json")
            return web.json_response(self.tickers)
        return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)


@pytest.fixture
async def fake_binance() -> AsyncIterator[FakeBinance]:
    fake = FakeBinance()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.port = site._server.sockets[0].getsockname()[1]
    yield fake
    await runner.cleanup()
