"""What the fuzz drill (test_fuzz_inputs.py) generates and how it judges an answer.

Config documents, kline CSVs and their corruptions are hypothesis strategies built so that every
case is bad by construction (no case relies on the product to say whether it was bad). The
judges check what the trader sees: one line on stderr starting `cockpit: `, naming the file or
the key, no traceback, no bare exception class name, and a journal left byte for byte as it was.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import re
import sqlite3
import tomllib
import typing
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import annotated_types
from hypothesis import strategies as st

from cockpit.config import Config

# ---- the tally ---------------------------------------------------------------------------------

CASES: Counter[str] = Counter()  # family -> cases run in this session


def count(family: str) -> None:
    """Counts one generated case of `family` (reported at the end of the drill)."""
    CASES[family] += 1


# ---- what the trader sees ------------------------------------------------------------------------

# The CLI's last resort prints `cockpit: KeyError: ...`: no traceback, but not a clear message either.
BARE_EXCEPTION = re.compile(r"(^|[\s:(])[A-Z][A-Za-z]*(Error|Exception|Warning)\b:")


def one_clear_line(stderr: str, stdout: str = "") -> str:
    """Returns the single error line; fails unless stderr is exactly one `cockpit: ...` line with no
    traceback and no bare exception class anywhere in the output."""
    assert "Traceback" not in stderr + stdout, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {stderr[:2000]!r}"
    line = lines[0]
    assert line.startswith("cockpit: "), line
    assert not BARE_EXCEPTION.search(line), f"a bare exception class, not a message: {line}"
    return line


@dataclass(frozen=True)
class Fingerprint:
    """A file's bytes, modification time and journal row count (or that it does not exist)."""

    exists: bool
    digest: str = ""
    mtime_ns: int = 0
    rows: int = -1
    siblings: tuple[str, ...] = ()

    @classmethod
    def of(cls, path: Path) -> "Fingerprint":
        """Returns the fingerprint of `path` now, read without touching it (SQLite immutable mode)."""
        siblings = tuple(sorted(p.name for p in path.parent.glob(path.name + "*")))
        if not path.exists():
            return cls(False, siblings=siblings)
        data = path.read_bytes()
        rows = -1
        uri = f"file:{path}?mode=ro&immutable=1"
        with sqlite3.connect(uri, uri=True) as db:
            rows = db.execute("SELECT count(*) FROM entries").fetchone()[0]
        return cls(True, hashlib.sha256(data).hexdigest(), path.stat().st_mtime_ns, rows, siblings)


# ---- TOML ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """A TOML value written as is (a date, a corrupt token)."""

    text: str


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else toml_value(key)


def toml_value(value: Any) -> str:
    """Returns `value` as a TOML value (inline tables for mappings)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        out = []
        for ch in value:
            if ch in '"\\':
                out.append("\\" + ch)
            elif ord(ch) < 0x20 or ord(ch) == 0x7F:
                out.append(f"\\u{ord(ch):04X}")
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {value!r}")


def toml_document(sections: dict[str, dict[str, Any]], top: dict[str, Any] | None = None) -> str:
    """Returns a TOML document: `top` keys first, then one [section] table each."""
    lines = [f"{toml_key(k)} = {toml_value(v)}" for k, v in (top or {}).items()]
    for name, table in sections.items():
        lines.append(f"[{toml_key(name)}]")
        lines.extend(f"{toml_key(k)} = {toml_value(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"


def parses(data: bytes) -> bool:
    """Returns True when `data` is a TOML document (the oracle for the syntax family only)."""
    try:
        tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return False
    return True


# ---- the config model, read once -----------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One key of the config: its section, name, Python type and numeric bounds."""

    section: str
    key: str
    kind: str  # float, int, bool, str, literal, weights
    choices: tuple[str, ...] = ()
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"

    @property
    def bounded(self) -> bool:
        return any(v is not None for v in (self.gt, self.ge, self.lt, self.le))


def settings_of_config() -> list[Setting]:
    """Returns every key of cockpit.config.Config with what it accepts."""
    out = []
    for section, section_field in Config.model_fields.items():
        for key, info in section_field.annotation.model_fields.items():  # type: ignore[union-attr]
            annotation = info.annotation
            bounds: dict[str, float] = {}
            for meta in info.metadata:
                for name in ("gt", "ge", "lt", "le"):
                    if isinstance(meta, getattr(annotated_types, name.capitalize())):
                        bounds[name] = getattr(meta, name)
            if typing.get_origin(annotation) is typing.Literal:
                out.append(Setting(section, key, "literal", choices=typing.get_args(annotation)))
            elif typing.get_origin(annotation) is dict:
                out.append(Setting(section, key, "weights"))
            else:
                kind = {float: "float", int: "int", bool: "bool", str: "str"}[annotation]
                out.append(Setting(section, key, kind, **bounds))
    return out


SETTINGS = settings_of_config()
SECTIONS = tuple(Config.model_fields)
# Written by the command line's --journal, which wins over the file: not a bad value there.
OVERRIDDEN = {"journal.path"}
# Text settings that take any text: only a wrong type is wrong for them.
FREE_TEXT = {"journal.path", "exchange.api_url", "market.exchange", "hedge.asset", "exchange.id", "ui.theme"}


# ---- strategies: bad config documents -------------------------------------------------------------

identifiers = st.from_regex(r"[a-z][a-z0-9_]{0,14}", fullmatch=True)
printable = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)
dates = st.sampled_from([Raw("1979-05-27"), Raw("1979-05-27T07:32:00Z"), Raw("07:32:00"), Raw("1979-05-27 00:32:00.999999")])
tables = st.dictionaries(identifiers, st.integers() | printable, min_size=0, max_size=3)
arrays = st.lists(st.integers(-5, 5) | printable, max_size=3)


def wrong_type(setting: Setting) -> st.SearchStrategy[Any]:
    """Values of a type the setting never accepts (strict model: no coercion)."""
    text = printable | st.sampled_from(["1.5", "true", "2x", ""])
    finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
    whole_ints = st.integers(-(2**63), 2**63 - 1)
    if setting.kind == "float":
        return text | st.booleans() | arrays | tables | dates
    if setting.kind == "int":
        return finite.filter(lambda f: not f.is_integer()) | text | st.booleans() | arrays | tables | dates
    if setting.kind == "bool":
        return whole_ints | finite | text | arrays | tables | dates
    if setting.kind in ("str", "literal"):
        return whole_ints | finite | st.booleans() | arrays | tables | dates
    assert setting.kind == "weights"
    return whole_ints | finite | text | st.booleans() | arrays | dates


def out_of_range(setting: Setting) -> st.SearchStrategy[Any]:
    """Values of the right type outside the setting's bounds (and never finite-only violations
    for an unbounded float: inf and nan are refused everywhere)."""
    options: list[st.SearchStrategy[Any]] = []
    big = 1e300
    if setting.kind == "float":
        options.append(st.sampled_from([math.inf, -math.inf, math.nan]))
        if setting.gt is not None:
            options.append(st.floats(-big, setting.gt, allow_nan=False))
        if setting.ge is not None:
            options.append(st.floats(-big, setting.ge, exclude_max=True, allow_nan=False))
        if setting.lt is not None:
            options.append(st.floats(setting.lt, big, allow_nan=False))
        if setting.le is not None:
            options.append(st.floats(setting.le, big, exclude_min=True, allow_nan=False))
    elif setting.kind == "int":
        if setting.gt is not None:
            options.append(st.integers(max_value=int(setting.gt)))
        if setting.ge is not None:
            options.append(st.integers(max_value=int(setting.ge) - 1))
        if setting.lt is not None:
            options.append(st.integers(min_value=int(setting.lt)))
        if setting.le is not None:
            options.append(st.integers(min_value=int(setting.le) + 1))
    elif setting.kind == "literal":
        options.append(printable.filter(lambda s: s not in setting.choices))
    assert options, setting
    return st.one_of(options)


RANGED = [s for s in SETTINGS if s.kind == "literal" or (s.kind in ("float", "int") and (s.bounded or s.kind == "float"))]
TYPED = [s for s in SETTINGS if s.name not in OVERRIDDEN]

# Settings whose check spans several keys, each bad by construction, with the key the refusal names.
CROSS_FIELD: list[tuple[dict[str, dict[str, Any]], str]] = [
    ({"portfolio": {"targets": {"BTC": 0.7, "ETH": 0.6}}}, "portfolio.targets"),
    ({"portfolio": {"targets": {"btc": 0.5}}}, "portfolio.targets"),
    ({"portfolio": {"targets": {"BTC/USDT": 0.5}}}, "portfolio.targets"),
    ({"portfolio": {"targets": {"BTC": 1.5}}}, "portfolio.targets"),
    ({"portfolio": {"leverage_ceiling": 5.0}}, "portfolio.leverage_ceiling"),
    ({"portfolio": {"target_leverage": 5.0}}, "portfolio.target_leverage"),
    ({"sizing": {"kelly_win_probability": 0.55}}, "kelly_win_probability"),
    ({"sizing": {"kelly_win_loss_ratio": 1.5}}, "kelly_win_probability"),
    ({"reserve": {"band_low": 0.5, "band_high": 0.4}}, "reserve.band_low"),
    ({"hedge": {"asset": "BTC"}}, "hedge.asset"),
    ({"hedge": {"asset": "btc"}}, "hedge.asset"),
    ({"exchange": {"dead_man_seconds": 5.0}}, "exchange.dead_man_seconds"),
    ({"exchange": {"api_url": "ftp://127.0.0.1"}}, "exchange.api_url"),
    ({"exchange": {"id": "kraken"}}, "exchange.id"),
    ({"limits": {"max_asset_exposure": 0.5}}, "limits.max_asset_exposure"),
    ({"ui": {"theme": "solarized"}}, "ui.theme"),
    ({"exchange": {"api_key": "abcdef0123456789"}}, "[exchange] api_key"),
    ({"market": {"secret": "abcdef0123456789"}}, "[market] secret"),
]


def valid_background() -> st.SearchStrategy[dict[str, dict[str, Any]]]:
    """A few valid settings to bury the bad one in (the defaults of some sections)."""
    defaults = Config().model_dump(mode="json")
    safe = [s for s in defaults if s not in ("journal", "exchange")]
    return st.lists(st.sampled_from(safe), unique=True, max_size=4).map(lambda names: {n: dict(defaults[n]) for n in names})


@dataclass(frozen=True)
class BadConfig:
    """One bad config file: its bytes, its family, and what the refusal must name."""

    family: str
    data: bytes
    names: tuple[str, ...]  # any one of these in the message (empty: a syntax error)


CONFIG_FAMILIES = ("wrong type", "out of range", "unknown key", "cross-field", "not TOML")


@st.composite
def bad_configs(draw: st.DrawFn, family: str | None = None) -> BadConfig:
    """Returns a config file that is wrong by construction, of `family` (default: any)."""
    family = family or draw(st.sampled_from(CONFIG_FAMILIES))
    document = draw(valid_background())
    if family == "wrong type":
        setting = draw(st.sampled_from(TYPED))
        document.setdefault(setting.section, {})[setting.key] = draw(wrong_type(setting))
        return BadConfig(family, toml_document(document).encode(), (setting.name,))
    if family == "out of range":
        setting = draw(st.sampled_from(RANGED))
        document.setdefault(setting.section, {})[setting.key] = draw(out_of_range(setting))
        names = (setting.name,)
        if setting.name == "portfolio.leverage_ceiling" and draw(st.booleans()):
            document["portfolio"]["allow_ceiling_above_3x"] = True
        if setting.section == "portfolio":  # the section's own check may name its neighbour first
            names += ("portfolio.target_leverage", "portfolio.leverage_ceiling", "portfolio.drift_band")
        if setting.name in ("limits.max_asset_exposure", "portfolio.target_leverage"):
            names += ("limits.max_asset_exposure",)
        return BadConfig(family, toml_document(document).encode(), names)
    if family == "unknown key":
        where = draw(st.sampled_from(["in a section", "a section", "at the top", "in a nested table"]))
        key = draw(identifiers)
        if where == "in a section":
            section = draw(st.sampled_from(SECTIONS))
            known = {s.key for s in SETTINGS if s.section == section}
            key = draw(identifiers.filter(lambda k: k not in known))
            document.setdefault(section, {})[key] = draw(st.integers() | printable)
            return BadConfig(family, toml_document(document).encode(), (f"{section}.{key}", f"[{section}] {key}"))
        if where == "a section":
            key = draw(identifiers.filter(lambda k: k not in SECTIONS))
            document[key] = draw(tables)
            names = (key,) + tuple(f"[{key}] {inner}" for inner in document[key])
            return BadConfig(family, toml_document(document).encode(), names)
        if where == "at the top":
            key = draw(identifiers.filter(lambda k: k not in SECTIONS))
            value = draw(st.integers() | printable | st.booleans())
            return BadConfig(family, toml_document(document, {key: value}).encode(), (key,))
        section = draw(st.sampled_from([s for s in SECTIONS if s != "portfolio"]))
        document.setdefault(section, {})[key] = draw(tables.filter(bool))
        names = (f"{section}.{key}", section) + tuple(f"[{section}.{key}] {inner}" for inner in document[section][key])
        return BadConfig(family, toml_document(document).encode(), names)
    if family == "cross-field":
        sections, name = draw(st.sampled_from(CROSS_FIELD))
        for section, table in sections.items():
            document.setdefault(section, {}).update(table)
        if "exchange" in sections and "id" not in sections["exchange"]:
            document["exchange"].pop("id", None)
        return BadConfig(family, toml_document(document).encode(), (name,))
    return BadConfig(family, draw(not_toml(toml_document(document))), ())


@st.composite
def not_toml(draw: st.DrawFn, valid: str) -> bytes:
    """Returns bytes that are not a TOML document: a valid one broken, or garbage."""
    how = draw(st.sampled_from(["unclosed table", "no value", "unclosed string", "duplicate key", "bad escape",
                                "not utf-8", "nul byte", "nested too deeply", "garbage", "splice"]))
    if how == "unclosed table":
        data = valid + f"[{draw(identifiers)}\n"
    elif how == "no value":
        data = valid + f"{draw(identifiers)} =\n"
    elif how == "unclosed string":
        data = valid + f'[ui]\ntheme = "{draw(identifiers)}\n'
    elif how == "duplicate key":
        key = draw(identifiers)
        data = valid + f"[x{key}]\n{key} = 1\n{key} = 2\n"
    elif how == "bad escape":
        data = valid + '[ui]\ntheme = "a\\qb"\n'
    elif how == "not utf-8":
        cut = draw(st.integers(0, len(valid)))
        return valid[:cut].encode() + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xfe\xff"])) + valid[cut:].encode()
    elif how == "nul byte":
        cut = draw(st.integers(0, len(valid)))
        data = valid[:cut] + "\x00" + valid[cut:]
    elif how == "nested too deeply":
        depth = draw(st.integers(1500, 4000))
        opener, closer = draw(st.sampled_from([("[", "]"), ("{a = ", "}")]))
        data = valid + "deep = " + opener * depth + "1" + closer * depth + "\n"
    elif how == "garbage":
        raw = draw(st.binary(min_size=1, max_size=200))
        return raw if not parses(raw) else raw + b"\n[\n"
    else:  # a random splice of TOML punctuation into the document, kept only if it breaks it
        cut = draw(st.integers(0, len(valid)))
        data = valid[:cut] + draw(st.text(alphabet='[]{}="\'#=.,\n\\', min_size=1, max_size=6)) + valid[cut:]
        if parses(data.encode()):
            data += "\n[[\n"
    return data.encode()


def env_cases() -> st.SearchStrategy[tuple[str, str, str]]:
    """(variable, raw value, the key the refusal names) for a bad COCKPIT_* environment value."""
    numeric = [s for s in SETTINGS if s.kind in ("float", "int") and s.name not in OVERRIDDEN]

    def bad(setting: Setting) -> st.SearchStrategy[tuple[str, str, str]]:
        variable = f"COCKPIT_{setting.section.upper()}_{setting.key.upper()}"
        raw = st.sampled_from(["abc", "", "1,5", "[1, 2]", "{a = 1}", "inf", "nan", "-inf", "true", "1e999",
                               "[" * 1500, "0x", "1979-05-27"])
        if setting.bounded:
            raw = raw | out_of_range(setting).map(toml_value)
        return raw.map(lambda r: (variable, r, setting.name))

    return st.sampled_from(numeric).flatmap(bad)


# ---- kline CSVs ----------------------------------------------------------------------------------

HEADER = ["open_time_ms", "timestamp", "open", "high", "low", "close", "volume"]
PRICE_COLUMNS = ["open", "high", "low", "close"]
FOUR_HOURS_MS = 4 * 3600 * 1000
START_MS = 1_583_971_200_000  # 2020-03-12 00:00 UTC


@st.composite
def kline_rows(draw: st.DrawFn, min_rows: int = 3, max_rows: int = 40) -> list[list[str]]:
    """Returns valid Binance kline rows (strings) on a 4h grid: positive prices, low <= open,
    close <= high."""
    n = draw(st.integers(min_rows, max_rows))
    price = draw(st.floats(0.5, 100_000))
    rows = []
    for i in range(n):
        move = draw(st.floats(-0.2, 0.2))
        open_, close = price, max(price * (1 + move), 1e-6)
        high, low = max(open_, close) * 1.01, min(open_, close) * 0.99
        stamp = START_MS + i * FOUR_HOURS_MS
        iso = "2020-03-12T00:00:00Z"  # the millisecond column wins; the text is not read
        rows.append([str(stamp), iso, repr(open_), repr(high), repr(low), repr(close), "1.5"])
        price = close
    return rows


def csv_text(header: list[str], rows: list[list[str]], endings: list[str] | None = None) -> str:
    """Returns the CSV text; `endings` gives each line's ending (default \\n)."""
    lines = [",".join(header)] + [",".join(row) for row in rows]
    endings = endings or ["\n"] * len(lines)
    return "".join(line + endings[i % len(endings)] for i, line in enumerate(lines))


NOT_A_NUMBER = st.sampled_from(["abc", "", " ", "1,2", "0x10", "--1", "1.2.3", "True", "null", "N/A", "1e", "€5",
                                "١٢٣", "12abc"])
NOT_FINITE = st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "1e999", "-1e400", "NAN"])


@dataclass(frozen=True)
class BadCsv:
    """One kline file that cannot be replayed: its bytes, suffix and what was broken."""

    how: str
    data: bytes
    suffix: str = ".csv"


CSV_FAULTS = ("missing column", "not a number", "not finite", "non-positive price", "high below low", "unsorted",
              "duplicate time", "empty", "header only", "binary", "corrupt gzip", "time out of range", "ragged row",
              "not utf-8")


@st.composite
def bad_csvs(draw: st.DrawFn, how: str | None = None) -> BadCsv:
    """Returns a kline file broken by construction (valid rows, any line endings, one fault of
    kind `how`; default: any)."""
    rows = draw(kline_rows())
    header = list(HEADER)
    endings = draw(st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=1, max_size=3))
    how = how or draw(st.sampled_from(CSV_FAULTS))
    row = draw(st.integers(0, len(rows) - 1))
    if how == "missing column":
        gone = draw(st.sampled_from(PRICE_COLUMNS + ["times"]))
        drop = [header.index("open_time_ms"), header.index("timestamp")] if gone == "times" else [header.index(gone)]
        keep = [i for i in range(len(header)) if i not in drop]
        header, rows = [header[i] for i in keep], [[r[i] for i in keep] for r in rows]
    elif how == "not a number":
        column = draw(st.sampled_from(PRICE_COLUMNS + ["open_time_ms"]))
        value = draw(NOT_A_NUMBER)
        rows[row][header.index(column)] = f'"{value}"' if "," in value else value
    elif how == "not finite":
        rows[row][header.index(draw(st.sampled_from(PRICE_COLUMNS)))] = draw(NOT_FINITE)
    elif how == "non-positive price":
        rows[row][header.index(draw(st.sampled_from(PRICE_COLUMNS)))] = draw(st.sampled_from(["0", "-0", "-1", "-1e-9", "0.0"]))
    elif how == "high below low":
        high, low = header.index("high"), header.index("low")
        rows[row][high], rows[row][low] = rows[row][low], str(float(rows[row][high]) * 2 + 1)
    elif how == "unsorted":
        other = draw(st.integers(0, len(rows) - 1).filter(lambda k: k != row))
        rows[row][0], rows[other][0] = rows[other][0], rows[row][0]
    elif how == "duplicate time":
        other = draw(st.integers(0, len(rows) - 1).filter(lambda k: k != row))
        rows[other][0] = rows[row][0]
    elif how == "empty":
        return BadCsv(how, draw(st.sampled_from([b"", b"\n", b"\r\n\r\n", b"   "])))
    elif how == "header only":
        return BadCsv(how, csv_text(header, [], endings).encode())
    elif how == "binary":
        raw = draw(st.binary(min_size=1, max_size=300).filter(lambda b: b"open" not in b.lower()))
        return BadCsv(how, raw)
    elif how == "corrupt gzip":
        packed = gzip.compress(csv_text(header, rows, endings).encode(), mtime=0)
        if draw(st.booleans()):
            return BadCsv(how, packed[: draw(st.integers(0, len(packed) - 1))], ".csv.gz")
        at = draw(st.integers(10, len(packed) - 1))  # past the header's mtime and OS bytes
        flip = draw(st.integers(1, 255))
        return BadCsv(how, packed[:at] + bytes([packed[at] ^ flip]) + packed[at + 1:], ".csv.gz")
    elif how == "time out of range":
        rows[0][0] = draw(st.sampled_from(["1e300", "-1e15", "9223372036854775807", "1e20", "-62135596800000"]))
    elif how == "ragged row":
        rows[row] = rows[row] + draw(st.lists(st.just("1"), min_size=1, max_size=3))
    elif how == "not utf-8":
        text = csv_text(header, rows, endings).encode()
        return BadCsv(how, text.replace(b",", b"\xff,", 1) if row % 2 else b"\xff\xfe" + text.decode().encode("utf-16-le"))
    return BadCsv(how, csv_text(header, rows, endings).encode())


def gzipped(data: bytes) -> bytes:
    """Returns `data` gzip-compressed (mtime 0: the same bytes every run)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as handle:
        handle.write(data)
    return buffer.getvalue()
