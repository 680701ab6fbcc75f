"""Reliability drill: kill -9 at each step of the order path, 20 seeds a step, and restart.

Steps: after the proposal; after the approval is journaled; after the intents (on entry to a
send); after the send (the exchange accepted the order, its answer is held back); after the ack
(the answer journaled, its fill row maybe not); mid-flatten is in test_flatten_drills.py. Each
seed varies the start prices and their walk, the targets and leverage (which proposal, how many
orders), the book held before the start, which order of the decision the kill aims at, and (for
the kill from outside) a delay before it. After every restart: no client id twice on the
exchange, every approved order there exactly once unless its outcome says it never got there, no
order the journal does not know, no lost approval, no undecided proposal, SQLite's integrity
check and the hash chain intact (see order_path_rig.check_restart).

`.venv/bin/pytest -m drills tests/drills/test_kill_order_path.py`; COCKPIT_DRILL_KILLS=N runs N
seeds a step instead of 20.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

from tests.drills.order_path_rig import (
    SEND_TIMEOUT,
    START_TIMEOUT,
    DrillChild,
    DrillExchange,
    Scenario,
    check_journal_intact,
    check_restart,
    drill_exchange,
    exchange_counts,
    run_session,
    server_orders,
)
from tests.live.test_crash_restart import Row, journal_rows, status_of

pytestmark = pytest.mark.drills

KILLS = int(os.environ.get("COCKPIT_DRILL_KILLS", "20"))
STEPS = ("after_proposal", "after_approval", "after_intent", "after_send", "after_ack")
ON_THE_EXCHANGE = {"filled", "open"}  # a market order's fill, a protective stop resting


def seeds(step: str) -> list[int]:
    """Returns KILLS seeds of their own for `step` (each step drills different scenarios)."""
    base = 1000 * (STEPS.index(step) + 1)
    return [base + n for n in range(KILLS)]


class Killed:
    """One case: the child killed at a step, the restart done; what the test needs to look at."""

    def __init__(self, server: DrillExchange, journal: Path, lines: list[str], before: list[Row]) -> None:
        self.server = server
        self.journal = journal
        self.lines = lines  # the child's stdout
        self.before = before  # the journal right after the kill
        self.rows = check_restart(server, journal)

    def line(self, prefix: str) -> str:
        return next(line for line in self.lines if line.startswith(prefix))

    def target(self) -> str:
        """Returns the client id of the order the kill was aimed at: ck<tag>-<decision seq>-<k>."""
        k = int(re.search(r"target=(\d+)", self.line("approving ")).group(1))
        decision = next(r for r in self.before if r.kind == "decision" and r.payload.get("decision") == "approve")
        tag = next(r.client_order_id for r in self.before if r.kind == "order").split("-")[0]
        return f"{tag}-{decision.seq}-{k}"


def kill_and_restart(step: str, seed: int, directory: Path, check) -> None:  # noqa: ANN001
    """Runs the cockpit child of `seed`'s scenario until it dies at `step`, checks the journal
    right after the kill, restarts in this process, and hands the case to `check`."""
    scenario = Scenario.from_seed(seed)
    with drill_exchange(scenario) as server:
        config, journal = scenario.config(directory, str(server.url)), directory / "journal.sqlite"
        child = DrillChild(config, journal, scenario.plan(step))
        try:
            if step == "after_send":
                kill_after_send(child, server, scenario.jitter)
            else:
                child.wait_any(("killing myself",), START_TIMEOUT)
                child.wait_killed()
        finally:
            child.close()
        check_journal_intact(journal)  # right after the kill -9
        before = journal_rows(journal)
        run_session(config, journal)
        check(Killed(server, journal, child.lines, before))


def kill_after_send(child: DrillChild, server: DrillExchange, jitter: float) -> None:
    """Arms the exchange to hold the answer of the child's target order, lets the child approve,
    and kills it once the exchange has accepted that order (after `jitter` seconds)."""
    approving = child.wait_any(("approving ",), START_TIMEOUT)
    child.wait_any(("waiting for go",), START_TIMEOUT)
    k = int(re.search(r"target=(\d+)", approving).group(1))
    placed = len(server_orders(server))
    server.call(server.hold_answer_of, k)
    child.send("go")
    deadline = time.monotonic() + SEND_TIMEOUT
    while len(server_orders(server)) < placed + k + 1:
        if child.proc.poll() is not None:
            child.fail("the child exited before the exchange accepted its order")
        if time.monotonic() > deadline:
            child.fail(f"the exchange did not accept order {k} of the decision within {SEND_TIMEOUT:g}s")
        time.sleep(0.01)
    time.sleep(jitter)  # the answer is held for a minute: the child is still waiting for it
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait_exit(SEND_TIMEOUT) == -signal.SIGKILL
    assert not [line for line in child.lines if line.startswith("approved ")]


# ---- the steps ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", seeds("after_proposal"))
def test_killed_after_proposal_the_proposal_is_never_carried_out(seed: int, tmp_path: Path) -> None:
    def check(case: Killed) -> None:
        proposal = re.search(r"after proposal (\S+)", case.line("killing myself")).group(1)
        assert [r.kind for r in case.before if r.proposal_id == proposal] == ["proposal"]
        decisions = [r.payload for r in case.rows if r.kind == "decision" and r.proposal_id == proposal]
        # Nobody decided: the restart expires it, visibly, and nothing is sent for it.
        assert [d["decision"] for d in decisions] == ["expire"], decisions
        assert "restart" in decisions[0]["note"], decisions
        assert not [r for r in case.rows if r.kind == "order"]
        assert server_orders(case.server) == []

    kill_and_restart("after_proposal", seed, tmp_path, check)


@pytest.mark.parametrize("seed", seeds("after_approval"))
def test_killed_after_approval_the_approval_is_reported_not_carried_out(seed: int, tmp_path: Path) -> None:
    def check(case: Killed) -> None:
        proposal = re.search(r"after approval of (\S+)", case.line("killing myself")).group(1)
        assert [r.kind for r in case.before if r.proposal_id == proposal] == ["proposal", "decision"]
        # The product's choice: an approval whose intents were never journaled is not carried out
        # at a restart (the pre-trade checks belonged to that moment); it is reported instead.
        assert not [r for r in case.rows if r.kind == "order"]
        assert server_orders(case.server) == []
        notes = [r.payload["text"] for r in case.rows if r.kind == "note" and r.proposal_id == proposal]
        assert len(notes) == 1 and "nothing was sent" in notes[0], notes

    kill_and_restart("after_approval", seed, tmp_path, check)


@pytest.mark.parametrize("seed", seeds("after_intent"))
def test_killed_after_intent_each_order_goes_out_once(seed: int, tmp_path: Path) -> None:
    def check(case: Killed) -> None:
        target = case.target()
        intents = [r.client_order_id for r in case.before if r.kind == "order"]
        assert target in intents and not status_of(case.before, target)
        # Never reached the exchange; the approval is fresh: sent at the restart, once, same id.
        assert status_of(case.rows, target)[0] == "not_sent"
        counts = exchange_counts(case.server)
        for cid in intents:
            final = status_of(case.rows, cid)[-1]
            assert counts[cid] == (1 if final in ON_THE_EXCHANGE else 0), (cid, status_of(case.rows, cid))
            answered_before = status_of(case.before, cid)
            assert status_of(case.rows, cid)[:len(answered_before)] == answered_before

    kill_and_restart("after_intent", seed, tmp_path, check)


@pytest.mark.parametrize("seed", seeds("after_send"))
def test_killed_after_send_the_order_is_found_not_resent(seed: int, tmp_path: Path) -> None:
    def check(case: Killed) -> None:
        target = case.target()
        assert not status_of(case.before, target)  # its answer never arrived
        assert status_of(case.rows, target) in (["filled"], ["open"])  # found by its client id
        posts = case.server.call(lambda: [r for r in case.server.requests if r["method"] == "POST"
                                          and r["params"].get("newClientOrderId", r["params"].get("clientAlgoId")) == target])
        assert len(posts) == 1, posts
        assert exchange_counts(case.server)[target] == 1

    kill_and_restart("after_send", seed, tmp_path, check)


@pytest.mark.parametrize("seed", seeds("after_ack"))
def test_killed_after_ack_the_answer_and_its_fill_are_kept_once(seed: int, tmp_path: Path) -> None:
    def check(case: Killed) -> None:
        target = case.target()
        answered = status_of(case.before, target)
        assert len(answered) == 1
        assert status_of(case.rows, target) == answered  # not asked again, not sent again
        fills = [r for r in case.rows if r.kind == "fill" and r.client_order_id == target]
        assert len(fills) == (1 if answered == ["filled"] else 0), fills
        assert exchange_counts(case.server)[target] == 1

    kill_and_restart("after_ack", seed, tmp_path, check)
