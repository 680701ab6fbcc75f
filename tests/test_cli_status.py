"""`cockpit status` and `cockpit targets` as a trader runs them: the real entry point in a
subprocess, on journals the real engine wrote and on the real Binance history in ../shared."""

from __future__ import annotations

import os
import sqlite3
import tomllib

import pytest

from cockpit import cli
from cockpit.config import load_config
from cockpit.engine import targets as targets_module
from cockpit.engine.lock import OwnerLock
from cockpit.engine.targets import round_targets
from cockpit.journal.store import Journal
from cockpit.models import optimizer
from tests.support import BTC, ETH, T0, FakeClock, config, start_engine, tick
from tests.test_cli import cockpit, refused

FEE = 0.0005  # paper.taker_fee default
SLIP = 0.0005  # paper.slippage default: a buy fills at mark x (1 + SLIP)
KLINE_HEADER = "open_time_ms,timestamp,open,high,low,close,volume\n"


def status(path) -> str:
    result = cockpit("status", "--journal", str(path))
    assert result.returncode == 0, result
    assert result.stderr == ""
    return result.stdout


def line_of(output: str, start: str) -> str:
    (line,) = [line for line in output.splitlines() if line.strip().startswith(start)]
    return line


async def booked(path, clock=None):
    """An engine holding the default book: 0.166 BTC and 2 ETH bought at marks 60,000 / 3,000."""
    engine, journal, source = await start_engine(path, clock=clock)
    await engine.on_tick(tick(BTC, 60_000.0))
    await engine.on_tick(tick(ETH, 3_000.0))
    await engine.approve(engine.snapshot.proposals[0].id, key="a")
    return engine, journal


# ---- status --------------------------------------------------------------------------------


async def test_status_values_the_book_at_the_last_marks_and_shows_every_scenario(tmp_path):
    path = tmp_path / "j.sqlite"
    engine, journal = await booked(path)
    await engine.stop("test")
    await journal.close()

    out = status(path)
    # From first principles: fills at mark x 1.0005, 0.05 % fee on each fill's value.
    btc_entry, eth_entry = 60_000 * (1 + SLIP), 3_000 * (1 + SLIP)
    assert (btc_entry, eth_entry) == pytest.approx((60_030.0, 3_001.5))
    wallet = 10_000 - FEE * (0.166 * btc_entry + 2 * eth_entry)
    equity = wallet + 0.166 * (60_000 - btc_entry) + 2 * (3_000 - eth_entry)
    leverage = (0.166 * 60_000 + 2 * 3_000) / equity
    assert out.startswith("account paper-test · SYNTHETIC · stopped ")
    assert "gate ACTIVE (never moved)" in out
    assert f"wallet {wallet:,.2f} · equity {equity:,.2f} USDT · leverage {leverage:.2f}x (ceiling 3.00x)" in out
    assert "at marks of " in out and f"equity {equity:,.2f} USDT" in line_of(out, "at marks of")

    # -10 % on both: marks 54,000 and 2,700; 1.6x is nowhere near liquidation.
    after = wallet + 0.166 * (54_000 - btc_entry) + 2 * (2_700 - eth_entry)
    row = line_of(out, "-10% all").split()
    assert row[2:4] == ["-10.0%", "-10.0%"]  # BTC, ETH columns
    assert row[4] == f"{after:,.2f}" == "8,388.04"
    assert row[5] == f"{-(equity - after) / equity * 100:+.1f}%" == "-16.0%"
    assert row[6] == "none"
    # March 2020's worst day (BTC -50.64 %, ETH -53.03 %) still leaves the 1.6x cross book standing.
    march = wallet + 0.166 * (60_000 * (1 - 0.5064) - btc_entry) + 2 * (3_000 * (1 - 0.5303) - eth_entry)
    assert line_of(out, "Mar 2020 24h").split()[5] == f"{march:,.2f}"
    assert "all together" in out and "cross book" in out
    assert "breakers: none tripped since the last reset" in out
    assert "Traceback" not in out and "\x1b[" not in out  # plain text into a pipe


async def test_a_book_near_its_ceiling_shows_what_liquidates_it(tmp_path):
    cfg = config(portfolio={"targets": {"BTC": 1.0}, "target_leverage": 2.9}, limits={"max_asset_exposure": 3.0},
                 sizing={"regime_aware": False, "target_volatility": 10.0})  # no volatility cap: 2.9x
    engine, journal, _ = await start_engine(tmp_path / "j.sqlite", cfg)
    await engine.on_tick(tick(BTC, 60_000.0))
    await engine.approve(engine.snapshot.proposals[0].id)
    quantity = engine.snapshot.state.positions[BTC].quantity
    await engine.stop("test")
    await journal.close()

    out = status(tmp_path / "j.sqlite")
    assert quantity == pytest.approx(0.483)  # 2.9 x 10,000 / 60,000, step 0.001
    entry = 60_000 * (1 + SLIP)
    wallet = 10_000 - FEE * 0.483 * entry
    # DESIGN.md 5, one cross long (side +1), first tier (notional < 50,000: MMR 0.4 %, cum 0):
    # LP = (WB - side*qty*EP) / (qty*MMR - side*qty).
    liq = (wallet - 0.483 * entry) / (0.483 * 0.004 - 0.483)
    row = line_of(out, "BTC ").split()
    assert row[1:3] == ["long", "cross"] and row[3] == "60,000"
    assert row[4] == f"{liq:,.0f}" and row[5] == f"{-(60_000 - liq) / 60_000 * 100:+.1f}%" == "-34.1%"
    # -33 % (40,200) stays above that price: standing, barely.
    assert line_of(out, "-33% all").split()[-1] == "none"
    # March 2020 (-50.64 %) goes through it: the liquidated book is worth 0.
    assert line_of(out, "Mar 2020 24h").split()[-3:] == ["0.00", "-100.0%", "BTC"]


async def test_a_tripped_breaker_shows_until_a_person_resets_it(tmp_path):
    path = tmp_path / "j.sqlite"
    clock = FakeClock()
    engine, journal = await booked(path, clock)
    clock.advance(60)
    await engine.on_tick(tick(BTC, 54_000.0, T0 + 60))  # -10 % at 1.6x: equity -16 % > 8 %
    await engine.on_tick(tick(ETH, 2_700.0, T0 + 60))
    (trip,) = [e.payload for e in await journal.entries(kinds=["breaker"])]
    assert trip["breaker"] == "portfolio_day_loss" and trip["status"] == "tripped"

    out = status(path)  # while the engine still holds the journal open
    assert "gate REDUCING since " in out and "no stop journaled" in out
    assert "breakers tripped and not reset since" in out
    row = line_of(out, "portfolio day loss").split()
    # Latched, not tripped: status cannot know the reading now, only that no reset followed.
    assert row[3:] == ["portfolio", "latched", "n/a", "8.0%", f"{trip['value'] * 100:.1f}%"]

    await engine.resume(key="R")  # re-arms the breaker (a reset row) and opens the gate
    await engine.stop("test")
    await journal.close()
    out = status(path)
    assert "gate ACTIVE since " in out and "resumed by trader, key R" in out
    assert "breakers: none tripped since the last reset" in out
    assert "portfolio day loss" not in out


async def test_a_trip_no_reset_answered_stays_listed_across_restarts_until_r(tmp_path):
    path = tmp_path / "j.sqlite"
    clock = FakeClock()
    engine, journal = await booked(path, clock)
    clock.advance(60)
    await engine.on_tick(tick(BTC, 54_000.0, T0 + 60))  # equity -16 % > 8 %, as above
    await engine.on_tick(tick(ETH, 2_700.0, T0 + 60))
    (trip,) = [e.payload for e in await journal.entries(kinds=["breaker"])]
    await engine.stop("test")
    await journal.close()
    engine, journal, _ = await start_engine(path, clock=clock)  # the restart restores the latch
    await engine.stop("again")
    await journal.close()

    out = status(path)
    assert "gate REDUCING" in out  # the gate and the latch both survive the restart
    assert "breakers tripped and not reset since" in out
    row = line_of(out, "portfolio day loss").split()
    assert row[3:] == ["portfolio", "latched", "n/a", "8.0%", f"{trip['value'] * 100:.1f}%"]
    assert "earlier runs" not in out  # one list, whichever run tripped it

    engine, journal, _ = await start_engine(path, clock=clock)
    await engine.resume(key="R")  # a reset in a later run answers the earlier trip
    await engine.stop("test")
    await journal.close()
    out = status(path)
    assert "breakers: none tripped since the last reset" in out
    assert "portfolio day loss" not in out


async def test_status_beside_a_running_cockpit_reads_without_writing_or_locking(tmp_path):
    path = tmp_path / "j.sqlite"
    owner = OwnerLock(path)
    assert owner.acquire()  # as a running cockpit holds it
    try:
        engine, journal = await booked(path)
        rows = len(await journal.entries())
        out = status(path)
        assert "no stop journaled" in out
        # Marks are journaled once a market minute; the buy at 60,030 came after the last of
        # them, so its price is the newest BTC price in the journal, as a restart would use it.
        assert line_of(out, "BTC ").split()[3] == "60,030"
        assert len(await journal.entries()) == rows  # nothing appended
        await engine.on_tick(tick(BTC, 60_100.0))  # the owner writes on, undisturbed
        await engine.stop("test")
        await journal.close()
    finally:
        owner.release()


async def test_an_account_without_positions(tmp_path):
    path = tmp_path / "j.sqlite"
    engine, journal, _ = await start_engine(path)
    await engine.on_tick(tick(BTC, 60_000.0))
    await engine.stop("test")
    await journal.close()
    out = status(path)
    assert "wallet 10,000.00 · equity 10,000.00 USDT · leverage 0.00x" in out
    assert "no open positions" in out
    row = line_of(out, "-10% all").split()
    assert row[-3] == "10,000.00" and row[-1] == "none"  # nothing held, nothing lost
    assert cockpit("--journal", str(path), "status").stdout == out  # the option before the command too


def test_no_journal_is_one_line_and_status_1(tmp_path):
    result = cockpit("status", "--journal", str(tmp_path / "absent.sqlite"))
    assert result.returncode == 1 and result.stderr == ""
    assert result.stdout.splitlines() == [f"no journal at {tmp_path / 'absent.sqlite'}: no account to report"]
    assert not (tmp_path / "absent.sqlite").exists()


async def test_an_empty_journal_is_one_line_and_status_1(tmp_path):
    path = tmp_path / "j.sqlite"
    await (await Journal.open(path)).close()
    result = cockpit("status", "--journal", str(path))
    assert result.returncode == 1 and len(result.stdout.splitlines()) == 1
    assert "holds no account yet" in result.stdout
    zero = tmp_path / "zero.sqlite"
    zero.write_bytes(b"")
    result = cockpit("status", "--journal", str(zero))
    assert result.returncode == 1 and "is empty" in result.stdout
    assert zero.read_bytes() == b""  # read only: not turned into a journal


def test_bad_journal_paths_are_refused_in_one_line(tmp_path):
    refused(cockpit("status", "--journal", str(tmp_path)), "is a directory")
    garbage = tmp_path / "notes.sqlite"
    garbage.write_text("my notes")
    refused(cockpit("status", "--journal", str(garbage)), "not a SQLite database")
    assert garbage.read_text() == "my notes"
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE prices (x)")
    refused(cockpit("status", "--journal", str(other)), "not a cockpit journal")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads a mode-000 file anyway")
async def test_an_unreadable_journal_is_refused(tmp_path):
    path = tmp_path / "j.sqlite"
    await (await Journal.open(path)).close()
    path.chmod(0)
    refused(cockpit("status", "--journal", str(path)), "cannot open journal")


# ---- targets -------------------------------------------------------------------------------


def pasted(output: str) -> dict[str, float]:
    block = output[output.index("[portfolio.targets]"):]
    return tomllib.loads(block)["portfolio"]["targets"]


def table_rows(output: str) -> dict[str, list[str]]:
    """{asset: [asset, weight, x equity, return/yr, vol/yr, risk share]} from the printed table."""
    rows = [line.split() for line in output.splitlines()]
    return {row[0]: row for row in rows if len(row) == 6 and row[0] in ("BTC", "ETH")}


@pytest.fixture
def daily(market_data):
    return [str(market_data / "binance_spot" / f"{base}USDT_1d.csv.gz") for base in ("BTC", "ETH")]


def test_min_variance_gives_the_calmer_asset_more_and_the_block_passes_the_config(daily):
    result = cockpit("targets", *daily, "--objective", "min_variance", "--lookback-days", "365")
    assert result.returncode == 0, result.stderr
    weights = pasted(result.stdout)
    assert set(weights) == {"BTC", "ETH"}
    assert all(w >= 0 for w in weights.values())
    assert sum(abs(w) for w in weights.values()) <= 1.0
    defaults = load_config(None, environ={})
    for w in weights.values():
        assert w * defaults.portfolio.target_leverage <= defaults.limits.max_asset_exposure
    assert weights["BTC"] > weights["ETH"]
    vols = {asset: float(row[4].rstrip("%")) for asset, row in table_rows(result.stdout).items()}
    assert vols["BTC"] < vols["ETH"]  # why: BTC is the lower-volatility asset
    assert "1d bars" in result.stdout and "(365 days, 365 common closes)" in result.stdout
    load_config(None, environ={}, overrides={"portfolio": {"targets": weights}})  # pastes cleanly


def test_the_caps_of_the_config_given_bind_and_it_is_left_unchanged(daily, tmp_path):
    path = tmp_path / "my.toml"
    text = ("[portfolio]\ntarget_leverage = 3.0\n[portfolio.targets]\nBTC = 0.45\nETH = 0.45\n"
            "[limits]\nmax_asset_exposure = 1.5\n")
    path.write_text(text)
    path.chmod(0o600)
    for objective in ("min_variance", "risk_parity", "max_sharpe"):
        result = cockpit("targets", *daily, "--objective", objective, "--config", str(path))
        assert result.returncode == 0, result.stderr
        weights = pasted(result.stdout)
        assert all(0 <= w and w * 3.0 <= 1.5 for w in weights.values()), weights  # cap 1.5x / 3x = 0.5
        assert sum(weights.values()) <= 0.9 + 1e-12  # the config's 10 % reserve is kept
        assert "reserve 10.0%" in result.stdout and "converged: yes" in result.stdout
    assert path.read_text() == text


def test_risk_parity_splits_the_risk_evenly(daily):
    result = cockpit("targets", *daily)  # risk_parity is the default
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("risk_parity · 1d bars")
    rows = table_rows(result.stdout)
    assert [rows[asset][-1] for asset in ("BTC", "ETH")] == ["50.0%", "50.0%"]
    assert {asset: float(row[1]) for asset, row in rows.items()} == pasted(result.stdout)
    assert sum(pasted(result.stdout).values()) == pytest.approx(0.8)  # default targets leave 20 %


def kline(path, start_day: int, days: int) -> str:
    rows = [f"{(start_day + i) * 86_400_000},x,{100 + i},{101 + i},{99 + i},{100 + i},1\n" for i in range(days)]
    path.write_text(KLINE_HEADER + "".join(rows))
    return str(path)


def test_bad_target_inputs_are_one_line_and_status_2(daily, tmp_path):
    refused(cockpit("targets", daily[0]), "at least 2 assets")
    refused(cockpit("targets", daily[0], str(tmp_path / "ETHUSDT_1d.csv")), "ETHUSDT_1d.csv", "file not found")
    bad = tmp_path / "ETHUSDT_1d.csv"
    bad.write_text(KLINE_HEADER + "1,2020-01-01T00:00:00Z,1,0.5,2,1,1\n")
    refused(cockpit("targets", daily[0], str(bad)), "ETHUSDT_1d.csv", "high < low")
    refused(cockpit("targets", daily[0], daily[0].replace("_1d", "_4h")), "a second file for BTC")
    refused(cockpit("targets", daily[0], daily[1].replace("_1d", "_4h")), "different bar sizes")
    early, late = kline(tmp_path / "SOLUSDT_1d.csv", 18_000, 40), kline(tmp_path / "XRPUSDT_1d.csv", 18_030, 40)
    refused(cockpit("targets", early, late), "too few overlapping bars: 10 common closes")
    refused(cockpit("targets", early, kline(tmp_path / "ADAUSDT_1d.csv", 19_000, 40)), "share no bar time")
    refused(cockpit("targets", *daily, "--lookback-days", "0"), "--lookback-days")
    refused(cockpit("targets", *daily, "--objective", "max_return"), "--objective")


def test_rounding_never_breaks_the_config_rules():
    # Rounding each to nearest could give 0.334 + 0.667 = 1.001: above "sum of |weights| <= 1".
    split = round_targets({"A": 0.3335, "B": 0.6665}, target_leverage=2.0, asset_cap=2.0)
    assert sum(split.values()) == pytest.approx(1.0) and sum(split.values()) <= 1.0
    assert split["A"] == pytest.approx(0.3335, abs=0.001) and split["B"] == pytest.approx(0.6665, abs=0.001)
    assert round_targets({"A": 0.4, "B": 0.4}, target_leverage=2.0, asset_cap=2.0) == {"A": 0.4, "B": 0.4}
    # A cap of 2x at 3x leverage is 0.6667 of levered capital: 0.667 x 3 = 2.001 would be refused.
    capped = round_targets({"A": 2 / 3, "B": 1 / 3}, target_leverage=3.0, asset_cap=2.0)
    assert capped["A"] * 3.0 <= 2.0 and sum(capped.values()) <= 1.0
    load_config(None, environ={}, overrides={"portfolio": {"targets": capped, "target_leverage": 3.0},
                                              "limits": {"max_asset_exposure": 2.0}})


def test_the_cli_names_the_objectives_and_default_the_engine_uses():
    assert cli.OBJECTIVES == optimizer.OBJECTIVES
    assert cli.DEFAULT_LOOKBACK_DAYS == targets_module.DEFAULT_LOOKBACK_DAYS
