"""Exchange answers that are well-formed HTTP but say nothing usable, found by the fuzz drill
(tests/drills/test_fuzz_inputs.py): each must be a garbled answer, never "done" or a fill."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from cockpit.domain.types import Order
from cockpit.secrets import Credentials
from cockpit.venues.exchange import Exchange
from cockpit.venues.exchange_errors import Garbled
from tests.live.conftest import KEY, SECRET
from tests.live.fake_binance import FakeBinance

BTC = "BTC/USDT:USDT"
ALGO = "/fapi/v1/algoOrder"


class AnswersOnce(FakeBinance):
    """The fake Binance; the next requests to one (method, path) get `text` back after the real
    processing (the order really is cancelled or filled: only its answer is wrong)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.planned: list[tuple[str, str, str]] = []

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        response = await super()._dispatch(request)
        for plan in self.planned:
            if plan[:2] == (request.method, request.path):
                self.planned.remove(plan)
                return web.Response(status=200, text=plan[2], content_type="application/json")
        return response


@pytest.fixture
async def server():
    fake = AnswersOnce(key=KEY, secret=SECRET)
    await fake.start()
    fake.fill_while_away("BTCUSDT", "BUY", "0.5", price="60000")
    yield fake
    await fake.stop()


@pytest.fixture
async def exchange(server):
    async def no_wait(seconds: float) -> None:
        await asyncio.sleep(0)

    def unthrottled(config):
        import ccxt.pro

        return ccxt.pro.binanceusdm({**config, "enableRateLimit": False})

    client = Exchange("binanceusdm", credentials=Credentials(KEY, SECRET, source="environment"), factory=unthrottled,
                      api_url=server.url, timeout_seconds=1.5, sleep=no_wait)
    await client.instruments([BTC])
    yield client
    await client.close()


async def _resting_stop(exchange) -> Order:
    stop = Order(BTC, "sell", 0.01, reduce_only=True, order_type="stop_market", stop_price=40_000,
                 client_order_id="ck1-1-1")
    assert (await exchange.submit(stop)).status == "open"
    return stop


@pytest.mark.parametrize("text", ["", "null", "{}", '{"code": 200}'])
async def test_a_cancel_answer_that_names_no_order_is_not_done(server, exchange, text):
    # The cancel was processed unseen, the answer said nothing: the retry finds the order gone.
    stop = await _resting_stop(exchange)
    server.planned.append(("DELETE", ALGO, text))
    assert await exchange.cancel(BTC, stop.client_order_id, stop=True) is False
    assert len(server.requests_to(ALGO, "DELETE")) == 2


async def test_a_cancel_that_kept_answering_nothing_is_garbled_not_done(server, exchange):
    stop = await _resting_stop(exchange)
    server.planned += [("DELETE", ALGO, "null")] * 4  # every try; the first one did cancel it
    with pytest.raises(Garbled, match="does not name it"):
        await exchange.cancel(BTC, stop.client_order_id, stop=True)


async def test_a_fill_larger_than_the_order_is_garbled(server, exchange):
    order = Order(BTC, "buy", 0.002, client_order_id="ck1-2-0")
    assert (await exchange.submit(order)).status == "filled"
    answer = server.order_json(server.orders_by_client_id("ck1-2-0")[-1])
    answer["executedQty"] = "2000.000"  # the real answer, one field scaled x1e6
    server.planned.append(("GET", "/fapi/v1/order", json.dumps(answer)))
    with pytest.raises(Garbled, match="filled 2000 of an order for 0.002"):
        await exchange.lookup(order)


async def test_a_fill_at_a_negative_price_is_garbled(server, exchange):
    order = Order(BTC, "buy", 0.002, client_order_id="ck1-3-0")
    assert (await exchange.submit(order)).status == "filled"
    answer = server.order_json(server.orders_by_client_id("ck1-3-0")[-1])
    answer["avgPrice"] = "-60000.00000"
    server.planned.append(("GET", "/fapi/v1/order", json.dumps(answer)))
    with pytest.raises(Garbled, match="order average price is -60000"):
        await exchange.lookup(order)
