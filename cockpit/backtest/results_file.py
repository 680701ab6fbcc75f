"""A saved `cockpit backtest --json OUT` result read back for the results screen: the strategy
figures, the claims, the run's settings and (from files that carry them) the equity curves.

Everything is checked on the way in, so a screen never meets a half-valid document: a file that
is missing, not JSON, or not a backtest result is refused with one line.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

# A saved result is a few hundred kB at most (report.CURVE_POINTS per strategy); anything far
# bigger is some other file, and reading it whole would stall the screen.
MAX_BYTES = 64 * 1024 * 1024
WRITE_ONE = "write one with cockpit backtest --json OUT"


class ResultsFileError(ValueError):
    """One line: which file, and why it cannot be shown."""


@dataclass(frozen=True)
class Curve:
    """One strategy's equity over time: epoch seconds, USDT, and the fraction below the running
    peak (0.25 = 25% down). Values JSON could not hold (null) are NaN."""

    time: tuple[float, ...]
    equity: tuple[float, ...]
    drawdown: tuple[float, ...]


@dataclass(frozen=True)
class SavedStrategy:
    """One row of the strategy table: its figures by JSON key (None where the run had no
    value), and its curve when the file has one."""

    name: str
    figures: Mapping[str, float | None]
    curve: Curve | None = None


@dataclass(frozen=True)
class SavedClaim:
    """One row of the claims table."""

    claim: str
    measured: str
    verdict: str


@dataclass(frozen=True)
class SavedResults:
    """A backtest result file, checked."""

    path: Path
    strategies: tuple[SavedStrategy, ...]
    claims: tuple[SavedClaim, ...]
    run: Mapping[str, Any] = field(default_factory=dict)

    @property
    def has_curves(self) -> bool:
        """Returns True when at least one strategy has an equity curve to chart."""
        return any(strategy.curve is not None for strategy in self.strategies)

    def describe_run(self) -> str:
        """Returns the run in one line: data files, dates, bars, or the sweep."""
        run = self.run
        parts = []
        data = run.get("data")
        if isinstance(data, list) and data:
            parts.append(", ".join(str(name).split(".")[0] for name in data))
        if run.get("start") or run.get("end"):
            parts.append(f"{run.get('start') or 'first bar'} to {run.get('end') or 'last bar'}")
        if isinstance(run.get("bars"), int):
            parts.append(f"{run['bars']:,} bars")
        if isinstance(run.get("sweep"), list):
            parts.append("sweep " + " ".join(str(s) for s in run["sweep"]))
        return " · ".join(parts) or "run settings not recorded"


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ResultsFileError(f"{where} is not a number")
    return float(value)


def _series(raw: Mapping[str, Any], key: str, where: str) -> tuple[float, ...]:
    values = raw.get(key)
    if not isinstance(values, list):
        raise ResultsFileError(f"{where}.{key} is not a list of numbers")
    out = []
    for value in values:
        number = _number(value, f"{where}.{key}")
        out.append(math.nan if number is None else number)
    return tuple(out)


def _curve(raw: Any, where: str) -> Curve:
    if not isinstance(raw, dict):
        raise ResultsFileError(f"{where} is not an object")
    time, equity, drawdown = (_series(raw, key, where) for key in ("time", "equity", "drawdown"))
    if not len(time) == len(equity) == len(drawdown):
        raise ResultsFileError(f"{where}: time, equity and drawdown differ in length")
    if any(math.isnan(t) for t in time) or any(b < a for a, b in zip(time, time[1:])):
        raise ResultsFileError(f"{where}.time does not run forward")
    return Curve(time, equity, drawdown)


def _document(path: Path) -> Any:
    if not path.exists():
        raise ResultsFileError(f"no file {path}")
    if path.is_dir():
        raise ResultsFileError(f"{path} is a folder, not a backtest result file ({WRITE_ONE})")
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ResultsFileError(f"{path} is too big to be a backtest result ({WRITE_ONE})")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ResultsFileError(f"{path} is not a text file, so not a backtest result ({WRITE_ONE})") from None
    except OSError as error:
        raise ResultsFileError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ResultsFileError(
            f"{path} is not JSON (line {error.lineno} column {error.colno}: {error.msg}); {WRITE_ONE}"
        ) from None
    except RecursionError:
        raise ResultsFileError(f"{path} is nested too deeply to be a backtest result") from None


def load_results(path: str | Path) -> SavedResults:
    """Returns the checked contents of a `cockpit backtest --json` file.

    Raises ResultsFileError, one line naming the file, when it is missing, unreadable, not JSON,
    or not a backtest result (no strategies, a figure that is not a number, a broken curve).
    """
    path = Path(path).expanduser()
    document = _document(path)
    if not isinstance(document, dict) or not isinstance(document.get("strategies"), dict):
        raise ResultsFileError(f"{path} is not a cockpit backtest result: it has no \"strategies\" ({WRITE_ONE})")
    if not document["strategies"]:
        raise ResultsFileError(f"{path} holds no strategies")
    try:
        curves = document.get("curves") or {}
        if not isinstance(curves, dict):
            raise ResultsFileError("curves is not an object")
        strategies = []
        for name, raw in document["strategies"].items():
            if not isinstance(raw, dict):
                raise ResultsFileError(f"strategies.{name} is not an object")
            figures = {key: _number(value, f"strategies.{name}.{key}") for key, value in raw.items()}
            curve = _curve(curves[name], f"curves.{name}") if name in curves else None
            strategies.append(SavedStrategy(str(name), figures, curve))
        claims = []
        raw_claims = document.get("claims", [])
        if not isinstance(raw_claims, list):
            raise ResultsFileError("claims is not a list")
        for k, raw in enumerate(raw_claims):
            if not isinstance(raw, dict) or not all(isinstance(raw.get(key), str) for key in ("claim", "measured", "verdict")):
                raise ResultsFileError(f"claims[{k}] needs the texts claim, measured and verdict")
            claims.append(SavedClaim(raw["claim"], raw["measured"], raw["verdict"]))
        run = document.get("run") if isinstance(document.get("run"), dict) else {}
    except ResultsFileError as error:
        raise ResultsFileError(f"{path}: {error}") from None
    return SavedResults(path, tuple(strategies), tuple(claims), run)
