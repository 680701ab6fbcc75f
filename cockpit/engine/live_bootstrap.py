"""Starting an engine on a real exchange account ([exchange] id in the config).

In order, before any price reaches the engine: refuse a key that may withdraw, load the markets
and the account's own leverage tiers, set margin mode and leverage, reconcile the journal with the
exchange (cockpit/engine/reconcile.py), then fetch 4h history for the models. Any exchange
failure on the way stops the start with one line: nothing is assumed from a missing answer.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable

from cockpit.config import Config
from cockpit.engine.bootstrap import start_engine
from cockpit.engine.engine import Engine
from cockpit.engine.fit_pool import FitPool
from cockpit.engine.public_market import exchange_for, fetch_history, traded_symbols
from cockpit.engine.reconcile import Reconciler
from cockpit.journal.store import Journal
from cockpit.venues.exchange_errors import ExchangeFailure
from cockpit.venues.exchange_source import ExchangeSource
from cockpit.venues.exchange_venue import ExchangeVenue


class LiveStartError(RuntimeError):
    """Why a real account could not be started, as one line."""


async def open_live_engine(
    config: Config,
    journal: Journal,
    credentials: Any,
    *,
    fit_pool: FitPool | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> Engine:
    """Returns the engine on the configured exchange account, reconciled with its journal; the
    gate is HALTED when the reconciliation found a difference. Raises LiveStartError."""
    settings = config.exchange
    account = settings.account_name
    if not config.breakers.enabled:
        raise LiveStartError("[breakers] enabled = false is for backtests only: a real account always runs its circuit breakers")
    exchange = exchange_for(config, credentials)
    try:
        if await exchange.withdrawals_allowed():
            raise LiveStartError(
                f"{settings.id}: this API key may withdraw funds; create a trade-only key (no withdrawals, "
                "IP allow-list) and use that one"
            )
        instruments = await exchange.instruments(traded_symbols(config))
        if not instruments:
            raise LiveStartError(f"{settings.id} lists none of {', '.join(traded_symbols(config))}")
        symbols = list(instruments)
        await exchange.prepare(symbols, margin_mode=settings.margin_mode, leverage=settings.leverage)
        marks = {symbol: mark for symbol, (mark, _) in (await exchange.marks(symbols)).items()}
        reconciliation = await Reconciler(
            journal, account, exchange,
            grace_seconds=settings.not_found_grace_seconds,
            approval_ttl_seconds=config.proposals.ttl_seconds,
            max_price_move=config.proposals.max_price_move,
            step_sizes={symbol: instrument.step_size for symbol, instrument in instruments.items()},
            clock=clock, sleep=sleep,
        ).run(marks)
        balance, positions = await exchange.account(symbols)
        resting = await exchange.open_orders(symbols)
        history = await fetch_history(exchange, symbols)
    except ExchangeFailure as failure:
        await exchange.close()
        raise LiveStartError(f"{settings.id}: {failure}") from None
    except BaseException:
        await exchange.close()
        raise
    await journal.append("note", {"text": reconciliation.summary()}, account=account)
    prices = exchange_for(config, None)  # its own client: a dead stream is closed without touching orders
    source = ExchangeSource(
        prices, instruments, label="LIVE", poll_seconds=config.market.poll_seconds,
        quiet_seconds=max(2.0, config.market.stale_after_seconds / 2), history=history, clock=clock,
    )
    venue = ExchangeVenue(
        exchange, instruments, balance, positions, resting,
        post_only=settings.post_only, poll_seconds=settings.account_poll_seconds,
        not_found_grace_seconds=settings.not_found_grace_seconds, dead_man_seconds=settings.dead_man_seconds,
        since=clock(), clock=clock,
    )
    where = f"{settings.id}{' testnet' if settings.testnet else ''}"
    engine = await start_engine(
        config, journal, account, source=source, venue=venue, marks=marks, note=where, fit_pool=fit_pool,
        clock=clock, halt_reason="" if reconciliation.agreed else reconciliation.summary(),
        order_id_tag=journal.identity[:6],
    )
    if settings.dead_man_seconds > 0 and not exchange.has_dead_man_switch:
        # Said once at start, where the trader looks: nothing cancels orders if cockpit dies here.
        text = f"no dead-man's switch on {settings.id}: orders stay open if cockpit dies (README, Dead-man's switch)"
        await journal.append("note", {"text": text}, account=account)
        engine.announce(text)
    if not reconciliation.agreed:
        engine.announce(reconciliation.summary())
    return engine
