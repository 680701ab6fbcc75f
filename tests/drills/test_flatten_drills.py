"""Reliability drill: flatten all when it hurts most.

- kill -9 mid-flatten (20 seeds): several positions, some closes sent and answered, one dying at
  its intent, its send (accepted, answer held) or its ack; then flatten again, by a restarted
  cockpit (F) or by `cockpit flatten` with no cockpit running, then restart.
- flatten twice from the TUI: the second sends nothing.
- flatten from the TUI and `cockpit flatten` in another shell at once (the CLI asks the running
  cockpit, which serves the two one after the other), at seeded offsets.
- flatten after a crash: the cockpit killed while it holds positions and resting stops, then
  `cockpit flatten` from a shell acts on the exchange itself.

Every case ends flat on the traded symbols with no position flipped (every close reduce-only and
filled in full: no overshoot), every order in the journal, and a restart that agrees with the
exchange (order_path_rig.check_restart).

`.venv/bin/pytest -m drills tests/drills/test_flatten_drills.py`; COCKPIT_DRILL_KILLS=N runs N
mid-flatten seeds instead of 20.
"""

from __future__ import annotations

import os
import random
import re
import signal
import time
from pathlib import Path

import pytest

from cockpit.domain.types import Gate
from cockpit.engine.engine import Engine
from cockpit.engine.flatten import FlattenReport
from tests.drills.order_path_rig import (
    FLATTEN_TIMEOUT,
    SEND_TIMEOUT,
    START_TIMEOUT,
    CliFlatten,
    DrillChild,
    DrillExchange,
    Scenario,
    book_now,
    check_flat_without_flip,
    check_journal_intact,
    check_restart,
    drill_exchange,
    exchange_counts,
    flatten_runs,
    run_session,
    server_orders,
    traded,
)
from tests.live.test_crash_restart import journal_rows, status_of

pytestmark = pytest.mark.drills

KILLS = int(os.environ.get("COCKPIT_DRILL_KILLS", "20"))


async def flatten_from_tui(engine: Engine) -> FlattenReport:
    """What the TUI's F does after the typed confirmation; the gate is checked first: a flatten
    that died mid-way left it HALTED, and a restart keeps it so."""
    assert engine.gate is Gate.HALTED
    return await engine.flatten(key="F", origin="tui")


def start(child: DrillChild) -> None:
    """Waits until the child runs (resumed by R when the book made the first start halt)."""
    child.wait_any(("opened ",), START_TIMEOUT)


# ---- kill -9 mid-flatten ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [6000 + n for n in range(KILLS)])
def test_killed_mid_flatten_a_second_flatten_ends_flat_without_a_flip(seed: int, tmp_path: Path) -> None:
    scenario = Scenario.from_seed(seed, every_symbol=True, min_positions=2)
    rng = random.Random(seed)
    approve_first, again_by = rng.random() < 0.5, rng.choice(["cockpit", "cli"])
    with drill_exchange(scenario) as server:
        config, journal = scenario.config(tmp_path, str(server.url)), tmp_path / "journal.sqlite"
        child = DrillChild(config, journal, scenario.plan("mid_flatten", approve_first=approve_first))
        try:
            flattening = child.wait_any(("flattening ",), START_TIMEOUT)
            child.wait_any(("waiting for go",), START_TIMEOUT)
            k = int(re.search(r"target=(\d+)", flattening).group(1))
            since = book_now(server)
            if scenario.flatten_step == "send":
                placed = len(server_orders(server))
                server.call(server.hold_answer_of, k)
                child.send("go")
                wait_accepted(child, server, placed + k + 1)
                time.sleep(scenario.jitter)
                os.kill(child.pid, signal.SIGKILL)
                assert child.wait_exit(SEND_TIMEOUT) == -signal.SIGKILL
            else:
                child.send("go")
                child.wait_any(("killing myself",), START_TIMEOUT)
                child.wait_killed()
        finally:
            child.close()
        check_journal_intact(journal)
        before = journal_rows(journal)
        killed = flatten_runs(before)[-1]
        assert killed["summary"] is None and len(killed["orders"]) >= 2, killed
        assert status_of(before, killed["orders"][0]) == ["filled"]  # one close went through before the kill
        # Killed at its ack: the close's answer is journaled (maybe not its fill); else no answer.
        assert status_of(before, killed["orders"][k]) == (["filled"] if scenario.flatten_step == "ack" else [])

        if again_by == "cockpit":
            report = run_session(config, journal, flatten_from_tui, timeout=FLATTEN_TIMEOUT)
            assert report.flat, report.summary()
        else:
            cli = CliFlatten(config, journal)
            try:
                status, out = cli.result()
            finally:
                cli.close()
            assert status == 0 and ": FLAT: " in out, out
            run_session(config, journal)  # the restart that resolves the killed flatten's closes
        rows = check_restart(server, journal)
        check_flat_without_flip(server, since, traded(scenario))
        # Each close of the killed flatten went out once or never (a flatten's close is never
        # sent at a restart: the trader flattens again instead), and was not sent again.
        counts = exchange_counts(server)
        for cid in killed["orders"]:
            final = status_of(rows, cid)[-1]
            assert final in ("filled", "lapsed"), (cid, status_of(rows, cid))
            assert counts[cid] == (1 if final == "filled" else 0), cid


def wait_accepted(child: DrillChild, server: DrillExchange, orders: int) -> None:
    """Waits until the exchange holds `orders` orders of the cockpit; fails after SEND_TIMEOUT."""
    deadline = time.monotonic() + SEND_TIMEOUT
    while len(server_orders(server)) < orders:
        if child.proc.poll() is not None:
            child.fail("the child exited before the exchange accepted its close")
        if time.monotonic() > deadline:
            child.fail(f"the exchange did not accept the close within {SEND_TIMEOUT:g}s")
        time.sleep(0.01)


# ---- flatten twice, flatten from two places at once, flatten after a crash ----------------------


def serving(scenario: Scenario, server: DrillExchange, directory: Path) -> tuple[DrillChild, Path, Path]:
    """Starts a serving child on the scenario and has it approve its first proposal, so the book
    holds positions on every traded symbol and their protective stops rest."""
    config, journal = scenario.config(directory, str(server.url)), directory / "journal.sqlite"
    child = DrillChild(config, journal, scenario.plan("serve"))
    start(child)
    child.send("approve")
    approved = child.wait_any(("approved ",), START_TIMEOUT)
    assert "filled" in approved, approved
    return child, config, journal


def quit_cleanly(child: DrillChild) -> None:
    child.send("quit")
    assert child.wait_exit(FLATTEN_TIMEOUT) == 0, child.stderr()


@pytest.mark.parametrize("seed", [7000 + n for n in range(3)])
def test_flatten_twice_from_the_tui_the_second_sends_nothing(seed: int, tmp_path: Path) -> None:
    scenario = Scenario.from_seed(seed, every_symbol=True)
    with drill_exchange(scenario) as server:
        child, config, journal = serving(scenario, server, tmp_path)
        try:
            since = book_now(server)
            child.send("flatten")
            first = child.wait_any(("flattened ",), FLATTEN_TIMEOUT)
            assert first.startswith("flattened FLAT: "), first
            placed = server_orders(server)
            child.send("flatten")
            second = child.wait_any(("flattened ",), FLATTEN_TIMEOUT)
            assert second == "flattened FLAT: cancelled 0 orders, closed 0 positions", second
            assert server_orders(server) == placed
            quit_cleanly(child)
        finally:
            child.close()
        run_session(config, journal)
        check_restart(server, journal)
        check_flat_without_flip(server, since, traded(scenario))


@pytest.mark.parametrize("seed", [8000 + n for n in range(8)])
def test_flatten_from_the_tui_and_the_cli_at_once_closes_each_position_once(seed: int, tmp_path: Path) -> None:
    scenario = Scenario.from_seed(seed, every_symbol=True)
    # F on the screen this long after `cockpit flatten` was typed: the CLI's request lands about
    # 1-2 s after (its start), the cockpit serves it within a second; so F comes before the
    # request, while it waits, while it is served, or after.
    offset = random.Random(seed).uniform(0.0, 3.0)
    with drill_exchange(scenario) as server:
        child, config, journal = serving(scenario, server, tmp_path)
        cli = None
        try:
            since = book_now(server)
            cli = CliFlatten(config, journal)
            time.sleep(offset)
            child.send("flatten")
            tui = child.wait_any(("flattened ",), FLATTEN_TIMEOUT)
            status, out = cli.result()
            quit_cleanly(child)
        finally:
            child.close()
            if cli is not None:
                cli.close()
        assert tui.startswith("flattened FLAT: "), tui
        assert status == 0 and out.startswith("running cockpit: FLAT: "), out
        rows = journal_rows(journal)
        request = next(r.seq for r in rows if r.kind == "flatten" and r.payload.get("step") == "remote_request")
        runs = flatten_runs(rows)
        by_cli = [run for run in runs if run["origin"] == f"cli:{request}"]
        assert len(by_cli) == 1 and [run["origin"] for run in runs].count("tui") == 1, runs
        # The CLI reports its own request's flatten, not the TUI's.
        assert out == f"running cockpit: {by_cli[0]['summary']}", (out, runs)
        # Whichever came first closed everything; the other found the account flat.
        assert sorted(len(run["orders"]) for run in runs) == [0, len(since.positions_before)], runs
        print(f"seed {seed}: F {offset:.2f}s after `cockpit flatten`; served first: {runs[0]['origin']}")
        run_session(config, journal)
        check_restart(server, journal)
        check_flat_without_flip(server, since, traded(scenario))


@pytest.mark.parametrize("seed", [9000 + n for n in range(3)])
def test_flatten_after_a_crash_from_the_cli(seed: int, tmp_path: Path) -> None:
    scenario = Scenario.from_seed(seed, every_symbol=True)
    with drill_exchange(scenario) as server:
        child, config, journal = serving(scenario, server, tmp_path)
        try:
            time.sleep(scenario.jitter)
            since = book_now(server)
            os.kill(child.pid, signal.SIGKILL)  # positions open, stops resting
            assert child.wait_exit(SEND_TIMEOUT) == -signal.SIGKILL
        finally:
            child.close()
        assert server.call(lambda: server.open_orders(kind="algo")), "no protective stop rests"
        cli = CliFlatten(config, journal)
        try:
            status, out = cli.result()
        finally:
            cli.close()
        assert status == 0 and ": FLAT: " in out, out
        assert not server.call(lambda: server.open_orders(kind="algo") + server.open_orders())
        run_session(config, journal)
        check_restart(server, journal)
        check_flat_without_flip(server, since, traded(scenario))
