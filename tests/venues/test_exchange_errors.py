"""The retry table, per operation: which ccxt failures are retried, which make an outcome
unknown, which count as done, and which are final. ccxt's real exception classes are raised."""

from __future__ import annotations

import asyncio
import json

import ccxt.async_support as ccxt_async
import pytest

from cockpit.venues import exchange_errors as errors
from cockpit.venues.exchange_errors import (
    BACKOFF_SECONDS, Garbled, KeyRejected, NotFound, OutcomeUnknown, RateLimited, Refused, Unreachable, attempt, classify,
)

# One real instance per kind of trouble, as ccxt raises them.
TROUBLE = {
    "timeout": ccxt_async.RequestTimeout("binanceusdm POST https://fapi.binance.com/fapi/v1/order request timeout (10000 ms)"),
    "network": ccxt_async.NetworkError("binanceusdm GET ... Cannot connect to host"),
    "5xx": ccxt_async.ExchangeNotAvailable("binanceusdm 503 Service Unavailable"),
    "maintenance": ccxt_async.OnMaintenance("binanceusdm system maintenance"),
    "429": ccxt_async.DDoSProtection('binanceusdm 429 Too Many Requests {"code":-1003}'),
    "rate": ccxt_async.RateLimitExceeded("binanceusdm rate limit"),
    "malformed": ccxt_async.BadResponse("binanceusdm GET ... returned a non-JSON reply"),
    "json": json.JSONDecodeError("Expecting value", "{", 1),
    "wrong shape": KeyError("markPrice"),
    "not found": ccxt_async.OrderNotFound('binanceusdm {"code":-2013,"msg":"Order does not exist."}'),
    "invalid order": ccxt_async.InvalidOrder('binanceusdm {"code":-2022,"msg":"ReduceOnly Order is rejected."}'),
    "margin": ccxt_async.InsufficientFunds('binanceusdm {"code":-2019,"msg":"Margin is insufficient."}'),
    "bad symbol": ccxt_async.BadSymbol("binanceusdm does not have market symbol XYZ"),
    "auth": ccxt_async.AuthenticationError('binanceusdm {"code":-2015,"msg":"Invalid API-key"}'),
    "permission": ccxt_async.PermissionDenied("binanceusdm permission denied"),
    "asyncio timeout": asyncio.TimeoutError(),
}

EXPECTED_CLASS = {
    "timeout": Unreachable, "network": Unreachable, "5xx": Unreachable, "maintenance": Unreachable,
    "asyncio timeout": Unreachable, "429": RateLimited, "rate": RateLimited, "malformed": Garbled, "json": Garbled,
    "wrong shape": Garbled, "not found": NotFound, "invalid order": Refused, "margin": Refused,
    "bad symbol": Refused, "auth": KeyRejected, "permission": KeyRejected,
}

TRANSIENT = {"timeout", "network", "5xx", "maintenance", "asyncio timeout", "429", "rate", "malformed", "json", "wrong shape"}
UNCERTAIN = {"timeout", "network", "5xx", "maintenance", "asyncio timeout", "malformed", "json", "wrong shape"}


@pytest.mark.parametrize("name", sorted(TROUBLE))
def test_every_ccxt_failure_maps_to_one_of_ours(name):
    failure = classify(TROUBLE[name])
    assert type(failure) is EXPECTED_CLASS[name]
    assert "\n" not in str(failure)


class Script:
    """A call that raises the scripted failures in turn, then answers "ok"."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


async def run(operation, script, waits=None):
    async def sleep(seconds):
        if waits is not None:
            waits.append(seconds)

    return await attempt(operation, script, sleep=sleep)


@pytest.mark.parametrize("operation", ["read", "query", "cancel"])
@pytest.mark.parametrize("name", sorted(TRANSIENT))
async def test_reads_queries_and_cancels_retry_transient_failures_with_backoff(operation, name):
    waits: list[float] = []
    script = Script(TROUBLE[name], TROUBLE[name], TROUBLE[name])
    assert await run(operation, script, waits) == "ok"
    assert script.calls == 4
    assert waits == list(BACKOFF_SECONDS)


@pytest.mark.parametrize("operation", ["read", "query", "cancel"])
async def test_they_give_up_after_four_tries_with_our_failure(operation):
    script = Script(*[TROUBLE["5xx"]] * 4)
    with pytest.raises(Unreachable):
        await run(operation, script)
    assert script.calls == 4


@pytest.mark.parametrize("operation", ["read", "query", "cancel", "create", "heartbeat"])
@pytest.mark.parametrize("name", ["invalid order", "margin", "bad symbol", "auth", "permission"])
async def test_a_definite_no_is_never_retried(operation, name):
    script = Script(TROUBLE[name])
    with pytest.raises(EXPECTED_CLASS[name]):
        await run(operation, script)
    assert script.calls == 1


@pytest.mark.parametrize("name", sorted(UNCERTAIN))
async def test_create_is_never_retried_and_a_lost_answer_is_unknown(name):
    script = Script(TROUBLE[name])
    with pytest.raises(OutcomeUnknown) as raised:
        await run("create", script)
    assert script.calls == 1
    assert "never re-sent" in str(raised.value)


async def test_create_rate_limited_is_a_rejection_not_unknown_and_not_retried():
    script = Script(TROUBLE["429"])
    with pytest.raises(RateLimited):
        await run("create", script)
    assert script.calls == 1


async def test_cancel_of_an_order_that_is_gone_counts_as_done():
    script = Script(TROUBLE["not found"])
    assert await run("cancel", script) is None
    assert script.calls == 1


@pytest.mark.parametrize("operation", ["read", "query"])
async def test_not_found_is_an_answer_for_reads_and_queries(operation):
    script = Script(TROUBLE["not found"])
    with pytest.raises(NotFound):
        await run(operation, script)
    assert script.calls == 1


async def test_heartbeat_is_tried_once():
    script = Script(TROUBLE["5xx"])
    with pytest.raises(Unreachable):
        await run("heartbeat", script)
    assert script.calls == 1


async def test_rate_limited_waits_at_least_what_the_exchange_asked():
    waits: list[float] = []

    async def sleep(seconds):
        waits.append(seconds)

    script = Script(TROUBLE["429"])
    assert await attempt("read", script, sleep=sleep, retry_after=lambda: 7.0) == "ok"
    assert waits == [7.0]


def test_the_table_covers_every_operation_and_ccxt_retries_stay_ours():
    assert set(errors.RETRY_TABLE) == {"read", "query", "create", "cancel", "heartbeat"}
    assert errors.RETRY_TABLE["create"].tries == 1 and not errors.RETRY_TABLE["create"].retry_on
