"""Live public prices through ccxt, for the paper account: no keys, only public endpoints.

Network trouble never escapes this module: `probe()` answers False, `ticks()` backs off and keeps
trying, and a ticker without a usable price is dropped rather than passed on.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable, Mapping

import ccxt.async_support as ccxt_async

from cockpit.domain.types import Instrument, Tick
from cockpit.venues.base import SourceLabel
from cockpit.venues.exchange import point_at
from cockpit.venues.instruments import instrument_for_base

MAX_BACKOFF = 10.0  # seconds between retries while the exchange is unreachable


def _tolerate_bad_tickers(exchange: Any) -> None:
    """Makes one unparseable ticker (ccxt raises on e.g. "NaN") cost only that ticker: it comes
    back with no price and is skipped, instead of failing the whole batch."""
    parse = getattr(exchange, "parse_ticker", None)
    if parse is None:
        return

    def parse_or_blank(ticker: Any, market: Any = None) -> dict[str, Any]:
        try:
            return parse(ticker, market)
        except Exception:  # noqa: BLE001 - garbage from the wire, not a bug of ours
            try:
                symbol = exchange.safe_market(ticker.get("symbol"), market)["symbol"]
            except Exception:  # noqa: BLE001
                symbol = None
            return {"symbol": symbol, "last": None, "markPrice": None, "info": {}}

    exchange.parse_ticker = parse_or_blank


def _price(ticker: Any, raw_fields: tuple[str, ...] | None) -> float | None:
    """The mark price if the exchange sent one, else the last trade; None when unusable.

    With `raw_fields`, only those fields of the exchange's own answer count: ccxt fills a missing
    or zero `last` from open + change, which is not a price anyone traded at.
    """
    if not isinstance(ticker, Mapping):
        return None
    if raw_fields is not None:
        info = ticker.get("info")
        candidates = [info.get(f) for f in raw_fields] if isinstance(info, Mapping) else []
    else:
        candidates = [ticker.get("markPrice"), ticker.get("last")]
    for candidate in candidates:
        try:
            value = float(candidate)
        except (TypeError, ValueError):
            continue
        if math.isfinite(value) and value > 0:
            return value
    return None


class LiveTickerSource:
    """Polls an exchange's public tickers (default Binance USDT-M) and yields Ticks (label
    "PAPER": live prices for a paper account). price = mark price if sent, else last trade;
    high = low = price."""

    label: SourceLabel = "PAPER"

    def __init__(
        self,
        symbols: Iterable[str],
        *,
        exchange_id: str = "binanceusdm",
        poll_seconds: float = 2.0,
        timeout_seconds: float = 4.0,
        api_url: str | None = None,
        exchange_factory: Callable[[dict[str, Any]], Any] | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`exchange_factory(config)` builds the ccxt client (default: ccxt.async_support's
        `exchange_id` class); `api_url` replaces the scheme and host of every API url, for tests."""
        self.symbols = list(symbols)
        if not self.symbols:
            raise ValueError("live prices need at least one symbol")
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self._sleep = sleep
        self._clock = clock
        self._closed = False
        config = {"enableRateLimit": True, "timeout": int(timeout_seconds * 1000)}
        if exchange_factory is None:
            exchange_class = getattr(ccxt_async, exchange_id, None)
            if exchange_class is None:
                raise ValueError(f"unknown exchange id {exchange_id!r} (not in ccxt)")
            exchange_factory = exchange_class
        self.exchange = exchange_factory(config)
        if api_url:
            point_at(self.exchange, api_url)
        _tolerate_bad_tickers(self.exchange)
        # Binance's 24hr ticker: lastPrice, plus markPrice when the answer carries one.
        self._raw_fields = ("markPrice", "lastPrice") if exchange_id.startswith("binance") else None
        self._last_timestamp: dict[str, float] = {}

    def instruments(self) -> dict[str, Instrument]:
        """Returns default instruments (precision, minimums, tiers) for the polled symbols."""
        out = {}
        for symbol in self.symbols:
            instrument = instrument_for_base(symbol.split("/")[0])
            out[instrument.symbol] = instrument
        return out

    async def _fetch(self) -> list[Tick]:
        tickers = await asyncio.wait_for(
            self.exchange.fetch_tickers(self.symbols), timeout=self.timeout_seconds
        )
        if not isinstance(tickers, Mapping):
            raise ValueError("fetch_tickers did not return a mapping")
        now = self._clock()
        ticks = []
        for symbol in self.symbols:
            price = _price(tickers.get(symbol), self._raw_fields)
            if price is None:
                continue
            # Local time, not the exchange's: a quiet market's ticker can be minutes old, and
            # funding/expiry logic downstream needs timestamps that move with the wall clock.
            timestamp = max(now, self._last_timestamp.get(symbol, now))
            self._last_timestamp[symbol] = timestamp
            ticks.append(Tick(symbol, timestamp, price, price, price))
        return ticks

    async def probe(self) -> bool:
        """Returns True when one fetch of the tickers gives a usable price within
        `timeout_seconds`; False on any error, timeout or garbage. Never raises."""
        try:
            return bool(await asyncio.wait_for(self._fetch(), timeout=self.timeout_seconds))
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - any failure means "not usable"
            return False

    async def ticks(self) -> AsyncIterator[Tick]:
        """Yields a Tick per symbol per poll (epoch seconds, USDT) until closed; on network errors
        waits with exponential backoff (up to 10 s) and tries again, never raising."""
        backoff = self.poll_seconds
        while not self._closed:
            try:
                batch = await self._fetch()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - an unreachable exchange is a state, not a crash
                batch = None
            if batch is None:
                backoff = min(max(backoff * 2, self.poll_seconds, 0.5), MAX_BACKOFF)
                await self._sleep(backoff)
                continue
            backoff = self.poll_seconds
            for tick in batch:
                if self._closed:
                    return
                yield tick
            await self._sleep(self.poll_seconds)

    async def close(self) -> None:
        """Stops ticks() and closes the ccxt client's HTTP session."""
        self._closed = True
        try:
            await self.exchange.close()
        except Exception:  # noqa: BLE001 - closing a broken session must not fail shutdown
            pass
