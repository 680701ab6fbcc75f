"""The default run: a paper account on live public prices, with the real ccxt client talking to a
local server that answers in Binance USDT-M's own JSON."""

from __future__ import annotations

import asyncio

import ccxt.async_support as ccxt_async
import pytest

from cockpit.engine.bootstrap import MarketChoice, open_engine
from cockpit.journal.store import Journal
from cockpit.venues.live import LiveTickerSource
from tests.support import config

SYMBOLS = ["BTC/USDT:USDT", "ETH/USDT:USDT"]


def _client(settings):
    return ccxt_async.binanceusdm({**settings, "enableRateLimit": False})


async def test_the_paper_account_trades_on_live_public_prices(fake_binance, tmp_path):
    source = LiveTickerSource(SYMBOLS, api_url=fake_binance.url, exchange_factory=_client, poll_seconds=0.05)
    assert await source.probe()
    async with await Journal.open(tmp_path / "j.sqlite") as journal:
        engine = await open_engine(config(), MarketChoice("live", "paper-live", "prices"), journal, source=source)
        running = asyncio.create_task(engine.run())
        try:
            for _ in range(100):
                if engine.snapshot.proposals:
                    break
                await asyncio.sleep(0.05)
            assert engine.snapshot.source_label == "PAPER"
            assert engine.snapshot.state.positions == {}  # a live paper account starts in cash
            proposal = engine.snapshot.proposals[0]
            assert "filled" in await engine.approve(proposal.id)
            fills = await journal.entries(kinds=["fill"])
            # Fake Binance quotes BTC at 60,000.10 (mark); a buy pays 0.05% slippage.
            btc = next(f for f in fills if f.symbol == "BTC/USDT:USDT")
            assert btc.payload["price"] == pytest.approx(60_000.10 * 1.0005, rel=1e-6)
        finally:
            await engine.stop("test")
            await running
