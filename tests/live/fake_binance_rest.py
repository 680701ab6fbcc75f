"""The REST endpoints of the fake Binance USDT-M server, on top of the simulation: request
authentication (X-MBX-APIKEY and the HMAC-SHA256 signature, as Binance checks them) and one
function per (method, path) that takes the request parameters and returns Binance's JSON.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Callable

from .fake_binance_data import INTERVALS_MS, fmt, whole
from .fake_binance_data import BinanceError, Order, mandatory
from .fake_binance_engine import Engine

Handler = Callable[[dict[str, Any]], Any]

CANCEL_ALL_DONE = {"code": 200, "msg": "The operation of cancel all open order is done."}
NOT_FOUND = (-2013, "Order does not exist.")
UNKNOWN_ORDER = (-2011, "Unknown order sent.")

# Endpoints answered without a key or signature (Binance's MARKET_DATA and NONE security types).
PUBLIC = {
    "/fapi/v1/ping", "/fapi/v1/time", "/fapi/v1/exchangeInfo", "/fapi/v1/depth", "/fapi/v1/klines",
    "/fapi/v1/markPriceKlines", "/fapi/v1/indexPriceKlines", "/fapi/v1/premiumIndex", "/fapi/v1/fundingRate",
    "/fapi/v1/fundingInfo", "/fapi/v1/ticker/24hr", "/fapi/v1/ticker/price", "/fapi/v2/ticker/price",
    "/fapi/v1/ticker/bookTicker", "/api/v3/ping", "/api/v3/time", "/sapi/v1/system/status",
}


def _strip_signature(raw: str) -> str:
    return "&".join(part for part in raw.split("&") if part and not part.startswith("signature="))


def _int(p: dict[str, Any], name: str, default: int | None = None, *, low: int | None = None, high: int | None = None) -> int | None:
    raw = p.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.") from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise BinanceError(-1130, f"Data sent for parameter '{name}' is not valid.")
    return value


def _window(rows: list[Any], p: dict[str, Any], when: Callable[[Any], int], default_limit: int, max_limit: int) -> list[Any]:
    """Binance's startTime/endTime/limit semantics: from startTime ascending, else the latest."""
    start, end = _int(p, "startTime"), _int(p, "endTime")
    limit = _int(p, "limit", default_limit, low=1, high=max_limit)
    rows = [r for r in rows if (start is None or when(r) >= start) and (end is None or when(r) <= end)]
    return rows[:limit] if start is not None else rows[-limit:]


class RestApi(Engine):
    """The simulation plus Binance's REST surface. `key`/`secret` are the one valid API key."""

    def __init__(self, key: str, secret: str, **engine: Any) -> None:
        super().__init__(**engine)
        self.key, self.secret = key, secret
        self.permissions: dict[str, Any] = {
            "ipRestrict": False, "createTime": self.now_ms() - 86_400_000, "enableReading": True,
            "enableWithdrawals": False, "enableInternalTransfer": False, "enableMargin": False,
            "enableFutures": True, "permitsUniversalTransfer": False, "enableVanillaOptions": False,
            "enableFixApiTrade": False, "enableFixReadOnly": False, "enableSpotAndMarginTrading": False,
            "enablePortfolioMarginTrading": False,
        }
        self.countdowns: dict[str, int] = {}  # symbol -> deadline (ms)
        self.countdown_events: list[dict[str, Any]] = []
        self.countdown_cancels_algo = False
        self.hidden: dict[str, int] = {}
        self.routes: dict[tuple[str, str], Handler] = self._route_table()

    # ---- authentication ---------------------------------------------------------------------

    def authenticate(self, path: str, headers: Any, raw_query: str, raw_body: str, p: dict[str, Any]) -> None:
        """Binance's checks of a signed request, in its order; raises BinanceError."""
        key = headers.get("X-MBX-APIKEY")
        if not key:
            raise BinanceError(-2014, "API-key format invalid.", 401)
        if key != self.key:
            raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        if "timestamp" not in p:
            raise mandatory("timestamp")
        if "signature" not in p:
            raise mandatory("signature")
        payload = _strip_signature(raw_query) + _strip_signature(raw_body)
        expected = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, str(p["signature"]).lower()):
            raise BinanceError(-1022, "Signature for this request is not valid.")
        stamp = _int(p, "timestamp")
        window = _int(p, "recvWindow", 5000)
        assert stamp is not None and window is not None
        if window > 60_000:
            raise BinanceError(-1131, "recvWindow must be less than 60000")
        now = self.now_ms()
        if stamp > now + 1000:
            raise BinanceError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if now - stamp > window:
            raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")
        allowed = self.permissions.get("enableReading", True)
        if path.startswith("/fapi/"):
            allowed = allowed and self.permissions.get("enableFutures", True)
        if not allowed:
            raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)

    # ---- helpers ----------------------------------------------------------------------------

    def hide_order(self, client_id: str, queries: int = 1) -> None:
        """The next `queries` GET queries of the order(s) with this client id answer -2013
        "Order does not exist." although the order exists; after that it is found again."""
        self.hidden[client_id] = queries

    def _visible(self, o: Order) -> None:
        left = self.hidden.get(o.client_id, 0)
        if left > 0:
            self.hidden[o.client_id] = left - 1
            raise BinanceError(*NOT_FOUND)

    def _lookup(self, symbol: str, p: dict[str, Any], missing: tuple[int, str], *, query: bool) -> Order:
        oid, cid = p.get("orderId"), p.get("origClientOrderId")
        if oid in (None, "") and cid in (None, ""):
            raise BinanceError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        found = self.find_orders(symbol, order_id=oid, client_id=cid)
        if not found:
            raise BinanceError(*missing)
        if query:
            self._visible(found[-1])
        return found[-1]

    def _algo_lookup(self, p: dict[str, Any], missing: tuple[int, str], *, query: bool) -> Order:
        aid, cid = p.get("algoId"), p.get("clientAlgoId")
        if aid in (None, "") and cid in (None, ""):
            raise BinanceError(-1102, "Param 'clientAlgoId' or 'algoId' must be sent, but both were empty/null!")
        found = self.find_orders(p.get("symbol") or None, order_id=aid, client_id=cid, kind="algo")
        if not found:
            raise BinanceError(*missing)
        if query:
            self._visible(found[-1])
        return found[-1]

    def _symbols(self, p: dict[str, Any]) -> list[str]:
        return [self.market(p["symbol"]).symbol] if p.get("symbol") else list(self.markets)

    def _one_or_all(self, p: dict[str, Any], fn: Callable[[str], Any]) -> Any:
        return fn(self.market(p["symbol"]).symbol) if p.get("symbol") else [fn(s) for s in self.markets]

    def check_countdowns(self) -> None:
        """Cancels the open orders of every symbol whose countdownCancelAll expired."""
        now = self.now_ms()
        for symbol, deadline in list(self.countdowns.items()):
            if now < deadline:
                continue
            del self.countdowns[symbol]
            canceled = self.cancel_all(symbol)
            if self.countdown_cancels_algo:
                canceled += self.cancel_all(symbol, "algo")
            self.countdown_events.append({"symbol": symbol, "time": now, "canceled": [o.client_id for o in canceled]})

    # ---- endpoints --------------------------------------------------------------------------

    def _route_table(self) -> dict[tuple[str, str], Handler]:
        g, post, delete = "GET", "POST", "DELETE"
        return {
            (g, "/fapi/v1/ping"): lambda p: {},
            (g, "/api/v3/ping"): lambda p: {},
            (g, "/fapi/v1/time"): lambda p: {"serverTime": self.now_ms()},
            (g, "/api/v3/time"): lambda p: {"serverTime": self.now_ms()},
            (g, "/sapi/v1/system/status"): lambda p: {"status": 0, "msg": "normal"},
            (g, "/fapi/v1/exchangeInfo"): self._exchange_info,
            (g, "/fapi/v1/depth"): lambda p: self.depth(self.market(p.get("symbol")).symbol, _int(p, "limit", 500) or 500),
            (g, "/fapi/v1/klines"): self._klines,
            (g, "/fapi/v1/markPriceKlines"): self._klines,
            (g, "/fapi/v1/indexPriceKlines"): lambda p: self._klines({**p, "symbol": p.get("pair")}),
            (g, "/fapi/v1/premiumIndex"): lambda p: self._one_or_all(p, self.premium_index),
            (g, "/fapi/v1/fundingRate"): self._funding_rate_history,
            (g, "/fapi/v1/fundingInfo"): lambda p: [],
            (g, "/fapi/v1/ticker/24hr"): lambda p: self._one_or_all(p, self.ticker_24hr),
            (g, "/fapi/v1/ticker/price"): lambda p: self._one_or_all(p, self._price_ticker),
            (g, "/fapi/v2/ticker/price"): lambda p: self._one_or_all(p, self._price_ticker),
            (g, "/fapi/v1/ticker/bookTicker"): lambda p: self._one_or_all(p, self.book_ticker),
            (g, "/fapi/v1/leverageBracket"): lambda p: self._one_or_all(p, self.leverage_bracket),
            (g, "/fapi/v3/positionRisk"): lambda p: self.position_risk_v3(self._symbol_or_none(p)),
            (g, "/fapi/v2/positionRisk"): lambda p: self.position_risk_v2(self._symbol_or_none(p)),
            (g, "/fapi/v3/account"): lambda p: self.account_v3(),
            (g, "/fapi/v2/account"): lambda p: self.account_v3(),
            (g, "/fapi/v3/balance"): self._balance,
            (g, "/fapi/v2/balance"): self._balance,
            (g, "/fapi/v1/symbolConfig"): lambda p: [self._symbol_config(s) for s in self._symbols(p)],
            (g, "/fapi/v1/commissionRate"): lambda p: {
                "symbol": self.market(p.get("symbol")).symbol, "makerCommissionRate": f"{self.maker_fee:f}",
                "takerCommissionRate": f"{self.taker_fee:f}"},
            (g, "/fapi/v1/positionSide/dual"): lambda p: {"dualSidePosition": False},
            (post, "/fapi/v1/positionSide/dual"): self._position_mode,
            (g, "/fapi/v1/multiAssetsMargin"): lambda p: {"multiAssetsMargin": False},
            (post, "/fapi/v1/order"): self._new_order,
            (g, "/fapi/v1/order"): lambda p: self.order_json(self._lookup(self.market(p.get("symbol")).symbol, p, NOT_FOUND, query=True)),
            (delete, "/fapi/v1/order"): self._cancel_order,
            (g, "/fapi/v1/openOrder"): self._open_order,
            (g, "/fapi/v1/openOrders"): lambda p: [self.order_json(o) for o in self.open_orders(self._symbol_or_none(p))],
            (g, "/fapi/v1/allOrders"): self._all_orders,
            (delete, "/fapi/v1/allOpenOrders"): lambda p: (self.cancel_all(self.market(p.get("symbol")).symbol), CANCEL_ALL_DONE)[1],
            (post, "/fapi/v1/algoOrder"): lambda p: self.algo_json(self.place_algo(p)),
            (g, "/fapi/v1/algoOrder"): lambda p: self.algo_json(self._algo_lookup(p, NOT_FOUND, query=True)),
            (delete, "/fapi/v1/algoOrder"): self._cancel_algo,
            (g, "/fapi/v1/openAlgoOrders"): lambda p: [self.algo_json(o) for o in self.open_orders(self._symbol_or_none(p), "algo")],
            (g, "/fapi/v1/allAlgoOrders"): lambda p: [self.algo_json(o) for o in _window(
                self.find_orders(self.market(p.get("symbol")).symbol, kind="algo"), p, lambda o: o.time, 500, 1000)],
            (delete, "/fapi/v1/algoOpenOrders"): lambda p: (self.cancel_all(self.market(p.get("symbol")).symbol, "algo"), CANCEL_ALL_DONE)[1],
            (g, "/fapi/v1/userTrades"): self._user_trades,
            (g, "/fapi/v1/forceOrders"): self._force_orders,
            (g, "/fapi/v1/income"): self._income_history,
            (post, "/fapi/v1/leverage"): self._set_leverage,
            (post, "/fapi/v1/marginType"): self._margin_type,
            (post, "/fapi/v1/countdownCancelAll"): self._countdown,
            (g, "/sapi/v1/account/apiRestrictions"): lambda p: dict(self.permissions),
        }

    def _symbol_or_none(self, p: dict[str, Any]) -> str | None:
        return self.market(p["symbol"]).symbol if p.get("symbol") else None

    def _exchange_info(self, p: dict[str, Any]) -> dict[str, Any]:
        return {
            "timezone": "UTC", "serverTime": self.now_ms(), "futuresType": "U_MARGINED",
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
            ],
            "exchangeFilters": [],
            "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"},
                       {"asset": "USDC", "marginAvailable": True, "autoAssetExchange": "-10000"}],
            "symbols": [m.exchange_info() for m in self.markets.values()],
        }

    def _klines(self, p: dict[str, Any]) -> list[list[Any]]:
        symbol = self.market(p.get("symbol")).symbol
        interval = p.get("interval")
        if not interval:
            raise mandatory("interval")
        if interval not in INTERVALS_MS:
            raise BinanceError(-1120, "Invalid interval.")
        limit = _int(p, "limit", 500, low=1, high=1500)
        assert limit is not None
        return self.klines(symbol, interval, _int(p, "startTime"), _int(p, "endTime"), limit)

    def _funding_rate_history(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        rows = [r for r in self.funding_history if not p.get("symbol") or r["symbol"] == p["symbol"]]
        return _window(rows, p, lambda r: r["fundingTime"], 100, 1000)

    def _price_ticker(self, symbol: str) -> dict[str, Any]:
        m = self.markets[symbol]
        return {"symbol": symbol, "price": fmt(self.marks[symbol], m.price_precision), "time": self.now_ms()}

    def _balance(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        account = self.account_v3()
        return [{"accountAlias": "SgsR", "asset": a["asset"], "balance": a["walletBalance"],
                 "crossWalletBalance": a["crossWalletBalance"], "crossUnPnl": a["crossUnPnl"],
                 "availableBalance": a["availableBalance"], "maxWithdrawAmount": a["maxWithdrawAmount"],
                 "marginAvailable": True, "updateTime": a["updateTime"]} for a in account["assets"]]

    def _symbol_config(self, symbol: str) -> dict[str, Any]:
        return {"symbol": symbol, "marginType": self.margin_type[symbol], "isAutoAddMargin": "false",
                "leverage": self.leverage[symbol],
                "maxNotionalValue": whole(self.markets[symbol].max_notional_at(self.leverage[symbol]))}

    def _position_mode(self, p: dict[str, Any]) -> dict[str, Any]:
        if str(p.get("dualSidePosition")).lower() == "false":
            raise BinanceError(-4059, "No need to change position side.")
        raise BinanceError(-1000, "The fake Binance simulates one-way mode only.")

    def _new_order(self, p: dict[str, Any]) -> dict[str, Any]:
        o = self.place_order(p)
        return self.order_json(o, ack=p.get("newOrderRespType", "ACK") != "RESULT")

    def _cancel_order(self, p: dict[str, Any]) -> dict[str, Any]:
        o = self._lookup(self.market(p.get("symbol")).symbol, p, UNKNOWN_ORDER, query=False)
        if not o.is_open:
            raise BinanceError(*UNKNOWN_ORDER)
        return self.order_json(self.cancel(o))

    def _open_order(self, p: dict[str, Any]) -> dict[str, Any]:
        o = self._lookup(self.market(p.get("symbol")).symbol, p, NOT_FOUND, query=True)
        if not o.is_open:
            raise BinanceError(*NOT_FOUND)
        return self.order_json(o)

    def _all_orders(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        rows = self.find_orders(self.market(p.get("symbol")).symbol)
        since_id = _int(p, "orderId")
        if since_id is not None:
            rows = [o for o in rows if o.order_id >= since_id]
        return [self.order_json(o) for o in _window(rows, p, lambda o: o.time, 500, 1000)]

    def _cancel_algo(self, p: dict[str, Any]) -> dict[str, Any]:
        a = self._algo_lookup(p, UNKNOWN_ORDER, query=False)
        if a.status != "NEW":
            raise BinanceError(*UNKNOWN_ORDER)
        self.cancel(a)
        return {"algoId": a.order_id, "clientAlgoId": a.client_id, "code": "200", "msg": "success"}

    def _user_trades(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        symbol = self.market(p.get("symbol")).symbol
        rows = [t for t in self.trades if t.symbol == symbol]
        if p.get("orderId"):
            rows = [t for t in rows if str(t.order_id) == str(p["orderId"])]
        from_id = _int(p, "fromId")
        if from_id is not None:
            rows = [t for t in rows if t.trade_id >= from_id]
        if p.get("startTime") in (None, "") and p.get("endTime") in (None, "") and from_id is None:
            rows = [t for t in rows if t.time >= self.now_ms() - 7 * 86_400_000]
        return [self.trade_json(t) for t in _window(rows, p, lambda t: t.time, 500, 1000)]

    def _force_orders(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        rows = [o for o in self.force_orders if not p.get("symbol") or o.symbol == p["symbol"]]
        if p.get("autoCloseType") not in (None, "", "LIQUIDATION"):
            rows = []  # no ADL is simulated
        return [self.order_json(o) for o in _window(rows, p, lambda o: o.time, 50, 100)]

    def _income_history(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        rows = [r for r in self.incomes if (not p.get("symbol") or r["symbol"] == p["symbol"])
                and (not p.get("incomeType") or r["incomeType"] == p["incomeType"])]
        if p.get("startTime") in (None, "") and p.get("endTime") in (None, ""):
            rows = [r for r in rows if r["time"] >= self.now_ms() - 7 * 86_400_000]
        return _window(rows, p, lambda r: r["time"], 100, 1000)

    def _set_leverage(self, p: dict[str, Any]) -> dict[str, Any]:
        symbol = self.market(p.get("symbol")).symbol
        leverage = _int(p, "leverage")
        if leverage is None:
            raise mandatory("leverage")
        self.set_leverage(symbol, leverage)
        return {"leverage": leverage, "maxNotionalValue": whole(self.markets[symbol].max_notional_at(leverage)), "symbol": symbol}

    def _margin_type(self, p: dict[str, Any]) -> dict[str, Any]:
        self.set_margin_type(self.market(p.get("symbol")).symbol, str(p.get("marginType", "")).upper())
        return {"code": 200, "msg": "success"}

    def _countdown(self, p: dict[str, Any]) -> dict[str, Any]:
        symbol = self.market(p.get("symbol")).symbol
        countdown = _int(p, "countdownTime", low=0)
        if countdown is None:
            raise mandatory("countdownTime")
        if countdown:
            self.countdowns[symbol] = self.now_ms() + countdown
        else:
            self.countdowns.pop(symbol, None)
        return {"symbol": symbol, "countdownTime": str(countdown)}


# Endpoints whose answer is a JSON list (the "garbage" fault answers these with an object).
LIST_ENDPOINTS = {
    "/fapi/v1/klines", "/fapi/v1/markPriceKlines", "/fapi/v1/indexPriceKlines", "/fapi/v1/fundingRate",
    "/fapi/v1/fundingInfo", "/fapi/v3/positionRisk", "/fapi/v2/positionRisk", "/fapi/v3/balance", "/fapi/v2/balance",
    "/fapi/v1/symbolConfig", "/fapi/v1/openOrders", "/fapi/v1/allOrders", "/fapi/v1/openAlgoOrders",
    "/fapi/v1/allAlgoOrders", "/fapi/v1/userTrades", "/fapi/v1/forceOrders", "/fapi/v1/income",
    "/fapi/v1/leverageBracket", "/fapi/v1/premiumIndex", "/fapi/v1/ticker/24hr", "/fapi/v1/ticker/price",
    "/fapi/v1/ticker/bookTicker",
}
