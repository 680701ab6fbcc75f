"""One exchange account through ccxt (`ccxt.pro`, which is `ccxt.async_support` plus websockets),
in our own types.

Every call goes through `exchange_errors.attempt` with its operation, so retries and the meaning
of a lost answer are decided in one place. ccxt's rate limiter is on and its own retries are off.
Binance USDT-M is exercised end to end; Bybit and OKX use the same unified calls and are marked
"not yet exercised" (config.EXCHANGES) until someone runs them against a testnet.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping
from urllib.parse import urlsplit, urlunsplit

from cockpit.domain.tiers import DEFAULT_TIERS, tiers_from_ccxt
from cockpit.domain.types import Balance, Fill, FundingPayment, Instrument, Order, Position
from cockpit.venues.base import OrderResult
from cockpit.venues.exchange_errors import ExchangeFailure, Garbled, NotFound, OutcomeUnknown, attempt, classify

QUOTE = "USDT"


def point_at(exchange: Any, api_url: str) -> None:
    """Sends every API host of `exchange` (REST and websocket) to `api_url`, keeping each path:
    https://fapi.binance.com/fapi/v1 -> http://host:port/fapi/v1, wss://.../ws -> ws://host:port/ws."""
    target = urlsplit(api_url.rstrip("/"))
    secure = target.scheme == "https"

    def rewrite(value: Any) -> Any:
        if isinstance(value, str) and value.startswith(("http://", "https://", "ws://", "wss://")):
            parts = urlsplit(value)
            web = parts.scheme.startswith("http")
            scheme = ("https" if secure else "http") if web else ("wss" if secure else "ws")
            return urlunsplit((scheme, target.netloc, target.path + parts.path, parts.query, ""))
        if isinstance(value, dict):
            return {key: rewrite(item) for key, item in value.items()}
        return value

    exchange.urls["api"] = rewrite(exchange.urls["api"])


def _number(value: Any, what: str) -> float:
    """A finite float from an exchange field; Garbled naming the field otherwise."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Garbled(f"garbled answer: {what} is {value!r}") from None
    if not math.isfinite(number):
        raise Garbled(f"garbled answer: {what} is {value!r}")
    return number


def _optional(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _position_row(row: Any) -> bool:
    """True for one entry of Binance's positionRisk: an object with a finite positionAmt."""
    if not isinstance(row, Mapping):
        return False
    try:
        return math.isfinite(float(row.get("positionAmt")))
    except (TypeError, ValueError):
        return False


def _strict_json(passed_on: Callable[..., Any], exchange_id: str) -> Callable[..., Any]:
    """Wraps ccxt's response hook so a 2xx answer that is not valid JSON raises BadResponse.
    ccxt itself hands the raw text to its parsers, which make of a truncated position list an
    empty one: a garbled report would read as "flat". An empty body is not JSON either: every
    answer of these REST APIs is a JSON document, and an empty "200" to a cancel read as done."""
    import ccxt.async_support as ccxt_async

    def check(code: Any, reason: Any, url: str, method: str, headers: Any, body: Any, *rest: Any) -> Any:
        if isinstance(body, str) and 200 <= int(code) < 300:
            try:
                json.loads(body)
            except ValueError:
                path = urlsplit(url).path
                raise ccxt_async.BadResponse(f"{exchange_id} {method} {path}: the answer is not valid JSON") from None
        return passed_on(code, reason, url, method, headers, body, *rest)

    return check


def order_result(order: Order, answer: Mapping[str, Any], *, taker_fee: float) -> OrderResult:
    """Returns our OrderResult for a ccxt order structure: filled (with the fill), open (resting),
    or rejected (cancelled/expired/rejected with nothing filled). A partly filled order that is
    no longer open counts as filled for what it filled."""
    if not isinstance(answer, Mapping):
        raise Garbled("garbled answer: the order is not an object")
    status = answer.get("status")
    filled = _optional(answer.get("filled")) or 0.0
    cid = order.client_order_id
    if filled > order.quantity * (1 + 1e-9):
        # More than was ordered is not a fill to believe: the answer is garbled (ask again).
        raise Garbled(f"garbled answer: filled {filled:g} of an order for {order.quantity:g}")
    if status == "open" and filled == 0:
        return OrderResult(cid, "open")
    if filled > 0 and status in ("closed", "canceled", "expired", "open"):
        price = _number(answer.get("average") or answer.get("price"), "order average price")
        if price <= 0:
            raise Garbled(f"garbled answer: order average price is {price:g}")
        fee = answer.get("fee") or {}
        paid = _optional(fee.get("cost")) if isinstance(fee, Mapping) else None
        timestamp = (_optional(answer.get("lastTradeTimestamp")) or _optional(answer.get("timestamp")) or time.time() * 1000) / 1000
        fill = Fill(order.symbol, order.side, filled, price,
                    paid if paid is not None else filled * price * taker_fee, timestamp, cid)
        return OrderResult(cid, "filled", fill, "" if status == "closed" else f"partly filled, then {status}")
    if status in ("canceled", "expired", "rejected"):
        return OrderResult(cid, "rejected", reason=f"exchange: order {status}")
    if status == "open":  # partly filled and still working: report the part, keep it resting
        return OrderResult(cid, "open", reason=f"partly filled {filled:g}")
    raise Garbled(f"garbled answer: order status {status!r}")


class Exchange:
    """One ccxt client for one account. Methods return our types and raise only
    ExchangeFailure (exchange_errors); reads retry, creates never do."""

    def __init__(
        self,
        exchange_id: str,
        *,
        credentials: Any = None,
        testnet: bool = False,
        api_url: str = "",
        timeout_seconds: float = 10.0,
        taker_fee: float = 0.0005,
        factory: Callable[[dict[str, Any]], Any] | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        """`credentials` has api_key/secret/passphrase (cockpit.secrets.Credentials) or is None
        for public data only. `factory(config)` builds the ccxt client (default ccxt.pro's)."""
        config: dict[str, Any] = {
            "enableRateLimit": True,
            "timeout": int(timeout_seconds * 1000),
            "options": {"maxRetriesOnFailure": 0, "fetchCurrencies": False, "defaultType": "swap"},
        }
        if credentials is not None:
            config["apiKey"] = credentials.api_key
            config["secret"] = credentials.secret
            if credentials.passphrase:
                config["password"] = credentials.passphrase
        if factory is None:
            import ccxt.pro as ccxt_pro

            exchange_class = getattr(ccxt_pro, exchange_id, None)
            if exchange_class is None:
                raise ValueError(f"unknown exchange id {exchange_id!r} (not in ccxt)")
            factory = exchange_class
        self.id = exchange_id
        self.client = factory(config)
        self.client.options["maxRetriesOnFailure"] = 0  # ours decide (exchange_errors.RETRY_TABLE)
        self.testnet = testnet
        if testnet:
            self.client.set_sandbox_mode(True)
        if api_url:
            point_at(self.client, api_url)
        self.client.enableLastJsonResponse = True  # the shape of a position report is checked
        self.client.on_rest_response = _strict_json(self.client.on_rest_response, exchange_id)
        self.private = credentials is not None
        self.taker_fee = taker_fee
        self._sleep = sleep

    async def _do(self, operation: str, call: Callable[[], Awaitable[Any]]) -> Any:
        return await attempt(operation, call, sleep=self._sleep, retry_after=self._retry_after)  # type: ignore[arg-type]

    def _retry_after(self) -> float | None:
        headers = getattr(self.client, "last_response_headers", None) or {}
        return _optional(headers.get("Retry-After") or headers.get("retry-after"))

    # ---- data ---------------------------------------------------------------------------

    async def instruments(self, symbols: list[str]) -> dict[str, Instrument]:
        """Returns the instruments for `symbols` (step, minimum notional, tick, and maintenance
        tiers: the exchange's own with keys, the defaults without). Symbols the exchange does not
        list are left out."""
        markets = await self._do("read", self.client.load_markets)
        if not isinstance(markets, Mapping):
            raise Garbled("garbled answer: markets are not a mapping")
        tiers: Mapping[str, Any] = {}
        listed = [s for s in symbols if s in markets]
        if self.private and listed:
            tiers = await self._do("read", lambda: self.client.fetch_leverage_tiers(listed)) or {}
        out = {}
        for symbol in listed:
            market = markets[symbol]
            precision, limits = market.get("precision") or {}, market.get("limits") or {}
            try:
                table = tiers_from_ccxt(tiers[symbol]) if symbol in tiers else DEFAULT_TIERS
            except ValueError as error:
                raise Garbled(f"garbled answer: {symbol} {error}") from None
            out[symbol] = Instrument(
                symbol,
                str(market.get("base") or symbol.split("/")[0]),
                _number(precision.get("amount"), f"{symbol} amount precision"),
                _optional((limits.get("cost") or {}).get("min")) or 5.0,
                _number(precision.get("price"), f"{symbol} price precision"),
                table or DEFAULT_TIERS,
            )
        return out

    async def account(self, symbols: list[str] | None) -> tuple[Balance, dict[str, Position]]:
        """Returns the wallet balance (USDT, without unrealized PnL) and the open positions on
        `symbols` (None: every symbol), each with the liquidation price the exchange reports."""
        balance = await self._do("read", self.client.fetch_balance)
        positions = await self._do("read", self._fetch_positions(symbols))
        return Balance(self._wallet(balance)), self._positions(positions, symbols)

    def _fetch_positions(self, symbols: list[str] | None) -> Callable[[], Awaitable[Any]]:
        async def fetch() -> Any:
            answer = await self.client.fetch_positions(symbols)
            raw = getattr(self.client, "last_json_response", None)
            # ccxt turns an answer of the wrong shape into an empty list: that is not "flat".
            if self.id.startswith("binance") and not (isinstance(raw, list) and all(map(_position_row, raw))):
                raise Garbled("garbled answer: positions are not a list of positions")
            return answer

        return fetch

    def _wallet(self, balance: Any) -> float:
        if not isinstance(balance, Mapping):
            raise Garbled("garbled answer: the balance is not an object")
        info = balance.get("info")
        if isinstance(info, Mapping) and "totalWalletBalance" in info:  # Binance: excludes unrealized
            return _number(info["totalWalletBalance"], "totalWalletBalance")
        quote = balance.get(QUOTE)
        if not isinstance(quote, Mapping):
            raise Garbled(f"garbled answer: no {QUOTE} balance")
        return _number(quote.get("total"), f"{QUOTE} total")

    def _positions(self, answer: Any, symbols: list[str] | None) -> dict[str, Position]:
        if not isinstance(answer, list):
            raise Garbled("garbled answer: positions are not a list")
        out: dict[str, Position] = {}
        for row in answer:
            if not isinstance(row, Mapping) or not isinstance(row.get("symbol"), str):
                continue
            if symbols is not None and row["symbol"] not in symbols:
                continue
            symbol = row["symbol"]
            contracts = _number(row.get("contracts") or 0.0, f"{symbol} contracts")
            size = contracts * (_optional(row.get("contractSize")) or 1.0)
            if size == 0:
                continue
            side = row.get("side")
            if side not in ("long", "short"):
                raise Garbled(f"garbled answer: {symbol} position side {side!r}")
            mode = "isolated" if row.get("marginMode") == "isolated" else "cross"
            out[symbol] = Position(
                symbol,
                size if side == "long" else -size,
                _number(row.get("entryPrice"), f"{symbol} entry price"),
                mode,
                (_optional(row.get("collateral")) or 0.0) if mode == "isolated" else 0.0,
                _optional(row.get("liquidationPrice")),
            )
        return out

    async def marks(self, symbols: list[str]) -> dict[str, tuple[float, float | None]]:
        """Returns {symbol: (mark price USDT, current funding rate per 8h or None)}; symbols
        without a usable price are left out."""
        answer = await self._do("read", lambda: self.client.fetch_funding_rates(symbols))
        if not isinstance(answer, Mapping):
            raise Garbled("garbled answer: funding rates are not a mapping")
        out = {}
        for symbol in symbols:
            row = answer.get(symbol)
            mark = _optional(row.get("markPrice")) if isinstance(row, Mapping) else None
            if mark is not None:
                try:
                    rate: float | None = float(row.get("fundingRate"))
                except (TypeError, ValueError):
                    rate = None
                out[symbol] = (mark, rate if rate is not None and math.isfinite(rate) else None)
        return out

    async def closes(self, symbol: str, *, timeframe: str = "4h", bars: int = 3000) -> tuple[list[float], list[float]]:
        """Returns (times in epoch seconds, closes in USDT) of the last `bars` closed candles,
        oldest first."""
        period_ms = int(self.client.parse_timeframe(timeframe) * 1000)
        now_ms = int(time.time() * 1000)
        since = now_ms - bars * period_ms
        rows: dict[int, float] = {}
        while since < now_ms - period_ms:
            batch = await self._do("read", lambda s=since: self.client.fetch_ohlcv(symbol, timeframe, s, 1000))
            if not isinstance(batch, list) or not batch:
                break
            for row in batch:
                if isinstance(row, list) and len(row) >= 5 and row[0] + period_ms <= now_ms:
                    close = _optional(row[4])
                    if close is not None:
                        rows[int(row[0])] = close
            last = batch[-1][0] if isinstance(batch[-1], list) else None
            if not isinstance(last, (int, float)) or last + period_ms <= since:
                break
            since = int(last) + period_ms
        times = sorted(rows)
        return [(t + period_ms) / 1000 for t in times], [rows[t] for t in times]

    async def watch_marks(self, symbols: list[str]) -> AsyncIterator[dict[str, float]]:
        """Yields {symbol: mark price} as the exchange's websocket pushes them. Raises
        ExchangeFailure when the stream breaks; the caller restarts it or falls back to REST."""
        if not self.client.has.get("watchMarkPrices"):
            raise NotFound("not found: this exchange has no mark price stream")
        # With ccxt's default "new updates" a push that lands while nobody awaits the stream is
        # lost: two symbols pushed in one batch would only ever give the first. So every answer
        # is the whole cache, and a symbol counts as updated when its event time moved.
        self.client.newUpdates = False
        # What a previous stream left in the cache is not news: only pushes from now on count.
        cache = getattr(self.client, "tickers", None) or {}
        seen: dict[str, Any] = {s: row.get("timestamp") for s, row in cache.items() if isinstance(row, Mapping)}
        while True:
            try:
                answer = await self.client.watch_mark_prices(symbols)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and not task.cancelling():
                    return  # not our cancellation: close() cancelled ccxt's pending future
                raise
            except Exception as error:  # noqa: BLE001 - classified right here
                raise classify(error) from None
            if not isinstance(answer, Mapping):
                continue
            prices = {}
            for symbol, row in answer.items():
                if symbol not in symbols or not isinstance(row, Mapping):
                    continue
                mark, stamp = _optional(row.get("markPrice")), row.get("timestamp")
                if mark is not None and (stamp is None or seen.get(symbol) != stamp):
                    prices[symbol], seen[symbol] = mark, stamp
            if prices:
                yield prices

    # ---- orders -------------------------------------------------------------------------

    def _order_params(self, order: Order, post_only: bool) -> tuple[str, float | None, dict[str, Any]]:
        params: dict[str, Any] = {"clientOrderId": order.client_order_id}
        if order.reduce_only:
            params["reduceOnly"] = True
        if order.order_type == "stop_market":
            params["stopPrice"] = order.stop_price
            return "STOP_MARKET" if self.id.startswith("binance") else "market", None, params
        if order.order_type == "limit":
            if post_only:
                params["postOnly"] = True
            return "limit", order.limit_price, params
        return "market", None, params

    async def submit(self, order: Order, *, post_only: bool = False) -> OrderResult:
        """Sends one order under its client order id; returns filled/open/rejected, or "unknown"
        when the answer was lost (it is then resolved by `lookup`, never by sending again)."""
        kind, price, params = self._order_params(order, post_only)
        try:
            answer = await self._do("create", lambda: self.client.create_order(
                order.symbol, kind, order.side, order.quantity, price, params))
        except OutcomeUnknown as unknown:
            return OrderResult(order.client_order_id, "unknown", reason=str(unknown))
        except ExchangeFailure as failure:
            return OrderResult(order.client_order_id, "rejected", reason=str(failure))
        try:
            return order_result(order, answer, taker_fee=self.taker_fee)
        except Garbled as garbled:  # accepted, but the answer cannot be read: ask again
            return OrderResult(order.client_order_id, "unknown", reason=str(garbled))

    async def lookup(self, order: Order) -> OrderResult:
        """Returns what became of the order sent under `order.client_order_id`; raises NotFound
        when the exchange does not know it (yet), other ExchangeFailures when it cannot be asked."""
        params: dict[str, Any] = {"clientOrderId": order.client_order_id}
        if order.order_type == "stop_market":
            params["trigger"] = True
        answer = await self._do("query", lambda: self.client.fetch_order("", order.symbol, params))
        info = answer.get("info") if isinstance(answer, Mapping) else None
        triggered = info.get("actualOrderId") if isinstance(info, Mapping) else None
        if order.order_type == "stop_market" and triggered:
            # Binance: a triggered stop lives on as a plain market order; its fill is there.
            answer = await self._do("query", lambda: self.client.fetch_order(str(triggered), order.symbol))
        return order_result(order, answer, taker_fee=self.taker_fee)

    async def cancel(self, symbol: str, client_order_id: str, *, stop: bool = False) -> bool:
        """Cancels one order by client id; returns False when the exchange no longer has it
        (already gone counts as done: cancel is idempotent)."""
        params: dict[str, Any] = {"clientOrderId": client_order_id}
        if stop:
            params["trigger"] = True

        async def cancel() -> Any:
            answer = await self.client.cancel_order("", symbol, params)
            # "Done" only when the answer names the order: a `null` or an object about nothing
            # would otherwise read as cancelled while the order still rests (retried as garbled).
            named = answer.get("clientOrderId") if isinstance(answer, Mapping) else None
            if not isinstance(answer, Mapping) or named not in (None, client_order_id) or not (named or answer.get("id")):
                raise Garbled(f"garbled answer: the cancel of {client_order_id} does not name it")
            return answer

        return await self._do("cancel", cancel) is not None

    async def cancel_all(self, symbols: list[str]) -> None:
        """Cancels every open order (plain and conditional) on `symbols`. Idempotent."""
        for symbol in symbols:
            await self._do("cancel", lambda s=symbol: self.client.cancel_all_orders(s))
            if self.id.startswith("binance"):
                await self._do("cancel", lambda s=symbol: self.client.cancel_all_orders(s, {"trigger": True}))

    async def open_orders(self, symbols: list[str]) -> list[Order]:
        """Returns the orders resting on `symbols` (stops included), as our Orders."""
        out = []
        for symbol in symbols:
            answers = list(await self._do("read", lambda s=symbol: self.client.fetch_open_orders(s)) or [])
            if self.id.startswith("binance"):
                answers += list(await self._do("read", lambda s=symbol: self.client.fetch_open_orders(s, None, None, {"trigger": True})) or [])
            seen = set()
            for row in answers:
                if not isinstance(row, Mapping):
                    raise Garbled("garbled answer: an open order is not an object")
                cid = str(row.get("clientOrderId") or row.get("id") or "")
                if cid in seen:
                    continue
                seen.add(cid)
                trigger = _optional(row.get("triggerPrice") or row.get("stopPrice"))
                out.append(Order(
                    symbol, "buy" if row.get("side") == "buy" else "sell",
                    _number(row.get("remaining") or row.get("amount"), f"{symbol} order amount"),
                    bool(row.get("reduceOnly")),
                    "stop_market" if trigger else ("limit" if row.get("type") == "limit" else "market"),
                    _optional(row.get("price")) if not trigger else None,
                    cid,
                    trigger,
                ))
        return out

    async def liquidations_since(self, symbols: list[str], since: float) -> list[Fill]:
        """Returns the exchange's forced closes of our positions since `since` (epoch seconds)."""
        if not self.client.has.get("fetchMyLiquidations"):
            return []
        out = []
        for symbol in symbols:
            rows = await self._do("read", lambda s=symbol: self.client.fetch_my_liquidations(s, int(since * 1000)))
            for row in rows or []:
                if not isinstance(row, Mapping):
                    raise Garbled("garbled answer: a liquidation is not an object")
                info = row.get("info") or {}
                side = str(info.get("side") or row.get("side") or "").lower()
                out.append(Fill(
                    symbol, "buy" if side == "buy" else "sell",
                    _number(row.get("contracts") or info.get("executedQty"), f"{symbol} liquidated quantity"),
                    _number(row.get("price") or info.get("avgPrice"), f"{symbol} liquidation price"),
                    0.0, _number(row.get("timestamp"), "liquidation time") / 1000,
                    str(info.get("clientOrderId") or f"liquidation-{info.get('orderId', '')}"), liquidation=True,
                ))
        return out

    async def funding_since(self, symbols: list[str], since: float) -> list[FundingPayment]:
        """Returns funding paid (-) or received (+) per symbol since `since` (epoch seconds)."""
        if not self.client.has.get("fetchFundingHistory"):
            return []
        out = []
        for symbol in symbols:
            rows = await self._do("read", lambda s=symbol: self.client.fetch_funding_history(s, int(since * 1000)))
            for row in rows or []:
                if not isinstance(row, Mapping):
                    raise Garbled("garbled answer: a funding row is not an object")
                out.append(FundingPayment(symbol, _number(row.get("timestamp"), "funding time") / 1000, math.nan,
                                          _number(row.get("amount"), f"{symbol} funding amount")))
        return out

    # ---- account settings and safety ------------------------------------------------------

    async def prepare(self, symbols: list[str], *, margin_mode: str, leverage: int) -> None:
        """Sets the margin mode and leverage on each symbol; "already set" answers are fine."""
        for symbol in symbols:
            try:
                await self._do("read", lambda s=symbol: self.client.set_margin_mode(margin_mode, s))
            except ExchangeFailure as failure:
                if "no need to change" not in str(failure).lower():
                    raise
            await self._do("read", lambda s=symbol: self.client.set_leverage(leverage, s))

    async def withdrawals_allowed(self) -> bool | None:
        """Returns True when the key may withdraw funds, False when it may not, None when this
        exchange does not report key permissions to us (nor does Binance's testnet, whose
        keys hold no real money)."""
        if self.id.startswith("binance") and not self.testnet:
            answer = await self._do("read", self.client.sapi_get_account_apirestrictions)
            if not isinstance(answer, Mapping) or "enableWithdrawals" not in answer:
                raise Garbled("garbled answer: key permissions without enableWithdrawals")
            return answer["enableWithdrawals"] in (True, "true")
        return None

    @property
    def has_dead_man_switch(self) -> bool:
        """Returns True where heartbeat() drives a dead-man's switch: Binance's countdownCancelAll.
        Bybit's disconnect protection is not driven: Bybit enables it per account on request, it
        fires when a private websocket drops, and it cannot be disarmed over the API, so a clean
        quit would cancel the protective stops (README, Dead-man's switch)."""
        return self.id.startswith("binance")

    async def heartbeat(self, symbols: list[str], seconds: float) -> bool:
        """Re-arms the exchange's dead-man's switch for `seconds` (0 disarms); returns False where
        the exchange has none we drive (see has_dead_man_switch)."""
        if not self.has_dead_man_switch:
            return False
        for symbol in symbols:
            market_id = self.client.market_id(symbol)
            await self._do("heartbeat", lambda m=market_id: self.client.fapiprivate_post_countdowncancelall(
                {"symbol": m, "countdownTime": int(seconds * 1000)}))
        return True

    async def drop_streams(self) -> None:
        """Closes the websocket connections (ccxt would wait on a dead one forever); REST calls
        keep working, and the next watch opens a fresh connection."""
        try:
            await self.client.close_ws_clients()
        except Exception:  # noqa: BLE001 - a broken socket is what is being dropped
            pass

    async def close(self) -> None:
        """Closes the HTTP session and any websocket; the client is unusable afterwards."""
        try:
            await self.client.close()
        except Exception:  # noqa: BLE001 - closing a broken session must not fail shutdown
            pass
