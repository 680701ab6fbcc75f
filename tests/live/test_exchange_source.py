"""Live public prices through the exchange adapter (the paper account's default market), with the
real ccxt client against the local Binance USDT-M: the start probe, the mark-price stream, a dead
stream restarted, the REST fallback, and the paper account trading on them."""

from __future__ import annotations

import asyncio
import socket

import pytest

from cockpit.engine.bootstrap import choose_market, open_engine
from cockpit.engine.public_market import open_public_source
from cockpit.journal.store import Journal
from cockpit.venues import exchange_source
from cockpit.venues.exchange import Exchange
from cockpit.venues.exchange_source import ExchangeSource
from tests.support import config

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"


def _unthrottled(settings):
    # The real ccxt.pro client with its rate limiter off: on, it is right live but slow for tests.
    import ccxt.pro

    return ccxt.pro.binanceusdm({**settings, "enableRateLimit": False})


def _paper_config(url: str, **market):
    return config(exchange={"api_url": url, "timeout_seconds": 1}, market={"connect_timeout_seconds": 2, **market})


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nobody listens once the socket is closed


async def _take(ticks, count: int = 1, until=None, timeout: float = 10.0) -> list:
    """Returns the next `count` of `ticks` (one source.ticks() stream, as the engine reads it),
    or with `until` the ticks up to the first it accepts."""
    out = []

    async def collect() -> None:
        while True:
            out.append(await anext(ticks))
            if (until(out[-1]) if until else len(out) == count):
                return

    await asyncio.wait_for(collect(), timeout)
    return out


async def test_probe_gives_the_exchange_markets_history_and_a_paper_label(binance):
    source = await open_public_source(_paper_config(binance.url), factory=_unthrottled)
    assert source is not None
    try:
        assert source.label == "PAPER"
        btc = source.instruments()[BTC]
        # The exchange's own filters, not the offline defaults.
        assert (btc.step_size, btc.tick_size, btc.min_notional) == (0.001, 0.1, 100.0)
        times, closes = source.history()[BTC]
        assert len(closes) > 1000 and times == sorted(times)
        # No key was sent: the paper account reads public endpoints only.
        assert all("X-MBX-APIKEY" not in r["headers"] for r in binance.requests)
    finally:
        await source.close()


async def test_probe_answers_none_on_a_closed_port_within_the_timeout():
    cfg = _paper_config(f"http://127.0.0.1:{_closed_port()}")
    started = asyncio.get_running_loop().time()
    assert await open_public_source(cfg, factory=_unthrottled) is None
    assert asyncio.get_running_loop().time() - started < cfg.market.connect_timeout_seconds + 1


@pytest.mark.parametrize("fault", ["malformed", "garbage", "500"])
async def test_probe_answers_none_when_prices_are_unusable(binance, fault):
    binance.inject("GET", "/fapi/v1/premiumIndex", fault, times=10)
    assert await open_public_source(_paper_config(binance.url), factory=_unthrottled) is None


async def test_probe_answers_none_when_the_exchange_hangs(binance):
    binance.timeout_sleep = 5
    binance.inject("*", "*", "timeout", times=10)
    started = asyncio.get_running_loop().time()
    assert await open_public_source(_paper_config(binance.url), factory=_unthrottled) is None
    assert asyncio.get_running_loop().time() - started < 4


async def test_offline_the_cockpit_falls_back_to_the_labelled_demo():
    choice = await choose_market(_paper_config(f"http://127.0.0.1:{_closed_port()}"), demo=False, replay=[], speed=1)
    assert (choice.kind, choice.note, choice.source) == ("demo", "offline fallback", None)


async def test_stream_gives_mark_prices_and_a_killed_stream_is_restarted(binance):
    exchange = Exchange("binanceusdm", factory=_unthrottled, api_url=binance.url, timeout_seconds=1)
    source = ExchangeSource(exchange, await exchange.instruments([BTC, ETH]), label="PAPER", quiet_seconds=2)
    ticks = source.ticks()
    try:
        first = await _take(ticks, until=lambda t: t.symbol == ETH)
        assert source.feed == "stream"
        assert {(t.symbol, t.price) for t in first} >= {(BTC, 60000.0), (ETH, 3000.0)}
        binance.kill_streams(abrupt=True)
        binance.set_mark("BTCUSDT", 61000)
        await _take(ticks, until=lambda t: t.price == 61000.0)
        assert source.restarts >= 1 and source.feed == "stream"
    finally:
        await ticks.aclose()
        await source.close()


async def test_a_silent_stream_falls_back_to_rest_and_the_gap_is_visible(binance, monkeypatch):
    monkeypatch.setattr(exchange_source, "STREAM_FAILURES", 1)
    exchange = Exchange("binanceusdm", factory=_unthrottled, api_url=binance.url, timeout_seconds=1)
    source = ExchangeSource(exchange, await exchange.instruments([BTC]), label="PAPER", quiet_seconds=1, poll_seconds=0.1)
    ticks = source.ticks()
    try:
        await _take(ticks)
        binance.mute_streams()
        binance.set_mark("BTCUSDT", 59000)
        started = asyncio.get_running_loop().time()
        polled = await _take(ticks)
        waited = asyncio.get_running_loop().time() - started
        assert polled[0].price == 59000.0 and source.feed == "REST"
        assert waited >= 0.9  # no tick was made up while the stream was silent
        assert binance.requests_to("/fapi/v1/premiumIndex")
    finally:
        await ticks.aclose()
        await source.close()


async def test_the_paper_account_trades_on_live_public_prices(binance, tmp_path):
    cfg = _paper_config(binance.url)
    choice = await choose_market(cfg, demo=False, replay=[], speed=1)
    assert (choice.kind, choice.account) == ("live", "paper-live") and choice.source is not None
    async with await Journal.open(tmp_path / "j.sqlite") as journal:
        engine = await open_engine(cfg, choice, journal)
        running = asyncio.create_task(engine.run())
        try:
            for _ in range(200):
                if engine.snapshot.proposals:
                    break
                await asyncio.sleep(0.05)
            assert engine.snapshot.source_label == "PAPER"
            assert engine.snapshot.state.positions == {}  # a live paper account starts in cash
            assert "filled" in await engine.approve(engine.snapshot.proposals[0].id)
            fills = await journal.entries(kinds=["fill"])
            btc = next(f for f in fills if f.symbol == BTC)
            # Fake Binance marks BTC at 60,000; a paper buy pays the configured 0.05% slippage,
            # and its size is on the exchange's 0.001 step.
            assert btc.payload["price"] == pytest.approx(60_000 * 1.0005, rel=1e-6)
            assert round(btc.payload["quantity"] / 0.001, 6).is_integer()
            # Nothing reached the exchange's order endpoints: paper fills stay in the journal.
            assert not binance.requests_to("/fapi/v1/order") and not binance.orders
        finally:
            await engine.stop("test")
            await running
