"""Payloads to and from the JSON text stored in the `payload` column."""

from __future__ import annotations

import json
import math
import numbers
from decimal import Decimal
from enum import Enum
from typing import Any, Mapping

from cockpit.secrets import redact

from cockpit.journal.errors import JournalError


def _non_finite(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return "inf" if value > 0 else "-inf"


def _clean(value: Any, where: str) -> Any:
    # Enum before str: a str-valued Enum must be stored as its value, not its repr.
    if isinstance(value, Enum):
        return _clean(value.value, where)
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _non_finite(value)
    if isinstance(value, Decimal):
        # Keep order-boundary Decimals exact as text; float(text) reads them back.
        return str(value) if value.is_finite() else _non_finite(float(value))
    if isinstance(value, numbers.Integral):  # numpy integers
        return int(value)
    if isinstance(value, numbers.Real):  # numpy floats and friends
        return _clean(float(value), where)
    if isinstance(value, Mapping):
        cleaned = {}
        for key, item in value.items():
            if isinstance(key, Enum):
                key = key.value
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise JournalError(f"payload key {key!r} at {where} is not a string")
            cleaned[str(key)] = _clean(item, f"{where}.{key}")
        return cleaned
    if isinstance(value, (list, tuple)):
        return [_clean(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise JournalError(
        f"payload value at {where} is a {type(value).__name__}, which cannot be stored as JSON"
    )


def encode_payload(payload: Mapping[str, Any]) -> str:
    """Returns `payload` as compact JSON text; inf/-inf/nan become the strings "inf"/"-inf"/"nan".

    Raises JournalError (before anything is queued) for values JSON cannot hold.
    """
    if not isinstance(payload, Mapping):
        raise JournalError(f"payload must be a dict, not {type(payload).__name__}")
    cleaned = _clean(payload, "payload")
    # Last line of defence: an exchange's error text quoted in a row never carries an API key.
    return redact(json.dumps(cleaned, separators=(",", ":"), ensure_ascii=False, allow_nan=False))


def decode_payload(text: str) -> dict:
    """Returns the payload dict stored as `text`; a damaged value comes back as {"_raw": text}
    so reading a hand-edited file never crashes."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {"_raw": text}
    return value if isinstance(value, dict) else {"_raw": text}


def compact_json(payload: Mapping[str, Any]) -> str:
    """Returns `payload` as compact one-line JSON text (for export and display)."""
    return encode_payload(payload)
