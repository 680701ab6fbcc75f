"""The Exchange adapter and ExchangeVenue with the real ccxt client against the local fake of
Binance USDT-M: markets, tiers, positions, balance, orders, and each failure an exchange throws."""

from __future__ import annotations

import asyncio

import pytest

from cockpit.domain.types import Order
from cockpit.secrets import Credentials
from cockpit.venues.base import OrderResolved
from cockpit.venues.exchange import Exchange
from cockpit.venues.exchange_errors import Garbled, NotFound, Unreachable
from cockpit.venues.exchange_venue import ExchangeVenue
from tests.live.conftest import KEY, SECRET

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
ORDER_PATH = "/fapi/v1/order"


def _unthrottled(config):
    # The real ccxt.pro client with its rate limiter off: on, it is right live but slow for tests.
    import ccxt.pro

    return ccxt.pro.binanceusdm({**config, "enableRateLimit": False})


def _exchange(server, **kwargs) -> Exchange:
    return Exchange("binanceusdm", credentials=Credentials(KEY, SECRET, source="environment"), factory=_unthrottled,
                    api_url=server.url, timeout_seconds=kwargs.pop("timeout_seconds", 1.5), sleep=_no_wait, **kwargs)


async def _no_wait(seconds: float) -> None:
    await asyncio.sleep(0)


@pytest.fixture
async def exchange(binance):
    client = _exchange(binance)
    yield client
    await client.close()


async def test_markets_tiers_balance_and_positions_in_our_types(binance, exchange):
    instruments = await exchange.instruments([BTC, ETH, "NOPE/USDT:USDT"])
    assert set(instruments) == {BTC, ETH}  # a symbol the exchange does not list is left out
    btc = instruments[BTC]
    assert (btc.step_size, btc.tick_size, btc.min_notional) == (0.001, 0.1, 100.0)
    # The account's own brackets, not the defaults: contiguous, rising rates, Binance's cum.
    assert len(btc.tiers) > 5 and btc.tiers[0].min_notional == 0
    assert all(a.max_notional == b.min_notional for a, b in zip(btc.tiers, btc.tiers[1:]))
    assert all(a.maintenance_margin_rate < b.maintenance_margin_rate for a, b in zip(btc.tiers, btc.tiers[1:]))
    balance, positions = await exchange.account([BTC, ETH])
    assert balance.wallet == 10_000 and positions == {}
    binance.fill_while_away("BTCUSDT", "SELL", "0.5", price="60000")
    balance, positions = await exchange.account([BTC, ETH])
    assert positions[BTC].quantity == -0.5 and positions[BTC].entry_price == 60000
    reported = positions[BTC].exchange_liquidation_price
    assert reported is not None and reported > 60000  # a short liquidates above entry
    assert balance.wallet < 10_000  # the taker fee


async def test_market_order_fills_and_is_found_by_client_id(binance, exchange):
    order = Order(BTC, "buy", 0.01, client_order_id="ck1-7-0")
    result = await exchange.submit(order)
    assert result.status == "filled" and result.fill.quantity == 0.01 and result.fill.price == 60000
    assert result.fill.fee == pytest.approx(0.3)  # 0.05% of 600 USDT
    again = await exchange.lookup(order)
    assert again.status == "filled" and again.fill.quantity == 0.01
    with pytest.raises(NotFound):
        await exchange.lookup(Order(BTC, "buy", 0.01, client_order_id="ck1-99-0"))


async def test_stop_rests_cancels_by_client_id_and_cancel_is_idempotent(binance, exchange):
    await exchange.submit(Order(BTC, "buy", 0.01, client_order_id="ck1-1-0"))
    stop = Order(BTC, "sell", 0.01, reduce_only=True, order_type="stop_market", stop_price=50_000, client_order_id="ck1-1-1")
    assert (await exchange.submit(stop)).status == "open"
    resting = await exchange.open_orders([BTC, ETH])
    assert [(o.client_order_id, o.order_type, o.stop_price, o.reduce_only) for o in resting] == [("ck1-1-1", "stop_market", 50_000, True)]
    assert await exchange.cancel(BTC, "ck1-1-1", stop=True) is True
    assert await exchange.cancel(BTC, "ck1-1-1", stop=True) is False  # already gone: done, no error
    assert await exchange.open_orders([BTC, ETH]) == []


async def test_reduce_only_that_would_open_is_rejected_with_the_exchange_reason(binance, exchange):
    result = await exchange.submit(Order(BTC, "sell", 0.01, reduce_only=True, client_order_id="ck1-2-0"))
    assert result.status == "rejected" and "ReduceOnly" in result.reason


async def test_429_on_a_read_is_retried_and_answers(binance, exchange):
    await exchange.instruments([BTC])
    binance.inject("GET", "/fapi/v3/positionRisk", "429", times=2)
    binance.inject("GET", "/fapi/v2/positionRisk", "429", times=2)
    _, positions = await exchange.account([BTC])
    assert positions == {}


@pytest.mark.parametrize("fault", ["500", "502", "503"])
async def test_5xx_on_a_read_is_retried(binance, exchange, fault):
    await exchange.instruments([BTC])
    binance.inject("GET", "/fapi/v1/premiumIndex", fault, times=3)
    marks = await exchange.marks([BTC])
    assert marks[BTC][0] == 60000


async def test_a_read_that_keeps_failing_gives_our_failure_not_a_ccxt_one(binance, exchange):
    await exchange.instruments([BTC])
    binance.inject("GET", "/fapi/v1/premiumIndex", "503", times=4)
    with pytest.raises(Unreachable):
        await exchange.marks([BTC])


async def test_malformed_json_is_garbled_and_retried(binance, exchange):
    await exchange.instruments([BTC])
    binance.inject("GET", "/fapi/v1/premiumIndex", "malformed", times=1)
    assert (await exchange.marks([BTC]))[BTC][0] == 60000
    binance.inject("GET", "/fapi/v1/premiumIndex", "malformed", times=4)
    with pytest.raises(Garbled):
        await exchange.marks([BTC])


async def test_garbage_positions_are_garbled_not_flat(binance, exchange):
    await exchange.instruments([BTC])
    binance.fill_while_away("BTCUSDT", "BUY", "0.1")
    for path in ("/fapi/v3/positionRisk", "/fapi/v2/positionRisk"):
        binance.inject("GET", path, "garbage", times=4)
    with pytest.raises(Garbled):
        await exchange.account([BTC])


async def test_create_timeout_after_acceptance_is_unknown_and_never_resent(binance, exchange):
    binance.timeout_sleep = 3.0
    binance.inject("POST", ORDER_PATH, "timeout_after_accept")
    order = Order(BTC, "buy", 0.01, client_order_id="ck1-3-0")
    result = await exchange.submit(order)
    assert result.status == "unknown" and "never re-sent" in result.reason
    assert len(binance.orders_by_client_id("ck1-3-0")) == 1  # it was accepted: exactly once
    assert (await exchange.lookup(order)).status == "filled"
    assert len([r for r in binance.requests if r["method"] == "POST" and r["path"] == ORDER_PATH]) == 1


@pytest.mark.parametrize("fault, status", [("429", "rejected"), ("503", "unknown"), ("502", "unknown")])
async def test_create_is_tried_once_whatever_the_failure(binance, exchange, fault, status):
    binance.inject("POST", ORDER_PATH, fault)
    result = await exchange.submit(Order(BTC, "buy", 0.01, client_order_id="ck1-4-0"))
    assert result.status == status
    assert len([r for r in binance.requests if r["method"] == "POST" and r["path"] == ORDER_PATH]) == 1
    assert binance.orders_by_client_id("ck1-4-0") == []  # the fault answered without processing


async def _venue(exchange, *, grace: float = 60.0, clock=None) -> ExchangeVenue:
    instruments = await exchange.instruments([BTC, ETH])
    balance, positions = await exchange.account([BTC, ETH])
    return ExchangeVenue(exchange, instruments, balance, positions, [], not_found_grace_seconds=grace,
                         sleep=_no_wait, **({"clock": clock} if clock else {}))


async def test_venue_resolves_an_unknown_order_that_the_exchange_cannot_find_for_a_while(binance, exchange):
    venue = await _venue(exchange)
    binance.timeout_sleep = 3.0
    binance.inject("POST", ORDER_PATH, "timeout_after_accept")
    binance.hide_order("ck1-5-0", queries=3)
    order = Order(BTC, "buy", 0.02, client_order_id="ck1-5-0")
    result = await venue.submit(order)
    assert result.status == "unknown" and venue.unresolved == 1  # the quick look found nothing
    await venue.sync()  # not found again: within the grace period, still unknown
    await venue.sync()
    assert venue.unresolved == 1
    await venue.sync()  # found now
    assert venue.unresolved == 0
    events = venue.observe(_tick())
    resolved = [e for e in events if isinstance(e, OrderResolved)]
    assert len(resolved) == 1 and resolved[0].result.status == "filled" and resolved[0].result.fill.quantity == 0.02
    assert venue.account()[1][BTC].quantity == 0.02
    assert len(binance.orders_by_client_id("ck1-5-0")) == 1


async def test_venue_concludes_never_placed_only_after_the_grace_period(binance, exchange):
    now = [1000.0]
    venue = await _venue(exchange, grace=60.0, clock=lambda: now[0])
    binance.inject("POST", ORDER_PATH, "timeout")  # answered late, never processed
    binance.timeout_sleep = 3.0
    result = await venue.submit(Order(BTC, "buy", 0.02, client_order_id="ck1-6-0"))
    assert result.status == "unknown"
    now[0] += 59
    await venue.sync()
    assert venue.unresolved == 1 and venue.observe(_tick()) == []
    now[0] += 2
    await venue.sync()
    events = venue.observe(_tick())
    assert [e.result.status for e in events if isinstance(e, OrderResolved)] == ["rejected"]
    assert "never placed" in events[0].result.reason
    assert binance.orders_by_client_id("ck1-6-0") == []


async def test_venue_notices_a_stop_that_triggered(binance, exchange):
    venue = await _venue(exchange)
    await venue.submit(Order(BTC, "buy", 0.01, client_order_id="ck1-8-0"))
    stop = Order(BTC, "sell", 0.01, reduce_only=True, order_type="stop_market", stop_price=55_000, client_order_id="ck1-8-1")
    assert (await venue.submit(stop)).status == "open"
    binance.set_mark("BTCUSDT", 54_000)
    await venue.sync()
    fills = [e for e in venue.observe(_tick()) if not isinstance(e, OrderResolved)]
    assert len(fills) == 1 and fills[0].client_order_id == "ck1-8-1" and fills[0].side == "sell"
    assert BTC not in venue.account()[1]


async def test_dead_mans_switch_is_armed_renewed_and_disarmed(binance, exchange):
    now = [0.0]
    instruments = await exchange.instruments([BTC])
    venue = ExchangeVenue(exchange, instruments, *(await exchange.account([BTC])), [], dead_man_seconds=60,
                          clock=lambda: now[0], sleep=_no_wait)
    await venue.heartbeat(armed=True)
    beats = lambda: [r for r in binance.requests if r["path"] == "/fapi/v1/countdownCancelAll"]  # noqa: E731
    assert len(beats()) == 1 and "BTCUSDT" in binance.countdowns
    now[0] = 10
    await venue.heartbeat(armed=True)
    assert len(beats()) == 1  # not yet a third of the period
    now[0] = 21
    await venue.heartbeat(armed=True)
    assert len(beats()) == 2
    await venue.heartbeat(armed=False)
    assert len(beats()) == 3 and "BTCUSDT" not in binance.countdowns
    await venue.heartbeat(armed=False)
    assert len(beats()) == 3  # disarmed once


def _tick():
    from cockpit.domain.types import Tick

    return Tick(BTC, 0.0, 60000.0, 60000.0, 60000.0)


@pytest.mark.parametrize("exchange_id", ["bybit", "okx"])
async def test_exchanges_without_a_driven_dead_man_switch_say_so_and_send_nothing(exchange_id):
    exchange = Exchange(exchange_id, api_url="http://127.0.0.1:9")  # nothing listens: any request would fail
    try:
        assert exchange.has_dead_man_switch is False
        assert await exchange.heartbeat(["BTC/USDT:USDT"], 120) is False
    finally:
        await exchange.close()


async def test_venue_says_how_long_ago_the_account_was_read(binance, exchange):
    # The engine halts on it when the REST API is down while prices stream (tests/engine/test_account_outage.py).
    now = [1000.0]
    venue = await _venue(exchange, clock=lambda: now[0])
    now[0] += 7
    assert venue.account_age() == 0  # unread for 7 s, but nothing failed: as fresh as the polls go
    binance.inject("*", "*", "503", times=100)
    now[0] += 12
    await venue.refresh()  # fails: the last answer is kept, and its age counts
    assert venue.account_age() == 19 and "unreachable" in venue.last_error
    with pytest.raises(Unreachable):
        await venue.sync()
    binance.clear_faults()
    await venue.refresh()
    assert venue.account_age() == 0
