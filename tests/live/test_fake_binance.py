"""The fake Binance USDT-M server, driven by the REAL ccxt client (ccxt 4.5.x binanceusdm): every
unified call the live adapter relies on parses into the right numbers, rejections and faults map
to the ccxt exceptions Binance's own answers map to, and the streams, the dead man's switch and
the thread/process modes work. Each await that could hang is bounded."""

from __future__ import annotations

import asyncio
import json
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import urlopen

import ccxt
import pytest

from tests.live.conftest import KEY, SECRET
from tests.live.fake_binance import FakeBinance, client, point_at

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
H4 = 4 * 3_600_000
REPO = Path(__file__).resolve().parents[2]


async def bounded(awaitable: Any, seconds: float = 3.0) -> Any:
    return await asyncio.wait_for(awaitable, seconds)


async def until(condition: Any, seconds: float = 2.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# ---- markets, tiers, balance, positions ---------------------------------------------------------


async def test_load_markets_reads_only_fapi_exchange_info(binance: FakeBinance, binance_client: Any) -> None:
    markets = binance_client.markets
    assert set(markets) == {BTC, ETH, "SOL/USDT:USDT"}
    btc = markets[BTC]
    assert btc["swap"] and btc["linear"] and btc["settle"] == "USDT"
    assert btc["precision"] == {**btc["precision"], "amount": 0.001, "price": 0.1}
    assert btc["limits"]["cost"]["min"] == 100
    assert {r["path"] for r in binance.requests} == {"/fapi/v1/exchangeInfo"}


async def test_leverage_tiers_are_binance_brackets(binance_client: Any) -> None:
    tiers = await binance_client.fetch_leverage_tiers([BTC])
    first, second = tiers[BTC][0], tiers[BTC][1]
    assert (first["maxLeverage"], first["maintenanceMarginRate"], first["minNotional"], first["maxNotional"]) == (125, 0.004, 0, 50_000)
    assert (second["maxLeverage"], second["maintenanceMarginRate"], second["info"]["cum"]) == (100, 0.005, 50.0)
    assert len(tiers[BTC]) == 12


async def test_balance_and_long_position_parse(binance: FakeBinance, binance_client: Any) -> None:
    balance = await binance_client.fetch_balance()
    assert (balance["USDT"]["free"], balance["USDT"]["used"], balance["USDT"]["total"]) == (10_000, 0, 10_000)

    order = await binance_client.create_order(BTC, "market", "buy", 1, None, {"clientOrderId": "long-1"})
    assert (order["status"], order["filled"], order["average"], order["clientOrderId"]) == ("closed", 1, 60_000, "long-1")

    balance = await binance_client.fetch_balance()  # 30 USDT taker fee; 3000 initial margin at 20x
    assert balance["USDT"]["total"] == pytest.approx(9_970)
    assert balance["USDT"]["used"] == pytest.approx(3_000)
    assert balance["USDT"]["free"] == pytest.approx(6_970)

    (position,) = await binance_client.fetch_positions()
    assert (position["symbol"], position["side"], position["contracts"], position["entryPrice"]) == (BTC, "long", 1, 60_000)
    assert position["marginMode"] == "cross" and position["markPrice"] == 60_000
    # one-way cross: (WB + cum - qty*EP) / (qty*MMR - qty) with bracket 2 (MMR 0.005, cum 50)
    assert position["liquidationPrice"] == pytest.approx((9_970 + 50 - 60_000) / (0.005 - 1), rel=1e-9)

    binance.set_mark("BTCUSDT", 61_000)
    (position,) = await binance_client.fetch_positions([BTC])
    assert position["unrealizedPnl"] == pytest.approx(1_000) and position["markPrice"] == 61_000


async def test_isolated_short_position(binance: FakeBinance, binance_client: Any) -> None:
    await binance_client.set_margin_mode("isolated", ETH)
    assert (await binance_client.set_leverage(10, ETH))["leverage"] == 10
    await binance_client.create_order(ETH, "market", "sell", 2)
    (position,) = await binance_client.fetch_positions([ETH])
    assert (position["side"], position["contracts"], position["entryPrice"], position["marginMode"]) == ("short", 2, 3_000, "isolated")
    # isolated: WB = isolated wallet 600 (6000 / 10x); (600 + 2*3000) / (2*0.004 + 2)
    assert position["liquidationPrice"] == pytest.approx(6_600 / 2.008, rel=1e-9)
    assert binance.position("ETHUSDT")["isolated_wallet"] == 600

    (legacy,) = await binance_client.fetch_positions([ETH], {"useV2": True})  # /fapi/v2 carries leverage
    assert legacy["leverage"] == 10 and legacy["info"]["marginType"] == "isolated"
    leverages = await binance_client.fetch_leverages([ETH])
    assert leverages[ETH]["longLeverage"] == 10 and leverages[ETH]["marginMode"] == "isolated"


async def test_margin_mode_unchanged_answers_4046(binance_client: Any) -> None:
    with pytest.raises(ccxt.MarginModeAlreadySet, match="-4046"):  # ccxt's default: throwMarginModeAlreadySet
        await binance_client.set_margin_mode("cross", BTC)
    with pytest.raises(ccxt.MarginModeAlreadySet):
        await binance_client.fapiPrivatePostMarginType({"symbol": "BTCUSDT", "marginType": "CROSSED"})
    binance_client.options["setMarginMode"]["throwMarginModeAlreadySet"] = False
    assert (await binance_client.set_margin_mode("cross", BTC))["code"] == -4046


# ---- market data ----------------------------------------------------------------------------------


async def test_tickers_mark_prices_and_funding_rates(binance: FakeBinance, binance_client: Any) -> None:
    binance.set_mark("BTCUSDT", 61_000.05)  # rounded to the 0.10 tick
    tickers = await binance_client.fetch_tickers()
    assert tickers[BTC]["last"] == 61_000.1 and tickers[ETH]["last"] == 3_000
    marks = await binance_client.fetch_mark_prices()
    assert marks[BTC]["markPrice"] == 61_000.1
    binance.set_funding_rate("ETHUSDT", "-0.0003")
    rates = await binance_client.fetch_funding_rates()
    assert rates[BTC]["fundingRate"] == 0.0001 and rates[ETH]["fundingRate"] == -0.0003
    assert rates[BTC]["fundingTimestamp"] % (8 * 3_600_000) == 0 and rates[BTC]["fundingTimestamp"] > time.time() * 1000


async def test_ohlcv_is_deterministic_and_ends_at_the_mark(binance_client: Any) -> None:
    since = (int(time.time() * 1000) // H4 - 20) * H4
    candles = await binance_client.fetch_ohlcv(BTC, "4h", since, 5)
    assert [c[0] for c in candles] == [since + i * H4 for i in range(5)]
    assert candles == await binance_client.fetch_ohlcv(BTC, "4h", since, 5)
    for t, o, h, low, c, v in candles:
        assert low <= min(o, c) <= max(o, c) <= h and v > 0
    latest = await binance_client.fetch_ohlcv(BTC, "4h", None, 3)
    assert len(latest) == 3 and latest[-1][4] == 60_000


# ---- orders ---------------------------------------------------------------------------------------


async def test_fetch_and_cancel_by_client_id(binance: FakeBinance, binance_client: Any) -> None:
    placed = await binance_client.create_order(BTC, "limit", "buy", 0.01, 59_000, {"postOnly": True, "clientOrderId": "rest-1"})
    assert placed["status"] == "open" and placed["postOnly"] and binance.requests[-1]["params"]["timeInForce"] == "GTX"
    fetched = await binance_client.fetch_order(None, BTC, {"clientOrderId": "rest-1"})
    assert (fetched["id"], fetched["status"], fetched["price"]) == (placed["id"], "open", 59_000)
    canceled = await binance_client.cancel_order(None, BTC, {"clientOrderId": "rest-1"})
    assert canceled["status"] == "canceled"
    assert (await binance_client.fetch_order("", BTC, {"origClientOrderId": "rest-1"}))["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):  # -2011 Unknown order sent.
        await binance_client.cancel_order(None, BTC, {"clientOrderId": "rest-1"})
    with pytest.raises(ccxt.OrderNotFound):  # -2013 Order does not exist.
        await binance_client.fetch_order(None, BTC, {"clientOrderId": "never-sent"})
    assert len(binance.orders_by_client_id("rest-1")) == 1


async def test_open_orders_and_cancel_all(binance_client: Any) -> None:
    for i, (symbol, price) in enumerate([(BTC, 59_000), (BTC, 58_000), (ETH, 2_900)]):
        await binance_client.create_order(symbol, "limit", "buy", 0.01, price, {"clientOrderId": f"o-{i}"})
    assert len(await binance_client.fetch_open_orders()) == 3
    assert len(await binance_client.fetch_open_orders(BTC)) == 2
    await binance_client.cancel_all_orders(BTC)
    assert [o["clientOrderId"] for o in await binance_client.fetch_open_orders()] == ["o-2"]


async def test_limit_order_fills_when_the_mark_crosses(binance: FakeBinance, binance_client: Any) -> None:
    await binance_client.create_order(BTC, "limit", "buy", 0.1, 59_000, {"clientOrderId": "dip"})
    binance.fill_order("dip", "0.04")  # a partial fill, as the market would
    partial = await binance_client.fetch_order(None, BTC, {"clientOrderId": "dip"})
    assert (partial["status"], partial["filled"]) == ("open", 0.04)
    binance.set_mark("BTCUSDT", 58_900)
    filled = await binance_client.fetch_order(None, BTC, {"clientOrderId": "dip"})
    assert (filled["status"], filled["filled"], filled["average"]) == ("closed", 0.1, 59_000)
    trades = await binance_client.fetch_my_trades(BTC, int(time.time() * 1000) - 60_000)
    assert [t["amount"] for t in trades] == [0.04, pytest.approx(0.06)]
    assert all(t["takerOrMaker"] == "maker" for t in trades)
    assert trades[0]["fee"]["cost"] == pytest.approx(0.04 * 59_000 * 0.0002)


async def test_binance_rejections_map_to_ccxt_errors(binance: FakeBinance, binance_client: Any) -> None:
    with pytest.raises(ccxt.InvalidOrder, match="-2022"):  # reduce-only with no position
        await binance_client.create_order(BTC, "market", "sell", 0.01, None, {"reduceOnly": True})
    with pytest.raises(ccxt.OrderNotFillable, match="-5022"):  # post-only that would cross
        await binance_client.create_order(BTC, "limit", "buy", 0.01, 60_100, {"postOnly": True, "clientOrderId": "gtx"})
    assert binance.orders_by_client_id("gtx") == []  # Binance does not record it
    with pytest.raises(ccxt.InvalidOrder, match="-4164"):  # notional 60 < 100
        await binance_client.create_order(BTC, "market", "buy", 0.001)
    with pytest.raises(ccxt.BadRequest, match="-1111"):  # quantity finer than the lot step
        await binance_client.fapiPrivatePostOrder({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.0005"})
    with pytest.raises(ccxt.BadRequest, match="-4016"):  # above PERCENT_PRICE's multiplierUp
        await binance_client.create_order(BTC, "limit", "buy", 0.01, 70_000)
    with pytest.raises(ccxt.InsufficientFunds, match="-2019"):
        await binance_client.create_order(BTC, "market", "buy", 5)
    await binance_client.create_order(BTC, "limit", "buy", 0.01, 59_000, {"clientOrderId": "twice"})
    with pytest.raises(ccxt.InvalidOrder, match="-4116"):  # duplicated among open orders
        await binance_client.create_order(BTC, "limit", "buy", 0.01, 59_000, {"clientOrderId": "twice"})
    await binance_client.create_order(BTC, "market", "buy", 0.01)
    with pytest.raises(ccxt.InvalidOrder, match="-2022"):  # reduce-only on the side of the position
        await binance_client.create_order(BTC, "market", "buy", 0.01, None, {"reduceOnly": True})
    with pytest.raises(ccxt.InvalidOrder, match="-4120"):  # conditional types left /fapi/v1/order
        await binance_client.fapiPrivatePostOrder({"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET",
                                                   "quantity": "0.01", "stopPrice": "50000"})


async def test_stop_market_is_an_algo_order_that_triggers_at_the_mark(binance: FakeBinance, binance_client: Any) -> None:
    await binance_client.create_order(BTC, "market", "buy", 0.1)
    stop = await binance_client.create_order(BTC, "STOP_MARKET", "sell", 0.1, None,
                                             {"stopPrice": 58_000, "reduceOnly": True, "clientOrderId": "sl-1"})
    assert (stop["status"], stop["triggerPrice"], stop["clientOrderId"]) == ("open", 58_000, "sl-1")
    assert binance.requests[-1]["path"] == "/fapi/v1/algoOrder"
    assert [o["clientOrderId"] for o in await binance_client.fetch_open_orders(BTC, None, None, {"trigger": True})] == ["sl-1"]
    assert await binance_client.fetch_open_orders(BTC) == []
    with pytest.raises(ccxt.OrderImmediatelyFillable, match="-2021"):
        await binance_client.create_order(BTC, "market", "sell", 0.1, None, {"stopLossPrice": 61_000, "reduceOnly": True})

    binance.set_mark("BTCUSDT", 57_900)
    done = await binance_client.fetch_order(None, BTC, {"clientOrderId": "sl-1", "trigger": True})
    assert done["status"] == "closed" and done["info"]["algoStatus"] == "FINISHED"
    actual = await binance_client.fetch_order(done["info"]["actualOrderId"], BTC)  # the fill is on this one
    assert (actual["status"], actual["filled"], actual["average"], actual["info"]["origType"]) == ("closed", 0.1, 57_900, "STOP_MARKET")
    assert await binance_client.fetch_positions() == []
    trades = await binance_client.fetch_my_trades(BTC)
    assert trades[-1]["price"] == 57_900 and trades[-1]["side"] == "sell"
    assert len(binance.orders_by_client_id("sl-1")) == 1


async def test_fill_while_away_and_liquidation(binance: FakeBinance, binance_client: Any) -> None:
    away = binance.fill_while_away("ETHUSDT", "BUY", "0.5")
    assert away.client_id.startswith("ios_")
    (position,) = await binance_client.fetch_positions([ETH])
    assert (position["contracts"], position["side"]) == (0.5, "long")
    trades = await binance_client.fetch_my_trades(ETH)
    assert [(t["order"], t["amount"]) for t in trades] == [(str(away.order_id), 0.5)]
    assert (await binance_client.fetch_order(None, ETH, {"clientOrderId": away.client_id}))["status"] == "closed"

    await binance_client.create_order(BTC, "market", "buy", 1)
    binance.liquidate("BTCUSDT")
    assert [p["symbol"] for p in await binance_client.fetch_positions()] == [ETH]
    (liquidation,) = await binance_client.fetch_my_liquidations(BTC)
    assert (liquidation["symbol"], liquidation["contracts"], liquidation["price"]) == (BTC, 1, 60_000)
    (raw,) = await binance_client.fapiPrivateGetForceOrders({"autoCloseType": "LIQUIDATION"})
    assert raw["clientOrderId"].startswith("autoclose-") and raw["status"] == "FILLED"


async def test_auto_liquidation_when_the_mark_crosses(binance: FakeBinance, binance_client: Any) -> None:
    binance.auto_liquidate = True
    await binance_client.create_order(BTC, "market", "buy", 1)
    binance.set_mark("BTCUSDT", 50_300)  # above the liquidation price (~50231)
    assert binance.position("BTCUSDT")["qty"] == 1
    binance.set_mark("BTCUSDT", 50_200)
    assert binance.position("BTCUSDT")["qty"] == 0 and len(binance.force_orders) == 1


async def test_funding_history(binance: FakeBinance, binance_client: Any) -> None:
    await binance_client.create_order(BTC, "market", "buy", 1)
    wallet = binance.wallet
    binance.pay_funding(0.0001)
    (payment,) = await binance_client.fetch_funding_history(BTC)
    assert payment["amount"] == pytest.approx(-6.0) and payment["info"]["incomeType"] == "FUNDING_FEE"
    assert float(wallet - binance.wallet) == pytest.approx(6.0)


async def test_api_restrictions(binance: FakeBinance, binance_client: Any) -> None:
    assert await binance_client.fapiPublicGetPing() == {}
    assert abs(await binance_client.fetch_time() - time.time() * 1000) < 5_000
    permissions = await binance_client.sapiGetAccountApiRestrictions()
    assert permissions["enableFutures"] is True and permissions["enableWithdrawals"] is False
    binance.permissions["enableWithdrawals"] = True
    assert (await binance_client.sapiGetAccountApiRestrictions())["enableWithdrawals"] is True


# ---- authentication -------------------------------------------------------------------------------


async def test_signed_requests_are_checked(binance: FakeBinance, binance_client: Any) -> None:
    await binance_client.fetch_balance()
    request = binance.requests[-1]
    assert request["headers"]["X-MBX-APIKEY"] == KEY and {"timestamp", "signature"} <= set(request["params"])
    for key, secret, code in [(KEY, "wrong-secret", "-1022"), ("wrong-key", SECRET, "-2015")]:
        intruder = client(binance.url, key=key, secret=secret, enableRateLimit=False, timeout=2000)
        try:
            assert (await intruder.fetch_tickers())[BTC]["last"] == 60_000  # public still works
            with pytest.raises(ccxt.AuthenticationError, match=code):
                await intruder.fetch_balance()
            with pytest.raises(ccxt.AuthenticationError, match=code):
                await intruder.create_order(BTC, "market", "buy", 0.01)
        finally:
            await intruder.close()
    assert len(binance.orders) == 0


async def test_point_at_rewrites_every_url(binance: FakeBinance) -> None:
    ex = client(binance.url, pro=True)
    try:
        urls: list[str] = []

        def walk(value: Any) -> None:
            if isinstance(value, dict):
                for item in value.values():
                    walk(item)
            elif isinstance(value, str):
                urls.append(value)

        walk(ex.urls["api"])
        ws = binance.url.replace("http://", "ws://")
        assert urls and all(u.startswith(binance.url + "/") or u.startswith(ws + "/") for u in urls)
        assert ex.urls["api"]["fapiPrivate"] == binance.url + "/fapi/v1" and ex.urls["api"]["ws"]["linear"] == ws + "/ws"
        assert ex.urls["api"]["sapi"] == binance.url + "/sapi/v1"
    finally:
        await ex.close()


# ---- faults ---------------------------------------------------------------------------------------

FAULT_ERRORS = [
    ("429", ccxt.DDoSProtection),
    ("418", ccxt.DDoSProtection),
    ("500", ccxt.ExchangeNotAvailable),
    ("502", ccxt.ExchangeNotAvailable),
    ("503", ccxt.OperationFailed),  # -1001 maps to OperationFailed: NOT a NetworkError
    ("503_unknown", ccxt.RequestTimeout),  # -1007 "execution status unknown"
    ("timeout", ccxt.RequestTimeout),
]


@pytest.mark.parametrize("fault,error", FAULT_ERRORS, ids=[f for f, _ in FAULT_ERRORS])
async def test_fault_maps_to_ccxt_exception(binance: FakeBinance, fault: str, error: type) -> None:
    binance.timeout_sleep = 1.0
    ex = client(binance.url, key=KEY, secret=SECRET, enableRateLimit=False, timeout=300)
    try:
        await ex.load_markets()
        binance.inject("GET", "/fapi/v3/account", fault)
        with pytest.raises(error) as raised:
            await bounded(ex.fetch_balance())
        assert not (fault == "503" and isinstance(raised.value, ccxt.NetworkError))
        assert (await ex.fetch_balance())["USDT"]["total"] == 10_000  # one time only
    finally:
        await ex.close()


async def test_not_found_fault_and_hidden_orders(binance: FakeBinance, binance_client: Any) -> None:
    await binance_client.create_order(BTC, "limit", "buy", 0.01, 59_000, {"clientOrderId": "shy"})
    binance.inject("GET", "/fapi/v1/order", "not_found")
    with pytest.raises(ccxt.OrderNotFound):
        await binance_client.fetch_order(None, BTC, {"clientOrderId": "shy"})
    binance.hide_order("shy", queries=2)
    for _ in range(2):
        with pytest.raises(ccxt.OrderNotFound):
            await binance_client.fetch_order(None, BTC, {"clientOrderId": "shy"})
    assert (await binance_client.fetch_order(None, BTC, {"clientOrderId": "shy"}))["status"] == "open"


async def test_timeout_before_and_after_accept(binance: FakeBinance) -> None:
    binance.timeout_sleep = 1.0
    ex = client(binance.url, key=KEY, secret=SECRET, enableRateLimit=False, timeout=300)
    try:
        await ex.load_markets()
        binance.inject("POST", "/fapi/v1/order", "timeout")
        with pytest.raises(ccxt.RequestTimeout):
            await bounded(ex.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "lost"}))
        started = time.monotonic()  # the server still sleeps on that request; others are served
        assert (await ex.fetch_balance())["USDT"]["total"] == 10_000 and time.monotonic() - started < 0.3
        assert binance.orders_by_client_id("lost") == []  # never happened
        binance.inject("POST", "/fapi/v1/order", "timeout_after_accept")
        with pytest.raises(ccxt.RequestTimeout):
            await bounded(ex.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "landed"}))
        (order,) = binance.orders_by_client_id("landed")
        assert order.status == "FILLED"
        assert (await ex.fetch_order(None, BTC, {"clientOrderId": "landed"}))["status"] == "closed"
        assert binance.position("BTCUSDT")["qty"] == 0.01
    finally:
        await ex.close()


async def test_malformed_and_garbage_answers_get_past_ccxt(binance: FakeBinance, binance_client: Any) -> None:
    """Recorded behaviour of ccxt 4.5.x: a 200 answer that is not JSON, or JSON of the wrong shape,
    raises no ccxt error; the unified methods return husks or fail with plain Python errors."""
    binance.inject("POST", "/fapi/v1/order", "malformed")  # processed, then the answer cut in half
    husk = await binance_client.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "cut"})
    assert isinstance(husk["info"], str) and husk["id"] is None and husk["status"] is None
    assert binance.orders_by_client_id("cut")[0].status == "FILLED"
    binance.inject("GET", "/fapi/v3/account", "malformed")
    assert "USDT" not in await binance_client.fetch_balance()
    binance.inject("GET", "/fapi/v1/openOrders", "malformed")
    with pytest.raises(AttributeError):
        await binance_client.fetch_open_orders(BTC)
    binance.inject("GET", "/fapi/v1/order", "garbage")  # a list with NaN prices, no order made
    odd = await binance_client.fetch_order(None, BTC, {"clientOrderId": "cut"})
    assert isinstance(odd["info"], list) and odd["id"] is None
    binance.inject("GET", "/fapi/v3/positionRisk", "garbage")
    assert await binance_client.fetch_positions() == []


# ---- dead man's switch ----------------------------------------------------------------------------


async def test_countdown_cancel_all_fires_after_expiry(binance: FakeBinance, binance_client: Any) -> None:
    await binance_client.create_order(BTC, "limit", "buy", 0.01, 59_000, {"clientOrderId": "guarded"})
    await binance_client.create_order(ETH, "limit", "buy", 0.01, 2_900, {"clientOrderId": "other-symbol"})
    arm = {"symbol": "BTCUSDT", "countdownTime": 300}
    assert await binance_client.fapiPrivatePostCountdownCancelAll(arm) == {"symbol": "BTCUSDT", "countdownTime": "300"}
    for _ in range(3):  # heartbeats keep it alive
        await asyncio.sleep(0.15)
        await binance_client.fapiPrivatePostCountdownCancelAll(arm)
    assert len(await binance_client.fetch_open_orders(BTC)) == 1
    await until(lambda: not binance.open_orders("BTCUSDT"), 2.0)
    assert binance.countdown_events[-1]["canceled"] == ["guarded"]
    assert [o["clientOrderId"] for o in await binance_client.fetch_open_orders()] == ["other-symbol"]


async def test_countdown_zero_disarms(binance: FakeBinance, binance_client: Any) -> None:
    await binance_client.create_order(BTC, "limit", "buy", 0.01, 59_000)
    await binance_client.fapiPrivatePostCountdownCancelAll({"symbol": "BTCUSDT", "countdownTime": 150})
    await binance_client.fapiPrivatePostCountdownCancelAll({"symbol": "BTCUSDT", "countdownTime": 0})
    await asyncio.sleep(0.3)
    assert len(binance.open_orders("BTCUSDT")) == 1 and binance.countdown_events == []


# ---- websocket streams ----------------------------------------------------------------------------


async def test_watch_mark_prices_sees_set_mark(binance: FakeBinance) -> None:
    ex = client(binance.url, key=KEY, secret=SECRET, pro=True, enableRateLimit=False)
    try:
        first = await bounded(ex.watch_mark_prices([BTC, ETH]))
        assert {t["markPrice"] for t in first.values()} <= {60_000, 3_000}
        binance.set_mark("BTCUSDT", 61_000)
        for _ in range(10):
            update = await bounded(ex.watch_mark_prices([BTC, ETH]))
            if BTC in update and update[BTC]["markPrice"] == 61_000:
                break
        else:
            pytest.fail("no update with the new mark")
        (message,) = [json.loads(r["message"]) for r in binance.ws_requests][:1]
        assert message["method"] == "SUBSCRIBE" and "btcusdt@markPrice@1s" in message["params"]
        assert binance.ws_requests[0]["path"] == "/market/ws/0"
        single = await bounded(ex.watch_mark_price(ETH))
        assert single["markPrice"] == 3_000
    finally:
        await ex.close()


async def test_watch_tickers(binance: FakeBinance) -> None:
    ex = client(binance.url, key=KEY, secret=SECRET, pro=True, enableRateLimit=False)
    try:
        binance.set_mark("ETHUSDT", 3_100)
        tickers = await bounded(ex.watch_tickers([ETH]))
        assert tickers[ETH]["last"] == 3_100 and tickers[ETH]["info"]["e"] == "24hrMiniTicker"
        full = await bounded(ex.watch_tickers([BTC], {"name": "ticker"}))
        assert full[BTC]["last"] == 60_000 and full[BTC]["info"]["e"] == "24hrTicker"
    finally:
        await ex.close()


async def test_kill_streams_raises_network_error_and_restart_works(binance: FakeBinance) -> None:
    ex = client(binance.url, key=KEY, secret=SECRET, pro=True, enableRateLimit=False)
    try:
        await bounded(ex.watch_mark_prices([BTC]))
        pending = asyncio.ensure_future(ex.watch_mark_prices([BTC]))
        await asyncio.sleep(0.05)
        assert binance.kill_streams() == 1
        with pytest.raises(ccxt.NetworkError):
            await bounded(pending)
        binance.set_mark("BTCUSDT", 62_000)
        again = await bounded(ex.watch_mark_prices([BTC]))  # a new connection
        assert again[BTC]["markPrice"] == 62_000
    finally:
        await ex.close()


async def test_muted_stream_stays_open_but_silent(binance: FakeBinance) -> None:
    ex = client(binance.url, key=KEY, secret=SECRET, pro=True, enableRateLimit=False)
    try:
        await bounded(ex.watch_mark_prices([BTC]))
        binance.mute_streams(True)
        binance.set_mark("BTCUSDT", 60_500)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ex.watch_mark_prices([BTC]), 0.4)
        assert binance.stream_count == 1
        binance.mute_streams(False)
        binance.set_mark("BTCUSDT", 60_600)
        for _ in range(5):
            update = await bounded(ex.watch_mark_prices([BTC]))
            if update[BTC]["markPrice"] == 60_600:
                break
        else:
            pytest.fail("no update after unmuting")
    finally:
        await ex.close()


# ---- thread and process modes ---------------------------------------------------------------------


def test_in_thread_server_serves_another_thread() -> None:
    with FakeBinance.in_thread(key=KEY, secret=SECRET) as server:
        assert server.url and server.url.startswith("http://127.0.0.1:")
        body = json.load(urlopen(server.url + "/fapi/v1/premiumIndex?symbol=BTCUSDT", timeout=5))
        assert body["markPrice"] == "60000.00000000"
        server.set_mark("BTCUSDT", 61_000)  # runs in the server's loop
        assert json.load(urlopen(server.url + "/fapi/v1/premiumIndex?symbol=BTCUSDT", timeout=5))["markPrice"] == "61000.00000000"
        sync = point_at(ccxt.binanceusdm({"apiKey": KEY, "secret": SECRET, "timeout": 3000,  # ccxt's sync client
                                          "options": {"fetchCurrencies": False, "maxRetriesOnFailure": 0}}), server.url)
        order = sync.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "from-thread"})
        assert order["status"] == "closed"
        assert [o.status for o in server.orders_by_client_id("from-thread")] == ["FILLED"]
        server.inject("GET", "/fapi/v1/time", "503")
        with pytest.raises(HTTPError) as failed:
            urlopen(server.url + "/fapi/v1/time", timeout=5)
        assert failed.value.code == 503
        assert server.call(lambda: len(server.requests)) >= 5


def test_runs_as_a_process() -> None:
    process = subprocess.Popen([sys.executable, "-m", "tests.live.fake_binance", "--port", "0", "--key", KEY, "--secret", SECRET],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 20)
        assert ready, "the server printed no URL"
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert json.load(urlopen(url + "/fapi/v1/time", timeout=5))["serverTime"] > 0
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
