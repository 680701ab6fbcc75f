"""`cockpit flatten --config live.toml` against the local Binance: with no cockpit running it
cancels and closes on the exchange itself; with one running it asks that one."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from cockpit.config import load_config
from cockpit.domain.types import Gate, Order
from cockpit.engine.headless import headless_flatten
from cockpit.engine.session import Session
from cockpit.journal.store import Journal
from cockpit.secrets import Credentials
from cockpit.venues.exchange import Exchange
from tests.live.conftest import KEY, SECRET
from tests.live.test_live_session import REPO, live_config

BTC = "BTC/USDT:USDT"


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("COCKPIT_API_KEY", KEY)
    monkeypatch.setenv("COCKPIT_API_SECRET", SECRET)


async def _book(binance) -> None:
    """BTC long and ETH short (traded by the cockpit), a SOL long (not), and a resting BTC stop."""
    binance.fill_while_away("BTCUSDT", "BUY", "0.1", price="60000")
    binance.fill_while_away("ETHUSDT", "SELL", "1", price="3000")
    binance.fill_while_away("SOLUSDT", "BUY", "10", price="150")
    exchange = Exchange("binanceusdm", credentials=Credentials(KEY, SECRET, source="environment"), api_url=binance.url)
    try:
        stop = Order(BTC, "sell", 0.1, reduce_only=True, order_type="stop_market", stop_price=50000, client_order_id="ck-stop-1")
        assert (await exchange.submit(stop)).status == "open"
    finally:
        await exchange.close()


def _orders_sent(binance) -> list[dict]:
    return [r for r in binance.requests_to("/fapi/v1/order", "POST")]


async def test_with_no_cockpit_running_it_flattens_the_exchange_account(binance, tmp_path):
    await _book(binance)
    journal = tmp_path / "j.sqlite"
    outcome = await headless_flatten(load_config(live_config(tmp_path, binance.url)), journal)
    assert outcome.flat, outcome.message
    assert outcome.message.startswith("live-binanceusdm: FLAT: cancelled 1 orders, closed 2 positions")
    assert "left alone, not traded by this cockpit: SOL/USDT:USDT +10" in outcome.message
    assert binance.position("BTCUSDT")["qty"] == 0 and binance.position("ETHUSDT")["qty"] == 0
    assert binance.position("SOLUSDT")["qty"] == 10  # not the cockpit's: untouched
    assert not binance.open_orders(kind="algo") and not binance.open_orders()
    closes = _orders_sent(binance)
    assert len(closes) == 2
    assert all(r["params"]["reduceOnly"] == "true" and r["params"]["newClientOrderId"].startswith("ck") for r in closes)
    async with await Journal.open(journal) as opened:
        steps = [e.payload["step"] for e in await opened.entries(kinds=["flatten"])]
        assert steps == ["request", "cancel", "gate", "close", "verify", "done"]
        gate = (await opened.entries(kinds=["gate"]))[-1]
        assert gate.account == "live-binanceusdm" and gate.payload["to"] == "HALTED"
        intents = await opened.entries(kinds=["order"])
        assert {e.client_order_id for e in intents} == {r["params"]["newClientOrderId"] for r in closes}

    again = await headless_flatten(load_config(live_config(tmp_path, binance.url)), journal)
    assert again.flat and "closed 0 positions" in again.message
    assert len(_orders_sent(binance)) == 2  # nothing sent the second time


async def test_without_keys_nothing_is_sent(binance, tmp_path, monkeypatch):
    await _book(binance)
    monkeypatch.delenv("COCKPIT_API_KEY")
    monkeypatch.delenv("COCKPIT_API_SECRET")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    before = len(binance.requests)
    outcome = await headless_flatten(load_config(live_config(tmp_path, binance.url)), tmp_path / "j.sqlite")
    assert not outcome.flat and outcome.message.startswith("no API key for binanceusdm")
    assert len(binance.requests) == before


async def test_an_exchange_that_fails_midway_is_reported_not_flat(binance, tmp_path):
    await _book(binance)
    binance.inject("GET", "/fapi/v3/positionRisk", "garbage", times=10)
    binance.inject("GET", "/fapi/v2/positionRisk", "garbage", times=10)
    outcome = await headless_flatten(load_config(live_config(tmp_path, binance.url)), tmp_path / "j.sqlite")
    assert not outcome.flat
    assert "garbled" in outcome.message and "flatten did not finish" in outcome.message
    assert not _orders_sent(binance)  # a report it could not read is not "flat", and not acted on


async def test_with_a_live_cockpit_running_it_asks_that_cockpit(binance, tmp_path):
    binance.fill_while_away("BTCUSDT", "BUY", "0.1", price="60000")
    journal = tmp_path / "j.sqlite"
    config = load_config(live_config(tmp_path, binance.url))
    session = Session(config, journal)
    await session.open()
    running = asyncio.create_task(session.engine.run())
    try:
        outcome = await headless_flatten(config, journal, wait_seconds=20)
        assert outcome.flat and outcome.message.startswith("running cockpit: FLAT"), outcome.message
        assert session.engine.gate is Gate.HALTED
        assert binance.position("BTCUSDT")["qty"] == 0
    finally:
        running.cancel()
        await session.close("test")


def test_cli_flattens_the_exchange_account(binance_in_thread, tmp_path):
    server = binance_in_thread
    server.call(server.fill_while_away, "BTCUSDT", "BUY", "0.1", "60000")
    config = live_config(tmp_path, server.url)
    env = {**os.environ, "COCKPIT_API_KEY": KEY, "COCKPIT_API_SECRET": SECRET}
    result = subprocess.run(
        [sys.executable, "-m", "cockpit.cli", "flatten", "--yes", "--config", str(config), "--journal", str(tmp_path / "j.sqlite")],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("live-binanceusdm: FLAT: cancelled 0 orders, closed 1 positions")
    assert "Traceback" not in result.stderr and KEY not in result.stdout + result.stderr
    assert server.call(server.position, "BTCUSDT")["qty"] == 0


@pytest.fixture
def binance_in_thread():
    from tests.live.fake_binance import FakeBinance

    with FakeBinance.in_thread(key=KEY, secret=SECRET) as server:
        yield server
