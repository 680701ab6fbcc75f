"""The exchange as the cockpit reaches it: one place builds the client from the config, and the
paper account's live public prices come through the same adapter a real account uses."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

from cockpit.config import Config
from cockpit.engine.policy import target_symbols
from cockpit.venues.exchange import Exchange
from cockpit.venues.exchange_errors import ExchangeFailure
from cockpit.venues.exchange_source import ExchangeSource

HISTORY_BARS = 3000  # 4h bars (500 days) handed to the models at start


def traded_symbols(config: Config) -> list[str]:
    """Returns the symbols the account trades: the targets and the hedge leg."""
    symbols = list(target_symbols(config))
    if config.hedge.asset:
        symbols.append(f"{config.hedge.asset}/USDT:USDT")
    return symbols


def exchange_for(config: Config, credentials: Any, factory: Callable[[dict], Any] | None = None) -> Exchange:
    """Returns the configured Exchange (with `credentials`, or public-only when None). Without an
    [exchange] id it is [market] exchange's public side; [exchange] api_url applies to both."""
    settings = config.exchange
    return Exchange(
        settings.id or config.market.exchange,
        credentials=credentials,
        testnet=settings.testnet if settings.id else False,
        api_url=settings.api_url,
        timeout_seconds=settings.timeout_seconds,
        taker_fee=config.paper.taker_fee,
        factory=factory,
    )


async def fetch_history(
    exchange: Exchange, symbols: list[str], *, within_seconds: float = float("inf")
) -> dict[str, tuple[list[float], list[float]]]:
    """Returns {symbol: (times epoch s, closes USDT)} of the last HISTORY_BARS 4h bars; a symbol
    whose history cannot be read within the time left is left out (its models wait for bars)."""
    deadline = time.monotonic() + within_seconds
    history = {}
    for symbol in symbols:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            history[symbol] = await asyncio.wait_for(exchange.closes(symbol, bars=HISTORY_BARS), remaining)
        except (ExchangeFailure, TimeoutError):
            pass
    return history


async def open_public_source(
    config: Config, *, factory: Callable[[dict], Any] | None = None, clock: Callable[[], float] = time.time
) -> ExchangeSource | None:
    """Returns a "PAPER" source of the exchange's public mark prices for the traded symbols, with
    the exchange's markets and 4h history, or None when it does not answer with a usable price
    within [market] connect_timeout_seconds (the caller then falls back to the demo market).
    Never raises on exchange trouble."""
    exchange = exchange_for(config, None, factory)
    symbols = traded_symbols(config)
    try:
        async with asyncio.timeout(config.market.connect_timeout_seconds):
            instruments = await exchange.instruments(symbols)
            if not instruments or not await exchange.marks(list(instruments)):
                raise ExchangeFailure("no usable price")
    except (ExchangeFailure, TimeoutError):
        await exchange.close()
        return None
    except BaseException:
        await exchange.close()
        raise
    # History is a head start for the models, not a condition for trading on paper.
    history = await fetch_history(exchange, list(instruments), within_seconds=max(10.0, 3 * config.market.connect_timeout_seconds))
    return ExchangeSource(
        exchange, instruments, label="PAPER", poll_seconds=config.market.poll_seconds,
        quiet_seconds=max(2.0, config.market.stale_after_seconds / 2), history=history, clock=clock,
    )
