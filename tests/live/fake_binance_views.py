"""Binance-shaped views of the fake exchange's state (the JSON bodies its endpoints answer) and
its deterministic price history (klines), as a mixin of `fake_binance_engine.Engine`."""

from __future__ import annotations

import bisect
import hashlib
import math
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .fake_binance_data import FUNDING_INTERVAL_MS, INTERVALS_MS, ZERO, D, fmt, plain, whole

if TYPE_CHECKING:
    from .fake_binance_data import Order, Trade
    from .fake_binance_engine import Engine

    _Base = Engine
else:
    _Base = object


class Views(_Base):
    """Read-only: builds answers from the Engine's state; raises nothing but BinanceError."""

    # ---- price history ----------------------------------------------------------------------

    def _noise(self, symbol: str, t: int) -> float:
        digest = hashlib.sha256(f"{symbol}:{t}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 - 0.5

    def _shape(self, symbol: str, t_ms: int) -> float:
        """A smooth deterministic log-price shape (weeks-long swings plus daily wiggles)."""
        t = t_ms / 3_600_000
        seed = sum(map(ord, symbol))
        return (0.12 * math.sin(t / 173.0 + seed) + 0.05 * math.sin(t / 41.0 + 2 * seed)
                + 0.015 * math.sin(t / 7.3 + 3 * seed) + 0.004 * math.sin(t / 1.1 + seed))

    def history_price(self, symbol: str, t_ms: int) -> Decimal:
        """The price at `t_ms`: the live path after the server started, a deterministic curve that
        meets it at the start before that."""
        path = self.path[symbol]
        if t_ms >= path[0][0]:
            return path[bisect.bisect_right(path, t_ms, key=lambda point: point[0]) - 1][1]
        start = float(path[0][1]) * math.exp(self._shape(symbol, t_ms) - self._shape(symbol, path[0][0]))
        return self.markets[symbol].round_price(D(repr(start)))

    def kline(self, symbol: str, interval_ms: int, open_time: int) -> list[Any]:
        m = self.markets[symbol]
        close_time = open_time + interval_ms - 1
        o, c = self.history_price(symbol, open_time), self.history_price(symbol, close_time)
        path = self.path[symbol]
        live = [p for _, p in path[bisect.bisect_left(path, open_time, key=lambda point: point[0]):
                                   bisect.bisect_right(path, close_time, key=lambda point: point[0])]]
        wiggle = D(repr(abs(self._noise(symbol, open_time)) * 0.01 * math.sqrt(interval_ms / 3_600_000)))
        high = m.round_price(max([o, c, *live]) * (1 + wiggle)) if not live else max([o, c, *live])
        low = m.round_price(min([o, c, *live]) * (1 - wiggle)) if not live else min([o, c, *live])
        volume = D(repr(round(1000 + 800 * (self._noise(symbol, open_time + 1) + 0.5), 3))) * interval_ms / 3_600_000
        quote = volume * (o + c) / 2
        return [open_time, fmt(o, m.price_precision), fmt(high, m.price_precision), fmt(low, m.price_precision),
                fmt(c, m.price_precision), fmt(volume, m.qty_precision), close_time, fmt(quote, 4),
                int(volume) * 3 + 1, fmt(volume / 2, m.qty_precision), fmt(quote / 2, 4), "0"]

    def klines(self, symbol: str, interval: str, start: int | None, end: int | None, limit: int) -> list[list[Any]]:
        if interval not in INTERVALS_MS:
            raise ValueError(f"unknown interval {interval!r}")
        step = INTERVALS_MS[interval]
        now = self.now_ms()
        end = min(now, end) if end is not None else now
        if start is not None:
            first = -(-start // step) * step
            times = list(range(first, end + 1, step))[:limit]
        else:
            last = end // step * step
            times = [last - i * step for i in range(limit)][::-1]
        return [self.kline(symbol, step, t) for t in times]

    def next_funding_time(self) -> int:
        return (self.now_ms() // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS

    # ---- JSON views (Binance's shapes) ------------------------------------------------------

    def order_json(self, o: Order, *, ack: bool = False) -> dict[str, Any]:
        m = self.markets[o.symbol]
        if o.kind == "algo":
            return self.algo_json(o)
        status = "NEW" if ack else o.status
        executed = ZERO if ack else o.executed
        cum = ZERO if ack else o.cum_quote
        avg = cum / executed if executed else ZERO
        return {
            "orderId": o.order_id, "symbol": o.symbol, "status": status, "clientOrderId": o.client_id,
            "price": fmt(o.price, m.price_precision) if o.price else "0",
            "avgPrice": fmt(avg, 5 if avg else 2) if avg else "0.00",
            "origQty": fmt(o.qty, m.qty_precision), "executedQty": fmt(executed, m.qty_precision),
            "cumQty": fmt(executed, m.qty_precision), "cumQuote": fmt(cum, 5) if cum else "0.00000",
            "timeInForce": o.time_in_force, "type": o.type, "reduceOnly": o.reduce_only, "closePosition": o.close_position,
            "side": o.side, "positionSide": "BOTH", "stopPrice": fmt(o.stop_price, m.price_precision) if o.stop_price else "0",
            "workingType": o.working_type, "priceProtect": False, "origType": o.orig_type, "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0, "time": o.time, "updateTime": o.update_time,
        }

    def algo_json(self, a: Order) -> dict[str, Any]:
        m = self.markets[a.symbol]
        child = next((o for o in self.orders if a.actual_order_id is not None and o.order_id == a.actual_order_id), None)
        return {
            "algoId": a.order_id, "clientAlgoId": a.client_id, "algoType": "CONDITIONAL", "orderType": a.type,
            "symbol": a.symbol, "side": a.side, "positionSide": "BOTH", "timeInForce": a.time_in_force,
            "quantity": fmt(a.qty, m.qty_precision), "algoStatus": a.status,
            "actualOrderId": str(a.actual_order_id) if a.actual_order_id else "",
            "actualPrice": fmt(child.avg_price, 5) if child else "0.00000",
            "triggerPrice": fmt(a.stop_price, m.price_precision), "price": fmt(a.price, m.price_precision),
            "icebergQuantity": None, "tpTriggerPrice": "0.000", "tpPrice": "0.000", "slTriggerPrice": "0.000",
            "slPrice": "0.000", "tpOrderType": "", "selfTradePreventionMode": "EXPIRE_MAKER",
            "workingType": a.working_type, "priceMatch": "NONE", "closePosition": a.close_position,
            "priceProtect": False, "reduceOnly": a.reduce_only, "createTime": a.time, "updateTime": a.update_time,
            "triggerTime": a.trigger_time, "goodTillDate": 0,
        }

    def trade_json(self, t: Trade) -> dict[str, Any]:
        m = self.markets[t.symbol]
        return {
            "buyer": t.side == "BUY", "commission": fmt(t.commission, 8), "commissionAsset": "USDT", "id": t.trade_id,
            "maker": t.maker, "orderId": t.order_id, "price": fmt(t.price, m.price_precision),
            "qty": fmt(t.qty, m.qty_precision), "quoteQty": fmt(t.qty * t.price, 5), "realizedPnl": fmt(t.realized_pnl, 8),
            "side": t.side, "positionSide": "BOTH", "symbol": t.symbol, "time": t.time,
        }

    def _position_common(self, symbol: str) -> dict[str, Any]:
        m, pos = self.markets[symbol], self.positions[symbol]
        side = 1 if pos.qty > 0 else -1
        upnl = self.upnl(symbol)
        iso = pos.isolated_wallet if self.isolated(symbol) else ZERO
        return {
            "symbol": symbol, "positionSide": "BOTH", "positionAmt": fmt(pos.qty, m.qty_precision),
            "entryPrice": plain(pos.entry) if pos.qty else "0.0",
            "breakEvenPrice": plain(pos.entry * (1 + side * self.taker_fee)) if pos.qty else "0.0",
            "markPrice": fmt(self.marks[symbol], 8), "unRealizedProfit": fmt(upnl, 8),
            "liquidationPrice": fmt(self.liquidation_price(symbol), 8) if pos.qty else "0",
            "isolatedMargin": fmt(iso + upnl, 8) if self.isolated(symbol) and pos.qty else "0.00000000",
            "notional": fmt(self.notional(symbol), 8) if pos.qty else "0", "isolatedWallet": fmt(iso, 8) if iso else "0",
            "updateTime": pos.update_time,
        }

    def position_risk_v3(self, symbol: str | None) -> list[dict[str, Any]]:
        rows = []
        for s in self.markets:
            if symbol and s != symbol:
                continue
            if not self.positions[s].qty and not self.open_orders(s):
                continue
            row = self._position_common(s)
            im, oim = self.position_im(s), self.open_order_im(s)
            row.update({"marginAsset": "USDT", "initialMargin": fmt(im + oim, 8), "maintMargin": fmt(self.maint_margin(s), 8),
                        "positionInitialMargin": fmt(im, 8), "openOrderInitialMargin": fmt(oim, 8), "adl": 0,
                        "bidNotional": "0", "askNotional": "0"})
            rows.append(row)
        return rows

    def position_risk_v2(self, symbol: str | None) -> list[dict[str, Any]]:
        rows = []
        for s in self.markets:
            if symbol and s != symbol:
                continue
            row = self._position_common(s)
            row.update({"marginType": "isolated" if self.isolated(s) else "cross", "isAutoAddMargin": "false",
                        "leverage": str(self.leverage[s]), "maxNotionalValue": whole(self.markets[s].max_notional_at(self.leverage[s]))})
            rows.append(row)
        return rows

    def account_v3(self) -> dict[str, Any]:
        upnl = self.total_upnl()
        im = sum((self.position_im(s) for s in self.positions), ZERO)
        oim = self.open_order_im()
        mm = sum((self.maint_margin(s) for s in self.positions), ZERO)
        cross_upnl = sum((self.upnl(s) for s in self.positions if not self.isolated(s)), ZERO)
        avail = self.available_balance()
        usdt = {
            "asset": "USDT", "walletBalance": fmt(self.wallet, 8), "unrealizedProfit": fmt(upnl, 8),
            "marginBalance": fmt(self.wallet + upnl, 8), "maintMargin": fmt(mm, 8), "initialMargin": fmt(im + oim, 8),
            "positionInitialMargin": fmt(im, 8), "openOrderInitialMargin": fmt(oim, 8),
            "crossWalletBalance": fmt(self.cross_wallet(), 8), "crossUnPnl": fmt(cross_upnl, 8),
            "availableBalance": fmt(avail, 8), "maxWithdrawAmount": fmt(min(avail, self.wallet), 8),
            "updateTime": self.wallet_update_time,
        }
        usdc = {k: ("USDC" if k == "asset" else 0 if k == "updateTime" else "0.00000000") for k in usdt}
        positions = []
        for s in self.markets:
            if not self.positions[s].qty and not self.open_orders(s):
                continue
            c = self._position_common(s)
            positions.append({
                "symbol": s, "positionSide": "BOTH", "positionAmt": c["positionAmt"], "unrealizedProfit": c["unRealizedProfit"],
                "isolatedMargin": c["isolatedMargin"], "notional": c["notional"], "isolatedWallet": c["isolatedWallet"],
                "initialMargin": fmt(self.position_im(s) + self.open_order_im(s), 8), "maintMargin": fmt(self.maint_margin(s), 8),
                "updateTime": c["updateTime"],
            })
        return {
            "totalInitialMargin": fmt(im + oim, 8), "totalMaintMargin": fmt(mm, 8), "totalWalletBalance": fmt(self.wallet, 8),
            "totalUnrealizedProfit": fmt(upnl, 8), "totalMarginBalance": fmt(self.wallet + upnl, 8),
            "totalPositionInitialMargin": fmt(im, 8), "totalOpenOrderInitialMargin": fmt(oim, 8),
            "totalCrossWalletBalance": fmt(self.cross_wallet(), 8), "totalCrossUnPnl": fmt(cross_upnl, 8),
            "availableBalance": fmt(avail, 8), "maxWithdrawAmount": fmt(min(avail, self.wallet), 8),
            "assets": [usdt, usdc], "positions": positions,
        }

    def premium_index(self, symbol: str) -> dict[str, Any]:
        mark = self.marks[symbol]
        return {
            "symbol": symbol, "markPrice": fmt(mark, 8), "indexPrice": fmt(mark, 8), "estimatedSettlePrice": fmt(mark, 8),
            "lastFundingRate": fmt(self.funding_rates[symbol], 8), "interestRate": "0.00010000",
            "nextFundingTime": self.next_funding_time(), "time": self.now_ms(),
        }

    def ticker_24hr(self, symbol: str) -> dict[str, Any]:
        m = self.markets[symbol]
        now = self.now_ms()
        last = self.marks[symbol]
        hours = [self.history_price(symbol, now - h * 3_600_000) for h in range(24, -1, -1)]
        path = self.path[symbol]
        live = [p for _, p in path[bisect.bisect_left(path, now - 86_400_000, key=lambda point: point[0]):]]
        open_ = hours[0]
        volume = sum((D(self.kline(symbol, 3_600_000, (now - h * 3_600_000) // 3_600_000 * 3_600_000)[5]) for h in range(24)), ZERO)
        change = last - open_
        return {
            "symbol": symbol, "priceChange": fmt(change, m.price_precision),
            "priceChangePercent": fmt(change / open_ * 100, 3), "weightedAvgPrice": fmt(sum(hours, ZERO) / len(hours), m.price_precision),
            "lastPrice": fmt(last, m.price_precision), "lastQty": fmt(m.min_qty, m.qty_precision),
            "openPrice": fmt(open_, m.price_precision), "highPrice": fmt(max(hours + live), m.price_precision),
            "lowPrice": fmt(min(hours + live), m.price_precision), "volume": fmt(volume, m.qty_precision),
            "quoteVolume": fmt(volume * last, 2), "openTime": now - 86_400_000, "closeTime": now,
            "firstId": 1, "lastId": len(self.trades) + 1000, "count": len(self.trades) + 1000,
        }

    def book_ticker(self, symbol: str) -> dict[str, Any]:
        m, mark = self.markets[symbol], self.marks[symbol]
        return {"symbol": symbol, "bidPrice": fmt(mark - m.tick, m.price_precision), "bidQty": "10.000",
                "askPrice": fmt(mark, m.price_precision), "askQty": "10.000", "time": self.now_ms(), "lastUpdateId": 1}

    def depth(self, symbol: str, limit: int) -> dict[str, Any]:
        m, mark = self.markets[symbol], self.marks[symbol]
        levels = range(min(limit, 50))
        now = self.now_ms()
        return {"lastUpdateId": now, "E": now, "T": now,
                "bids": [[fmt(mark - m.tick * (i + 1), m.price_precision), "5.000"] for i in levels],
                "asks": [[fmt(mark + m.tick * i, m.price_precision), "5.000"] for i in levels]}

    def leverage_bracket(self, symbol: str) -> dict[str, Any]:
        return {"symbol": symbol, "notionalCoef": 1.0, "brackets": [b.json() for b in self.markets[symbol].brackets]}

