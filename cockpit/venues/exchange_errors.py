"""Exchange failures, decided in one place.

Every exception a ccxt call can raise is mapped to one of six failures of our own (`classify`),
and what to do about a failure depends on the *operation*, not on the exception class
(`RETRY_TABLE`):

| operation | tries | retried on                         | outcome unknown on      | counts as done on |
|-----------|-------|------------------------------------|-------------------------|-------------------|
| read      | 4     | unreachable, rate limited, garbled | -                       | -                 |
| query     | 4     | unreachable, rate limited, garbled | -                       | -                 |
| create    | 1     | never                              | unreachable, garbled    | -                 |
| cancel    | 4     | unreachable, rate limited, garbled | -                       | not found         |
| heartbeat | 1     | never (the next beat comes anyway) | -                       | -                 |

A create whose answer was lost (timeout, network error, 5xx, garbled answer) may have been
accepted: its outcome is *unknown* and is resolved by querying the client order id, never by
sending again. A 429 on create is a definite "not processed" and is reported as a rejection; a
person approves again if they still want it. ccxt's own retry (`maxRetriesOnFailure`) stays 0 so
this table is the only place that retries.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Awaitable, Callable, Literal, TypeVar

import ccxt.async_support as ccxt_async

from cockpit.secrets import redact

T = TypeVar("T")

Operation = Literal["read", "query", "create", "cancel", "heartbeat"]


class ExchangeFailure(Exception):
    """Something went wrong talking to the exchange; `str()` is one line for the trader."""

    label = "exchange error"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds the exchange asked us to wait (Retry-After)


class Unreachable(ExchangeFailure):
    """No answer, a timeout, or a 5xx: the exchange may or may not have acted."""

    label = "unreachable"


class RateLimited(ExchangeFailure):
    """HTTP 429/418: the exchange refused to process the request until we slow down."""

    label = "rate limited"


class Garbled(ExchangeFailure):
    """An answer we cannot read: malformed JSON, or valid JSON of the wrong shape."""

    label = "garbled answer"


class NotFound(ExchangeFailure):
    """The exchange does not know the order (yet: it may appear later)."""

    label = "not found"


class Refused(ExchangeFailure):
    """The exchange read the request and said no: invalid order, margin, symbol, parameter."""

    label = "refused"


class KeyRejected(ExchangeFailure):
    """The API keys are wrong, expired, IP-restricted or lack a permission."""

    label = "key rejected"


def _first_line(error: BaseException) -> str:
    # An exchange may echo the request, key included, in its error text: it never goes further.
    text = redact(str(error)).strip().splitlines()
    line = text[0] if text else type(error).__name__
    return line if len(line) <= 240 else line[:237] + "..."


def classify(error: BaseException) -> ExchangeFailure:
    """Returns our failure for any exception raised by a ccxt call (ccxt's own hierarchy, asyncio
    timeouts, and parsing errors inside ccxt's handlers, which mean a garbled answer)."""
    if isinstance(error, ExchangeFailure):
        return error
    text = _first_line(error)
    if isinstance(error, (ccxt_async.DDoSProtection, ccxt_async.RateLimitExceeded)):
        return RateLimited(f"rate limited: {text}")
    if isinstance(error, (ccxt_async.NetworkError, asyncio.TimeoutError, TimeoutError, ConnectionError)):
        return Unreachable(f"unreachable: {text}")
    if isinstance(error, (ccxt_async.BadResponse, json.JSONDecodeError)):
        return Garbled(f"garbled answer: {text}")
    if isinstance(error, ccxt_async.OrderNotFound):
        return NotFound(f"not found: {text}")
    if isinstance(error, ccxt_async.AuthenticationError):
        return KeyRejected(f"key rejected: {text}")
    if isinstance(error, ccxt_async.ExchangeError):
        return Refused(f"refused: {text}")
    if isinstance(error, ccxt_async.BaseError):
        return Unreachable(f"unreachable: {text}")
    # KeyError, TypeError, ValueError... raised while ccxt parsed an answer of the wrong shape.
    return Garbled(f"garbled answer: {type(error).__name__}: {text}")


@dataclass(frozen=True, slots=True)
class RetryRule:
    """What one operation does about failures."""

    tries: int  # calls in all; 1 = never retried
    retry_on: tuple[type[ExchangeFailure], ...] = ()
    unknown_on: tuple[type[ExchangeFailure], ...] = ()  # the outcome is unknown: resolve by query
    done_on: tuple[type[ExchangeFailure], ...] = ()  # the failure means the goal is already met


_TRANSIENT = (Unreachable, RateLimited, Garbled)

RETRY_TABLE: dict[str, RetryRule] = {
    "read": RetryRule(tries=4, retry_on=_TRANSIENT),
    "query": RetryRule(tries=4, retry_on=_TRANSIENT),
    "create": RetryRule(tries=1, unknown_on=(Unreachable, Garbled)),
    "cancel": RetryRule(tries=4, retry_on=_TRANSIENT, done_on=(NotFound,)),
    "heartbeat": RetryRule(tries=1),
}

BACKOFF_SECONDS = (0.5, 1.0, 2.0)  # waits before the 2nd, 3rd and 4th try
MAX_WAIT_SECONDS = 10.0


class OutcomeUnknown(ExchangeFailure):
    """A create whose answer was lost: the order may rest or have filled on the exchange."""

    label = "outcome unknown"


async def attempt(
    operation: Operation,
    call: Callable[[], Awaitable[T]],
    *,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    retry_after: Callable[[], float | None] = lambda: None,
) -> T | None:
    """Runs `call` under the operation's rule and returns its result; None when a failure in the
    rule's `done_on` means the goal is already met (a cancel of an order that is gone). Raises
    OutcomeUnknown for a failure in `unknown_on`, else the mapped ExchangeFailure once the rule
    gives up. `retry_after()` reads the wait a rate-limited answer asked for (its Retry-After
    header), in seconds. Never raises a ccxt exception."""
    rule = RETRY_TABLE[operation]
    for number in range(1, rule.tries + 1):
        try:
            return await call()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - every failure is classified right here
            failure = classify(error)
            if isinstance(failure, RateLimited) and failure.retry_after is None:
                failure.retry_after = retry_after()
        if isinstance(failure, rule.done_on):
            return None
        if isinstance(failure, rule.unknown_on):
            raise OutcomeUnknown(f"{failure} (outcome unknown: resolved by querying, never re-sent)") from None
        if not isinstance(failure, rule.retry_on) or number == rule.tries:
            raise failure from None
        wait = BACKOFF_SECONDS[min(number - 1, len(BACKOFF_SECONDS) - 1)]
        await sleep(min(MAX_WAIT_SECONDS, max(wait, failure.retry_after or 0.0)))
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover
