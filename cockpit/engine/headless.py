"""`cockpit flatten` from a second shell: ask the running cockpit to flatten, or, when none is
running, flatten directly: the exchange account of a live config, else the paper account stored in
the journal."""

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
    # The running cockpit serves this request as a flatten of origin "cli:<request seq>"; its
    # flattens run one at a time, so the first "done" after that one's request row is the answer.
    # Another flatten finishing meanwhile (F on its screen) is not this request's report.
    origin, served, seen = f"cli:{request}", False, request
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        for entry in await journal.entries(kinds=["flatten"], account=account, after_seq=seen):
            seen = entry.seq
            step = entry.payload.get("step")
            if step == "request":
                served = entry.payload.get("origin") == origin
            elif step == "done" and served:
                summary = str(entry.payload.get("summary", "done"))
                return HeadlessOutcome(f"running cockpit: {summary}", summary.startswith("FLAT"))
        await asyncio.sleep(0.25)
    return HeadlessOutcome(
        f"the running cockpit did not answer within {wait_seconds:.0f}s; the request stays in the journal "
        f"(seq {request}) and it will act on it; stop it and run `cockpit flatten` again to act from here",
        False,
    )


async def _flatten_on(venue, journal: Journal, account: str, *, id_tag: str = ""):
    """Runs flatten_all on `venue` as `cockpit flatten`, halting the journaled gate."""
    gate_rows = await journal.entries(kinds=["gate"], account=account, newest_first=True, limit=1)
    previous_gate = gate_rows[0].payload.get("to", "ACTIVE") if gate_rows else "ACTIVE"

    async def halt(reason: str) -> None:
        await journal.append(
            "gate", {"from": previous_gate, "to": "HALTED", "reason": reason, "key": "cockpit flatten"}, account=account
        )

    return await flatten_all(
        venue=venue,
        journal=journal,
        executor=Executor(venue, journal, account, id_tag=id_tag),
        account=account,
        key="cockpit flatten",
        origin="cli",
        halt=halt,
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
    report = await _flatten_on(venue, journal, account)
    return HeadlessOutcome(f"{account}: {report.summary()} (at the last journaled prices)", report.flat)


async def _flatten_on_exchange(config: Config, journal: Journal, account: str) -> HeadlessOutcome:
    """Cancels every open order and closes every position on the traded symbols of the exchange
    account, with reduce-only market orders under journaled client ids; positions on other
    symbols are named, not touched (they are not the cockpit's)."""
    from cockpit.config import PASSPHRASE_EXCHANGES
    from cockpit.engine.public_market import exchange_for, traded_symbols
    from cockpit.secrets import SecretsError, load_credentials
    from cockpit.venues.exchange_errors import ExchangeFailure
    from cockpit.venues.exchange_venue import ExchangeVenue

    settings = config.exchange
    try:
        credentials = load_credentials(settings.id, needs_passphrase=settings.id in PASSPHRASE_EXCHANGES)
    except SecretsError as error:
        return HeadlessOutcome(f"{error}; nothing was sent", False)
    if credentials is None:
        return HeadlessOutcome(
            f"no API key for {settings.id}: set COCKPIT_API_KEY and COCKPIT_API_SECRET (or the OS keyring); nothing was sent",
            False,
        )
    exchange = exchange_for(config, credentials)
    try:
        instruments = await exchange.instruments(traded_symbols(config))
        symbols = list(instruments)
        balance, positions = await exchange.account(symbols)
        venue = ExchangeVenue(exchange, instruments, balance, positions, await exchange.open_orders(symbols),
                              not_found_grace_seconds=settings.not_found_grace_seconds)
        report = await _flatten_on(venue, journal, account, id_tag=journal.identity[:6])
        _, everywhere = await exchange.account(None)
    except ExchangeFailure as failure:
        return HeadlessOutcome(
            f"{account}: {failure}; flatten did not finish (every step so far is in the journal). "
            "Run `cockpit flatten` again, or close on the exchange's own site", False)
    finally:
        await exchange.close()
    others = ", ".join(f"{s} {p.quantity:+g}" for s, p in sorted(everywhere.items()) if s not in instruments)
    note = f"; left alone, not traded by this cockpit: {others}" if others else ""
    return HeadlessOutcome(f"{account}: {report.summary()}{note}", report.flat)


async def headless_flatten(config: Config, journal_path, *, wait_seconds: float = REMOTE_WAIT_SECONDS) -> HeadlessOutcome:
    """Flattens the configured exchange account ([exchange] id), else the newest paper account in
    the journal: through the running cockpit when one owns the journal, directly otherwise.
    Returns what happened."""
    live = config.exchange.live
    if not live and not os.path.exists(journal_path):
        return HeadlessOutcome(f"no journal at {journal_path}: nothing to flatten", True)
    lock = OwnerLock(journal_path)
    owner = lock.acquire()
    try:
        async with await Journal.open(journal_path) as journal:
            account = config.exchange.account_name if live else await latest_account(journal)
            if account is None:
                return HeadlessOutcome("the journal holds no account: nothing to flatten", True)
            if not owner:
                return await _ask_running_cockpit(journal, account, wait_seconds)
            if live:
                return await _flatten_on_exchange(config, journal, account)
            return await _flatten_here(config, journal, account)
    finally:
        lock.release()
