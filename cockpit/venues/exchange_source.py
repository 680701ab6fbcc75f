"""Mark prices from an exchange: its websocket stream where it has one, REST polling otherwise.

A stream that goes quiet for `quiet_seconds` is dead: it is dropped and started again. After
`STREAM_FAILURES` dead or broken streams in a row the source polls REST for `REST_SPELL_SECONDS`
and then tries the stream again. While neither answers no tick comes, so the engine's stale-data
breaker sees the gap exactly as it is. Nothing here raises into the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import AsyncIterator, Awaitable, Callable

from cockpit.domain.types import Instrument, Tick
from cockpit.venues.base import SourceLabel
from cockpit.venues.exchange import Exchange
from cockpit.venues.exchange_errors import ExchangeFailure

STREAM_FAILURES = 3
REST_SPELL_SECONDS = 60.0
MAX_BACKOFF = 10.0


class ExchangeSource:
    """Ticks of the exchange's mark prices for `instruments` (epoch seconds local time, USDT)."""

    def __init__(
        self,
        exchange: Exchange,
        instruments: dict[str, Instrument],
        *,
        label: SourceLabel = "LIVE",
        poll_seconds: float = 2.0,
        quiet_seconds: float = 15.0,
        stream: bool = True,
        history: dict[str, tuple[list[float], list[float]]] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        """`history` is handed to the models at start (see PriceSource); `stream` False polls only."""
        self.label = label
        self.exchange = exchange
        self._instruments = instruments
        self._symbols = list(instruments)
        self._poll_seconds = poll_seconds
        self._quiet = quiet_seconds
        self._stream = stream and bool(exchange.client.has.get("watchMarkPrices"))
        self._history = history or {}
        self._clock = clock
        self._sleep = sleep
        self._closed = False
        self._last_timestamp: dict[str, float] = {}
        self.feed = "starting"  # "stream", "REST" or "down: <reason>", for the screen
        self.restarts = 0  # dead or broken streams dropped and started again

    def instruments(self) -> dict[str, Instrument]:
        """Returns the instruments priced, from the exchange's markets."""
        return dict(self._instruments)

    def history(self) -> dict[str, tuple[list[float], list[float]]]:
        """Returns {symbol: (times, closes)} of past 4h bars fetched at start (may be empty)."""
        return dict(self._history)

    def _ticks(self, prices: dict[str, float]) -> list[Tick]:
        now = self._clock()
        out = []
        for symbol, price in prices.items():
            # Local time: a quiet market's own timestamp can be minutes old, and staleness,
            # funding and the 4h bars downstream run on the wall clock.
            timestamp = max(now, self._last_timestamp.get(symbol, now))
            self._last_timestamp[symbol] = timestamp
            out.append(Tick(symbol, timestamp, price, price, price))
        return out

    async def ticks(self) -> AsyncIterator[Tick]:
        """Yields ticks until closed: from the stream while it lives, else from REST polls."""
        failures = 0
        while not self._closed:
            if self._stream and failures < STREAM_FAILURES:
                async for tick in self._from_stream():
                    failures = 0
                    yield tick
                if self._closed:
                    return
                failures += 1
                self.restarts += 1
                continue
            spell_end = self._clock() + (REST_SPELL_SECONDS if self._stream else float("inf"))
            async for tick in self._from_rest(spell_end):
                yield tick
            failures = 0

    async def _from_stream(self) -> AsyncIterator[Tick]:
        stream = self.exchange.watch_marks(self._symbols)
        try:
            while not self._closed:
                try:
                    prices = await asyncio.wait_for(anext(stream), timeout=self._quiet)
                except asyncio.TimeoutError:
                    self.feed = f"down: stream quiet for {self._quiet:g}s, restarting"
                    return
                except (ExchangeFailure, StopAsyncIteration) as failure:
                    self.feed = f"down: stream broke ({failure}), restarting"
                    await self._sleep(min(MAX_BACKOFF, 0.5 * (self.restarts + 1)))
                    return
                self.feed = "stream"
                for tick in self._ticks(prices):
                    yield tick
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()
            await self.exchange.drop_streams()

    async def _from_rest(self, until: float) -> AsyncIterator[Tick]:
        backoff = self._poll_seconds
        while not self._closed and self._clock() < until:
            try:
                marks = await self.exchange.marks(self._symbols)
            except ExchangeFailure as failure:
                self.feed = f"down: {failure}"
                backoff = min(max(backoff * 2, 0.5), MAX_BACKOFF)
                await self._sleep(backoff)
                continue
            backoff = self._poll_seconds
            self.feed = "REST"
            for tick in self._ticks({symbol: mark for symbol, (mark, _) in marks.items()}):
                yield tick
            await self._sleep(self._poll_seconds)

    async def probe(self) -> bool:
        """Returns True when one REST read gives a usable price; never raises."""
        try:
            return bool(await self.exchange.marks(self._symbols))
        except ExchangeFailure:
            return False

    async def close(self) -> None:
        """Stops ticks() and closes the client."""
        self._closed = True
        await self.exchange.close()
