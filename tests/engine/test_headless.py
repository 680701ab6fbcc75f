"""`cockpit flatten` from a second shell: with no cockpit running, and with one running."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from cockpit.domain.types import Gate
from cockpit.engine.headless import headless_flatten
from cockpit.engine.lock import OwnerLock
from cockpit.journal.rebuild import rebuild_paper_account
from cockpit.journal.store import Journal
from tests.support import BTC, ETH, T0, config, start_engine, tick


async def account_with_positions(path):
    engine, journal, source = await start_engine(path)
    await engine.on_tick(tick(BTC, 60_000.0))
    await engine.on_tick(tick(ETH, 3_000.0))
    await engine.approve(engine.snapshot.proposals[0].id)
    return engine, journal, source


async def test_with_no_cockpit_running_it_flattens_the_journaled_account(tmp_path):
    path = tmp_path / "j.sqlite"
    engine, journal, _ = await account_with_positions(path)
    await engine.stop("test")
    await journal.close()

    outcome = await headless_flatten(config(), path)
    assert outcome.flat and "closed 2 positions" in outcome.message

    async with await Journal.open(path) as journal:
        account = await rebuild_paper_account(journal, "paper-test")
        assert account.positions == {}
        steps = [e.payload["step"] for e in await journal.entries(kinds=["flatten"])]
        assert steps == ["request", "cancel", "gate", "close", "verify", "done"]
        gate = (await journal.entries(kinds=["gate"]))[-1].payload
        assert gate["to"] == "HALTED" and gate["key"] == "cockpit flatten"
        closes = await journal.entries(kinds=["order"])
        assert [e.payload["reduce_only"] for e in closes[-2:]] == [True, True]
        # Closed at the last journaled marks (the stop row's), less slippage for sells.
        fills = (await journal.entries(kinds=["fill"]))[-2:]
        assert {f.symbol: round(f.payload["price"], 6) for f in fills} == {
            BTC: round(60_000.0 * (1 - 0.0005), 6), ETH: round(3_000.0 * (1 - 0.0005), 6)}

    # The next cockpit starts halted and flat: the flatten is not undone by a restart.
    engine, journal, _ = await start_engine(path)
    assert engine.gate is Gate.HALTED and engine.snapshot.state.positions == {}
    await journal.close()


async def test_flatten_twice_is_safe(tmp_path):
    path = tmp_path / "j.sqlite"
    engine, journal, _ = await account_with_positions(path)
    await engine.stop("test")
    await journal.close()
    first = await headless_flatten(config(), path)
    second = await headless_flatten(config(), path)
    assert first.flat and second.flat
    assert "closed 0 positions" in second.message
    async with await Journal.open(path) as journal:
        closes = [e for e in await journal.entries(kinds=["order"])
                  if e.payload["reduce_only"] and e.payload["order_type"] == "market"]
        assert len(closes) == 2


async def test_with_a_cockpit_running_it_asks_that_cockpit_and_waits_for_its_report(tmp_path):
    path = tmp_path / "j.sqlite"
    owner = OwnerLock(path)
    assert owner.acquire()
    engine, journal, source = await account_with_positions(path)
    running = asyncio.create_task(engine.run())
    try:
        outcome = await headless_flatten(config(), path, wait_seconds=10)
        assert outcome.flat and outcome.message.startswith("running cockpit: FLAT")
        assert engine.snapshot.state.positions == {}
        assert engine.gate is Gate.HALTED
        origins = [e.payload.get("origin") for e in await journal.entries(kinds=["flatten"])
                   if e.payload["step"] in ("remote_request", "request")]
        assert origins[0] == "cli" and origins[1].startswith("cli:")
    finally:
        await source.close()
        await running
        await journal.close()
        owner.release()


async def test_old_remote_requests_are_not_replayed_by_a_new_cockpit(tmp_path):
    path = tmp_path / "j.sqlite"
    engine, journal, source = await account_with_positions(path)
    await journal.append("flatten", {"step": "remote_request", "origin": "cli"}, account="paper-test")
    await engine.stop("test")
    await journal.close()
    engine, journal, source = await start_engine(path)
    await engine._serve_remote_flatten()
    assert len(engine.snapshot.state.positions) == 2
    await journal.close()


async def test_a_running_cockpit_that_does_not_answer_is_reported_not_flat(tmp_path):
    path = tmp_path / "j.sqlite"
    engine, journal, _ = await account_with_positions(path)
    owner = OwnerLock(path)
    assert owner.acquire()  # "running", but its engine loop is not serving requests
    try:
        outcome = await headless_flatten(config(), path, wait_seconds=0.5)
        assert not outcome.flat and "did not answer" in outcome.message
    finally:
        owner.release()
        await journal.close()


async def test_no_journal_means_nothing_to_flatten(tmp_path):
    outcome = await headless_flatten(config(), tmp_path / "absent.sqlite")
    assert outcome.flat and "nothing to flatten" in outcome.message
    assert not (tmp_path / "absent.sqlite").exists()


def test_cli_refuses_to_flatten_without_yes_when_no_one_can_type(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "cockpit.cli", "flatten", "--journal", str(tmp_path / "j.sqlite")],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
    )
    assert result.returncode == 2
    assert "--yes" in result.stderr and "Traceback" not in result.stderr
