"""Backtests on the shared Binance history: the baselines' fate in March 2020, no look-ahead, and
the scripted trader's decisions journaled like a person's."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cockpit.backtest.runner import StrategySpec, run_strategy
from cockpit.config import Config
from cockpit.journal.store import Journal

SPOT = "binance_spot"
MARCH_2020 = (pd.Timestamp("2020-03-01", tz="UTC").timestamp(), pd.Timestamp("2020-04-01", tz="UTC").timestamp())


def spec(name: str, files, start: str, end: str, **kwargs) -> StrategySpec:
    return StrategySpec(name, tuple(str(f) for f in files), start=start, end=end, config=Config().model_dump(), **kwargs)


def test_static_10x_on_btc_is_liquidated_in_march_2020_and_static_3x_is_not(market_data):
    btc = [market_data / SPOT / "BTCUSDT_4h.csv.gz"]
    ten = run_strategy(spec("static_10x", btc, "2020-01-01", "2020-07-01"))
    three = run_strategy(spec("static_3x", btc, "2020-01-01", "2020-07-01"))
    assert ten.ledger.liquidations == 1
    assert MARCH_2020[0] <= ten.ledger.liquidated_at[0] < MARCH_2020[1]
    assert ten.equity[-1] == 0.0  # a cross liquidation takes the whole margin
    assert three.ledger.liquidations == 0 and three.equity[-1] > 0
    # Both held the same exposure per unit of equity: 10x against 3x at the first bar.
    assert ten.ledger.traded_notional > three.ledger.traded_notional


def _write_bars(frame: pd.DataFrame, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    frame.to_csv(path, index=False)
    return path


async def _journal_rows(path: str, before: float) -> list[tuple]:
    async with await Journal.open(path) as journal:
        rows = await journal.entries()
    kept = ("proposal", "decision", "order", "order_result", "fill", "gate", "breaker")
    return [(r.kind, r.symbol, r.proposal_id, r.client_order_id, r.payload) for r in rows if r.ts < before and r.kind in kept]


def test_changing_the_future_does_not_change_past_decisions(market_data, tmp_path):
    cut = pd.Timestamp("2019-09-01", tz="UTC")
    files = {}
    for base in ("BTC", "ETH"):
        frame = pd.read_csv(market_data / SPOT / f"{base}USDT_4h.csv.gz")
        frame = frame[(frame["timestamp"] >= "2019-05-01") & (frame["timestamp"] < "2019-10-15")]
        crashed = frame.copy()
        later = pd.to_datetime(crashed["timestamp"]) >= cut
        for column in ("open", "high", "low", "close"):
            crashed.loc[later, column] = crashed.loc[later, column] * 0.6  # a crash only the future knows
        files[base] = (_write_bars(frame, tmp_path / "real", f"{base}USDT_4h.csv"),
                       _write_bars(crashed, tmp_path / "crashed", f"{base}USDT_4h.csv"))
    real = run_strategy(spec("cockpit", [files[b][0] for b in files], None, None, journal=str(tmp_path / "real.sqlite")))
    crashed = run_strategy(spec("cockpit", [files[b][1] for b in files], None, None, journal=str(tmp_path / "crashed.sqlite")))
    before = cut.timestamp()
    past = real.times < before
    assert past.sum() > 500 and (real.times != crashed.times).sum() == 0
    np.testing.assert_array_equal(real.equity[past], crashed.equity[past])
    real_rows = asyncio.run(_journal_rows(real.journal, before))
    assert any(kind == "fill" for kind, *_ in real_rows) and any(kind == "proposal" for kind, *_ in real_rows)
    assert real_rows == asyncio.run(_journal_rows(crashed.journal, before))
    assert real.equity[-1] != crashed.equity[-1]  # and the future did change what came after


async def _decisions(path: str) -> list:
    async with await Journal.open(path) as journal:
        return await journal.entries(kinds=["proposal", "decision", "fill"])


def test_the_scripted_vetoes_are_journaled_like_a_persons(market_data, tmp_path):
    files = [market_data / SPOT / f"{b}USDT_4h.csv.gz" for b in ("BTC", "ETH")]
    result = run_strategy(spec("cockpit", files, "2021-01-01", "2021-02-15", veto_probability=1.0,
                               journal=str(tmp_path / "vetoes.sqlite")))
    rows = asyncio.run(_decisions(result.journal))
    proposals = [r for r in rows if r.kind == "proposal"]
    decisions = [r for r in rows if r.kind == "decision"]
    assert proposals and result.proposals == len(proposals)
    assert result.vetoes == len(decisions) == len(proposals) and result.approvals == 0
    # The same row a person's `v` writes: decision "veto", the key, the proposal's id.
    assert {(r.payload["decision"], r.payload["key"]) for r in decisions} == {("veto", "backtest:v")}
    assert {r.proposal_id for r in decisions} == {r.proposal_id for r in proposals}
    assert not [r for r in rows if r.kind == "fill"]  # nothing vetoed was traded
    assert result.equity[-1] == pytest.approx(10_000)  # flat all along: only the deposit


async def _fit_lines(path: str) -> list[str]:
    async with await Journal.open(path) as journal:
        rows = await journal.entries(kinds=["model"])
    # The fits' own wall times ("in 0.3s") are the only thing a pool may change.
    return [re.sub(r" in [0-9.]+s", "", r.payload.get("text", "")) for r in rows]


def test_model_fits_in_a_process_pool_give_the_same_run(market_data, tmp_path):
    files = [market_data / SPOT / f"{b}USDT_4h.csv.gz" for b in ("BTC", "ETH")]
    inline = run_strategy(spec("cockpit", files, "2019-03-01", "2019-06-01", journal=str(tmp_path / "inline.sqlite")))
    pooled = run_strategy(spec("cockpit", files, "2019-03-01", "2019-06-01", fit_workers=2,
                               journal=str(tmp_path / "pooled.sqlite")))
    lines = asyncio.run(_fit_lines(inline.journal))
    assert sum("refit GARCH family" in line for line in lines) > 20  # daily refits of both assets ran
    assert lines == asyncio.run(_fit_lines(pooled.journal))
    np.testing.assert_array_equal(inline.equity, pooled.equity)
