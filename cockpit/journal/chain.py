"""The journal's hash chain: the one place that defines how a row's hash is computed.

Every row of `entries` carries `prev_hash` (the `row_hash` of the row before it, by seq) and
`row_hash`, both 64 lowercase hex digits. The first row's `prev_hash` is GENESIS, 64 zeros.

    row_hash = SHA-256( b"cockpit-journal-chain-v1"
                        + field(seq) + field(ts) + field(account) + field(kind) + field(symbol)
                        + field(proposal_id) + field(client_order_id) + field(payload)
                        + field(prev_hash) )

where, for each column as stored:

- a NULL is the single byte b"-";
- any other value is a netstring: its UTF-8 bytes `v`, written as `str(len(v)) + ":" + v + ","`
  (the length is in bytes, decimal ASCII);
- `seq` (INTEGER) is written as its decimal digits, e.g. "42";
- `ts` (REAL, epoch seconds) is written as the 16 lowercase hex digits of its IEEE-754 binary64
  value, big-endian (Python: `struct.pack(">d", ts).hex()`), so no float formatting is involved;
- `payload` is the JSON text exactly as stored in the column, not re-encoded.

Lengths and NULL markers make the encoding unambiguous: no two different rows encode to the same
bytes. Any tool that reads the SQLite file can re-verify the chain with these rules alone.

The chain finds an edited, deleted or inserted row anywhere before the last row. It cannot find a
rewrite of the whole chain from some row on, or a cut tail, unless the last hash was noted
elsewhere: `cockpit journal verify` prints it for that reason.
"""

from __future__ import annotations

import hashlib
import struct

DOMAIN = b"cockpit-journal-chain-v1"
GENESIS = "0" * 64
HASH_LENGTH = 64  # hex digits of a SHA-256


def _field(value: object) -> bytes:
    if value is None:
        return b"-"
    data = value if isinstance(value, bytes) else str(value).encode("utf-8")
    return str(len(data)).encode("ascii") + b":" + data + b","


def canonical_bytes(
    seq: int,
    ts: float,
    account: str,
    kind: str,
    symbol: str | None,
    proposal_id: str | None,
    client_order_id: str | None,
    payload: str,
    prev_hash: str,
) -> bytes:
    """Returns the bytes a row's hash is taken over (see the module docstring).

    Raises TypeError/ValueError if `seq` is not an integer or `ts` not a number, which only a
    hand-edited file produces."""
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise TypeError(f"seq {seq!r} is not an integer")
    if isinstance(ts, (bool, str, bytes)) or ts is None:
        raise TypeError(f"ts {ts!r} is not a number")
    parts = [
        DOMAIN,
        _field(str(seq)),
        _field(struct.pack(">d", float(ts)).hex()),
        _field(account),
        _field(kind),
        _field(symbol),
        _field(proposal_id),
        _field(client_order_id),
        _field(payload),
        _field(prev_hash),
    ]
    return b"".join(parts)


def row_hash(
    seq: int,
    ts: float,
    account: str,
    kind: str,
    symbol: str | None,
    proposal_id: str | None,
    client_order_id: str | None,
    payload: str,
    prev_hash: str,
) -> str:
    """Returns the row's SHA-256 as 64 lowercase hex digits, over its stored columns and the
    previous row's hash."""
    return hashlib.sha256(
        canonical_bytes(seq, ts, account, kind, symbol, proposal_id, client_order_id, payload, prev_hash)
    ).hexdigest()
