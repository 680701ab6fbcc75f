"""`cockpit backtest`: arguments, the progress bars, and what is printed and written."""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
from pathlib import Path
from typing import Callable

from cockpit.config import Config, ConfigError

DEFAULT_WORKERS = min(2, os.cpu_count() or 1)


def add_parser(commands, parents: list[argparse.ArgumentParser]) -> None:
    """Adds `backtest` to the subcommands."""
    from cockpit.backtest.runner import STRATEGIES

    backtest = commands.add_parser(
        "backtest", parents=parents,
        help="drive the real engine over history: the strategies side by side, and the claims table",
    )
    backtest.add_argument("--data", action="append", required=True, metavar="FILE",
                          help="Binance kline CSV (.csv or .csv.gz) named like BTCUSDT_4h.csv.gz; repeat per asset")
    backtest.add_argument("--funding", action="append", default=[], metavar="FILE",
                          help="funding CSV named like BTCUSDT_funding_8h.csv.gz; without any, no funding is charged")
    backtest.add_argument("--from", dest="start", metavar="DATE", help="first bar (UTC, e.g. 2020-01-01)")
    backtest.add_argument("--to", dest="end", metavar="DATE", help="end (UTC, exclusive)")
    backtest.add_argument("--json", dest="json_out", type=Path, metavar="OUT", help="also write the results as JSON")
    backtest.add_argument("--plot", action="store_true", help="add equity and drawdown charts")
    compared = [name for name in STRATEGIES if name != "sma_cross"]
    backtest.add_argument("--strategies", default=",".join(compared), metavar="A,B",
                          help=f"which to run (default: {', '.join(compared)}; also sma_cross, a 20/50-bar moving-average cross)")
    backtest.add_argument("--delay-bars", type=int, default=1, metavar="N",
                          help="bars between a proposal and the scripted approval (default 1)")
    backtest.add_argument("--veto", type=float, default=0.0, metavar="P",
                          help="probability the scripted trader vetoes a proposal (default 0)")
    backtest.add_argument("--seed", type=int, default=7, help="seed of the vetoes and the latency (default 7)")
    backtest.add_argument("--sweep", action="append", default=[], metavar="KEY=V1,V2",
                          help="run the cockpit strategy over a grid, e.g. portfolio.target_leverage=1,2,3 (repeatable)")
    backtest.add_argument("--workers", type=int, default=DEFAULT_WORKERS, metavar="N",
                          help=f"processes running strategies at once (default {DEFAULT_WORKERS})")
    backtest.add_argument("--ray", action="store_true", help="run the strategies as Ray tasks (pip install 'cockpit[ray]')")
    backtest.add_argument("--journal-dir", metavar="DIR", help="where each run's journal goes (default: a new temp folder)")


def _progress_bars() -> tuple[Callable[[str, int, int], None], Callable[[], None]]:
    """Returns (update, stop) for rich progress bars on stderr, one per strategy."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bars = Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=False)
    tasks: dict[str, int] = {}
    bars.start()

    def update(name: str, done: int, total: int) -> None:
        if name not in tasks:
            tasks[name] = bars.add_task(name, total=total)
        bars.update(tasks[name], completed=done, total=total)

    return update, bars.stop


def run(args: argparse.Namespace, config: Config, fail: Callable[[str], int]) -> int:
    """Runs `cockpit backtest`; returns the exit status."""
    from cockpit.backtest.market import HistoryError
    from cockpit.backtest.report import claims_table, json_document, plot, strategy_table
    from cockpit.backtest.study import StudyRequest, parse_sweep, run_study, run_sweep

    if args.workers < 1:
        return fail("--workers: expected 1 or more")
    if args.delay_bars < 0:
        return fail("--delay-bars: expected 0 or more")
    if not 0.0 <= args.veto <= 1.0 or math.isnan(args.veto):
        return fail("--veto: expected a probability between 0 and 1")
    strategies = tuple(s.strip() for s in args.strategies.split(",") if s.strip())
    request = StudyRequest(tuple(args.data), tuple(args.funding), args.start, args.end, config, strategies,
                           args.delay_bars, args.veto, seed=args.seed, workers=args.workers,
                           journal_dir=args.journal_dir, use_ray=args.ray)
    try:
        grid = parse_sweep(args.sweep, config) if args.sweep else None
    except ConfigError as error:
        return fail(str(error))
    update, stop = _progress_bars() if sys.stderr.isatty() else (None, lambda: None)
    try:
        if grid is not None:
            results, claims, meta = run_sweep(request, grid, progress=update), [], {"sweep": args.sweep}
        else:
            study = run_study(request, progress=update)
            results, claims = study.results, study.claims
            meta = {"journals": study.journal_dir, "bars": int(study.history.times.size)}
    except (HistoryError, ValueError) as error:
        return fail(str(error))
    except ImportError as error:
        return fail(f"{error}: --ray needs `pip install 'cockpit[ray]'`")
    finally:
        stop()
    meta.update(data=[Path(d).name for d in args.data], funding=[Path(f).name for f in args.funding],
                start=args.start, end=args.end, delay_bars=args.delay_bars, veto=args.veto, seed=args.seed)
    width = shutil.get_terminal_size((200, 24)).columns if sys.stdout.isatty() else None
    print(strategy_table(results, width))
    if claims:
        print()
        print(claims_table(claims, width))
    if args.plot:
        print()
        print(plot(results))
    if "journals" in meta:
        print(f"\njournals: {meta['journals']}")
    if args.json_out:
        args.json_out.write_text(json.dumps(json_document(results, claims, meta), indent=2) + "\n", encoding="utf-8")
    return 0
