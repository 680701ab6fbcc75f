"""A real account end to end against the local Binance: start, reconciliation, HALTED on a
difference, liquidation while away, key checks, and `cockpit status --config live.toml`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cockpit.config import ConfigError, load_config
from cockpit.domain.types import Gate
from cockpit.engine.session import Session, SessionError
from cockpit.journal.store import Journal
from tests.live.conftest import KEY, SECRET
from tests.live.fake_binance import FakeBinance

REPO = Path(__file__).resolve().parents[2]


def live_config(tmp_path: Path, url: str, extra: str = "", *, mode: int = 0o600) -> Path:
    path = tmp_path / "live.toml"
    path.write_text(f'[exchange]\nid = "binanceusdm"\napi_url = "{url}"\nnot_found_grace_seconds = 1\n'
                    f'testnet = false\n{extra}')
    path.chmod(mode)
    return path


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("COCKPIT_API_KEY", KEY)
    monkeypatch.setenv("COCKPIT_API_SECRET", SECRET)


async def open_session(config_path: Path, journal: Path) -> Session:
    session = Session(load_config(config_path), journal)
    await session.open()
    return session


async def rows(journal: Path, kind: str) -> list:
    async with await Journal.open(journal) as opened:
        return await opened.entries(kinds=[kind])


async def test_a_fresh_account_is_reconciled_and_trades_on_approval(binance, tmp_path):
    journal = tmp_path / "j.sqlite"
    session = await open_session(live_config(tmp_path, binance.url, '[rebalance]\nmode = "continuous"\n'), journal)
    engine = session.engine
    try:
        assert engine.snapshot.source_label == "LIVE" and engine.gate is Gate.ACTIVE
        assert engine.account == "live-binanceusdm"
        run = asyncio.create_task(engine.run())
        for _ in range(100):
            await asyncio.sleep(0.1)
            if engine.snapshot.proposals:
                break
        proposal = engine.snapshot.proposals[0]
        await asyncio.sleep(0.3)
        outcome = await engine.approve(proposal.id)
        assert "filled" in outcome
        market = [o for o in binance.orders if getattr(o, "type", "") == "MARKET"]
        assert len(market) == len([o for o in proposal.orders if o.order_type == "market"])
        assert set(engine.snapshot.state.positions) == {o.symbol for o in proposal.orders}
        run.cancel()
    finally:
        await session.close("test")
    reconciled = await rows(journal, "reconcile")
    assert len(reconciled) == 1 and reconciled[0].payload["agreed"] is True


async def test_a_fill_while_away_halts_until_a_person_resumes(binance, tmp_path):
    journal = tmp_path / "j.sqlite"
    config = live_config(tmp_path, binance.url)
    session = await open_session(config, journal)
    await session.close("first run")
    binance.fill_while_away("BTCUSDT", "BUY", "0.05", price="60000")  # someone traded on the website
    session = await open_session(config, journal)
    try:
        engine = session.engine
        assert engine.gate is Gate.HALTED
        assert "journal and exchange differed" in engine.snapshot.notice
        assert "BTC position: journal +0, exchange +0.05" in engine.snapshot.notice
        assert engine.snapshot.state.positions["BTC/USDT:USDT"].quantity == 0.05  # the exchange's figures
    finally:
        await session.close("second run")
    reconciled = await rows(journal, "reconcile")
    assert [r.payload["agreed"] for r in reconciled] == [True, False]
    gates = await rows(journal, "gate")
    assert gates[-1].payload["to"] == "HALTED" and "differed" in gates[-1].payload["reason"]
    # The difference was adopted as the baseline: the next start agrees, and the gate stays
    # HALTED (journaled) until R.
    session = await open_session(config, journal)
    try:
        assert session.engine.gate is Gate.HALTED
        assert "gate ACTIVE" in await session.engine.resume(key="R")
    finally:
        await session.close("third run")
    assert (await rows(journal, "reconcile"))[-1].payload["agreed"] is True


async def test_a_liquidation_while_away_is_journaled(binance, tmp_path):
    journal = tmp_path / "j.sqlite"
    config = live_config(tmp_path, binance.url)
    session = await open_session(config, journal)
    from cockpit.domain.types import Order

    venue = session.engine._venue  # noqa: SLF001 - a test stands in for an approved order
    result = await venue.submit(Order("BTC/USDT:USDT", "buy", 0.1, client_order_id="ck-manual-1"))
    assert result.status == "filled"
    await session.engine._journal_venue_event(result.fill, {})  # noqa: SLF001 - journal it as a fill
    await session.close("first run")
    binance.liquidate("BTCUSDT")
    session = await open_session(config, journal)
    try:
        notice = session.engine.snapshot.notice
        assert "BTC/USDT:USDT" not in session.engine.snapshot.state.positions
    finally:
        await session.close("second run")
    liquidations = await rows(journal, "liquidation")
    assert len(liquidations) == 1 and liquidations[0].payload["while_away"] is True
    reconciled = (await rows(journal, "reconcile"))[-1].payload
    assert any("LIQUIDATED" in line for line in reconciled["found"])
    assert reconciled["agreed"] is True, notice  # the liquidation explains the missing position


async def test_a_key_that_can_withdraw_is_refused(binance, tmp_path):
    binance.permissions["enableWithdrawals"] = True
    with pytest.raises(SessionError, match="may withdraw funds"):
        await open_session(live_config(tmp_path, binance.url), tmp_path / "j.sqlite")
    assert not [r for r in binance.requests if r["path"] == "/fapi/v1/order"]


async def test_missing_keys_are_one_line(binance, tmp_path, monkeypatch):
    monkeypatch.delenv("COCKPIT_API_KEY")
    monkeypatch.delenv("COCKPIT_API_SECRET")
    monkeypatch.setattr("cockpit.secrets.load_credentials", lambda *a, **k: None)
    with pytest.raises(SessionError, match="no API key for binanceusdm"):
        await open_session(live_config(tmp_path, binance.url), tmp_path / "j.sqlite")


async def test_an_unreachable_exchange_stops_the_start_and_assumes_nothing(tmp_path):
    with pytest.raises(SessionError, match="unreachable"):
        await open_session(live_config(tmp_path, "http://127.0.0.1:9", "timeout_seconds = 1\n"), tmp_path / "j.sqlite")


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_live_config_open_to_others_is_refused(tmp_path, mode):
    with pytest.raises(ConfigError, match="chmod 600"):
        load_config(live_config(tmp_path, "http://127.0.0.1:1", mode=mode))


@pytest.mark.parametrize("line", ['api_key = "abc123456789"', 'secret = "abc123456789"', 'password = "abc123456789"'])
def test_a_config_holding_keys_is_refused_without_echoing_them(tmp_path, line):
    path = live_config(tmp_path, "http://127.0.0.1:1", "")
    path.write_text(path.read_text().replace("[exchange]\n", f"[exchange]\n{line}\n"))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert "must not hold API keys" in str(raised.value) and "abc123456789" not in str(raised.value)


def _cli(*args: str, url: str, journal: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COCKPIT_API_KEY": KEY, "COCKPIT_API_SECRET": SECRET, "COCKPIT_JOURNAL": str(journal)}
    return subprocess.run([sys.executable, "-m", "cockpit.cli", *args], capture_output=True, text=True, timeout=60,
                          env=env, cwd=REPO)


def test_cockpit_status_reads_the_exchange_now(tmp_path):
    with FakeBinance.in_thread(key=KEY, secret=SECRET) as server:
        server.fill_while_away("BTCUSDT", "BUY", "0.5", price="60000")
        config = live_config(tmp_path, server.url)
        result = _cli("status", "--config", str(config), url=server.url, journal=tmp_path / "j.sqlite")
        assert result.returncode == 0, result.stderr
        assert "account live-binanceusdm · binanceusdm" in result.stdout
        assert "gate ACTIVE" in result.stdout and "open orders: none" in result.stdout
        assert "BTC" in result.stdout and "exchange liquidation price" in result.stdout
        as_json = _cli("status", "--config", str(config), "--json", url=server.url, journal=tmp_path / "j.sqlite")
        assert as_json.returncode == 0, as_json.stderr
        report = json.loads(as_json.stdout)
        btc = report["positions"][0]
        assert report["source"] == "LIVE" and btc["symbol"] == "BTC/USDT:USDT" and btc["quantity"] == 0.5
        assert 0 < btc["liquidation_distance"] < 1 and btc["liquidation_price"] < 60000
        assert btc["exchange_liquidation_price"] == pytest.approx(btc["liquidation_price"], rel=0.01)
        orders = [r for r in server.requests if r["method"] in ("POST", "DELETE")]
        assert orders == []  # status only reads


def test_cockpit_status_says_so_when_the_exchange_is_down(tmp_path):
    config = live_config(tmp_path, "http://127.0.0.1:9", "timeout_seconds = 1\n")
    result = _cli("status", "--config", str(config), url="", journal=tmp_path / "j.sqlite")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "unreachable" in result.stderr
    assert "Traceback" not in result.stderr
