"""A local fake of Binance USDT-M futures that the real ccxt client talks to over HTTP and
websockets on 127.0.0.1, answering in Binance's own JSON, with a small matching engine
(fake_binance_engine), Binance's REST surface and request signing (fake_binance_rest) and
scripted faults.

In a test (same event loop):

    server = FakeBinance(key="k", secret="s")
    url = await server.start()              # "http://127.0.0.1:PORT"
    ex = client(url, key="k", secret="s")    # ccxt.async_support.binanceusdm pointed at it
    ...
    await ex.close(); await server.stop()

In a background thread (the cockpit runs as a subprocess): `with FakeBinance.in_thread() as
server:` -- the simulation's methods may then be called from the test's thread; they run in the
server's loop. As a process: `python -m tests.live.fake_binance --port 8765 --key K --secret S
--walk`. It only ever binds 127.0.0.1.

Faults (`inject(method, path, fault, times=1)`) that answer WITHOUT processing the request:
"429", "418", "500", "502", "503", "timeout" (sleeps `timeout_sleep` first), "garbage", "not_found".
Faults that process it first: "timeout_after_accept" (then sleeps), "malformed" (then cuts the
JSON answer in half), "503_unknown" (then answers HTTP 503 -1007 "execution status unknown").
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import functools
import json
import math
import random
import re
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from aiohttp import WSCloseCode, WSMsgType, web

from .fake_binance_data import D, fmt
from .fake_binance_data import BinanceError, Order
from .fake_binance_rest import LIST_ENDPOINTS, PUBLIC, RestApi

DEFAULT_KEY = "test-key-0123456789abcdef"
DEFAULT_SECRET = "test-secret-0123456789abcdef"

FAULTS = ("429", "418", "500", "502", "503", "503_unknown", "timeout", "timeout_after_accept", "malformed", "garbage",
          "not_found")
_ANSWER_WITHOUT_PROCESSING = {"429", "418", "500", "502", "503", "timeout", "garbage", "not_found"}
_GARBAGE = {"symbol": "BTCUSDT", "price": "NaN", "markPrice": "NaN", "lastPrice": "NaN", "positionAmt": "NaN",
            "entryPrice": "NaN", "orderId": "NaN", "status": "NaN", "origQty": "NaN", "executedQty": "NaN"}
_STREAM = re.compile(r"^(?:[a-z0-9]+@(?:markPrice(?:@1s)?|ticker|miniTicker|bookTicker)|"
                     r"!(?:markPrice@arr(?:@1s)?|ticker@arr|miniTicker@arr|bookTicker))$")


# ---- pointing ccxt at the server ----------------------------------------------------------------


def point_at(exchange: Any, base_url: str) -> Any:
    """Sends every URL in `exchange.urls["api"]` (nested ws dicts included) to `base_url`, keeping
    the path: https://fapi.binance.com/fapi/v1 -> http://127.0.0.1:PORT/fapi/v1,
    wss://fstream.binance.com/ws -> ws://127.0.0.1:PORT/ws.

    Also keeps ccxt's error mapping intact: binance's handle_errors looks up the per-market
    exception tables (e.g. -2022 ReduceOnly -> InvalidOrder, -2019 -> InsufficientFunds) by the
    URL's host (`https://fapi.binance.com/`), which a rewritten URL no longer has, so this maps
    the URL back before that lookup. Returns `exchange`."""
    target = urlsplit(base_url.rstrip("/"))
    ws_scheme = "wss" if target.scheme == "https" else "ws"
    back: list[tuple[str, str]] = []

    def rewrite(value: Any) -> Any:
        if isinstance(value, str) and "://" in value:
            parts = urlsplit(value)
            scheme = ws_scheme if parts.scheme in ("ws", "wss") else target.scheme
            new = urlunsplit((scheme, target.netloc, target.path + parts.path, parts.query, ""))
            if scheme == target.scheme:
                back.append((new, value))
            return new
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        return value

    exchange.urls["api"] = rewrite(exchange.urls["api"])
    prefixes = sorted(set(back), key=lambda pair: -len(pair[0]))
    original = type(exchange).get_exceptions_by_url

    def get_exceptions_by_url(url: Any, exact_or_broad: str) -> dict:
        if isinstance(url, str):
            for new, old in prefixes:
                if url.startswith(new):
                    url = old + url[len(new):]
                    break
        return original(exchange, url, exact_or_broad)

    exchange.get_exceptions_by_url = get_exceptions_by_url
    return exchange


CLIENT_OPTIONS: dict[str, Any] = {
    "fetchCurrencies": False,  # else load_markets calls sapi capital/config/getall
    "maxRetriesOnFailure": 0,
    "adjustForTimeDifference": False,
    "fetchMarkets": {"types": ["linear"]},  # exchangeInfo of fapi only (binanceusdm's default)
    "warnOnFetchOpenOrdersWithoutSymbol": False,  # else fetch_open_orders() without symbol raises
}


def client(url: str, *, key: str = DEFAULT_KEY, secret: str = DEFAULT_SECRET, pro: bool = False, **config: Any) -> Any:
    """A real ccxt binanceusdm client (ccxt.pro's with `pro=True`) pointed at the fake at `url`,
    with CLIENT_OPTIONS, rate limiter on, 3 s timeout; `config` overrides (options are merged)."""
    import ccxt.async_support as ccxt_async
    import ccxt.pro as ccxt_pro

    options = {**CLIENT_OPTIONS, **config.pop("options", {})}
    # timeout_on_exit: ccxt's close() waits 250 ms for TLS connections to wind down; there are none here
    settings = {"apiKey": key, "secret": secret, "enableRateLimit": True, "timeout": 3000, "timeout_on_exit": 0,
                **config, "options": options}
    exchange = (ccxt_pro if pro else ccxt_async).binanceusdm(settings)
    return point_at(exchange, url)


# ---- the server -----------------------------------------------------------------------------------


@dataclass
class Fault:
    method: str
    path: str
    fault: str
    remaining: int


@dataclass(eq=False)
class _Stream:
    ws: web.WebSocketResponse
    request: web.Request
    combined: bool
    names: set[str] = field(default_factory=set)
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)


def _threadsafe(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Runs `fn` in the server's loop when called from another thread while the server runs in
    a thread of its own (FakeBinance.in_thread); directly otherwise."""

    @functools.wraps(fn)
    def wrapper(self: "FakeBinance", *args: Any, **kwargs: Any) -> Any:
        loop = self._loop
        if loop is None or not loop.is_running() or threading.get_ident() == self._loop_thread:
            return fn(self, *args, **kwargs)
        done: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(fn(self, *args, **kwargs))
            except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
                done.set_exception(e)

        loop.call_soon_threadsafe(run)
        return done.result(timeout=30)

    return wrapper


class FakeBinance(RestApi):
    """Binance USDT-M futures on 127.0.0.1 for the real ccxt client.

    Constructor: key, secret (the one valid API key), wallet (USDT, 10_000), marks ({"BTCUSDT":
    60000, ...} start marks; defaults BTC 60000, ETH 3000, SOL 150), symbols, leverage (default per
    symbol, 20), taker_fee/maker_fee (0.0005/0.0002), slippage (fraction against takers),
    timeout_sleep (10 s), push_interval (1 s timed stream pushes; None: only on changes), walk /
    walk_volatility / seed (random walk of the marks every second), legacy_conditional_orders
    (accept STOP_MARKET on /fapi/v1/order like Binance before its Algo Service), auto_liquidate
    (liquidate when the mark crosses the liquidation price), time_offset_ms (server clock skew),
    port.

    Lifecycle: `await start()` -> url, `await stop()`, `FakeBinance.in_thread(**kw)` (context
    manager), `call(fn, ...)` (run in the server's loop from another thread).
    Market and account: set_mark, set_funding_rate, pay_funding, liquidate, fill_while_away,
    fill_order (fill a resting order, maybe partly), set_leverage, set_margin_type, position,
    snapshot, liquidation_price, available_balance, orders_by_client_id, open_orders.
    Faults: inject, clear_faults, hide_order, timeout_sleep, kill_streams, mute_streams.
    State tests read: `requests` (every HTTP request: method, path, params, headers, body, query,
    time), `ws_requests`, `orders` (every order ever accepted as `Order`: regular, conditional
    ("algo"), the market orders triggered conditional orders placed (source "trigger"),
    liquidation and away fills), `trades`, `incomes`, `force_orders`, `positions`, `wallet`,
    `marks`, `leverage`, `margin_type`, `funding_rates`, `permissions` (the apiRestrictions answer,
    editable), `countdowns`, `countdown_events`, `countdown_cancels_algo`, `errors` (tracebacks of
    bugs of the fake), `url`, `port`, `stream_count`.
    """

    def __init__(self, key: str = DEFAULT_KEY, secret: str = DEFAULT_SECRET, *, wallet: float = 10_000,
                 marks: dict[str, float] | None = None, symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT", "SOLUSDT"),
                 leverage: int = 20, taker_fee: float = 0.0005, maker_fee: float = 0.0002, slippage: float = 0.0,
                 timeout_sleep: float = 10.0, push_interval: float | None = 1.0, walk: bool = False,
                 walk_volatility: float = 0.001, seed: int | None = None, legacy_conditional_orders: bool = False,
                 auto_liquidate: bool = False, time_offset_ms: int = 0, port: int = 0) -> None:
        super().__init__(key, secret, wallet=D(str(wallet)), leverage_default=leverage, taker_fee=D(str(taker_fee)),
                         maker_fee=D(str(maker_fee)), slippage=D(str(slippage)), symbols=symbols,
                         marks={s: D(str(p)) for s, p in (marks or {}).items()},
                         legacy_conditional_orders=legacy_conditional_orders, auto_liquidate=auto_liquidate,
                         time_offset_ms=time_offset_ms)
        self.timeout_sleep = timeout_sleep
        self.push_interval = push_interval
        self.walk, self.walk_volatility = walk, walk_volatility
        self._walk_rng = random.Random(seed)
        self.requests: list[dict[str, Any]] = []
        self.ws_requests: list[dict[str, Any]] = []  # every websocket message received: path, message
        self.faults: list[Fault] = []
        self.errors: list[str] = []
        self.port = port
        self.url: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._runner: web.AppRunner | None = None
        self._streams: set[_Stream] = set()
        self._tasks: set[asyncio.Task] = set()
        self._muted = False
        self._pongs = True
        self._stopping: asyncio.Event | None = None
        self._weights: list[float] = []

    # ---- lifecycle ----------------------------------------------------------------------------

    async def start(self, port: int | None = None) -> str:
        """Listens on 127.0.0.1:`port` (0: a free one) and returns "http://127.0.0.1:PORT"."""
        self._loop, self._loop_thread = asyncio.get_running_loop(), threading.get_ident()
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port if port is None else port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{self.port}"
        self._spawn(self._clock())
        return self.url

    async def stop(self) -> None:
        if self._stopping is None:
            return
        self._stopping.set()
        for stream in list(self._streams):
            with contextlib.suppress(Exception):
                await stream.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server stopped")
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner, self._loop = None, None

    @classmethod
    @contextlib.contextmanager
    def in_thread(cls, **kwargs: Any) -> Iterator["FakeBinance"]:
        """Runs a FakeBinance(**kwargs) in a daemon thread with its own event loop; yields it
        started (`server.url` set) and stops it on exit."""
        server = cls(**kwargs)
        loop = asyncio.new_event_loop()
        started: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(server.start())
            except BaseException as e:  # noqa: BLE001 - handed to the starting thread
                started.set_exception(e)
                return
            started.set_result(server.url)
            loop.run_forever()

        thread = threading.Thread(target=run, name="fake-binance", daemon=True)
        thread.start()
        started.result(timeout=15)
        try:
            yield server
        finally:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=15)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=15)
            loop.close()

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Runs fn(*args, **kwargs) in the server's loop (awaiting it if it is a coroutine) and
        returns its result; for a server `in_thread`, from any other thread."""
        loop = self._loop
        if loop is None or threading.get_ident() == self._loop_thread:
            raise RuntimeError("call() is for another thread; call the method directly here")

        async def run() -> Any:
            result = fn(*args, **kwargs)
            return await result if asyncio.iscoroutine(result) else result

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout=30)

    def _spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _sleep(self, seconds: float) -> None:
        """Sleeps, but wakes up when the server stops (so a stop never waits on a fault)."""
        assert self._stopping is not None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _clock(self) -> None:
        """Countdown (dead man's switch) checks every 20 ms, timed pushes, the random walk."""
        next_push = next_walk = time.monotonic()
        while True:
            await asyncio.sleep(0.02)
            try:
                self.check_countdowns()
                now = time.monotonic()
                if self.walk and now >= next_walk:
                    next_walk = now + 1.0
                    for symbol, mark in list(self.marks.items()):
                        self.set_mark(symbol, mark * D(repr(math.exp(self._walk_rng.gauss(0, self.walk_volatility)))))
                if self.push_interval and now >= next_push:
                    next_push = now + self.push_interval
                    for stream in list(self._streams):
                        self._push(stream, stream.names, None)
            except Exception:  # noqa: BLE001 - keep the clock alive, surface the bug
                self.errors.append(traceback.format_exc())

    # ---- faults -------------------------------------------------------------------------------

    def inject(self, method: str, path: str, fault: str, times: int = 1) -> None:
        """The next `times` requests `method` ("GET", "POST", "DELETE" or "*") `path` (e.g.
        "/fapi/v1/order", or "*") get `fault` (one of FAULTS) instead of the normal answer."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {FAULTS}")
        self.faults.append(Fault(method.upper(), path, fault, times))

    def clear_faults(self) -> None:
        self.faults.clear()
        self.hidden.clear()

    def _take_fault(self, method: str, path: str) -> str | None:
        for f in self.faults:
            if f.remaining > 0 and f.path in ("*", path) and f.method in ("*", method):
                f.remaining -= 1
                return f.fault
        return None

    async def _fault_answer(self, fault: str, path: str) -> web.Response:
        if fault == "timeout":
            await self._sleep(self.timeout_sleep)
            return web.Response(status=504, text="Gateway Timeout")
        if fault == "429":
            return self._json(429, {"code": -1003, "msg": "Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute. Please use the websocket for live updates to avoid polling the API."},
                              {"Retry-After": "1"})
        if fault == "418":
            until = self.now_ms() + 120_000
            return self._json(418, {"code": -1003, "msg": f"Way too many requests; IP(127.0.0.1) banned until {until}. Please use the websocket for live updates to avoid bans."},
                              {"Retry-After": "120"})
        if fault == "500":
            return web.Response(status=500, text="<html><body><h1>500 Internal Server Error</h1></body></html>", content_type="text/html")
        if fault == "502":
            return web.Response(status=502, content_type="text/html",
                                text="<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n")
        if fault == "503":
            return self._json(503, {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."})
        if fault == "not_found":
            return self._json(400, {"code": -2013, "msg": "Order does not exist."})
        assert fault == "garbage"
        return self._json(200, dict(_GARBAGE) if path in LIST_ENDPOINTS else [dict(_GARBAGE)])

    # ---- HTTP ---------------------------------------------------------------------------------

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> web.Response:
        now = time.monotonic()
        self._weights = [t for t in self._weights if now - t < 60]
        return web.Response(status=status, text=json.dumps(payload, separators=(",", ":")), content_type="application/json",
                            headers={"X-MBX-USED-WEIGHT-1M": str(len(self._weights)), **(headers or {})})

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        method, path = request.method, request.path
        raw_query = request.raw_path.partition("?")[2]
        raw_body = await request.text() if request.can_read_body else ""
        params: dict[str, Any] = dict(parse_qsl(raw_query, keep_blank_values=True))
        if raw_body and "json" not in request.headers.get("Content-Type", ""):
            params.update(parse_qsl(raw_body, keep_blank_values=True))
        self.requests.append({"method": method, "path": path, "params": params, "headers": dict(request.headers),
                              "body": raw_body, "query": raw_query, "time": self.now_ms()})
        self._weights.append(time.monotonic())
        fault = self._take_fault(method, path)
        if fault in _ANSWER_WITHOUT_PROCESSING:
            return await self._fault_answer(fault, path)
        handler = self.routes.get((method, path))
        try:
            if handler is None:
                raise BinanceError(-5000, f"Path {path}, Method {method} is invalid", 404)
            if path not in PUBLIC:
                self.authenticate(path, request.headers, raw_query, raw_body, params)
            status, payload = 200, handler(params)
        except BinanceError as e:
            status, payload = e.status, e.json()
        except Exception:  # noqa: BLE001 - a bug of the fake: answer like Binance's internal error
            self.errors.append(traceback.format_exc())
            status, payload = 500, {"code": -1000, "msg": "An unknown error occured while processing the request."}
        if fault == "timeout_after_accept":
            await self._sleep(self.timeout_sleep)
        if fault == "503_unknown":
            status, payload = 503, {"code": -1007, "msg": "Timeout waiting for response from backend server. Send status unknown; execution status unknown."}
        response = self._json(status, payload)
        if fault == "malformed":
            text = response.text or ""
            return web.Response(status=200, text=text[: max(1, len(text) // 2)], content_type="application/json")
        return response

    def requests_to(self, path: str, method: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == path and (method is None or r["method"] == method)]

    # ---- websocket streams ----------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        combined = request.path.endswith("/stream")
        stream = _Stream(ws, request, combined)
        if combined:
            names = request.query.get("streams", "").split("/")
        else:
            names = request.path.partition("/ws/")[2].split("/")
        stream.names.update(n for n in names if _STREAM.match(n))
        self._streams.add(stream)
        sender = self._spawn(self._send_loop(stream))
        self._push(stream, stream.names, None)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.PING:
                    if self._pongs or not self._muted:
                        await ws.pong(msg.data)
                elif msg.type == WSMsgType.TEXT:
                    self._ws_request(stream, msg.data)
        finally:
            self._streams.discard(stream)
            sender.cancel()
        return ws

    async def _send_loop(self, stream: _Stream) -> None:
        while True:
            text = await stream.queue.get()
            if stream.ws.closed:
                return
            with contextlib.suppress(ConnectionError, RuntimeError):
                await stream.ws.send_str(text)

    def _send(self, stream: _Stream, payload: Any, name: str | None = None) -> None:
        if self._muted:
            return
        if stream.combined and name is not None:
            payload = {"stream": name, "data": payload}
        stream.queue.put_nowait(json.dumps(payload, separators=(",", ":")))

    def _ws_request(self, stream: _Stream, text: str) -> None:
        self.ws_requests.append({"path": stream.request.path, "message": text, "time": self.now_ms()})
        try:
            message = json.loads(text)
            method, rid = message.get("method"), message.get("id")
        except (ValueError, AttributeError):
            self._send(stream, {"error": {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}})
            return
        params = message.get("params") or []
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(n, str) and _STREAM.match(n) for n in params):
                self._send(stream, {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": rid})
                return
            if method == "SUBSCRIBE":
                new = set(params) - stream.names
                stream.names.update(params)
                self._send(stream, {"result": None, "id": rid})
                self._push(stream, new, None)
            else:
                stream.names.difference_update(params)
                self._send(stream, {"result": None, "id": rid})
        elif method == "LIST_SUBSCRIPTIONS":
            self._send(stream, {"result": sorted(stream.names), "id": rid})
        elif method == "SET_PROPERTY":
            self._send(stream, {"result": None, "id": rid})
        elif method == "GET_PROPERTY":
            self._send(stream, {"result": stream.combined, "id": rid})
        else:
            self._send(stream, {"error": {"code": 2, "msg": f"Invalid request: unknown variant `{method}`"}, "id": rid})

    def _event(self, kind: str, symbol: str) -> dict[str, Any]:
        now = self.now_ms()
        if kind == "markPrice":
            p = self.premium_index(symbol)
            return {"e": "markPriceUpdate", "E": now, "s": symbol, "p": p["markPrice"], "i": p["indexPrice"],
                    "P": p["estimatedSettlePrice"], "r": p["lastFundingRate"], "T": p["nextFundingTime"]}
        if kind == "bookTicker":
            b = self.book_ticker(symbol)
            return {"e": "bookTicker", "u": now, "E": now, "T": now, "s": symbol, "b": b["bidPrice"], "B": b["bidQty"],
                    "a": b["askPrice"], "A": b["askQty"]}
        t = self.ticker_24hr(symbol)
        mini = {"e": "24hrMiniTicker", "E": now, "s": symbol, "c": t["lastPrice"], "o": t["openPrice"], "h": t["highPrice"],
                "l": t["lowPrice"], "v": t["volume"], "q": t["quoteVolume"]}
        if kind == "miniTicker":
            return mini
        return {**mini, "e": "24hrTicker", "p": t["priceChange"], "P": t["priceChangePercent"], "w": t["weightedAvgPrice"],
                "Q": t["lastQty"], "O": t["openTime"], "C": t["closeTime"], "F": t["firstId"], "L": t["lastId"], "n": t["count"]}

    def _push(self, stream: _Stream, names: set[str] | list[str], symbols: list[str] | None) -> None:
        """Sends the current data of `names` on `stream`: every symbol, or only `symbols`."""
        for name in sorted(names):
            if name.startswith("!"):
                kind = name[1:].split("@")[0]
                chosen = [s for s in self.markets if symbols is None or s in symbols]
                if not chosen:
                    continue
                if kind == "bookTicker":
                    for s in chosen:
                        self._send(stream, self._event(kind, s), name)
                else:
                    self._send(stream, [self._event(kind, s) for s in chosen], name)
            else:
                market_id, kind = name.split("@")[:2]
                symbol = market_id.upper()
                if symbol in self.markets and (symbols is None or symbol in symbols):
                    self._send(stream, self._event(kind, symbol), name)

    def _marks_changed(self, symbols: list[str]) -> None:
        for stream in list(self._streams):
            self._push(stream, stream.names, symbols)

    def kill_streams(self, *, abrupt: bool = False) -> int:
        """Closes every websocket connection (a close frame "going away", or with `abrupt` the
        TCP connection dropped); returns how many there were."""
        streams = list(self._streams)
        for stream in streams:
            if abrupt and stream.request.transport is not None:
                stream.request.transport.abort()
            else:
                self._spawn(stream.ws.close(code=WSCloseCode.GOING_AWAY, message=b"killed by test"))
        return len(streams)

    def mute_streams(self, muted: bool = True, *, pongs: bool = True) -> None:
        """A dead stream: connections stay open but nothing is sent (not even subscription
        answers); with pongs=False pings go unanswered too. mute_streams(False) resumes."""
        self._muted, self._pongs = muted, pongs

    @property
    def stream_count(self) -> int:
        return len(self._streams)

    # ---- conveniences for tests -----------------------------------------------------------------

    def position(self, symbol: str) -> dict[str, float]:
        """The position of `symbol` in floats: qty (signed), entry, mark, upnl, liquidation price."""
        pos = self.positions[symbol]
        return {"qty": float(pos.qty), "entry": float(pos.entry), "mark": float(self.marks[symbol]),
                "upnl": float(self.upnl(symbol)), "liquidation_price": float(self.liquidation_price(symbol)),
                "isolated_wallet": float(pos.isolated_wallet)}

    def snapshot(self) -> dict[str, Any]:
        """A copy of the account for another thread: wallet, positions, orders (Binance JSON)."""
        return {"wallet": float(self.wallet), "positions": {s: self.position(s) for s in self.positions},
                "orders": [self.order_json(o) for o in self.orders], "marks": {s: float(p) for s, p in self.marks.items()}}


for _name in ("set_mark", "liquidate", "fill_while_away", "fill_order", "pay_funding", "set_funding_rate", "set_leverage",
              "set_margin_type", "hide_order", "inject", "clear_faults", "kill_streams", "mute_streams",
              "orders_by_client_id", "open_orders", "liquidation_price", "available_balance", "position", "snapshot"):
    setattr(FakeBinance, _name, _threadsafe(getattr(FakeBinance, _name)))

__all__ = ["FakeBinance", "Order", "BinanceError", "point_at", "client", "DEFAULT_KEY", "DEFAULT_SECRET", "FAULTS", "fmt"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.live.fake_binance",
                                     description="A fake Binance USDT-M futures server on 127.0.0.1 (REST + websocket).")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--key", default=DEFAULT_KEY)
    parser.add_argument("--secret", default=DEFAULT_SECRET)
    parser.add_argument("--wallet", type=float, default=10_000)
    parser.add_argument("--walk", action="store_true", help="move the marks randomly every second")
    parser.add_argument("--volatility", type=float, default=0.001, help="stdev of each step of --walk")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)

    async def run() -> None:
        server = FakeBinance(args.key, args.secret, wallet=args.wallet, walk=args.walk,
                             walk_volatility=args.volatility, seed=args.seed)
        print(await server.start(args.port), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop()

    asyncio.run(run())


if __name__ == "__main__":
    main()
