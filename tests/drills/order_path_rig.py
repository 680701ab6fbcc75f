"""The rig of the kill -9 and flatten drills: a seeded market and book on the fake Binance, the
cockpit child (tests/drills/kill_child.py), restarts in this process, and the checks every restart
must pass.

Built on the crash machinery of tests/live/test_crash_restart.py (its Child, journal readers and
restart checks are imported, not copied): the fake exchange runs in a background thread of the
test process, the cockpit in a subprocess that dies by a real SIGKILL, the restart in this process
(Session(...).open(), reconciliation, close). Every wait is bounded; on a timeout the child is
killed and its stderr shown.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator

import pytest

from cockpit.config import load_config
from cockpit.engine import public_market
from cockpit.engine.engine import Engine
from cockpit.engine.session import Session
from cockpit.journal.verify import verify_journal
from cockpit.venues.exchange import Exchange
from tests.drills.kill_child import quicker_rate_limiter
from tests.live.conftest import KEY, SECRET
from tests.live.fake_binance import FakeBinance
from tests.live.test_crash_restart import REPO, Child, Row, check_restarted, integrity, journal_rows, server_orders

ORDER_CREATING = ("/fapi/v1/order", "/fapi/v1/algoOrder")  # market/limit orders, conditional (stop) orders
HISTORY_BARS = 120  # 4h bars fetched at start: enough for the realized sigma sizing needs, quick to fetch
RATE_LIMIT_MS = 10.0  # ccxt's spacing per unit of request weight (Binance's 50 ms; the exchange is local)
START_TIMEOUT = 30.0  # child start: imports, markets, reconciliation, history, the first proposal
KILL_TIMEOUT = 20.0
EXIT_TIMEOUT = 15.0
RESTART_TIMEOUT = 30.0
SEND_TIMEOUT = 15.0
FLATTEN_TIMEOUT = 40.0
HELD_ANSWER_SECONDS = 60.0  # a held answer outlives the child (the test kills it within a second)
WALLET = 10_000.0
START_MARKS = {"BTCUSDT": 60_000.0, "ETHUSDT": 3_000.0, "SOLUSDT": 150.0}
STEPS = {"BTCUSDT": 0.001, "ETHUSDT": 0.001, "SOLUSDT": 1.0}
BASES = {"BTCUSDT": "BTC", "ETHUSDT": "ETH", "SOLUSDT": "SOL"}


# ---- the exchange -------------------------------------------------------------------------------


class DrillExchange(FakeBinance):
    """The fake Binance that can hold back the answer of one chosen order: the n-th order-creating
    request after `hold_answer_of(n)` is processed (accepted, a market order filled) and its answer
    held for `timeout_sleep` seconds, so that the test can kill the sender while it waits."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._hold_in: int | None = None

    def hold_answer_of(self, nth: int) -> None:
        """Arms the hold: `nth` = 0 holds the next order-creating request, 1 the one after, ..."""
        self._hold_in = nth

    def _take_fault(self, method: str, path: str) -> str | None:
        if method == "POST" and path in ORDER_CREATING and self._hold_in is not None:
            if self._hold_in == 0:
                self._hold_in = None
                return "timeout_after_accept"
            self._hold_in -= 1
        return super()._take_fault(method, path)


@contextmanager
def drill_exchange(scenario: "Scenario") -> Iterator[DrillExchange]:
    """A DrillExchange in a background thread at the scenario's marks (random walk seeded by it),
    holding the scenario's book, as a trader left it in the exchange's app before the cockpit runs."""
    with DrillExchange.in_thread(key=KEY, secret=SECRET, timeout_sleep=HELD_ANSWER_SECONDS, wallet=WALLET,
                                 marks=scenario.marks, walk=True, walk_volatility=scenario.walk_volatility,
                                 seed=scenario.seed) as server:
        for symbol, quantity in scenario.book.items():
            server.fill_while_away(symbol, "BUY" if quantity > 0 else "SELL", f"{abs(quantity):f}")
        yield server


# ---- the seeded scenario ------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """What one seed varies: start prices and their walk, the targets and leverage (so which
    proposal comes and how many orders it has), the book held before the cockpit starts, which
    order of the decision the kill aims at, and the timing of a kill from outside."""

    seed: int
    marks: dict[str, float]  # exchange symbol -> start mark
    walk_volatility: float  # of the exchange's 1 s random walk
    targets: dict[str, float]  # base -> weight
    target_leverage: float
    book: dict[str, float]  # exchange symbol -> signed quantity held before the start
    at: float  # picks the order of the decision the kill aims at
    jitter: float  # seconds between the exchange accepting a held order and the kill
    ack_row: str  # after_ack: a market order's order_result row, its fill row too, or a stop's answer
    flatten_step: str  # mid_flatten: intent | send | ack

    @classmethod
    def from_seed(cls, seed: int, *, every_symbol: bool = False, min_positions: int = 0) -> "Scenario":
        """Returns the scenario of `seed`. `every_symbol`: all three symbols are targets (a
        flatten closes every position); `min_positions`: the book holds at least that many."""
        rng = random.Random(seed)
        marks = {s: round(p * rng.uniform(0.6, 1.4), 1) for s, p in START_MARKS.items()}
        while True:
            chosen = list(BASES) if every_symbol else rng.sample(list(BASES), rng.randint(1, 3))
            weights = {s: rng.uniform(0.15, 0.3) * (-1 if rng.random() < 0.25 else 1) for s in chosen}
            leverage = round(rng.uniform(1.0, 2.0), 2)
            book = {}
            for symbol in BASES:
                if rng.random() < 0.5 or len(book) < min_positions:
                    notional = WALLET * rng.uniform(0.1, 0.6) * (-1 if rng.random() < 0.3 else 1)
                    quantity = round(round(notional / marks[symbol] / STEPS[symbol]) * STEPS[symbol], 3)
                    if abs(quantity) * marks[symbol] >= 120:  # above every minimum notional
                        book[symbol] = quantity
            held = {s: book.get(s, 0.0) * marks[s] / (leverage * WALLET) for s in chosen}
            # A proposal must come at once: some weight is well outside the 5-point band.
            if len(book) >= min_positions and max(abs(weights[s] - held[s]) for s in chosen) > 0.12:
                break
        return cls(
            seed=seed, marks=marks, walk_volatility=rng.choice([0.0, 0.0002, 0.0005]),
            targets={BASES[s]: round(w, 3) for s, w in weights.items()}, target_leverage=leverage, book=book,
            at=rng.random(), jitter=rng.choice([0.0, 0.0, rng.uniform(0.0, 0.3)]),
            ack_row=rng.choice(["order_result", "fill", "stop"]), flatten_step=rng.choice(["intent", "send", "ack"]),
        )

    def config(self, directory: Path, url: str) -> Path:
        """Writes the live config of this scenario (mode 600, as a config with [exchange] id must
        be): continuous rebalancing, 1 s grace for "not found"."""
        targets = ", ".join(f"{base} = {weight}" for base, weight in self.targets.items())
        path = directory / "live.toml"
        path.write_text(
            "[exchange]\n"
            'id = "binanceusdm"\n'
            f'api_url = "{url}"\n'
            "not_found_grace_seconds = 1\n"
            "timeout_seconds = 20\n"
            "[portfolio]\n"
            f"targets = {{ {targets} }}\n"
            f"target_leverage = {self.target_leverage}\n"
            "[rebalance]\n"
            'mode = "continuous"\n'
            "[proposals]\n"
            "ttl_seconds = 120\n"
        )
        os.chmod(path, 0o600)
        return path

    def plan(self, point: str, **extra: Any) -> dict[str, Any]:
        """Returns the child's plan for `point` (see tests/drills/kill_child.py)."""
        return {"point": point, "at": self.at, "ack_row": self.ack_row, "flatten_step": self.flatten_step,
                "history_bars": HISTORY_BARS, "rate_limit_ms": RATE_LIMIT_MS, **extra}


# ---- the child ----------------------------------------------------------------------------------


class DrillChild(Child):
    """`python -m tests.drills.kill_child CONFIG JOURNAL PLAN` with stdin to talk to, its stdout
    read line by line in a thread and its stderr in a file (the rest as Child)."""

    def __init__(self, config: Path, journal: Path, plan: dict[str, Any]) -> None:  # noqa: D107
        self.stderr_path = journal.with_suffix(f".{plan['point']}.stderr")
        self._stderr = open(self.stderr_path, "wb")
        env = {**os.environ, "COCKPIT_API_KEY": KEY, "COCKPIT_API_SECRET": SECRET, "PYTHONPATH": str(REPO),
               "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.drills.kill_child", str(config), str(journal), json.dumps(plan)],
            cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
        )
        self.pid = self.proc.pid
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._descendants: set[int] = set()

    def close(self) -> None:
        """Makes sure nothing of the child outlives the test, its pipes included."""
        try:
            super().close()
        finally:
            if self.proc.stdin is not None and not self.proc.stdin.closed:
                try:
                    self.proc.stdin.close()
                except BrokenPipeError:
                    pass  # the child died with a line unread
            self._reader.join(timeout=EXIT_TIMEOUT)  # the child is gone: its stdout ends at once
            if self.proc.stdout is not None and not self._reader.is_alive():
                self.proc.stdout.close()

    def send(self, line: str) -> None:
        """Writes one line to the child's stdin."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            self.fail(f"the child is gone; it did not read {line!r}")

    def wait_any(self, prefixes: tuple[str, ...], timeout: float) -> str:
        """Returns the first stdout line starting with any of `prefixes`; fails after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail(f"no line starting with any of {prefixes} from the child within {timeout:g}s")
            try:
                line = self._queue.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if line is None:
                self.proc.wait(timeout=EXIT_TIMEOUT)
                self.fail(f"the child exited ({self.proc.returncode}) before printing any of {prefixes}")
            self.lines.append(line)
            if line.startswith(prefixes):
                return line

    def wait_killed(self) -> None:
        """Waits for the child's own SIGKILL; fails if it exits any other way."""
        status = self.wait_exit(KILL_TIMEOUT)
        if status != -9:
            self.fail(f"the child exited with {status}, not by SIGKILL")


# ---- restarts -----------------------------------------------------------------------------------


def run_session(config: Path, journal: Path, act: Callable[[Engine], Awaitable[Any]] | None = None,
                *, timeout: float = RESTART_TIMEOUT) -> Any:
    """Opens the cockpit on `journal` in this process (the restart: reconciliation first), runs
    `act(engine)` if given with the engine's loop running, closes cleanly; returns what `act`
    returned. Every step is bounded."""

    async def run() -> Any:
        session = Session(load_config(config), journal)
        try:
            engine = await asyncio.wait_for(session.open(), RESTART_TIMEOUT)
            if act is None:
                return None
            runner = asyncio.create_task(engine.run())
            try:
                return await asyncio.wait_for(act(engine), timeout)
            finally:
                runner.cancel()
                await asyncio.gather(runner, return_exceptions=True)
        finally:
            await asyncio.wait_for(session.close("restart by the drill"), EXIT_TIMEOUT)

    with pytest.MonkeyPatch.context() as env:
        env.setenv("COCKPIT_API_KEY", KEY)
        env.setenv("COCKPIT_API_SECRET", SECRET)
        env.setattr(public_market, "HISTORY_BARS", HISTORY_BARS)
        env.setattr(Exchange, "__init__", Exchange.__init__)  # undone after, as every patch here
        quicker_rate_limiter(RATE_LIMIT_MS)
        return asyncio.run(run())


# ---- checks -------------------------------------------------------------------------------------


def check_journal_intact(journal: Path) -> None:
    """SQLite's integrity check and the whole hash chain (cockpit journal verify) pass."""
    assert integrity(journal) == "ok"
    verdict = asyncio.run(verify_journal(journal))
    assert verdict.intact, verdict.lines()


def check_every_exchange_order_journaled(server: FakeBinance, rows: list[Row]) -> None:
    """Every order the cockpit placed on the exchange has its intent in the journal."""
    intents = {r.client_order_id for r in rows if r.kind == "order"}
    unknown = [cid for cid, _, _ in server_orders(server) if cid not in intents]
    assert unknown == [], f"orders on the exchange the journal never intended: {unknown}"


def check_every_order_traces_to_a_decision(rows: list[Row]) -> None:
    """Every order intent follows an approve decision of its proposal, or (without a proposal) a
    flatten request; its client id names that row: ck<tag>-<seq>-<n>."""
    by_seq = {r.seq: r for r in rows}
    for intent in (r for r in rows if r.kind == "order"):
        origin = by_seq.get(int(str(intent.client_order_id).split("-")[1]))
        assert origin is not None and origin.seq < intent.seq, intent
        if intent.proposal_id:
            assert origin.kind == "decision" and origin.payload.get("decision") == "approve", (intent, origin)
            assert origin.proposal_id == intent.proposal_id, (intent, origin)
        else:
            assert origin.kind == "flatten" and origin.payload.get("step") == "request", (intent, origin)


def check_no_lost_approval(rows: list[Row]) -> None:
    """Every journaled approval was carried out (its intents), refused (a denied row), moved money
    to the reserve, or is reported as not carried out (a note naming the proposal)."""
    for approval in (r for r in rows if r.kind == "decision" and r.payload.get("decision") == "approve"):
        follow = [r.kind for r in rows if r.proposal_id == approval.proposal_id and r.seq > approval.seq
                  and r.kind in ("order", "denied", "reserve", "note")]
        assert follow, f"approval of {approval.proposal_id} (row {approval.seq}) was neither carried out nor reported"


def check_every_proposal_decided(rows: list[Row]) -> None:
    """Every proposal has a decision row: approved, vetoed, or expired (also when the cockpit that
    made it died: a restart says so)."""
    decided = {r.proposal_id for r in rows if r.kind == "decision"}
    undecided = [r.proposal_id for r in rows if r.kind == "proposal" and r.proposal_id not in decided]
    assert undecided == [], f"proposals left without a decision after the restart: {undecided}"


def check_restart(server: FakeBinance, journal: Path) -> list[Row]:
    """What must hold after every restart (test_crash_restart's checks, and these): the file and
    its hash chain are intact; no order the journal does not know; every order traces to a
    decision; no lost approval; no undecided proposal. Returns the journal's rows."""
    rows = check_restarted(server, journal)
    check_journal_intact(journal)
    check_every_exchange_order_journaled(server, rows)
    check_every_order_traces_to_a_decision(rows)
    check_no_lost_approval(rows)
    check_every_proposal_decided(rows)
    return rows


@dataclass
class Book:
    """The exchange's side of a flatten: its orders and trades from a chosen moment on."""

    orders_before: int  # how many orders the exchange had when the flatten began
    trades_before: int
    positions_before: dict[str, float] = field(default_factory=dict)


def book_now(server: FakeBinance) -> Book:
    """Returns the moment to check a flatten from."""
    def read() -> Book:
        return Book(len(server.orders), len(server.trades),
                    {s: float(p.qty) for s, p in server.positions.items() if p.qty})
    return server.call(read)


def check_flat_without_flip(server: FakeBinance, since: Book, traded: set[str]) -> None:
    """The traded symbols end flat; from `since` on, no position changed side (no reduce-only
    order overshot: each close filled in full, none was cut short by the exchange), every order
    the cockpit placed was reduce-only, and symbols not traded were not touched."""
    def read() -> tuple[list, list, dict]:
        orders = [(o.client_id, o.symbol, o.side, o.type, o.reduce_only, o.close_position, o.status, o.qty, o.executed,
                   o.source, o.kind) for o in server.orders[since.orders_before:]]
        trades = [(t.symbol, t.side, t.qty) for t in server.trades[since.trades_before:]]
        return orders, trades, {s: float(p.qty) for s, p in server.positions.items()}

    orders, trades, positions = server.call(read)
    assert {s: q for s, q in positions.items() if s in traded and q} == {}, f"not flat: {positions}"
    for cid, symbol, side, otype, reduce_only, close_position, status, qty, executed, source, kind in orders:
        if source != "api":
            continue
        assert reduce_only or close_position, f"{cid} {symbol} {side} {otype} was not reduce-only"
        if kind == "order":
            assert status == "FILLED" and executed == qty, f"{cid} {symbol} {side} {qty}: {status} {executed} (overshoot)"
    held = {s: Decimal(str(q)) for s, q in since.positions_before.items()}
    for symbol, side, quantity in trades:
        before = held.get(symbol, Decimal(0))
        after = before + (quantity if side == "BUY" else -quantity)
        assert before == 0 or after == 0 or (before > 0) == (after > 0), f"{symbol} flipped {before} -> {after}"
        held[symbol] = after
    for symbol, quantity in since.positions_before.items():
        if symbol not in traded:
            assert positions.get(symbol) == quantity, f"{symbol} is not traded by the cockpit and was touched"


def traded(scenario: Scenario) -> set[str]:
    """Returns the exchange symbols the scenario's cockpit trades."""
    return {symbol for symbol, base in BASES.items() if base in scenario.targets}


def exchange_counts(server: FakeBinance) -> Counter:
    """Returns how often each client id is on the exchange."""
    return Counter(cid for cid, _, _ in server_orders(server))


# ---- `cockpit flatten` from another shell ------------------------------------------------------


class CliFlatten:
    """`cockpit flatten --yes --config CONFIG --journal JOURNAL` as a trader types it in a second
    SSH session: a real process, its output collected."""

    def __init__(self, config: Path, journal: Path) -> None:  # noqa: D107
        env = {**os.environ, "COCKPIT_API_KEY": KEY, "COCKPIT_API_SECRET": SECRET, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cockpit.cli", "flatten", "--yes", "--config", str(config), "--journal", str(journal)],
            cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def result(self, timeout: float = FLATTEN_TIMEOUT) -> tuple[int, str]:
        """Returns (exit status, stdout); on a timeout kills it and fails with its stderr."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate(timeout=EXIT_TIMEOUT)
            pytest.fail(f"cockpit flatten did not finish within {timeout:g}s\n--- stdout ---\n{out}\n--- stderr ---\n{err}")
        assert "Traceback" not in err, err
        assert KEY not in out + err and SECRET not in out + err
        return self.proc.returncode, out.strip()

    def close(self) -> None:
        """Makes sure the process does not outlive the test."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=EXIT_TIMEOUT)


def flatten_runs(rows: list[Row]) -> list[dict[str, Any]]:
    """Returns each flatten of the journal in order: its origin, key, the client ids it sent, and
    its summary (None if it never finished)."""
    runs: list[dict[str, Any]] = []
    for row in rows:
        step = row.payload.get("step") if row.kind == "flatten" else None
        if step == "request":
            runs.append({"seq": row.seq, "origin": row.payload.get("origin"), "key": row.payload.get("key"),
                         "orders": [], "summary": None})
        elif step == "done" and runs:
            runs[-1]["summary"] = row.payload.get("summary")
        elif row.kind == "order" and runs and str(row.client_order_id).split("-")[1] == str(runs[-1]["seq"]):
            runs[-1]["orders"].append(row.client_order_id)
    return runs
