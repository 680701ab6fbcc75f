"""A cockpit on a real (fake Binance) account, run as a subprocess by tests/live/test_crash_restart.py
so that the test can kill it with SIGKILL at a chosen point of sending an order.

    python -m tests.live.crash_child CONFIG JOURNAL POINT

(cwd = the repository, PYTHONPATH=., COCKPIT_API_KEY / COCKPIT_API_SECRET set.) Opens the live
Session on JOURNAL with CONFIG (which must make a proposal appear within seconds: continuous
rebalancing), runs the engine, waits for the first proposal and approves it. POINT:

  after_intent  ExchangeVenue.submit is replaced, in this process only, by a genuine `kill -9` of
                the process on entry: the executor has committed the ORDER intent row, nothing has
                been sent. (The product has no test hook; this is the kill at exactly that point.)
  after_send    unmodified: the test makes the exchange accept the order and hold back the answer,
                then kills this process.
  run           unmodified; keeps running after the approval until it is killed or terminated.

Lines on stdout, flushed, for the test to synchronise on: "opened <gate>", "approving <id>",
"approved <outcome>". Errors go to stderr; exit status 2 when no proposal appeared in time.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

POINTS = ("after_intent", "after_send", "run")
PROPOSAL_WAIT_SECONDS = 20.0


def say(line: str) -> None:
    print(line, flush=True)


def kill_on_submit() -> None:
    """Makes the first order leave nothing but its committed intent behind: SIGKILL on entry."""
    from cockpit.venues.exchange_venue import ExchangeVenue

    async def submit(self, order):  # noqa: ANN001 - ExchangeVenue.submit's signature
        say(f"killing myself before sending {order.client_order_id}")
        os.kill(os.getpid(), signal.SIGKILL)
        await asyncio.sleep(3600)  # never reached

    ExchangeVenue.submit = submit  # type: ignore[method-assign]


async def main(config_path: Path, journal_path: Path, point: str) -> int:
    from cockpit.config import load_config
    from cockpit.engine.session import Session

    if point == "after_intent":
        kill_on_submit()
    session = Session(load_config(config_path), journal_path)
    engine = await session.open()
    say(f"opened {engine.gate}")
    runner = asyncio.create_task(engine.run())
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PROPOSAL_WAIT_SECONDS
        while not engine.snapshot.proposals:
            if runner.done():
                runner.result()  # raises what ended the engine
                print("the engine stopped before any proposal", file=sys.stderr, flush=True)
                return 2
            if loop.time() > deadline:
                print(f"no proposal within {PROPOSAL_WAIT_SECONDS:g}s", file=sys.stderr, flush=True)
                return 2
            await asyncio.sleep(0.1)
        proposal = engine.snapshot.proposals[0]
        say(f"approving {proposal.id}")
        say(f"approved {await engine.approve(proposal.id)}")
        await asyncio.Event().wait()  # until killed
        return 0
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await session.close("crash_child exits")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[3] not in POINTS:
        sys.exit(f"usage: python -m tests.live.crash_child CONFIG JOURNAL {{{'|'.join(POINTS)}}}")
    # SIGTERM ends the process at once (the default), like a kill from outside.
    sys.exit(asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])))
