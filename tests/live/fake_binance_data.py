"""Static data for the fake Binance USDT-M server: the symbols it lists (exchangeInfo entries in
Binance's own shape), their leverage brackets, and number formatting helpers.

Brackets come from ../shared/data/market/binance_usdm_leverage_tiers.json when that file is
there (real Binance brackets, as ccxt returned them), else from the copy built in below.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

D = Decimal
ZERO = D(0)

TIERS_FILE = Path(__file__).resolve().parents[3] / "shared" / "data" / "market" / "binance_usdm_leverage_tiers.json"

# (notionalFloor, notionalCap, maintMarginRatio, cum, initialLeverage) per bracket, as Binance
# sends them for BTCUSDT, ETHUSDT and SOLUSDT (the same numbers as TIERS_FILE).
_BUILTIN_BRACKETS: dict[str, list[tuple[str, str, str, str, int]]] = {
    "BTCUSDT": [
        ("0", "50000", "0.004", "0", 125), ("50000", "600000", "0.005", "50", 100),
        ("600000", "3000000", "0.0065", "950", 75), ("3000000", "12000000", "0.01", "11450", 50),
        ("12000000", "70000000", "0.02", "131450", 25), ("70000000", "100000000", "0.025", "481450", 20),
        ("100000000", "230000000", "0.05", "2981450", 10), ("230000000", "480000000", "0.1", "14481450", 5),
        ("480000000", "600000000", "0.125", "26481450", 4), ("600000000", "800000000", "0.15", "41481450", 3),
        ("800000000", "1200000000", "0.25", "121481450", 2), ("1200000000", "1800000000", "0.5", "421481450", 1),
    ],
    "ETHUSDT": [
        ("0", "50000", "0.004", "0", 125), ("50000", "600000", "0.005", "50", 100),
        ("600000", "3000000", "0.0065", "950", 75), ("3000000", "12000000", "0.01", "11450", 50),
        ("12000000", "50000000", "0.02", "131450", 25), ("50000000", "65000000", "0.025", "381450", 20),
        ("65000000", "150000000", "0.05", "2006450", 10), ("150000000", "320000000", "0.1", "9506450", 5),
        ("320000000", "400000000", "0.125", "17506450", 4), ("400000000", "530000000", "0.15", "27506450", 3),
        ("530000000", "800000000", "0.25", "80506450", 2), ("800000000", "1200000000", "0.5", "280506450", 1),
    ],
    "SOLUSDT": [
        ("0", "20000", "0.005", "0", 100), ("20000", "100000", "0.0065", "30", 75),
        ("100000", "800000", "0.01", "380", 50), ("800000", "4000000", "0.02", "8380", 25),
        ("4000000", "8000000", "0.025", "28380", 20), ("8000000", "40000000", "0.05", "228380", 10),
        ("40000000", "80000000", "0.1", "2228380", 5), ("80000000", "100000000", "0.125", "4228380", 4),
        ("100000000", "200000000", "0.25", "16728380", 2), ("200000000", "400000000", "0.5", "66728380", 1),
    ],
}


@dataclass(frozen=True)
class Bracket:
    bracket: int
    initial_leverage: int
    floor: Decimal
    cap: Decimal
    mmr: Decimal
    cum: Decimal

    def json(self) -> dict[str, Any]:
        """One entry of GET /fapi/v1/leverageBracket "brackets" (Binance sends numbers here)."""
        return {
            "bracket": self.bracket,
            "initialLeverage": self.initial_leverage,
            "notionalCap": int(self.cap) if self.cap == self.cap.to_integral() else float(self.cap),
            "notionalFloor": int(self.floor) if self.floor == self.floor.to_integral() else float(self.floor),
            "maintMarginRatio": float(self.mmr),
            "cum": float(self.cum),
        }


def _load_brackets() -> dict[str, list[Bracket]]:
    rows: dict[str, list[tuple[str, str, str, str, int]]] = dict(_BUILTIN_BRACKETS)
    try:
        data = json.loads(TIERS_FILE.read_text())
        for unified, tiers in data.items():
            if not unified.endswith("/USDT:USDT"):
                continue
            symbol = unified.split("/")[0] + "USDT"
            rows[symbol] = [
                (t["info"]["notionalFloor"], t["info"]["notionalCap"], t["info"]["maintMarginRatio"],
                 t["info"]["cum"], int(t["info"]["initialLeverage"]))
                for t in tiers
            ]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # the built-in copy is enough
    return {
        symbol: [Bracket(i + 1, lev, D(floor), D(cap), D(mmr), D(cum)) for i, (floor, cap, mmr, cum, lev) in enumerate(entries)]
        for symbol, entries in rows.items()
    }


BRACKETS = _load_brackets()


@dataclass(frozen=True)
class Market:
    """One USDT-M perpetual as the fake lists it."""

    symbol: str
    base: str
    tick: Decimal
    step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_max_qty: Decimal
    min_notional: Decimal
    price_precision: int
    qty_precision: int
    start_price: Decimal
    brackets: list[Bracket] = field(default_factory=list)
    multiplier_up: Decimal = D("1.0500")
    multiplier_down: Decimal = D("0.9500")
    liquidation_fee: Decimal = D("0.012500")

    def bracket_for(self, notional: Decimal) -> Bracket:
        notional = abs(notional)
        for b in self.brackets:
            if notional < b.cap:
                return b
        return self.brackets[-1]

    def max_leverage(self) -> int:
        return self.brackets[0].initial_leverage

    def max_notional_at(self, leverage: int) -> Decimal:
        """The notional cap at `leverage`: the highest cap among brackets allowing that leverage."""
        caps = [b.cap for b in self.brackets if b.initial_leverage >= leverage]
        return max(caps) if caps else ZERO

    def round_price(self, price: Decimal) -> Decimal:
        return (price / self.tick).quantize(D(1), rounding=ROUND_HALF_UP) * self.tick

    def exchange_info(self) -> dict[str, Any]:
        """One entry of GET /fapi/v1/exchangeInfo "symbols", as Binance sends it."""
        return {
            "symbol": self.symbol,
            "pair": self.symbol,
            "contractType": "PERPETUAL",
            "deliveryDate": 4133404800000,
            "onboardDate": 1569398400000,
            "status": "TRADING",
            "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000",
            "baseAsset": self.base,
            "quoteAsset": "USDT",
            "marginAsset": "USDT",
            "pricePrecision": self.price_precision,
            "quantityPrecision": self.qty_precision,
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "underlyingType": "COIN",
            "underlyingSubType": ["PoW"] if self.base == "BTC" else ["Layer-1"],
            "settlePlan": 0,
            "triggerProtect": "0.0500",
            "liquidationFee": f"{self.liquidation_fee:f}",
            "marketTakeBound": "0.05",
            "maxMoveOrderLimit": 10000,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": f"{self.tick:f}", "maxPrice": "4529764", "tickSize": f"{self.tick:f}"},
                {"filterType": "LOT_SIZE", "stepSize": f"{self.step:f}", "maxQty": f"{self.max_qty:f}", "minQty": f"{self.min_qty:f}"},
                {"filterType": "MARKET_LOT_SIZE", "stepSize": f"{self.step:f}", "maxQty": f"{self.market_max_qty:f}", "minQty": f"{self.min_qty:f}"},
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                {"filterType": "MIN_NOTIONAL", "notional": f"{self.min_notional:f}"},
                {"filterType": "PERCENT_PRICE", "multiplierUp": f"{self.multiplier_up:f}",
                 "multiplierDown": f"{self.multiplier_down:f}", "multiplierDecimal": "4"},
            ],
            "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
            "permissionSet": ["GRID", "COPY"],
        }


def _market(symbol: str, tick: str, step: str, max_qty: str, market_max: str, min_notional: str,
            price_precision: int, qty_precision: int, start: str) -> Market:
    return Market(symbol, symbol[:-4], D(tick), D(step), D(step), D(max_qty), D(market_max), D(min_notional),
                  price_precision, qty_precision, D(start), BRACKETS[symbol])


# Filters as Binance lists these perpetuals (tick, step, max qty, market max qty, min notional).
MARKETS: dict[str, Market] = {
    m.symbol: m
    for m in (
        _market("BTCUSDT", "0.10", "0.001", "1000", "120", "100", 2, 3, "60000"),
        _market("ETHUSDT", "0.01", "0.001", "10000", "2000", "20", 2, 3, "3000"),
        _market("SOLUSDT", "0.0100", "1", "1000000", "5000", "5", 4, 0, "150"),
    )
}

INTERVALS_MS = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000,
    "12h": 43_200_000, "1d": 86_400_000, "3d": 259_200_000, "1w": 604_800_000,
}

FUNDING_INTERVAL_MS = 8 * 3_600_000


def fmt(value: Decimal, places: int) -> str:
    """`value` with exactly `places` decimals, as Binance prints fixed-precision fields."""
    quantum = D(1).scaleb(-places)
    return f"{value.quantize(quantum, rounding=ROUND_HALF_UP):f}"


def fmt_down(value: Decimal, places: int) -> str:
    quantum = D(1).scaleb(-places)
    return f"{value.quantize(quantum, rounding=ROUND_DOWN):f}"


def plain(value: Decimal, max_places: int = 8) -> str:
    """A number the way Binance prints entry prices: no exponent, trailing zeros cut, at least
    one decimal ("60000.0")."""
    text = fmt(value, max_places).rstrip("0")
    return text + "0" if text.endswith(".") else text


def whole(value: Decimal) -> str:
    """An integral amount as Binance prints notional caps ("1000000"), else plain()."""
    return str(int(value)) if value == value.to_integral() else plain(value)


def decimals_of(text: str) -> int:
    return len(text.split(".")[1].rstrip("0")) if "." in text else 0


# ---- the simulation's records ---------------------------------------------------------------

OPEN = ("NEW", "PARTIALLY_FILLED")


class BinanceError(Exception):
    """A rejection as Binance answers it: HTTP status plus {"code": ..., "msg": ...}."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{status} {code} {msg}")
        self.code, self.msg, self.status = code, msg, status

    def json(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


def mandatory(name: str) -> BinanceError:
    return BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


@dataclass
class Position:
    qty: Decimal = ZERO  # signed: > 0 long, < 0 short
    entry: Decimal = ZERO
    isolated_wallet: Decimal = ZERO
    update_time: int = 0


@dataclass
class Order:
    """An order the fake exchange accepted. kind "order" is a matching-engine order
    (/fapi/v1/order), kind "algo" a conditional order (/fapi/v1/algoOrder)."""

    order_id: int
    symbol: str
    client_id: str
    side: str  # BUY / SELL
    type: str  # MARKET, LIMIT, STOP_MARKET, ...
    qty: Decimal
    price: Decimal = ZERO
    stop_price: Decimal = ZERO
    time_in_force: str = "GTC"
    reduce_only: bool = False
    close_position: bool = False
    status: str = "NEW"
    executed: Decimal = ZERO
    cum_quote: Decimal = ZERO
    time: int = 0
    update_time: int = 0
    kind: str = "order"
    orig_type: str = ""
    working_type: str = "CONTRACT_PRICE"
    source: str = "api"  # api, away (fill_while_away), liquidation, trigger (an algo order's child)
    parent_algo_id: int | None = None
    # algo orders only
    actual_order_id: int | None = None
    trigger_time: int = 0

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def avg_price(self) -> Decimal:
        return self.cum_quote / self.executed if self.executed else ZERO

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.executed

    @property
    def sign(self) -> int:
        return 1 if self.side == "BUY" else -1


@dataclass
class Trade:
    trade_id: int
    order_id: int
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    commission: Decimal
    realized_pnl: Decimal
    maker: bool
    time: int
