"""One `cockpit backtest`: the strategies side by side on the same data, the crash runs, the
claims, or a sweep of one strategy over a grid of config values."""

from __future__ import annotations

import itertools
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from cockpit.backtest.claims import CRASHES, Claim, crash_claim, drawdown_claim, interval_claim, kelly_claim, volatile_weeks
from cockpit.backtest.market import History, HistoryError, load_history
from cockpit.backtest.pool import Progress, run_many
from cockpit.backtest.runner import STRATEGIES, StrategyResult, StrategySpec
from cockpit.config import Config, ConfigError


@dataclass(frozen=True)
class StudyRequest:
    """What to backtest and how; see `cockpit backtest --help`."""

    data: tuple[str, ...]
    funding: tuple[str, ...] = ()
    start: str | None = None
    end: str | None = None
    config: Config = field(default_factory=Config)
    strategies: tuple[str, ...] = tuple(name for name in STRATEGIES if name != "sma_cross")
    delay_bars: int = 1
    veto_probability: float = 0.0
    resume_after_hours: float = 24.0
    seed: int = 7
    workers: int = 1
    journal_dir: str | None = None
    use_ray: bool = False


@dataclass
class Study:
    """The results of a study: strategies in request order, the crash runs and the claims."""

    results: list[StrategyResult]
    crash_runs: dict[str, dict[str, StrategyResult]]
    claims: list[Claim]
    journal_dir: str
    history: History


def _spec(request: StudyRequest, name: str, journal_dir: Path, **changes: Any) -> StrategySpec:
    label = changes.pop("label", "")
    return StrategySpec(
        name, request.data, request.funding, changes.pop("start", request.start), changes.pop("end", request.end),
        request.config.model_dump(), changes.pop("overrides", {}), str(journal_dir / f"{label or name}.sqlite"),
        request.delay_bars, request.veto_probability, request.resume_after_hours, request.seed, label,
    )


def crash_windows(history: History) -> list[tuple[str, str, str]]:
    """Returns the crash months of the claims that lie wholly inside the history."""
    first, last = history.times[0], history.times[-1]
    return [(name, start, end) for name, start, end in CRASHES
            if pd.Timestamp(start, tz="UTC").timestamp() >= first and pd.Timestamp(end, tz="UTC").timestamp() <= last]


def check_dates(start: str | None, end: str | None) -> None:
    """Raises HistoryError (one line) when --from or --to is not a date, or --from is not before --to."""
    stamps = []
    for flag, value in (("--from", start), ("--to", end)):
        if value is None:
            continue
        try:
            stamps.append(pd.Timestamp(value))
        except (ValueError, TypeError):
            raise HistoryError(f"{flag} {value!r}: expected a date like 2020-03-01") from None
    if len(stamps) == 2 and stamps[0] >= stamps[1]:
        raise HistoryError(f"--from {start} is not before --to {end}")


def run_study(request: StudyRequest, progress: Progress | None = None) -> Study:
    """Runs every requested strategy on the same data, and the crash runs the claims need."""
    check_dates(request.start, request.end)
    unknown = [name for name in request.strategies if name not in STRATEGIES]
    if unknown:
        raise HistoryError(f"unknown strategy {unknown[0]!r}: one of {', '.join(STRATEGIES)}")
    history = load_history(request.data, request.funding, start=request.start, end=request.end,
                           base_funding_rate=request.config.paper.funding_rate)
    folder = Path(request.journal_dir) if request.journal_dir else Path(tempfile.mkdtemp(prefix="cockpit-backtest-"))
    folder.mkdir(parents=True, exist_ok=True)
    specs = [_spec(request, name, folder) for name in request.strategies]
    crashes = crash_windows(history)
    crash_specs = [_spec(request, name, folder, label=f"{name} {crash}", start=start, end=end)
                   for crash, start, end in crashes for name in ("static_3x", "static_10x")]
    results = run_many(specs + crash_specs, workers=request.workers, progress=progress, use_ray=request.use_ray)
    main, extra = results[: len(specs)], results[len(specs):]
    crash_runs: dict[str, dict[str, StrategyResult]] = {}
    for (crash, _, _), pair in zip(crashes, zip(extra[::2], extra[1::2])):
        crash_runs[crash] = {"static_3x": pair[0], "static_10x": pair[1]}
    by_name = {result.name: result for result in main}
    weeks = volatile_weeks(history.times, [history.close[s] for s in history.symbols])
    claims = [drawdown_claim(by_name), crash_claim(crash_runs), interval_claim(by_name, weeks), kelly_claim(by_name)]
    return Study(main, crash_runs, claims, str(folder), history)


def parse_sweep(items: Sequence[str], config: Config) -> list[dict[str, dict[str, Any]]]:
    """Returns the grid of config overrides for `--sweep section.key=v1,v2 ...` (every
    combination). Raises ConfigError (one line) for a malformed item, an unknown key or a value
    the config refuses."""
    axes = []
    for item in items:
        key, sep, values = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not values.strip():
            raise ConfigError(f"--sweep {item!r}: expected section.key=v1,v2 (e.g. portfolio.target_leverage=1,2,3)")
        axes.append([(section, name, value.strip()) for value in values.split(",") if value.strip()])
    grid = []
    for point in itertools.product(*axes):
        overrides: dict[str, dict[str, Any]] = {}
        for section, name, value in point:
            overrides.setdefault(section, {})[name] = _value(value)
        _validate(config, overrides)
        grid.append(overrides)
    return grid


def _value(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _validate(config: Config, overrides: dict[str, dict[str, Any]]) -> None:
    from cockpit.backtest.runner import merge
    from cockpit.config import load_config

    try:
        load_config(None, environ={}, overrides=merge(config.model_dump(), overrides))
    except ConfigError as error:
        raise ConfigError(f"--sweep: {error}") from None


def sweep_label(overrides: dict[str, dict[str, Any]]) -> str:
    """Returns "section.key=value ..." for one grid point."""
    return " ".join(f"{section}.{name}={value}" for section, values in overrides.items() for name, value in values.items())


def run_sweep(request: StudyRequest, grid: Sequence[dict[str, dict[str, Any]]], strategy: str = "cockpit",
              progress: Progress | None = None) -> list[StrategyResult]:
    """Runs `strategy` once per grid point on the same data; returns the results in grid order."""
    check_dates(request.start, request.end)
    load_history(request.data, request.funding, start=request.start, end=request.end)  # bad files fail here, once
    folder = Path(request.journal_dir) if request.journal_dir else Path(tempfile.mkdtemp(prefix="cockpit-sweep-"))
    folder.mkdir(parents=True, exist_ok=True)
    specs = [_spec(request, strategy, folder, label=f"sweep-{k}", overrides=point) for k, point in enumerate(grid)]
    results = run_many(specs, workers=request.workers, progress=progress, use_ray=request.use_ray)
    for result, point in zip(results, grid):
        result.name = sweep_label(point)
    return results
