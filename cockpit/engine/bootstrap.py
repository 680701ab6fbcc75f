"""Starting an engine: pick the market, open the journal, rebuild the paper account from it, and
restore the latched gate, the circuit-breaker latches and the mode, so a restart continues where
the last run stopped."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cockpit import __version__
from cockpit.config import Config
from cockpit.domain.account import settle_fill
from cockpit.domain.rebalance import round_quantity
from cockpit.domain.types import Balance, Fill, Gate, Position, RebalanceMode
from cockpit.journal.kinds import fill_payload
from cockpit.engine.engine import Engine
from cockpit.engine.policy import target_symbols
from cockpit.engine.fit_pool import FitPool
from cockpit.engine.unfinished import settle_unfinished
from cockpit.journal.rebuild import engaged_breakers, rebuild_paper_account, regime_override, resting_stops
from cockpit.journal.store import Journal
from cockpit.venues.base import PriceSource, Venue
from cockpit.venues.funding import FundingSchedule
from cockpit.venues.paper import PaperVenue

LIVE_ACCOUNT = "paper-live"
DEMO_ACCOUNT = "paper-demo"


@dataclass(frozen=True)
class MarketChoice:
    """Where prices come from for this run, and which paper account they drive."""

    kind: str  # "live", "demo" or "replay"
    account: str
    note: str = ""
    replay_files: tuple[Path, ...] = field(default_factory=tuple)
    speed: float = 200.0
    grant_demo_book: bool = False  # a new synthetic-demo account opens holding a book
    source: PriceSource | None = None  # the live source that answered the probe, reused


async def choose_market(config: Config, *, demo: bool, replay: list[Path], speed: float) -> MarketChoice:
    """Returns the market to run on: replay files, the synthetic demo, or live public prices when
    the exchange answers within the configured timeout (the synthetic demo otherwise)."""
    if replay:
        started = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        return MarketChoice("replay", f"paper-replay-{started}", "", tuple(replay), speed)
    if demo:
        return MarketChoice("demo", DEMO_ACCOUNT, "demo", grant_demo_book=True)
    from cockpit.engine.public_market import open_public_source

    source = await open_public_source(config)
    if source is not None:
        return MarketChoice("live", LIVE_ACCOUNT, f"{config.market.exchange} public prices", source=source)
    return MarketChoice("demo", DEMO_ACCOUNT, "offline fallback", grant_demo_book=True)


def make_source(choice: MarketChoice, config: Config, marks: dict[str, float]) -> PriceSource:
    """Returns the price source for `choice`; the demo market continues from the last marks."""
    if choice.source is not None:
        return choice.source
    if choice.kind == "replay":
        from cockpit.venues.replay import ReplaySource

        return ReplaySource(list(choice.replay_files), speed=choice.speed)
    if choice.kind == "live":
        raise ValueError("a live market choice carries its source (see choose_market)")
    from cockpit.venues.synthetic import SyntheticSource

    market = config.market
    # Frozen: no random moves and no crashes, so only the clock moves on screen.
    still = {"step_volatility": 0.0, "crash_probability": 0.0} if market.synthetic_frozen else {}
    return SyntheticSource(seed=market.synthetic_seed, start_prices=marks or None,
                           interval=market.synthetic_interval_seconds, **still)


def demo_book_weights(targets: dict[str, float]) -> dict[str, float]:
    """Returns the weights a new demo account starts with: its targets with 10 points moved from
    the last target to the first (or the single target at 80%), so the band has drift to show."""
    weights = dict(targets)
    symbols = list(weights)
    if len(symbols) >= 2:
        weights[symbols[0]] += 0.1 * (1 if weights[symbols[0]] >= 0 else -1)
        weights[symbols[-1]] -= 0.1 * (1 if weights[symbols[-1]] >= 0 else -1)
    elif symbols:
        weights[symbols[0]] *= 0.8
    return weights


async def _grant_demo_book(
    journal: Journal, account: str, config: Config, balance: Balance, source: PriceSource
) -> tuple[Balance, dict[str, Position], dict[str, float]]:
    """Gives a new synthetic-demo account a leveraged book at the market's opening prices.

    No order is sent: the positions are granted, journaled as fee-free fills with client id
    `demo-grant` and a note, so the journal rebuild folds them like any other fill."""
    prices = source.start_prices()  # type: ignore[attr-defined]
    instruments = source.instruments()
    positions: dict[str, Position] = {}
    now = time.time()
    for symbol, weight in demo_book_weights(target_symbols(config)).items():
        if symbol not in prices or symbol not in instruments:
            continue
        notional = weight * config.portfolio.target_leverage * balance.wallet
        quantity = round_quantity(abs(notional) / prices[symbol], instruments[symbol].step_size)
        if quantity <= 0:
            continue
        fill = Fill(symbol, "buy" if weight > 0 else "sell", quantity, prices[symbol], 0.0, now, "demo-grant")
        balance, positions, _ = settle_fill(balance, positions, fill)
        await journal.append(
            "fill", fill_payload(fill, 0.0), account=account, symbol=symbol, client_order_id=fill.client_order_id
        )
    await journal.append(
        "note", {"text": "demo starting book granted at the opening prices; no order was sent"}, account=account
    )
    return balance, positions, dict(prices)


async def _latest_payload(journal: Journal, kind: str, account: str) -> dict | None:
    rows = await journal.entries(kinds=[kind], account=account, newest_first=True, limit=1)
    return rows[0].payload if rows else None


async def open_engine(
    config: Config,
    choice: MarketChoice,
    journal: Journal,
    *,
    source: PriceSource | None = None,
    funding: FundingSchedule | None = None,
    fit_pool: FitPool | None = None,
    clock: Callable[[], float] = time.time,
) -> Engine:
    """Returns an engine for `choice`, its paper account rebuilt from `journal` (or funded with
    the configured starting balance when new), with the gate, the mode and the breaker latches no
    person has reset yet (LATCHED, named in a note row) and the regime override not yet cleared.
    The paper venue settles `funding` (default: the configured constant rate); fits run in
    `fit_pool` (default: a process pool started at the first fit)."""
    account = await rebuild_paper_account(journal, choice.account)
    if account is None:
        amount = config.account.starting_balance
        await journal.append("deposit", {"amount": amount}, account=choice.account)
        balance, positions, marks = Balance(amount), {}, {}
    else:
        balance, positions, marks = account.balance, account.positions, account.marks
    source = source or make_source(choice, config, marks)
    if account is None and choice.grant_demo_book and hasattr(source, "start_prices"):
        balance, positions, marks = await _grant_demo_book(journal, choice.account, config, balance, source)
    venue = PaperVenue(
        source.instruments(),
        balance,
        positions,
        taker_fee=config.paper.taker_fee,
        maker_fee=config.paper.maker_fee,
        slippage=config.paper.slippage,
        funding=funding or FundingSchedule.constant(config.paper.funding_rate),
    )
    venue.set_marks(marks)
    refused = venue.restore_open_orders(await resting_stops(journal, choice.account))
    if refused:
        await journal.append("note", {"text": "stops not restored: " + "; ".join(refused)}, account=choice.account)
    return await start_engine(config, journal, choice.account, source=source, venue=venue, marks=marks,
                              note=choice.note, fit_pool=fit_pool, clock=clock, peak_equity=account.peak_equity if account else 0.0)


async def start_engine(
    config: Config,
    journal: Journal,
    account: str,
    *,
    source: PriceSource,
    venue: Venue,
    marks: dict[str, float],
    note: str,
    fit_pool: FitPool | None,
    clock: Callable[[], float],
    peak_equity: float = 0.0,
    halt_reason: str = "",
    order_id_tag: str = "",
) -> Engine:
    """Returns an engine on `venue` and `source` with what the journal says no person has undone:
    the gate, the mode, the breaker latches, the reserve and the regime override. A non-empty
    `halt_reason` moves the gate to HALTED first (journaled), for a person to review."""
    gate_row = await _latest_payload(journal, "gate", account)
    gate = Gate(gate_row["to"]) if gate_row else Gate.ACTIVE
    if halt_reason:
        await journal.append("gate", {"from": gate.value, "to": Gate.HALTED.value, "reason": halt_reason, "key": None},
                             account=account)
        gate = Gate.HALTED
    mode_row = await _latest_payload(journal, "mode", account)
    proposals = await journal.entries(kinds=["proposal"], account=account)
    newest = await journal.entries(limit=1, newest_first=True)
    # A trip the trader never acknowledged must not be forgotten with the process: it holds the
    # rebalancer back and waits for R, as it did before the restart.
    latched = await engaged_breakers(journal, account)
    reserve_row = await _latest_payload(journal, "reserve", account)
    deposits = await journal.entries(kinds=["deposit"], account=account)
    engine = Engine(
        config=config,
        source=source,
        venue=venue,
        journal=journal,
        account=account,
        marks=marks,
        gate=gate,
        mode=RebalanceMode(mode_row["mode"]) if mode_row else None,
        source_note=note,
        proposal_counter=len(proposals),
        breakers=latched,
        reserve=float(reserve_row["amount"]) if reserve_row else 0.0,
        # Profit counts from the last move to the reserve, or from the money put in.
        reserve_baseline=float(reserve_row["baseline"]) if reserve_row else (
            sum(float(d.payload["amount"]) for d in deposits) or None),
        peak_equity=peak_equity,
        regime_override=await regime_override(journal, account),
        fit_pool=fit_pool,
        order_id_tag=order_id_tag,
        clock=clock,
    )
    engine.ignore_remote_requests_before(newest[0].seq if newest else 0)
    if latched:
        shown = ", ".join(f"{latch.breaker} {latch.subject}" for latch in latched)
        await journal.append(
            "note", {"text": f"breakers restored latched: {shown}; R re-arms them"}, account=account
        )
    last_run = await journal.entries(kinds=["start", "stop"], account=account, newest_first=True, limit=1)
    if last_run and last_run[0].kind == "start":
        pid = last_run[0].payload.get("pid", "?")
        await journal.append(
            "note", {"text": f"the previous run (pid {pid}) ended without a stop: killed or crashed"}, account=account
        )
    # A proposal or an approval the last run left unfinished is settled and said, not carried on.
    for text in await settle_unfinished(journal, account):
        engine.announce(text)
    await journal.append(
        "start",
        {"version": __version__, "source": source.label, "config_hash": config.digest(), "pid": os.getpid(), "note": note},
        account=account,
    )
    return engine
