"""The crash cases of a real account: kill -9 the cockpit between "journal intent" and "send", and
between "send" and "ack"; after a restart there is exactly one exchange order per approved order
and the journal knows the outcome of every order.

The cockpit runs as a subprocess (tests/live/crash_child.py) against the fake Binance USDT-M
(tests/live/fake_binance.py) in a background thread, so that SIGKILL hits a real process with a
real journal file; the restarts run in this process (Session(...).open(), reconciliation, close).
Every wait is bounded; on a timeout the child is killed and its stderr shown.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from cockpit.config import load_config
from cockpit.engine.session import Session
from tests.live.conftest import KEY, SECRET
from tests.live.fake_binance import FakeBinance

REPO = Path(__file__).resolve().parents[2]
ORDER_PATH = "/fapi/v1/order"  # where ccxt's create_order for a market order goes (algo orders: /fapi/v1/algoOrder)
APPROVE_TIMEOUT = 25.0  # child start (markets, reconcile, history) + the first proposal
EXIT_TIMEOUT = 15.0
RESTART_TIMEOUT = 25.0
SEND_TIMEOUT = 15.0
NEVER_ON_THE_EXCHANGE = {"not_sent", "lapsed", "rejected"}  # final ORDER_RESULT statuses of an order not accepted
HELD_ANSWER_SECONDS = 60.0  # "timeout_after_accept" holds the answer this long (the child dies first)


# ---- the child ----------------------------------------------------------------------------------


class Child:
    """`python -m tests.live.crash_child CONFIG JOURNAL POINT` with its stdout read line by line
    in a thread and its stderr in a file."""

    def __init__(self, config: Path, journal: Path, point: str) -> None:
        self.stderr_path = journal.with_suffix(f".{point}.stderr")
        self._stderr = open(self.stderr_path, "wb")
        env = {**os.environ, "COCKPIT_API_KEY": KEY, "COCKPIT_API_SECRET": SECRET, "PYTHONPATH": str(REPO),
               "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.live.crash_child", str(config), str(journal), point],
            cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
        )
        self.pid = self.proc.pid
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self._descendants: set[int] = set()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-4000:]

    def fail(self, message: str) -> None:
        self.kill()
        pytest.fail(f"{message}\n--- child stdout ---\n" + "\n".join(self.lines) + f"\n--- child stderr ---\n{self.stderr()}")

    def wait_line(self, prefix: str, timeout: float) -> str:
        """Returns the first stdout line starting with `prefix`; fails the test after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail(f"no line {prefix!r} from the child within {timeout:g}s")
            try:
                line = self._queue.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if line is None:
                self.proc.wait(timeout=EXIT_TIMEOUT)
                self.fail(f"the child exited ({self.proc.returncode}) before printing {prefix!r}")
            self.lines.append(line)
            if line.startswith(prefix):
                return line

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail(f"the child did not exit within {timeout:g}s")
            raise  # unreachable: fail() raises

    def remember_descendants(self) -> None:
        """Notes the child's descendants (e.g. model-fit workers) so kill() can end them too."""
        self._descendants |= descendants(self.pid)

    def kill(self) -> None:
        """SIGKILL to the child (and the descendants it had when last looked at); waits for it."""
        self.remember_descendants()
        for pid in [self.pid, *sorted(self._descendants)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=EXIT_TIMEOUT)
        finally:
            self._stderr.close()

    def close(self) -> None:
        """Makes sure nothing of the child outlives the test."""
        if self.proc.poll() is None:
            self.kill()
        else:
            for pid in sorted(self._descendants):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self._stderr.close()


def descendants(pid: int) -> set[int]:
    """The pids of every live process below `pid` (from /proc/*/stat)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    found: set[int] = set()
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found.add(child)
                frontier.append(child)
    return found


# ---- config, journal, server --------------------------------------------------------------------


def write_config(directory: Path, url: str, *, ttl_seconds: float = 120.0) -> Path:
    """A live config on the fake: continuous rebalancing (a proposal within seconds), 1 s grace
    for "not found", mode 600 as a config with [exchange] id must be."""
    path = directory / "live.toml"
    path.write_text(
        "[exchange]\n"
        'id = "binanceusdm"\n'
        f'api_url = "{url}"\n'
        "not_found_grace_seconds = 1\n"
        "timeout_seconds = 20\n"
        "[rebalance]\n"
        'mode = "continuous"\n'
        "[proposals]\n"
        f"ttl_seconds = {ttl_seconds}\n"
    )
    os.chmod(path, 0o600)
    return path


@dataclass(frozen=True)
class Row:
    seq: int
    ts: float
    kind: str
    proposal_id: str | None
    client_order_id: str | None
    payload: dict


def journal_rows(path: Path) -> list[Row]:
    db = sqlite3.connect(path, timeout=5)
    try:
        rows = db.execute(
            "SELECT seq, ts, kind, proposal_id, client_order_id, payload FROM entries ORDER BY seq").fetchall()
    finally:
        db.close()
    return [Row(seq, ts, kind, pid, cid, json.loads(payload)) for seq, ts, kind, pid, cid, payload in rows]


def journal_tag(path: Path) -> str:
    db = sqlite3.connect(path, timeout=5)
    try:
        return str(db.execute("SELECT value FROM meta WHERE key = 'journal_id'").fetchone()[0])[:6]
    finally:
        db.close()


def integrity(path: Path) -> str:
    db = sqlite3.connect(path, timeout=5)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


def approved_orders(path: Path) -> dict[int, list[str]]:
    """decision seq -> the client ids of every order of the approved proposal, in order."""
    rows = journal_rows(path)
    tag = journal_tag(path)
    proposals = {r.proposal_id: r.payload for r in rows if r.kind == "proposal"}
    return {
        r.seq: [f"ck{tag}-{r.seq}-{i}" for i in range(len(proposals[r.proposal_id]["orders"]))]
        for r in rows if r.kind == "decision" and r.payload.get("decision") == "approve"
    }


def server_orders(server: FakeBinance) -> list[tuple[str, str, str]]:
    """(client id, kind, status) of every order the exchange accepted from a client: regular and
    conditional (algo); not the market orders triggered stops placed themselves."""
    return server.call(lambda: [(o.client_id, o.kind, o.status) for o in server.orders if o.source == "api"])


def restart(config: Path, journal: Path) -> None:
    """Opens the cockpit on `journal` in this process (reconciling it with the exchange) and
    closes it again, as a restart that is stopped cleanly right after its start."""

    async def run() -> None:
        session = Session(load_config(config), journal)
        try:
            await asyncio.wait_for(session.open(), RESTART_TIMEOUT)
        finally:
            await asyncio.wait_for(session.close("restart by test_crash_restart"), EXIT_TIMEOUT)

    with pytest.MonkeyPatch.context() as env:
        env.setenv("COCKPIT_API_KEY", KEY)
        env.setenv("COCKPIT_API_SECRET", SECRET)
        asyncio.run(run())


@pytest.fixture
def server() -> Iterator[FakeBinance]:
    with FakeBinance.in_thread(key=KEY, secret=SECRET, timeout_sleep=HELD_ANSWER_SECONDS) as fake:
        yield fake


# ---- the crash ----------------------------------------------------------------------------------


@dataclass
class Crash:
    config: Path
    journal: Path
    client_id: str  # the order being sent when the child died (the first of the decision)
    decision_seq: int


def crash(server: FakeBinance, directory: Path, point: str, *, ttl_seconds: float = 120.0) -> Crash:
    """Runs the child until it approves the first proposal and kills it at `point`; checks that
    the journal then holds every intent of the decision, none answered, and is intact."""
    config = write_config(directory, str(server.url), ttl_seconds=ttl_seconds)
    journal = directory / "journal.sqlite"
    if point == "after_send":
        server.inject("POST", ORDER_PATH, "timeout_after_accept")
    child = Child(config, journal, point)
    try:
        child.wait_line("approving ", APPROVE_TIMEOUT)
        child.remember_descendants()
        if point == "after_intent":
            child.wait_line("killing myself before sending ", EXIT_TIMEOUT)
            status = child.wait_exit(EXIT_TIMEOUT)
            assert status == -signal.SIGKILL
            assert server_orders(server) == [], "the order left before the kill"
        else:
            deadline = time.monotonic() + SEND_TIMEOUT
            while not server_orders(server):
                if child.proc.poll() is not None:
                    child.fail("the child exited before the exchange accepted its order")
                if time.monotonic() > deadline:
                    child.fail(f"the exchange got no order within {SEND_TIMEOUT:g}s of the approval")
                time.sleep(0.01)
            os.kill(child.pid, signal.SIGKILL)  # the order is accepted, its answer held back
            assert child.wait_exit(EXIT_TIMEOUT) == -signal.SIGKILL
            assert not any(line.startswith("approved ") for line in child.lines)
    finally:
        child.close()
    server.clear_faults()

    assert integrity(journal) == "ok"  # right after the kill -9
    rows = journal_rows(journal)
    intents = [r for r in rows if r.kind == "order"]
    # Every intent of the decision was journaled before the first send; none has an answer.
    assert len(intents) >= 1, intents
    cid = str(intents[0].client_order_id)
    assert not [r for r in rows if r.kind == "order_result"], "an answer was journaled"
    decisions = [r for r in rows if r.kind == "decision" and r.payload.get("decision") == "approve"]
    assert len(decisions) == 1
    assert [r.client_order_id for r in intents] == [
        f"ck{journal_tag(journal)}-{decisions[0].seq}-{index}" for index in range(len(intents))]
    if point == "after_send":
        assert [c for c, _, _ in server_orders(server)] == [cid]
    return Crash(config, journal, cid, decisions[0].seq)


def check_restarted(server: FakeBinance, journal: Path) -> list[Row]:
    """What must hold after any restart: the file is intact, every intent has an outcome (none
    "unknown"), the newest RECONCILE row agreed, no client id is on the exchange twice, and every
    journaled intent of an approved decision is on the exchange exactly once (none when its
    outcome says it never got there). Returns the journal's rows."""
    rows = journal_rows(journal)
    assert integrity(journal) == "ok"
    outcomes = {r.client_order_id for r in rows if r.kind == "order_result"}
    unresolved = [r.client_order_id for r in rows if r.kind == "order" and r.client_order_id not in outcomes]
    assert unresolved == [], f"orders left without an outcome: {unresolved}"
    assert not [r for r in rows if r.kind == "order_result" and r.payload.get("status") == "unknown"]
    reconciles = [r for r in rows if r.kind == "reconcile"]
    assert reconciles and reconciles[-1].payload["agreed"], reconciles[-1].payload if reconciles else rows
    counts = Counter(cid for cid, _, _ in server_orders(server))
    assert [cid for cid, n in counts.items() if n > 1] == [], f"client ids sent twice: {counts}"
    approved = {r.proposal_id for r in rows if r.kind == "decision" and r.payload.get("decision") == "approve"}
    for intent in (r for r in rows if r.kind == "order" and r.proposal_id in approved):
        cid = str(intent.client_order_id)
        final = status_of(rows, cid)[-1]
        expected = 0 if final in NEVER_ON_THE_EXCHANGE else 1
        assert counts[cid] == expected, f"{cid} ({final}) is on the exchange {counts[cid]} times, expected {expected}"
    return rows


def status_of(rows: list[Row], cid: str) -> list[str]:
    return [str(r.payload.get("status")) for r in rows if r.kind == "order_result" and r.client_order_id == cid]


def check_second_restart_changes_nothing(server: FakeBinance, crashed: Crash) -> None:
    before_orders = server_orders(server)
    before = journal_rows(crashed.journal)
    restart(crashed.config, crashed.journal)
    assert server_orders(server) == before_orders
    new = journal_rows(crashed.journal)[len(before):]
    assert [r for r in new if r.kind in ("order", "order_result", "fill")] == [], new
    assert [r.kind for r in new].count("reconcile") == 1
    check_restarted(server, crashed.journal)


# ---- the tests ----------------------------------------------------------------------------------


@dataclass
class Restarted:
    server: FakeBinance
    crashed: Crash


def crash_and_restart(point: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Restarted]:
    """A fresh exchange, a child killed at `point`, one restart."""
    with FakeBinance.in_thread(key=KEY, secret=SECRET, timeout_sleep=HELD_ANSWER_SECONDS) as fake:
        crashed = crash(fake, tmp_path_factory.mktemp(point), point)
        restart(crashed.config, crashed.journal)
        yield Restarted(fake, crashed)


# Module scope: the crash and the restart take seconds; the tests of one crash point share them.
@pytest.fixture(scope="module")
def after_intent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Restarted]:
    yield from crash_and_restart("after_intent", tmp_path_factory)


@pytest.fixture(scope="module")
def after_send(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Restarted]:
    yield from crash_and_restart("after_send", tmp_path_factory)


def test_killed_after_intent_restart_sends_the_order_once(after_intent: Restarted) -> None:
    server, crashed = after_intent.server, after_intent.crashed
    rows = check_restarted(server, crashed.journal)
    # concluded never placed (after the 1 s grace), the approval fresh: sent once, same client id
    assert status_of(rows, crashed.client_id) == ["not_sent", "filled"]
    # Every order of the decision was journaled before the kill; each went out once, in order.
    assert [c for c, _, _ in server_orders(server)] == [r.client_order_id for r in rows if r.kind == "order"]
    assert [r.kind for r in rows if r.kind == "fill" and r.client_order_id == crashed.client_id] == ["fill"]
    found = [r for r in rows if r.kind == "reconcile"][-1].payload["found"]
    assert any(crashed.client_id in text and "sent now" in text for text in found), found

    check_second_restart_changes_nothing(server, crashed)


def test_killed_after_send_restart_finds_the_order_and_sends_nothing(after_send: Restarted) -> None:
    server, crashed = after_send.server, after_send.crashed
    rows = check_restarted(server, crashed.journal)
    assert status_of(rows, crashed.client_id) == ["filled"]
    assert [c for c, _, _ in server_orders(server)] == [r.client_order_id for r in rows if r.kind == "order"]
    posts = server.call(lambda: server.requests_to(ORDER_PATH, "POST"))
    assert [r for r in posts if r["params"].get("newClientOrderId") == crashed.client_id] == posts[:1]
    assert [r.kind for r in rows if r.kind == "fill" and r.client_order_id == crashed.client_id] == ["fill"]
    found = [r for r in rows if r.kind == "reconcile"][-1].payload["found"]
    assert any(crashed.client_id in text and "filled" in text for text in found), found

    check_second_restart_changes_nothing(server, crashed)


@pytest.mark.parametrize("point", ["after_intent", "after_send"])
def test_every_order_of_an_approved_decision_is_on_the_exchange_once_after_a_crash(
        point: str, request: pytest.FixtureRequest) -> None:
    restarted: Restarted = request.getfixturevalue(point)
    server, crashed = restarted.server, restarted.crashed
    check_restarted(server, crashed.journal)
    wanted = approved_orders(crashed.journal)
    assert list(wanted) == [crashed.decision_seq] and len(wanted[crashed.decision_seq]) > 1

    counts = Counter(cid for cid, _, _ in server_orders(server))
    for seq, cids in wanted.items():
        assert {cid: counts[cid] for cid in cids} == {cid: 1 for cid in cids}, f"decision {seq}"


def test_intent_older_than_the_proposal_ttl_lapses(server: FakeBinance, tmp_path: Path) -> None:
    ttl = 3.0
    crashed = crash(server, tmp_path, "after_intent", ttl_seconds=ttl)
    intent_ts = next(r.ts for r in journal_rows(crashed.journal) if r.kind == "order")
    time.sleep(max(0.0, intent_ts + ttl + 0.5 - time.time()))

    restart(crashed.config, crashed.journal)

    rows = check_restarted(server, crashed.journal)
    assert status_of(rows, crashed.client_id) == ["lapsed"]
    assert server_orders(server) == []
    assert server.call(lambda: server.requests_to(ORDER_PATH, "POST")) == []
    assert not [r for r in rows if r.kind == "fill"]
    decision_orders = approved_orders(crashed.journal)[crashed.decision_seq]
    assert not set(decision_orders) & {cid for cid, _, _ in server_orders(server)}

    check_second_restart_changes_nothing(server, crashed)


# ---- no listening socket ------------------------------------------------------------------------


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:["):-1]))
    return inodes


def listening_inodes() -> dict[int, str]:
    """inode -> description of every listening socket in this network namespace: TCP/TCP6 in
    state 0A (LISTEN), unix sockets with __SO_ACCEPTCON (flag 00010000)."""
    found: dict[int, str] = {}
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A":
                found[int(fields[9])] = f"{table} {fields[1]} LISTEN"
    unix = Path("/proc/net/unix")
    if unix.exists():
        for line in unix.read_text().splitlines()[1:]:
            fields = line.split()  # Num RefCount Protocol Flags Type St Inode [Path]
            if len(fields) > 6 and int(fields[3], 16) & 0x00010000:
                found[int(fields[6])] = f"unix {' '.join(fields[7:]) or '(unnamed)'} listening"
    return found


def listening_sockets_of(pid: int) -> list[str]:
    listening = listening_inodes()
    return sorted(listening[inode] for inode in socket_inodes(pid) if inode in listening)


def test_the_listening_socket_check_sees_one() -> None:
    """The check below is not vacuous: a listening socket of this process is seen."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp, \
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        unix.bind("\0cockpit-test-listening-check-" + str(os.getpid()))
        unix.listen()
        found = listening_sockets_of(os.getpid())
    assert any(s.startswith("tcp ") for s in found), found
    assert any(s.startswith("unix ") for s in found), found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_cockpit_opens_no_listening_socket(server: FakeBinance, tmp_path: Path) -> None:
    config = write_config(tmp_path, str(server.url))
    child = Child(config, tmp_path / "journal.sqlite", "run")
    try:
        for line in ("opened ", "approved "):  # started; then streaming and traded
            child.wait_line(line, APPROVE_TIMEOUT)
            processes = [child.pid, *sorted(descendants(child.pid))]
            assert socket_inodes(child.pid), "the cockpit has no socket at all: is it talking to the exchange?"
            listening = {pid: listening_sockets_of(pid) for pid in processes}
            assert child.proc.poll() is None, "the child exited during the check"
            assert all(not found for found in listening.values()), f"listening sockets after {line!r}: {listening}"
            child.remember_descendants()
        child.proc.terminate()
        child.wait_exit(EXIT_TIMEOUT)
    finally:
        child.close()
