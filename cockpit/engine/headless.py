"""`cockpit flatten` from a second shell: ask the running cockpit to flatten, or, when none is
running, flatten the paper account stored in the journal directly."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass

from cockpit.config import Config
from cockpit.domain.tiers import DEFAULT_TIERS
from cockpit.domain.types import Instrument
from cockpit.engine.executor import Executor
from cockpit.engine.flatten import flatten_all
from cockpit.engine.lock import OwnerLock
from cockpit.journal.rebuild import latest_account, rebuild_paper_account
from cockpit.journal.store import Journal
from cockpit.venues.instruments import DEFAULT_INSTRUMENTS
from cockpit.venues.paper import PaperVenue

REMOTE_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class HeadlessOutcome:
    """What the headless flatten did: the line to print and whether the account ended flat."""

    message: str
    flat: bool


def _instruments_for(symbols) -> dict[str, Instrument]:
    instruments = dict(DEFAULT_INSTRUMENTS)
    for symbol in symbols:
        if symbol not in instruments:
            base = symbol.split("/")[0]
            instruments[symbol] = Instrument(symbol, base, 1e-9, 0.0, 1e-9, DEFAULT_TIERS)
    return instruments


async def _ask_running_cockpit(journal: Journal, account: str, wait_seconds: float) -> HeadlessOutcome:
    request = await journal.append(
        "flatten", {"step": "remote_request", "origin": "cli", "pid": os.getpid()}, account=account
    )
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        for entry in await journal.entries(kinds=["flatten"], account=account, after_seq=request):
            if entry.payload.get("step") == "done":
                summary = str(entry.payload.get("summary", "done"))
                return HeadlessOutcome(f"running cockpit: {summary}", summary.startswith("FLAT"))
        await asyncio.sleep(0.25)
    return HeadlessOutcome(
        f"the running cockpit did not answer within {wait_seconds:.0f}s; the request stays in the journal "
        f"(seq {request}) and it will act on it; stop it and run `cockpit flatten` again to act from here",
        False,
    )


async def _flatten_here(config: Config, journal: Journal, account: str) -> HeadlessOutcome:
    paper = await rebuild_paper_account(journal, account)
    assert paper is not None
    venue = PaperVenue(
        _instruments_for(paper.positions),
        paper.balance,
        paper.positions,
        taker_fee=config.paper.taker_fee,
        maker_fee=config.paper.maker_fee,
        slippage=config.paper.slippage,
    )
    venue.set_marks(paper.marks)
    gate_rows = await journal.entries(kinds=["gate"], account=account, newest_first=True, limit=1)
    previous_gate = gate_rows[0].payload.get("to", "ACTIVE") if gate_rows else "ACTIVE"

    async def halt(reason: str) -> None:
        await journal.append(
            "gate", {"from": previous_gate, "to": "HALTED", "reason": reason, "key": "cockpit flatten"}, account=account
        )

    report = await flatten_all(
        venue=venue,
        journal=journal,
        executor=Executor(venue, journal, account),
        account=account,
        key="cockpit flatten",
        origin="cli",
        halt=halt,
    )
    return HeadlessOutcome(f"{account}: {report.summary()} (at the last journaled prices)", report.flat)


async def headless_flatten(config: Config, journal_path, *, wait_seconds: float = REMOTE_WAIT_SECONDS) -> HeadlessOutcome:
    """Flattens the newest paper account in the journal; returns what happened."""
    if not os.path.exists(journal_path):
        return HeadlessOutcome(f"no journal at {journal_path}: nothing to flatten", True)
    lock = OwnerLock(journal_path)
    owner = lock.acquire()
    try:
        async with await Journal.open(journal_path) as journal:
            account = await latest_account(journal)
            if account is None:
                return HeadlessOutcome("the journal holds no account: nothing to flatten", True)
            if owner:
                return await _flatten_here(config, journal, account)
            return await _ask_running_cockpit(journal, account, wait_seconds)
    finally:
        lock.release()
