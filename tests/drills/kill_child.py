"""A cockpit on a real (fake Binance) account, run as a subprocess by the kill -9 drills
(tests/drills/test_kill_order_path.py, tests/drills/test_flatten_drills.py), so that SIGKILL hits a
real process with a real journal file at one chosen step of the order path.

    python -m tests.drills.kill_child CONFIG JOURNAL PLAN_JSON

(cwd = the repository, PYTHONPATH=., COCKPIT_API_KEY / COCKPIT_API_SECRET set.) Opens the live
Session on JOURNAL with CONFIG (continuous rebalancing, so a proposal appears within seconds). A
book the exchange already holds makes the first reconciliation differ and the gate start HALTED;
the drill's trader has looked at it and presses R (journaled like any R). PLAN_JSON is an object:

  point         where the process dies (below)
  at            a fraction in [0, 1) that picks the order of the decision the kill is aimed at
  ack_row       after_ack only: a market order's answer is journaled, its fill row not yet
                ("order_result") or both are ("fill"); or a protective stop's "open" ("stop")
  flatten_step  mid_flatten only: "intent", "send" or "ack", as the points of the same names
  approve_first mid_flatten only: approve the first proposal before the flatten (its protective
                stops then rest on the exchange, for the flatten to cancel)
  history_bars  4h bars fetched at start for the models (the product fetches 3000; the order
                path does not depend on them, and fewer keep a drill of 120 kills short)
  rate_limit_ms ccxt's request spacing per unit of weight (Binance's is 50 ms); the limiter stays
                on, in the same order, only quicker against the local exchange

Points. Except for the two "send" kills, the process kills itself with a genuine SIGKILL at the
exact step, from a wrapper around the product's own call (the product has no test hook):

  after_proposal  right after the first proposal's row is committed; nobody has decided yet.
  after_approval  right after the approve decision row is committed; no intent journaled yet.
  after_intent    every intent of the decision is committed and the orders before the chosen one
                  are answered; killed on entry to ExchangeVenue.submit of the chosen one.
  after_send      the test's exchange accepts the chosen order and holds its answer back; the
                  test kills this process.
  after_ack       right after the chosen order's answer is committed (its order_result row, or
                  with ack_row "fill" also its fill row).
  mid_flatten     flatten all as the TUI's F does, with several positions open; the chosen close
                  (never the first: at least one close has been sent and answered) dies at
                  flatten_step.
  serve           no kill: runs until killed, and obeys stdin lines: "approve" (the next
                  proposal), "flatten" (as the TUI's F after the typed confirmation), "quit" (a
                  clean stop).

Lines on stdout, flushed, for the test to synchronise on: "opened <gate>", "resumed ...",
"approving <id> orders=<n> target=<k>", "flattening positions=<n> target=<k>", "waiting for go"
(after_send and mid_flatten: the test answers "go" on stdin once it has armed its exchange or
read the book), "killing myself <where>",
"approved <outcome>", "flattened <summary>". Errors go to stderr; exit status 2 when no proposal
could be carried out in time.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

POINTS = ("after_proposal", "after_approval", "after_intent", "after_send", "after_ack", "mid_flatten", "serve")
PROPOSAL_WAIT_SECONDS = 30.0  # the first proposal, and any later one after an approval that sent nothing


def say(line: str) -> None:
    """Prints one line for the test, at once."""
    print(line, flush=True)


def die(where: str) -> None:
    """SIGKILL to this very process: no cleanup, no stop row, nothing flushed but what is committed."""
    say(f"killing myself {where}")
    os.kill(os.getpid(), signal.SIGKILL)


class Target:
    """The step to die at, set once the decision (or the flatten) and its orders are known."""

    def __init__(self, plan: dict[str, Any]) -> None:
        self.point: str = plan["point"]
        self.at: float = float(plan.get("at", 0.0))
        self.ack_row: str = plan.get("ack_row", "order_result")
        self.flatten_step: str = plan.get("flatten_step", "intent")
        self.index: int | None = None  # the chosen order of the decision
        self.stop_order = False  # the chosen order is a protective stop (answered "open", no fill row)
        self.decision_seq: int | None = None  # the approve decision's (or flatten request's) seq
        self.tag = ""

    @property
    def step(self) -> str:
        """Returns the kill step: the point, or for mid_flatten the flatten step."""
        return f"after_{self.flatten_step}" if self.point == "mid_flatten" else self.point

    def choose(self, orders) -> None:  # noqa: ANN001 - the decision's orders
        """Picks the order of the decision to die at: by `at` among all of them, or for after_ack
        among its market orders (ack_row "order_result" / "fill") or its stops ("stop")."""
        indices = list(range(len(orders)))
        if self.step == "after_ack":
            stops = self.ack_row == "stop"
            indices = [i for i in indices if (orders[i].order_type == "stop_market") == stops] or indices
        self.index = indices[min(int(self.at * len(indices)), len(indices) - 1)] if indices else None
        self.stop_order = self.index is not None and orders[self.index].order_type == "stop_market"

    def client_id(self) -> str | None:
        """Returns the client order id of the chosen order, ck<tag>-<decision seq>-<index>, or
        None until both are known."""
        if self.index is None or self.decision_seq is None:
            return None
        return f"ck{self.tag}-{self.decision_seq}-{self.index}"


def install(target: Target) -> None:
    """Wraps Journal.append and ExchangeVenue.submit in this process so that they kill it at the
    target step: after the commit of the step's row, or on entry to the send."""
    from cockpit.journal.store import Journal
    from cockpit.venues.exchange_venue import ExchangeVenue

    append, submit = Journal.append, ExchangeVenue.submit

    async def killing_append(self, kind, payload, **columns):  # noqa: ANN001 - Journal.append's signature
        seq = await append(self, kind, payload, **columns)  # returns once committed
        target.tag = self.identity[:6]
        if kind == "proposal" and target.step == "after_proposal":
            die(f"after proposal {columns.get('proposal_id')} (row {seq})")
        if kind == "decision" and payload.get("decision") == "approve":
            target.decision_seq = seq
            if target.step == "after_approval":
                die(f"after approval of {columns.get('proposal_id')} (row {seq})")
        if kind == "flatten" and payload.get("step") == "request":
            target.decision_seq = seq
        if target.step == "after_ack" and columns.get("client_order_id") == target.client_id():
            wanted = "fill" if target.ack_row == "fill" and not target.stop_order else "order_result"
            if kind == wanted:
                die(f"after the {kind} row of {target.client_id()} (row {seq})")
        return seq

    async def killing_submit(self, order):  # noqa: ANN001 - ExchangeVenue.submit's signature
        if target.step == "after_intent" and order.client_order_id == target.client_id():
            die(f"before sending {order.client_order_id}")
        return await submit(self, order)

    Journal.append = killing_append  # type: ignore[method-assign]
    ExchangeVenue.submit = killing_submit  # type: ignore[method-assign]


def quicker_rate_limiter(milliseconds: float) -> None:
    """Makes every Exchange built from now on space its requests `milliseconds` per unit of
    weight instead of ccxt's figure for the exchange (the limiter stays on, first come first
    served, as in the product)."""
    from cockpit.venues.exchange import Exchange

    init = Exchange.__init__
    if getattr(init, "quicker", None) == milliseconds:
        return

    def quicker_init(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003 - Exchange.__init__'s
        init(self, *args, **kwargs)
        self.client.rateLimit = milliseconds
        self.client.tokenBucket = None
        self.client.init_rest_rate_limiter()

    quicker_init.quicker = milliseconds  # type: ignore[attr-defined]
    Exchange.__init__ = quicker_init  # type: ignore[method-assign]


async def read_line() -> str:
    """Returns the next stdin line, stripped ("" at end of input)."""
    return (await asyncio.to_thread(sys.stdin.readline)).strip()


async def wait_for_go(target: Target) -> None:
    # The "send" kills need the test's exchange to hold the chosen order's answer, and a flatten
    # is checked from the book before it: the test arms or reads that before anything is sent.
    if target.step == "after_send" or target.point == "mid_flatten":
        say("waiting for go")
        line = await read_line()
        if line != "go":
            raise SystemExit(f"expected 'go' on stdin, got {line!r}")


async def next_proposal(engine, runner: asyncio.Task, seen: set[str]):  # noqa: ANN001
    """Returns the oldest pending proposal not seen before, or None (reason on stderr)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PROPOSAL_WAIT_SECONDS
    while True:
        fresh = [p for p in engine.snapshot.proposals if p.id not in seen]
        if fresh:
            seen.add(fresh[0].id)
            return fresh[0]
        if runner.done():
            runner.result()  # raises what ended the engine
            print("the engine stopped before a proposal", file=sys.stderr, flush=True)
            return None
        if loop.time() > deadline:
            print(f"no new proposal within {PROPOSAL_WAIT_SECONDS:g}s", file=sys.stderr, flush=True)
            return None
        await asyncio.sleep(0.05)


async def approve_until_killed(engine, runner: asyncio.Task, target: Target) -> int:  # noqa: ANN001
    """Approves proposals until the kill fires; returns 2 when none could be carried out."""
    seen: set[str] = set()
    while True:
        proposal = await next_proposal(engine, runner, seen)
        if proposal is None:
            return 2
        if target.point == "after_proposal":
            continue  # the kill fires on the proposal row; an earlier one died already
        target.choose(proposal.orders)
        say(f"approving {proposal.id} orders={len(proposal.orders)} target={target.index}")
        await wait_for_go(target)
        # Not killed means nothing was sent for it (expired or denied): the next proposal.
        say(f"approved {await engine.approve(proposal.id)}")


async def flatten_until_killed(engine, runner: asyncio.Task, target: Target, approve_first: bool) -> int:  # noqa: ANN001
    """Flattens with the kill aimed at one close after the first (after approving the first
    proposal when `approve_first`: its stops then rest); returns 2 with < 2 positions."""
    if approve_first:
        proposal = await next_proposal(engine, runner, set())
        if proposal is None:
            return 2
        say(f"approving {proposal.id} orders={len(proposal.orders)}")
        say(f"approved {await engine.approve(proposal.id)}")
    positions = [p for p in engine.snapshot.state.positions.values() if p.quantity != 0]
    if len(positions) < 2:
        print(f"mid_flatten needs at least 2 positions, the book has {len(positions)}", file=sys.stderr, flush=True)
        return 2
    target.index = 1 + min(int(target.at * (len(positions) - 1)), len(positions) - 2)
    say(f"flattening positions={len(positions)} target={target.index}")
    await wait_for_go(target)
    say(f"flattened {(await engine.flatten(key='F', origin='tui')).summary()}")
    return 0


async def serve(engine, runner: asyncio.Task) -> int:  # noqa: ANN001
    """Obeys stdin ("approve", "flatten", "quit") until "quit" or the end of input."""
    seen: set[str] = set()
    while True:
        line = await read_line()
        if line in ("", "quit"):
            return 0
        if line == "flatten":
            say("flattening")
            say(f"flattened {(await engine.flatten(key='F', origin='tui')).summary()}")
        elif line == "approve":
            proposal = await next_proposal(engine, runner, seen)
            if proposal is None:
                return 2
            say(f"approving {proposal.id} orders={len(proposal.orders)}")
            say(f"approved {await engine.approve(proposal.id)}")
        else:
            print(f"unknown command {line!r}", file=sys.stderr, flush=True)


async def main(config_path: Path, journal_path: Path, plan: dict[str, Any]) -> int:
    from cockpit.config import load_config
    from cockpit.domain.types import Gate
    from cockpit.engine import public_market
    from cockpit.engine.session import Session

    public_market.HISTORY_BARS = int(plan.get("history_bars", public_market.HISTORY_BARS))
    if plan.get("rate_limit_ms"):
        quicker_rate_limiter(float(plan["rate_limit_ms"]))
    target = Target(plan)
    install(target)
    session = Session(load_config(config_path), journal_path)
    engine = await session.open()
    say(f"opened {engine.gate.value}")
    if engine.gate is Gate.HALTED:
        say(f"resumed {await engine.resume(key='R')}")
    runner = asyncio.create_task(engine.run())
    try:
        if target.point == "serve":
            return await serve(engine, runner)
        if target.point == "mid_flatten":
            if await flatten_until_killed(engine, runner, target, bool(plan.get("approve_first"))):
                return 2
            await asyncio.Event().wait()  # not reached unless the flatten ended: the test kills
            return 0
        return await approve_until_killed(engine, runner, target)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await session.close("kill_child exits")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: python -m tests.drills.kill_child CONFIG JOURNAL PLAN_JSON")
    plan = json.loads(sys.argv[3])
    if plan.get("point") not in POINTS:
        sys.exit(f"plan point must be one of {', '.join(POINTS)}")
    # SIGTERM ends the process at once (the default), like a kill from outside.
    sys.exit(asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), plan)))
