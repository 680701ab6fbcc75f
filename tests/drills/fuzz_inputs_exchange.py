"""Garbage exchange answers for the fuzz drill: the fake Binance of tests/live, with a hook that
replaces the answer to chosen requests by a generated one.

`GarbageBinance.spoil(method, path, garbage, times)` makes the next `times` requests to that
endpoint answer `garbage` instead: a Binance error status, an HTML page, truncated or retyped
JSON, one field dropped or replaced, an empty body, or no answer before the client's timeout.
Errors answered "without processing" leave the simulation untouched (the order was never
placed); the others process the request first (the order exists, its answer is what is lost).
Every answer sent is kept in `sent`, so a test can tell what the exchange actually stated.
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from hypothesis import strategies as st

from tests.live.fake_binance import FakeBinance

# Binance's own error codes for the statuses it answers with (futures API docs).
ERROR_CODES = {
    400: [-1100, -1102, -1111, -1121, -2010, -2019, -2022, -4003, -4131, -4164, -1013],
    401: [-2014, -2015],
    403: [-2015],
    404: [-5000],
    408: [-1007],
    418: [-1003],
    429: [-1003, -1015],
    500: [-1000, -1001],
    502: [-1001],
    503: [-1001, -1007, -1008],
    504: [-1007],
}
HTML_PAGES = [
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>",
    "<!DOCTYPE html><html><body><h1>Access denied</h1><p>Cloudflare Ray ID: 7d1f</p></body></html>",
    "<html><body>Service Unavailable. Maintenance in progress.</body></html>",
    "<html>",
]
ODD_VALUES = ["1e400", "-1e400", 1e308, -1e308, -1, "-5", "NaN", "Infinity", "", None, "abc", 0, "0",
              99999999999999999999999999, [], {}, True, "XYZUSDT", "BTCUSDT", "0.0000000001", "-0.001",
              "1,000.5", "  60000  ", "0x10"]

json_scalars = st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats() | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


@dataclass(frozen=True)
class Garbage:
    """One generated answer (or how to spoil the real one); see `garbage()`."""

    kind: str  # error status, html, truncated, retyped, field, rows, empty, timeout
    processed: bool = True  # the exchange acted on the request before answering this
    status: int = 200
    code: int = 0
    message: str = ""
    retry_after: str | None = None
    cut: float = 0.5  # truncated: the share of the real answer kept
    value: Any = None  # retyped: the whole answer; field: the replacement
    pick: int = 0  # field/rows: which one (modulo how many there are)
    action: str = "replace"  # field: drop, replace, negate, scale, symbol; rows: drop, duplicate, empty

    def describe(self) -> str:
        return f"{self.kind}{'' if self.processed else ' (unprocessed)'} {self.status} {self.action}"


@st.composite
def garbage(draw: st.DrawFn, *, timeouts: bool = True) -> Garbage:
    """Returns a generated bad answer; with `timeouts` sometimes none at all before the timeout."""
    kinds = ["error status", "html", "truncated", "retyped", "field", "field", "field", "rows", "empty"]
    kind = draw(st.sampled_from(kinds + (["timeout"] if timeouts else [])))
    processed = draw(st.booleans())
    if kind == "error status":
        status = draw(st.sampled_from(sorted(ERROR_CODES)))
        # A 4xx (and 429/418) is a refusal: the exchange did not act. Only a 5xx or a gateway
        # timeout leaves the request's fate open.
        processed = processed and (status >= 500 or status == 408)
        retry = draw(st.none() | st.sampled_from(["1", "0", "120", "abc", "-5", "1e9"]))
        return Garbage(kind, processed, status, draw(st.sampled_from(ERROR_CODES[status])),
                       draw(st.text(max_size=40)), retry)
    if kind == "html":
        status = draw(st.sampled_from([200, 403, 500, 502, 503]))
        return Garbage(kind, processed and status != 403, status, message=draw(st.sampled_from(HTML_PAGES)))
    if kind == "truncated":
        return Garbage(kind, processed, cut=draw(st.floats(0.0, 0.98)))
    if kind == "retyped":
        return Garbage(kind, processed, value=draw(json_values))
    if kind == "field":
        action = draw(st.sampled_from(["drop", "replace", "replace", "negate", "scale", "symbol"]))
        value = draw(st.sampled_from(ODD_VALUES) | json_values) if action == "replace" else \
            draw(st.sampled_from([1e6, 1e-9, 1e300, 0.0])) if action == "scale" else None
        return Garbage(kind, True, pick=draw(st.integers(0, 10_000)), action=action, value=value)
    if kind == "rows":
        return Garbage(kind, True, pick=draw(st.integers(0, 10_000)), action=draw(st.sampled_from(["drop", "duplicate", "empty"])))
    if kind == "empty":
        return Garbage(kind, processed, status=draw(st.sampled_from([200, 204])))
    return Garbage(kind, processed)


def _paths(value: Any, trail: tuple = ()) -> list[tuple]:
    """Every key path into a JSON value (dict keys and list indexes), leaves and branches."""
    out = []
    if isinstance(value, dict):
        for key, item in value.items():
            out.append((*trail, key))
            out.extend(_paths(item, (*trail, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.append((*trail, index))
            out.extend(_paths(item, (*trail, index)))
    return out


def _negate(value: Any) -> Any:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return str(-number) if isinstance(value, str) else -number


def _scale(value: Any, factor: float) -> Any:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return repr(number * factor) if isinstance(value, str) else number * factor


def spoil_payload(payload: Any, g: Garbage) -> Any:
    """Returns `payload` (parsed JSON) with `g`'s field or row change."""
    payload = json.loads(json.dumps(payload))  # a copy
    if g.kind == "rows":
        rows = payload if isinstance(payload, list) else next((v for v in payload.values() if isinstance(v, list)), None) \
            if isinstance(payload, dict) else None
        if rows is None:
            return payload
        if g.action == "empty":
            rows.clear()
        elif rows and g.action == "drop":
            rows.pop(g.pick % len(rows))
        elif rows:
            rows.append(rows[g.pick % len(rows)])
        return payload
    paths = _paths(payload)
    if not paths:
        return g.value if g.action == "replace" else payload
    path = paths[g.pick % len(paths)]
    parent = payload
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if g.action == "drop":
        parent.pop(last)
    elif g.action == "replace":
        parent[last] = g.value
    elif g.action == "negate":
        parent[last] = _negate(parent[last])
    elif g.action == "scale":
        parent[last] = _scale(parent[last], g.value)
    elif g.action == "symbol":
        parent[last] = "XYZUSDT" if isinstance(parent[last], str) else parent[last]
    return payload


@dataclass
class Spoiler:
    method: str
    path: str
    garbage: Garbage
    remaining: int


@dataclass
class Sent:
    """One answer the server gave: what was asked and what was said."""

    method: str
    path: str
    params: dict[str, Any]
    status: int
    body: str
    spoiled: Garbage | None = None

    def json(self) -> Any:
        """Returns the body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class GarbageBinance(FakeBinance):
    """FakeBinance that answers chosen requests with generated garbage (see the module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spoilers: list[Spoiler] = []
        self.sent: list[Sent] = []

    def spoil(self, method: str, path: str, g: Garbage, times: int = 1) -> None:
        """The next `times` requests `method` `path` get `g` instead of the real answer; method
        "WS" spoils the websocket's pushes instead (path is ignored; field and rows garbage only)."""
        self.spoilers.append(Spoiler(method, path, g, times))

    def calm(self) -> None:
        """Drops every spoiler not used yet."""
        self.spoilers.clear()

    def _event(self, kind: str, symbol: str) -> Any:
        event = super()._event(kind, symbol)
        g = self._take_spoiler("WS", "")
        if g is None:
            return event
        spoiled = g.value if g.kind == "retyped" else spoil_payload(event, g) if g.kind in ("field", "rows") else event
        self.sent.append(Sent("WS", kind, {"symbol": symbol}, 200, json.dumps(spoiled, allow_nan=True), g))
        return spoiled

    def _take_spoiler(self, method: str, path: str) -> Garbage | None:
        for spoiler in self.spoilers:
            if spoiler.remaining > 0 and spoiler.method == method and spoiler.path == path:
                spoiler.remaining -= 1
                return spoiler.garbage
        return None

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await super()._dispatch(request)
        g = self._take_spoiler(request.method, request.path)
        if g is not None and not g.processed:
            # Recorded like any request, but answered before the simulation sees it.
            self.faults.insert(0, _one_fault(request.method, request.path))
        response = await super()._dispatch(request)
        real = getattr(response, "text", None) or ""
        params = self.requests[-1]["params"] if self.requests else {}
        if g is None:
            self.sent.append(Sent(request.method, request.path, params, response.status, real))
            return response
        status, body, headers, content_type = self._garbage_answer(g, real)
        self.sent.append(Sent(request.method, request.path, params, status, body, g))
        if g.kind == "timeout":
            await self._sleep(self.timeout_sleep)
        return web.Response(status=status, text=body, headers=headers, content_type=content_type)

    def _garbage_answer(self, g: Garbage, real: str) -> tuple[int, str, dict[str, str], str]:
        headers: dict[str, str] = {}
        if g.kind == "error status":
            if g.retry_after is not None:
                headers["Retry-After"] = g.retry_after
            return g.status, json.dumps({"code": g.code, "msg": g.message}), headers, "application/json"
        if g.kind == "html":
            return g.status, g.message, headers, "text/html"
        if g.kind == "truncated":
            return 200, real[: int(len(real) * g.cut)], headers, "application/json"
        if g.kind == "empty":
            return g.status, "", headers, "application/json"
        if g.kind == "timeout":
            return 504, "", headers, "text/plain"
        try:
            payload = json.loads(real)
        except ValueError:
            payload = None
        spoiled = g.value if g.kind == "retyped" else spoil_payload(payload, g)
        return 200, json.dumps(spoiled, allow_nan=True), headers, "application/json"


def _one_fault(method: str, path: str):
    from tests.live.fake_binance import Fault

    return Fault(method, path, "503", 1)  # answered at once, the simulation untouched


def finite_positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def stated_numbers(body: Any, key: str) -> set[float]:
    """Returns every finite number stated under `key` anywhere in a JSON answer."""
    out: set[float] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for k, item in value.items():
                if k == key:
                    try:
                        number = float(item)
                    except (TypeError, ValueError):
                        number = math.nan
                    if math.isfinite(number):
                        out.add(number)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(body)
    return out


async def no_wait(seconds: float) -> None:
    """The adapter's backoff, without the wait (retries still happen, at once)."""
    await asyncio.sleep(0)
