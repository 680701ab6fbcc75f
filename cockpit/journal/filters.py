"""What a person types to narrow the journal (kinds, a symbol, a time range, words), read into
an EntryFilter, or one line saying what could not be read."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from cockpit.journal.kinds import ALL_KINDS, MARKS
from cockpit.journal.query import EntryFilter

# Price bookkeeping (a marks row every few seconds) would drown the decisions: hidden unless
# asked for by name.
HIDDEN_BY_DEFAULT = (MARKS,)
_UNITS = {"m": 60.0, "min": 60.0, "h": 3600.0, "d": 86_400.0, "w": 604_800.0}
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*(m|min|h|d|w)$")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TIME_HELP = "e.g. 2026-01-31, 2026-01-31 14:00 (UTC), or 2h / 3d for that long ago"


class FilterError(ValueError):
    """One line naming the field and what it could not read (`problem`), then in brackets what
    it reads (`hint`), which a narrow screen may cut."""

    def __init__(self, problem: str, hint: str = "") -> None:
        super().__init__(f"{problem} ({hint})" if hint else problem)
        self.problem = problem
        self.hint = hint


@dataclass(frozen=True)
class FilterText:
    """The filter fields as typed: kinds (comma or space separated), symbol, from, to, search."""

    kinds: str = ""
    symbol: str = ""
    since: str = ""
    until: str = ""
    search: str = ""


def parse_kinds(text: str) -> tuple[str, ...] | None:
    """Returns the kinds named in `text` (None when empty: every kind). Raises FilterError for
    a name that is not a journal kind."""
    names = [name.strip().lower() for name in re.split(r"[,\s]+", text) if name.strip()]
    if not names:
        return None
    unknown = [name for name in names if name not in ALL_KINDS]
    if unknown:
        raise FilterError(f"kind: unknown {unknown[0]!r}", f"one of: {', '.join(sorted(ALL_KINDS))}")
    return tuple(dict.fromkeys(names))


def parse_time(text: str, now: float, *, label: str, end: bool = False) -> float | None:
    """Returns the epoch seconds `text` names (None when empty): an ISO date or date and time
    (UTC unless it carries an offset), "now", "today", or an age such as 90m, 2h, 3d, 1w. A
    date alone as the `end` of a range means the end of that day. Raises FilterError."""
    text = text.strip()
    if not text:
        return None
    lowered = text.lower()
    if lowered == "now":
        return now
    if lowered == "today":
        midnight = datetime.fromtimestamp(now, tz=timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        return (midnight + timedelta(days=1 if end else 0)).timestamp()
    relative = _RELATIVE.match(lowered)
    if relative:
        return now - float(relative.group(1)) * _UNITS[relative.group(2)]
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise FilterError(f"{label}: cannot read {text!r} as a time", TIME_HELP) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    if end and _DATE_ONLY.match(text):
        moment += timedelta(days=1)
    return moment.timestamp()


def build_filter(typed: FilterText, now: float) -> EntryFilter:
    """Returns the EntryFilter for the typed fields; `now` (epoch s) anchors ages like 2h.
    Raises FilterError (one line) for a field it cannot read, or a range that ends before it
    starts."""
    kinds = parse_kinds(typed.kinds)
    since = parse_time(typed.since, now, label="from")
    until = parse_time(typed.until, now, label="to", end=True)
    if since is not None and until is not None and since >= until:
        raise FilterError(f"from {typed.since.strip()!r} is not before to {typed.until.strip()!r}")
    return EntryFilter(
        kinds=kinds,
        skip_kinds=HIDDEN_BY_DEFAULT if kinds is None else (),
        symbol=typed.symbol.strip() or None,
        since=since,
        until=until,
        words=tuple(typed.search.split()),
    )


def describe_filter(where: EntryFilter) -> str:
    """Returns the filter in a few words for a title line, e.g. "fill · BTC · from 2026-01-01
    00:00 · 'stop'", or "everything but marks"."""

    def when(ts: float) -> str:
        return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")

    parts = [",".join(where.kinds)] if where.kinds is not None else []
    if where.symbol:
        parts.append(where.symbol.upper())
    if where.since is not None:
        parts.append(f"from {when(where.since)}")
    if where.until is not None:
        parts.append(f"to {when(where.until)}")
    parts += [repr(word) for word in where.words]
    if not parts:
        return "everything but " + ", ".join(where.skip_kinds) if where.skip_kinds else "everything"
    return " · ".join(parts)
