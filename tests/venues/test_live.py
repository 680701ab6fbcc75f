"""LiveTickerSource with the real ccxt binanceusdm client against a local fake of Binance's API."""

from __future__ import annotations

import asyncio
import socket
import time

import ccxt.async_support as ccxt_async
import pytest

from cockpit.venues.live import LiveTickerSource

SYMBOLS = ["BTC/USDT:USDT", "ETH/USDT:USDT"]


def _client(config):
    # The real ccxt client; only its rate limiter is off. With it on, the all-symbols 24hr ticker
    # (Binance weight 40) waits 2 s between calls, which is right live but slow for tests.
    return ccxt_async.binanceusdm({**config, "enableRateLimit": False})


def _source(url: str, **kwargs) -> LiveTickerSource:
    return LiveTickerSource(SYMBOLS, api_url=url, exchange_factory=_client, **kwargs)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nobody listens once the socket is closed


async def _take(source: LiveTickerSource, count: int) -> list:
    out = []
    async for tick in source.ticks():
        out.append(tick)
        if len(out) == count:
            break
    return out


async def test_probe_and_ticks_from_binance_format(fake_binance):
    source = _source(fake_binance.url, clock=lambda: 1_700_000_000.0)
    try:
        assert await source.probe() is True
        ticks = await _take(source, 2)
    finally:
        await source.close()
    assert [(t.symbol, t.price, t.high, t.low) for t in ticks] == [
        ("BTC/USDT:USDT", 60000.10, 60000.10, 60000.10),
        ("ETH/USDT:USDT", 3000.01, 3000.01, 3000.01),
    ]
    assert ticks[0].timestamp == 1_700_000_000.0
    # ccxt loaded the markets from exchangeInfo, then asked the 24hr ticker endpoint.
    assert fake_binance.requests[:2] == ["/fapi/v1/exchangeInfo", "/fapi/v1/ticker/24hr"]
    assert source.label == "PAPER"
    assert set(source.instruments()) == set(SYMBOLS)


async def test_mark_price_is_preferred_over_last(fake_binance):
    btc = fake_binance.ticker("BTCUSDT", "60000.10")
    btc["markPrice"] = "59990.50"  # premiumIndex-style field riding along in info
    fake_binance.tickers = [btc, fake_binance.ticker("ETHUSDT", "3000.01")]
    source = _source(fake_binance.url)
    try:
        ticks = await _take(source, 1)
    finally:
        await source.close()
    assert ticks[0].price == 59990.50


@pytest.mark.parametrize("bad_price", ["NaN", "-5", "0", None])
async def test_garbage_tickers_are_skipped(fake_binance, bad_price):
    btc = fake_binance.ticker("BTCUSDT", "60000")
    if bad_price is None:
        del btc["lastPrice"]
    else:
        btc["lastPrice"] = bad_price
    fake_binance.tickers = [btc, fake_binance.ticker("ETHUSDT", "3000.01")]
    source = _source(fake_binance.url, poll_seconds=0.0)
    try:
        ticks = await _take(source, 3)
    finally:
        await source.close()
    # Three polls' worth of ticks, all ETH: the bad BTC ticker never comes out, and does not
    # take the good one down with it.
    assert [t.symbol for t in ticks] == ["ETH/USDT:USDT"] * 3
    assert {t.price for t in ticks} == {3000.01}


async def test_probe_false_quickly_on_closed_port():
    source = _source(f"http://127.0.0.1:{_closed_port()}", timeout_seconds=2.0)
    started = time.monotonic()
    try:
        assert await source.probe() is False
    finally:
        await source.close()
    assert time.monotonic() - started < 2.5


async def test_probe_false_on_malformed_json(fake_binance):
    fake_binance.raw_ticker_body = '{"symbol": "BTCUSDT", "lastPrice": '
    source = _source(fake_binance.url, timeout_seconds=2.0)
    try:
        assert await source.probe() is False
    finally:
        await source.close()


async def test_probe_false_when_every_price_is_garbage(fake_binance):
    fake_binance.tickers = [{"symbol": "BTCUSDT", "lastPrice": "abc"}]
    source = _source(fake_binance.url)
    try:
        assert await source.probe() is False
    finally:
        await source.close()


async def test_probe_false_on_timeout(fake_binance):
    fake_binance.delay_seconds = 1.0
    source = _source(fake_binance.url, timeout_seconds=0.3)
    started = time.monotonic()
    try:
        result = await source.probe()
    finally:
        await source.close()
    assert result is False
    assert time.monotonic() - started < 1.5


async def test_ticks_survive_outage_with_backoff(fake_binance):
    fake_binance.fail_next = 3  # three 503s, then prices again
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    source = _source(fake_binance.url, poll_seconds=2.0, sleep=sleep)
    try:
        ticks = await _take(source, 2)
    finally:
        await source.close()
    assert [t.symbol for t in ticks] == SYMBOLS
    # Backoff doubles from the poll interval: 4, 8, then capped at 10 s.
    assert waits == [4.0, 8.0, 10.0]


async def test_default_client_is_rate_limited_binanceusdm():
    source = LiveTickerSource(SYMBOLS)  # builds the client only; no request is made
    try:
        assert source.exchange.id == "binanceusdm"
        assert source.exchange.enableRateLimit is True
        assert source.exchange.timeout == 4000
    finally:
        await source.close()


def test_api_url_override_keeps_paths():
    source = LiveTickerSource(SYMBOLS, api_url="http://127.0.0.1:9/")
    api = source.exchange.urls["api"]
    assert api["fapiPublic"] == "http://127.0.0.1:9/fapi/v1"
    assert api["fapiPublicV2"] == "http://127.0.0.1:9/fapi/v2"
    assert api["fapiData"] == "http://127.0.0.1:9/futures/data"
    asyncio.run(source.close())
