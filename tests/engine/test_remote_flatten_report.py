"""`cockpit flatten` asking a running cockpit reports the flatten that served its own request, not
another one that finished meanwhile (found by the flatten drills, tests/drills/test_flatten_drills.py:
F on the screen and `cockpit flatten` at once made the CLI print the screen's flatten and return
before its own request was served)."""

from __future__ import annotations

import asyncio

from cockpit.engine.headless import headless_flatten
from cockpit.engine.lock import OwnerLock
from tests.engine.test_headless import account_with_positions
from tests.support import config


async def test_the_cli_waits_for_its_own_request_not_a_flatten_from_the_screen(tmp_path):
    path = tmp_path / "j.sqlite"
    owner = OwnerLock(path)
    assert owner.acquire()
    engine, journal, source = await account_with_positions(path)
    running = asyncio.create_task(engine.run())
    try:
        asked = asyncio.create_task(headless_flatten(config(), path, wait_seconds=10))
        for _ in range(200):  # the CLI's request is journaled within moments
            if [e for e in await journal.entries(kinds=["flatten"]) if e.payload["step"] == "remote_request"]:
                break
            await asyncio.sleep(0.01)
        # F on the screen, after the CLI asked and before the cockpit serves the request (its
        # housekeeping looks once a second): this flatten closes both positions.
        screen = await engine.flatten(key="F", origin="tui")
        assert screen.closed == 2 and not asked.done()
        outcome = await asked
        assert outcome.flat
        assert outcome.message == "running cockpit: FLAT: cancelled 0 orders, closed 0 positions"
        requests = [e.payload["origin"] for e in await journal.entries(kinds=["flatten"]) if e.payload["step"] == "request"]
        assert requests[0] == "tui" and requests[1].startswith("cli:")
    finally:
        await source.close()
        await running
        await journal.close()
        owner.release()
