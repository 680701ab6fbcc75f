"""The simulation behind the fake Binance USDT-M server: one account (USDT wallet, one-way mode),
per-symbol leverage and margin type, a tiny matching engine against the mark price, conditional
(algo) orders, liquidations, funding and a deterministic price history for klines.

Everything here is synchronous and knows nothing of HTTP; `fake_binance.FakeBinance` puts it on
the wire. Rejections raise `BinanceError` carrying Binance's HTTP status, code and message.

Approximations, on purpose:
- There is no order book: takers fill at the mark (moved by `slippage` against them), resting
  limit orders fill at their limit price when the mark reaches it, as makers.
- Isolated margin: the isolated wallet is the initial margin put in when the position opened or
  grew (released pro rata as it shrinks); realized PnL always goes to the one USDT wallet.
- Liquidation price: Binance's one-way formula
  LP = (WB - TMM1 + UPNL1 + cum - side*qty*EP) / (qty*MMR - side*qty), WB the cross wallet
  (isolated: the isolated wallet, TMM1 = UPNL1 = 0), trying each bracket and keeping the one
  whose notional at LP falls in it.
- availableBalance = cross wallet + cross unrealized PnL - cross position IM - open-order IM.
"""

from __future__ import annotations

import random
import re
import string
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable

from .fake_binance_data import (
    MARKETS, ZERO, BinanceError, D, Market, Order, Position, Trade, decimals_of, fmt, mandatory,
)
from .fake_binance_views import Views

CLIENT_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
CONDITIONAL = ("STOP_MARKET", "TAKE_PROFIT_MARKET", "STOP", "TAKE_PROFIT", "TRAILING_STOP_MARKET")


@dataclass
class Engine(Views):
    """The account and markets. Times are ms; `now_ms()` is the clock (real time + offset)."""

    wallet: Decimal = D(10_000)
    leverage_default: int = 20
    taker_fee: Decimal = D("0.0005")
    maker_fee: Decimal = D("0.0002")
    slippage: Decimal = ZERO
    legacy_conditional_orders: bool = False
    auto_liquidate: bool = False
    time_offset_ms: int = 0
    symbols: Iterable[str] = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    marks: dict[str, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.wallet = D(str(self.wallet))
        self.taker_fee, self.maker_fee, self.slippage = D(str(self.taker_fee)), D(str(self.maker_fee)), D(str(self.slippage))
        self.markets: dict[str, Market] = {s: MARKETS[s] for s in self.symbols}
        self.marks = {s: m.round_price(D(str(self.marks.get(s, m.start_price)))) for s, m in self.markets.items()}
        self.positions: dict[str, Position] = {s: Position() for s in self.markets}
        self.leverage: dict[str, int] = {s: self.leverage_default for s in self.markets}
        self.margin_type: dict[str, str] = {s: "CROSSED" for s in self.markets}
        self.funding_rates: dict[str, Decimal] = {s: D("0.00010000") for s in self.markets}
        self.orders: list[Order] = []  # every order ever accepted, regular and conditional
        self.trades: list[Trade] = []
        self.incomes: list[dict[str, Any]] = []
        self.force_orders: list[Order] = []
        self.funding_history: list[dict[str, Any]] = []
        self.wallet_update_time = self.now_ms()
        self.started_ms = self.now_ms()
        self.path: dict[str, list[tuple[int, Decimal]]] = {s: [(self.started_ms, p)] for s, p in self.marks.items()}
        self._ids = {"order": 4_000_000_000, "algo": 1_000_000, "trade": 500_000_000, "tran": 9_000_000_000}
        self._rng = random.Random(7)
        self._liquidations = 0

    # ---- clock, ids -------------------------------------------------------------------------

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.time_offset_ms

    def _next(self, what: str) -> int:
        self._ids[what] += 1
        return self._ids[what]

    def market(self, symbol: str | None) -> Market:
        if not symbol:
            raise mandatory("symbol")
        if symbol not in self.markets:
            raise BinanceError(-1121, "Invalid symbol.")
        return self.markets[symbol]

    # ---- hooks the server overrides ---------------------------------------------------------

    def _marks_changed(self, symbols: list[str]) -> None:
        """Called after marks moved (the server pushes websocket updates)."""

    # ---- prices -----------------------------------------------------------------------------

    def set_mark(self, symbol: str, price: float | str | Decimal) -> None:
        """Moves `symbol`'s mark (and last) price; fills resting limit orders it crosses, triggers
        conditional orders, liquidates if `auto_liquidate`, then notifies stream subscribers."""
        m = self.market(symbol)
        new = m.round_price(D(str(price)))
        if new <= 0:
            raise ValueError("a mark must be positive")
        self.marks[symbol] = new
        self.path[symbol].append((max(self.now_ms(), self.path[symbol][-1][0]), new))
        self._match(symbol)
        if self.auto_liquidate:
            lp = self.liquidation_price(symbol)
            pos = self.positions[symbol]
            if lp > 0 and ((pos.qty > 0 and new <= lp) or (pos.qty < 0 and new >= lp)):
                self.liquidate(symbol)
        self._marks_changed([symbol])

    def _match(self, symbol: str) -> None:
        mark = self.marks[symbol]
        for o in [o for o in self.orders if o.symbol == symbol and o.is_open and o.kind == "order"]:
            if o.type == "LIMIT" and ((o.side == "BUY" and mark <= o.price) or (o.side == "SELL" and mark >= o.price)):
                self._fill_resting(o, o.price, maker=True)
            elif o.type in ("STOP_MARKET", "TAKE_PROFIT_MARKET") and self._triggered(o, mark):
                self._execute_market(o, reduce=o.reduce_only or o.close_position)
        for a in [o for o in self.orders if o.symbol == symbol and o.kind == "algo" and o.status == "NEW"]:
            if self._triggered(a, mark):
                self._trigger_algo(a)

    @staticmethod
    def _triggered(o: Order, price: Decimal) -> bool:
        stop_like = o.type in ("STOP_MARKET", "STOP")
        if o.side == "BUY":
            return price >= o.stop_price if stop_like else price <= o.stop_price
        return price <= o.stop_price if stop_like else price >= o.stop_price

    # ---- account numbers --------------------------------------------------------------------

    def upnl(self, symbol: str) -> Decimal:
        pos = self.positions[symbol]
        return (self.marks[symbol] - pos.entry) * pos.qty

    def notional(self, symbol: str) -> Decimal:
        return self.positions[symbol].qty * self.marks[symbol]

    def position_im(self, symbol: str) -> Decimal:
        return abs(self.notional(symbol)) / self.leverage[symbol]

    def maint_margin(self, symbol: str) -> Decimal:
        n = abs(self.notional(symbol))
        if not n:
            return ZERO
        b = self.markets[symbol].bracket_for(n)
        return max(ZERO, n * b.mmr - b.cum)

    def open_order_im(self, symbol: str | None = None) -> Decimal:
        total = ZERO
        for o in self.orders:
            if o.kind == "order" and o.is_open and o.type == "LIMIT" and not o.reduce_only and (symbol is None or o.symbol == symbol):
                total += o.remaining * o.price / self.leverage[o.symbol]
        return total

    def isolated(self, symbol: str) -> bool:
        return self.margin_type[symbol] == "ISOLATED"

    def cross_wallet(self) -> Decimal:
        return self.wallet - sum((p.isolated_wallet for p in self.positions.values()), ZERO)

    def total_upnl(self) -> Decimal:
        return sum((self.upnl(s) for s in self.positions), ZERO)

    def available_balance(self) -> Decimal:
        cross = [s for s in self.positions if not self.isolated(s)]
        value = (self.cross_wallet() + sum((self.upnl(s) for s in cross), ZERO)
                 - sum((self.position_im(s) for s in cross), ZERO) - self.open_order_im())
        return max(ZERO, value)

    def liquidation_price(self, symbol: str) -> Decimal:
        pos = self.positions[symbol]
        if not pos.qty:
            return ZERO
        side = D(1) if pos.qty > 0 else D(-1)
        q, ep = abs(pos.qty), pos.entry
        if self.isolated(symbol):
            wb, tmm1, upnl1 = pos.isolated_wallet, ZERO, ZERO
        else:
            others = [s for s in self.positions if s != symbol and not self.isolated(s) and self.positions[s].qty]
            wb = self.cross_wallet()
            tmm1 = sum((self.maint_margin(s) for s in others), ZERO)
            upnl1 = sum((self.upnl(s) for s in others), ZERO)
        market = self.markets[symbol]
        fallback = None
        for b in market.brackets:
            denominator = q * b.mmr - side * q
            if not denominator:
                continue
            lp = (wb - tmm1 + upnl1 + b.cum - side * q * ep) / denominator
            if fallback is None or b is market.bracket_for(q * self.marks[symbol]):
                fallback = lp
            if b.floor <= q * lp < b.cap:
                return max(ZERO, lp)
        return max(ZERO, fallback or ZERO)

    # ---- orders -----------------------------------------------------------------------------

    def find_orders(self, symbol: str | None = None, *, order_id: Any = None, client_id: str | None = None,
                    kind: str = "order") -> list[Order]:
        found = []
        for o in self.orders:
            if o.kind != kind or (symbol and o.symbol != symbol):
                continue
            if order_id not in (None, "") and str(o.order_id) != str(order_id):
                continue
            if client_id not in (None, "") and o.client_id != client_id:
                continue
            found.append(o)
        return found

    def orders_by_client_id(self, client_id: str) -> list[Order]:
        """Every order (regular or conditional) ever accepted with this client id, not counting
        the market orders the exchange itself placed when a conditional order triggered."""
        return [o for o in self.orders if o.client_id == client_id and o.source != "trigger"]

    def open_orders(self, symbol: str | None = None, kind: str = "order") -> list[Order]:
        return [o for o in self.orders if o.kind == kind and o.is_open and (symbol is None or o.symbol == symbol)]

    def _quantity(self, m: Market, raw: Any, *, market_order: bool) -> Decimal:
        if raw in (None, ""):
            raise mandatory("quantity")
        try:
            qty = D(str(raw))
        except ArithmeticError:
            raise mandatory("quantity") from None
        if not qty.is_finite():
            raise mandatory("quantity")
        if qty <= 0:
            raise BinanceError(-4003, "Quantity less than or equal to zero.")
        if decimals_of(str(raw)) > m.qty_precision or qty % m.step:
            raise BinanceError(-1111, "Precision is over the maximum defined for this asset.")
        if qty < m.min_qty:
            raise BinanceError(-4004, "Quantity less than min quantity.")
        if qty > (m.market_max_qty if market_order else m.max_qty):
            raise BinanceError(-4005, "Quantity greater than max quantity.")
        return qty

    def _price(self, m: Market, raw: Any, name: str = "price") -> Decimal:
        if raw in (None, ""):
            raise mandatory(name)
        try:
            price = D(str(raw))
        except ArithmeticError:
            raise mandatory(name) from None
        if not price.is_finite() or price <= 0:
            raise BinanceError(-4001, "Price less than 0.")
        if price % m.tick:
            raise BinanceError(-4014, "Price not increased by tick size.")
        return price

    def _client_id(self, raw: Any, name: str, kind: str) -> str:
        if raw in (None, ""):
            return "".join(self._rng.choice(string.ascii_letters + string.digits) for _ in range(22))
        cid = str(raw)
        if not CLIENT_ID.match(cid):
            raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{{1,36}}$'.")
        if any(o.client_id == cid and (o.is_open if kind == "order" else o.status == "NEW") for o in self.orders if o.kind == kind):
            raise BinanceError(-4116, "ClientOrderId is duplicated.")
        return cid

    @staticmethod
    def _flag(raw: Any) -> bool:
        return str(raw).lower() == "true"

    def _check_reduce(self, symbol: str, side: str) -> None:
        pos = self.positions[symbol].qty
        if not pos or (pos > 0) == (side == "BUY"):
            raise BinanceError(-2022, "ReduceOnly Order is rejected.")

    def _check_margin(self, symbol: str, side: str, qty: Decimal, price: Decimal) -> None:
        pos = self.positions[symbol].qty
        signed = qty if side == "BUY" else -qty
        increase = max(ZERO, abs(pos + signed) - abs(pos)) if (pos > 0) == (signed > 0) or not pos else max(ZERO, qty - abs(pos))
        needed = increase * price / self.leverage[symbol] + qty * price * self.taker_fee
        if increase and needed > self.available_balance():
            raise BinanceError(-2019, "Margin is insufficient.")

    def place_order(self, p: dict[str, Any]) -> Order:
        """POST /fapi/v1/order with Binance's checks; returns the accepted order (maybe filled)."""
        m = self.market(p.get("symbol"))
        side = p.get("side")
        if side not in ("BUY", "SELL"):
            raise mandatory("side") if not side else BinanceError(-1117, "Invalid side.")
        otype = p.get("type")
        if not otype:
            raise mandatory("type")
        if otype in CONDITIONAL and not self.legacy_conditional_orders:
            raise BinanceError(-4120, "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.")
        if otype not in ("MARKET", "LIMIT", "STOP_MARKET", "TAKE_PROFIT_MARKET"):
            raise BinanceError(-1116, "Invalid orderType.")
        if p.get("positionSide", "BOTH") != "BOTH":
            raise BinanceError(-4061, "Order's position side does not match user's setting.")
        reduce_only = self._flag(p.get("reduceOnly"))
        close_position = self._flag(p.get("closePosition"))
        mark = self.marks[m.symbol]
        price = stop = ZERO
        tif = p.get("timeInForce", "GTC")
        if otype == "LIMIT":
            if "timeInForce" not in p:
                raise mandatory("timeInForce")
            if tif not in ("GTC", "IOC", "FOK", "GTX", "GTD"):
                raise BinanceError(-1115, "Invalid timeInForce.")
            price = self._price(m, p.get("price"))
            if side == "BUY" and price > mark * m.multiplier_up:
                raise BinanceError(-4016, f"Limit price can't be higher than {fmt(mark * m.multiplier_up, m.price_precision)}.")
            if side == "SELL" and price < mark * m.multiplier_down:
                raise BinanceError(-4024, f"Limit price can't be lower than {fmt(mark * m.multiplier_down, m.price_precision)}.")
        if otype in ("STOP_MARKET", "TAKE_PROFIT_MARKET"):
            stop = self._price(m, p.get("stopPrice"), "stopPrice")
        qty = ZERO if close_position and otype != "LIMIT" and otype != "MARKET" else self._quantity(m, p.get("quantity"), market_order=otype != "LIMIT")
        cid = self._client_id(p.get("newClientOrderId"), "newClientOrderId", "order")
        if reduce_only or close_position:
            self._check_reduce(m.symbol, side)
        ref_price = price if otype == "LIMIT" else (stop if stop else mark)
        if not (reduce_only or close_position) and qty * ref_price < m.min_notional:
            raise BinanceError(-4164, f"Order's notional must be no smaller than {m.min_notional} (unless you choose reduce only).")
        if not (reduce_only or close_position):
            self._check_margin(m.symbol, side, qty, ref_price)
        now = self.now_ms()
        o = Order(self._next("order"), m.symbol, cid, side, otype, qty, price, stop, tif if otype == "LIMIT" else "GTC",
                  reduce_only, close_position, time=now, update_time=now, orig_type=otype,
                  working_type=p.get("workingType", "CONTRACT_PRICE"))
        if otype in ("STOP_MARKET", "TAKE_PROFIT_MARKET"):
            if self._triggered(o, mark):
                raise BinanceError(-2021, "Order would immediately trigger.")
            self.orders.append(o)
            return o
        if otype == "MARKET":
            self.orders.append(o)
            self._execute_market(o, reduce=reduce_only)
            return o
        crosses = (side == "BUY" and price >= mark) or (side == "SELL" and price <= mark)
        if crosses and tif == "GTX":
            raise BinanceError(-5022, "Due to the order could not be executed as maker, the Post Only order will be rejected. The order will not be recorded in the order history")
        if not crosses and tif == "FOK":
            raise BinanceError(-5021, "Due to the order could not be filled immediately, the FOK order has been rejected. The order will not be recorded in the order history")
        self.orders.append(o)
        if crosses:
            self._fill(o, o.qty, self._taker_price(m, side), maker=False)
        elif tif == "IOC":
            o.status, o.update_time = "EXPIRED", now
        return o

    def _taker_price(self, m: Market, side: str) -> Decimal:
        mark = self.marks[m.symbol]
        if not self.slippage:
            return mark
        return m.round_price(mark * (1 + self.slippage) if side == "BUY" else mark * (1 - self.slippage))

    def _execute_market(self, o: Order, *, reduce: bool) -> None:
        m = self.markets[o.symbol]
        qty = o.remaining if not o.close_position else abs(self.positions[o.symbol].qty)
        if o.close_position:
            o.qty = qty
        if reduce:
            pos = self.positions[o.symbol].qty
            can = abs(pos) if pos and (pos > 0) != (o.side == "BUY") else ZERO
            qty = min(qty, can)
        if qty > 0:
            self._fill(o, qty, self._taker_price(m, o.side), maker=False)
        if o.executed < o.qty:
            o.status, o.update_time = "EXPIRED", self.now_ms()

    def _fill_resting(self, o: Order, price: Decimal, *, maker: bool, qty: Decimal | None = None) -> None:
        qty = o.remaining if qty is None else min(qty, o.remaining)
        if o.reduce_only:
            pos = self.positions[o.symbol].qty
            can = abs(pos) if pos and (pos > 0) != (o.side == "BUY") else ZERO
            if can <= 0:
                o.status, o.update_time = "EXPIRED", self.now_ms()
                return
            qty = min(qty, can)
        self._fill(o, qty, price, maker=maker)

    def _fill(self, o: Order, qty: Decimal, price: Decimal, *, maker: bool) -> Trade:
        """Executes `qty` of `o` at `price`: position, wallet, fees, trade and income rows."""
        now = self.now_ms()
        pos = self.positions[o.symbol]
        lev = self.leverage[o.symbol]
        signed = qty if o.side == "BUY" else -qty
        old = pos.qty
        realized = ZERO
        if old and (old > 0) != (signed > 0):
            closing = min(abs(signed), abs(old))
            realized = closing * (price - pos.entry) * (1 if old > 0 else -1)
        new = old + signed
        if not new:
            pos.entry, pos.isolated_wallet = ZERO, ZERO
        elif not old or (old > 0) == (new > 0) and abs(new) > abs(old):
            pos.entry = (abs(old) * pos.entry + qty * price) / abs(new)
            if self.isolated(o.symbol):
                pos.isolated_wallet += qty * price / lev
        elif (old > 0) == (new > 0):  # reduced
            if self.isolated(o.symbol):
                pos.isolated_wallet = pos.isolated_wallet * abs(new) / abs(old)
        else:  # flipped
            pos.entry = price
            if self.isolated(o.symbol):
                pos.isolated_wallet = abs(new) * price / lev
        pos.qty, pos.update_time = new, now
        fee = qty * price * (self.maker_fee if maker else self.taker_fee)
        self.wallet += realized - fee
        self.wallet_update_time = now
        o.executed += qty
        o.cum_quote += qty * price
        o.status = "FILLED" if o.executed >= o.qty else "PARTIALLY_FILLED"
        o.update_time = now
        trade = Trade(self._next("trade"), o.order_id, o.symbol, o.side, price, qty, fee, realized, maker, now)
        self.trades.append(trade)
        if realized:
            self._income(o.symbol, "REALIZED_PNL", realized, now, str(trade.trade_id))
        self._income(o.symbol, "COMMISSION", -fee, now, str(trade.trade_id))
        if o.parent_algo_id is not None and o.status == "FILLED":
            for a in self.orders:
                if a.kind == "algo" and a.order_id == o.parent_algo_id:
                    a.status, a.update_time = "FINISHED", now
        return trade

    def _income(self, symbol: str, kind: str, amount: Decimal, when: int, trade_id: str = "") -> None:
        self.incomes.append({
            "symbol": symbol, "incomeType": kind, "income": fmt(amount, 8), "asset": "USDT",
            "info": kind, "time": when, "tranId": self._next("tran"), "tradeId": trade_id,
        })

    def cancel(self, o: Order) -> Order:
        o.status, o.update_time = "CANCELED", self.now_ms()
        return o

    def cancel_all(self, symbol: str, kind: str = "order") -> list[Order]:
        return [self.cancel(o) for o in self.open_orders(symbol, kind)]

    def fill_order(self, client_id: str, qty: float | str | None = None, price: float | str | None = None) -> Order:
        """Fills (part of) a resting order as the market would, at `price` (default: its limit)."""
        o = next(o for o in reversed(self.orders) if o.client_id == client_id and o.kind == "order" and o.is_open)
        self._fill_resting(o, D(str(price)) if price is not None else (o.price or self.marks[o.symbol]),
                           maker=True, qty=D(str(qty)) if qty is not None else None)
        return o

    # ---- conditional (algo) orders ----------------------------------------------------------

    def place_algo(self, p: dict[str, Any]) -> Order:
        """POST /fapi/v1/algoOrder (algoType CONDITIONAL)."""
        if p.get("algoType") != "CONDITIONAL":
            raise mandatory("algoType") if not p.get("algoType") else BinanceError(-1116, "Invalid algoType.")
        m = self.market(p.get("symbol"))
        side = p.get("side")
        if side not in ("BUY", "SELL"):
            raise mandatory("side") if not side else BinanceError(-1117, "Invalid side.")
        otype = p.get("type")
        if otype not in ("STOP_MARKET", "TAKE_PROFIT_MARKET", "STOP", "TAKE_PROFIT"):
            raise mandatory("type") if not otype else BinanceError(-1116, "Invalid orderType.")
        if p.get("positionSide", "BOTH") != "BOTH":
            raise BinanceError(-4061, "Order's position side does not match user's setting.")
        trigger = self._price(m, p.get("triggerPrice"), "triggerPrice")
        price = self._price(m, p.get("price")) if otype in ("STOP", "TAKE_PROFIT") else ZERO
        close_position = self._flag(p.get("closePosition"))
        reduce_only = self._flag(p.get("reduceOnly"))
        qty = ZERO if close_position else self._quantity(m, p.get("quantity"), market_order=otype.endswith("MARKET"))
        cid = self._client_id(p.get("clientAlgoId"), "clientAlgoId", "algo")
        if reduce_only or close_position:
            self._check_reduce(m.symbol, side)
        elif qty * (price or trigger) < m.min_notional:
            raise BinanceError(-4164, f"Order's notional must be no smaller than {m.min_notional} (unless you choose reduce only).")
        now = self.now_ms()
        a = Order(self._next("algo"), m.symbol, cid, side, otype, qty, price, trigger, p.get("timeInForce", "GTC"),
                  reduce_only, close_position, time=now, update_time=now, kind="algo", orig_type=otype,
                  working_type=p.get("workingType", "CONTRACT_PRICE"))
        if self._triggered(a, self.marks[m.symbol]):
            raise BinanceError(-2021, "Order would immediately trigger.")
        self.orders.append(a)
        return a

    def _trigger_algo(self, a: Order) -> None:
        now = self.now_ms()
        a.trigger_time = a.update_time = now
        pos = self.positions[a.symbol].qty
        reduce = a.reduce_only or a.close_position
        can_reduce = bool(pos) and (pos > 0) != (a.side == "BUY")
        if reduce and not can_reduce:
            a.status = "EXPIRED"
            return
        qty = abs(pos) if a.close_position else a.qty
        otype = "MARKET" if a.type.endswith("MARKET") else "LIMIT"
        child = Order(self._next("order"), a.symbol, a.client_id, a.side, otype, qty, a.price, a.stop_price, a.time_in_force,
                      reduce, a.close_position, time=now, update_time=now, orig_type=a.type, working_type=a.working_type,
                      source="trigger", parent_algo_id=a.order_id)
        self.orders.append(child)
        a.actual_order_id, a.status = child.order_id, "TRIGGERED"
        if otype == "MARKET":
            self._execute_market(child, reduce=reduce)
        elif (a.side == "BUY" and self.marks[a.symbol] <= a.price) or (a.side == "SELL" and self.marks[a.symbol] >= a.price):
            self._fill_resting(child, self.marks[a.symbol], maker=False)
        if not child.is_open:
            a.status = "FINISHED"

    # ---- things that happen to the account ----------------------------------------------------

    def fill_while_away(self, symbol: str, side: str, qty: float | str, price: float | str | None = None,
                        client_id: str | None = None) -> Order:
        """A fill made outside this client (e.g. in the Binance app): an order with a foreign
        client id, filled at `price` or the mark, in positions, userTrades and allOrders."""
        m = self.market(symbol)
        side = side.upper()
        now = self.now_ms()
        cid = client_id or "ios_" + "".join(self._rng.choice(string.ascii_letters + string.digits) for _ in range(18))
        o = Order(self._next("order"), symbol, cid, side, "MARKET", D(str(qty)), time=now, update_time=now,
                  orig_type="MARKET", source="away")
        self.orders.append(o)
        self._fill(o, o.qty, m.round_price(D(str(price))) if price is not None else self.marks[symbol], maker=False)
        return o

    def liquidate(self, symbol: str) -> Order:
        """Closes `symbol`'s position at the mark as an exchange liquidation: a force order
        (clientOrderId "autoclose-..."), a trade, the loss (and the clearance fee) off the
        wallet, resting orders of the symbol canceled."""
        m = self.market(symbol)
        pos = self.positions[symbol]
        if not pos.qty:
            raise ValueError(f"no {symbol} position to liquidate")
        now = self.now_ms()
        mark = self.marks[symbol]
        qty = abs(pos.qty)
        side = "SELL" if pos.qty > 0 else "BUY"
        for o in self.open_orders(symbol):
            self.cancel(o)
        self._liquidations += 1
        o = Order(self._next("order"), symbol, f"autoclose-{now}{self._liquidations:06d}", side, "LIMIT", qty, mark,
                  time_in_force="IOC", time=now, update_time=now, orig_type="LIMIT", source="liquidation")
        isolated_wallet = pos.isolated_wallet
        realized = (mark - pos.entry) * pos.qty
        clearance = qty * mark * m.liquidation_fee
        loss_cap = isolated_wallet if self.isolated(symbol) else None
        self.orders.append(o)
        self.force_orders.append(o)
        pos.qty, pos.entry, pos.isolated_wallet, pos.update_time = ZERO, ZERO, ZERO, now
        total = realized - clearance
        if loss_cap is not None and total < -loss_cap:
            total = -loss_cap
        self.wallet = max(ZERO, self.wallet + total)
        self.wallet_update_time = now
        o.executed, o.cum_quote, o.status = qty, qty * mark, "FILLED"
        trade = Trade(self._next("trade"), o.order_id, symbol, side, mark, qty, ZERO, total, False, now)
        self.trades.append(trade)
        self._income(symbol, "REALIZED_PNL", total, now, str(trade.trade_id))
        self._marks_changed([symbol])
        return o

    def set_funding_rate(self, symbol: str, rate: float | str) -> None:
        self.market(symbol)
        self.funding_rates[symbol] = D(str(rate))
        self._marks_changed([symbol])

    def pay_funding(self, rate: float | str | None = None) -> list[dict[str, Any]]:
        """Settles funding now: each position pays (or gets) qty * mark * rate (longs pay a
        positive rate), an income row FUNDING_FEE each; `rate` overrides every symbol's rate."""
        now = self.now_ms()
        rows = []
        for symbol, pos in self.positions.items():
            r = D(str(rate)) if rate is not None else self.funding_rates[symbol]
            self.funding_rates[symbol] = r
            self.funding_history.append({"symbol": symbol, "fundingRate": fmt(r, 8), "fundingTime": now,
                                         "markPrice": fmt(self.marks[symbol], 8)})
            if not pos.qty:
                continue
            amount = -pos.qty * self.marks[symbol] * r
            self.wallet += amount
            self.wallet_update_time = now
            self._income(symbol, "FUNDING_FEE", amount, now)
            rows.append(self.incomes[-1])
        return rows

    def set_leverage(self, symbol: str, leverage: int) -> None:
        m = self.market(symbol)
        if not 1 <= leverage <= m.max_leverage():
            raise BinanceError(-4028, f"Leverage {leverage} is not valid")
        if abs(self.notional(symbol)) > m.max_notional_at(leverage):
            raise BinanceError(-2027, "Exceeded the maximum allowable position at current leverage.")
        self.leverage[symbol] = leverage

    def set_margin_type(self, symbol: str, margin_type: str) -> None:
        self.market(symbol)
        if margin_type not in ("ISOLATED", "CROSSED"):
            raise BinanceError(-4044, "The margin type is not valid.") if margin_type else mandatory("marginType")
        if self.margin_type[symbol] == margin_type:
            raise BinanceError(-4046, "No need to change margin type.")
        if self.positions[symbol].qty:
            raise BinanceError(-4048, "Margin type cannot be changed if there exists position.")
        if self.open_orders(symbol):
            raise BinanceError(-4047, "Margin type cannot be changed if there exists open orders.")
        self.margin_type[symbol] = margin_type
