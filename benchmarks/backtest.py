"""Benchmark: the full cockpit backtest, and the engine's throughput on a simple signal strategy
next to vectorbt.

Run from the repo root:  python -m benchmarks.backtest [--quick] [--repeat N] [--json OUT]

Data: the real Binance spot 4h klines in ../shared/data/market/binance_spot (BTCUSDT_4h.csv.gz,
ETHUSDT_4h.csv.gz; 2017-08 to 2026-03, ~18.7k bars), read where they are, never copied.

1. The full cockpit run (timed once; many minutes on the full range):
    run_strategy(StrategySpec("cockpit", (BTC_4h, ETH_4h), config=Config().model_dump(),
                              journal=<temporary file>))
   The real Engine bar by bar (cockpit/backtest/runner.py run_cockpit): ticks through
   Engine.on_tick, the model refits in this process when their schedule is due, the scripted
   approver, the journal. Timed with time.perf_counter around the whole call ("wall": CSV loading
   and config included); "loop" is the runner's own StrategyResult.seconds (the bar loop, from
   the journal's opening to its closing). bars/s = bars / wall.
   --fit-workers N (default: the usable CPUs) is StrategySpec.fit_workers: the model fits run in
   a pool of N spawned processes, the assets' fits side by side, each awaited at the bar it is
   due (the run is the same as in process: tests/backtest). 1 runs them in this process.
   Model fits: nothing in the product is wrapped or patched. After the run the journal is read
   back: each volatility fit is a "model" row with payload event "fit" whose text says
   "... on N bars in 0.3s ...", the fit's own wall time (cockpit/models/live_fit.py), rounded to
   0.1 s; their sum is "fit s". With --fit-workers 1 the fits run one at a time in this process,
   so the times add up and their share of wall is reported; with a pool they overlap and only
   the sum (CPU work) is. Not in it: the regime classifier fits (their rows carry no time), the
   first refit's import of arch, scikit-learn and scipy, and installing each fit into the engine.
   --quick runs this part on 2020-01-01 to 2020-07-01 only (for trying the script out).

2. Engine throughput on a simple signal strategy, against vectorbt (full BTC 4h file either way):
   ours      run_strategy(StrategySpec("sma_cross", (BTC_4h,), config=Config().model_dump())):
             run_signal, a 20/50-bar moving-average cross (sma_signal), all in at 1x long while
             fast > slow, flat otherwise, on the BacktestVenue (fees, slippage, a random 50-500 ms
             latency cost per order, step-size rounding, intrabar liquidation checks). Timed:
             StrategyResult.seconds (from the closes in memory to the equity curve: the signal,
             the venue and the bar loop); the CSV load is timed once separately.
   vectorbt  the same signal from sma_signal on the same closes; entries on the bars where it
             turns True, exits where it turns False; vbt.Portfolio.from_signals(close, entries,
             exits, init_cash=<account.starting_balance>, fees=<paper.taker_fee>,
             slippage=<paper.slippage>, direction="longonly") and its final_value(). Timed: the
             signal, entries/exits, from_signals and final_value.
   Each side runs once first (reported separately as "first run": for vectorbt that is numba
   compiling simulate_from_signals_nb, which is not cached on disk), then --repeat timed runs;
   bars/s is bars / the median. ratio = ours bars/s / vectorbt bars/s.
   The final equities should be close but not equal: ours pays the latency cost on every order
   and rounds sizes down to the step size; vectorbt fills at close x (1 +/- slippage) exactly.

Timing: time.perf_counter. Machine info (python, numpy, pandas, vectorbt, numba, cpu count) goes
into the JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cockpit.backtest.market import load_history
from cockpit.backtest.runner import STRATEGIES, StrategySpec, run_strategy, sma_signal
from cockpit.config import Config
from cockpit.journal.store import Journal

DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared/data/market/binance_spot"
BTC_4H = DATA_DIR / "BTCUSDT_4h.csv.gz"
ETH_4H = DATA_DIR / "ETHUSDT_4h.csv.gz"
QUICK_RANGE = ("2020-01-01", "2020-07-01")
DEFAULT_REPEAT = 5
NO_VECTORBT = "vectorbt not installed (pip install 'cockpit[bench]')"
FIT_TEXT = re.compile(r" refit (?P<what>.+?) on (?P<bars>\d+) bars in (?P<seconds>[0-9.]+)s")


def _progress(every: float = 0.1):
    """Returns a run_strategy progress callback printing to stderr at each `every` of the bars."""
    started, shown = time.perf_counter(), [0.0]

    def report(name: str, done: int, total: int) -> None:
        if done / total >= shown[0] + every or done == total:
            shown[0] = done / total
            print(f"  {name}: {done:,}/{total:,} bars, {time.perf_counter() - started:,.0f} s",
                  file=sys.stderr, flush=True)

    return report


# ---------------------------------------------------------------- 1. the full cockpit run

async def _model_rows(path: Path) -> list[dict]:
    journal = await Journal.open(path)
    try:
        return [row.payload for row in await journal.entries(kinds=["model"])]
    finally:
        await journal.close()


def fit_figures(path: Path) -> dict:
    """Counts the journal's model fit rows and sums the fit times their texts report."""
    volatility, regime, failed, seconds = {}, 0, 0, 0.0
    for payload in asyncio.run(_model_rows(path)):
        if payload.get("event") != "fit":
            continue
        text = str(payload.get("text", ""))
        match = FIT_TEXT.search(text)
        if match:
            volatility[match["what"]] = volatility.get(match["what"], 0) + 1
            seconds += float(match["seconds"])
        elif " regime " in text and "failed" not in text:
            regime += 1
        else:
            failed += 1
    return {"volatility_fits": sum(volatility.values()), "volatility_fits_by_kind": volatility,
            "regime_fits_untimed": regime, "failed_fit_rows": failed, "fit_seconds": seconds}


def measure_cockpit(quick: bool, fit_workers: int) -> dict:
    start, end = QUICK_RANGE if quick else (None, None)
    with tempfile.TemporaryDirectory(prefix="cockpit-bench-") as folder:
        journal = Path(folder) / "cockpit.sqlite"
        spec = StrategySpec("cockpit", (str(BTC_4H), str(ETH_4H)), start=start, end=end,
                            config=Config().model_dump(), journal=str(journal), fit_workers=fit_workers)
        t0 = time.perf_counter()
        result = run_strategy(spec, progress=_progress())
        wall = time.perf_counter() - t0
        fits = fit_figures(journal)
    return {
        "range": [start, end] if quick else "full",
        "first_bar": datetime.datetime.fromtimestamp(float(result.times[0]), datetime.timezone.utc).isoformat(),
        "last_bar": datetime.datetime.fromtimestamp(float(result.times[-1]), datetime.timezone.utc).isoformat(),
        "fit_workers": fit_workers,
        "bars": result.bars, "wall_seconds": wall, "loop_seconds": result.seconds,
        "bars_per_second": result.bars / wall, "final_equity": float(result.equity[-1]),
        "proposals": result.proposals, "approvals": result.approvals, "fills": result.ledger.fills,
        "fees": result.ledger.fees, "liquidations": result.ledger.liquidations,
        **fits,
        # With a pool the fits' times overlap, so their sum is CPU work, not a share of the wall.
        "fit_share_of_wall": fits["fit_seconds"] / wall if fit_workers == 1 else None,
        "non_fit_bars_per_second": result.bars / max(wall - fits["fit_seconds"], 1e-9) if fit_workers == 1 else None,
    }


# ---------------------------------------------------------------- 2. sma_cross against vectorbt

def _runs(first: float, seconds: list[float], bars: int) -> dict:
    median = statistics.median(seconds)
    return {"first_run_seconds": first, "first_run_bars_per_second": bars / first,
            "runs": len(seconds), "seconds": seconds, "median_seconds": median,
            "bars_per_second": bars / median}


def measure_ours(repeat: int) -> dict:
    spec = StrategySpec("sma_cross", (str(BTC_4H),), config=Config().model_dump())
    results = [run_strategy(spec) for _ in range(repeat + 1)]
    bars = results[0].bars
    finals = {float(r.equity[-1]) for r in results}
    assert len(finals) == 1, f"sma_cross is seeded, yet its final equity varied: {finals}"
    return {"bars": bars, **_runs(results[0].seconds, [r.seconds for r in results[1:]], bars),
            "final_equity": finals.pop(), "fills": results[0].ledger.fills, "fees": results[0].ledger.fees}


def measure_vectorbt(repeat: int, config: Config) -> dict:
    t0 = time.perf_counter()
    try:
        import vectorbt as vbt
    except ImportError:
        return {"installed": False, "note": NO_VECTORBT}
    imported = time.perf_counter() - t0
    import pandas as pd

    history = load_history([BTC_4H], base_funding_rate=config.paper.funding_rate)
    symbol = history.symbols[0]
    closes = history.close[symbol]
    first = int(np.flatnonzero(np.isfinite(closes))[0])
    closes = closes[first:]
    close = pd.Series(closes, index=pd.to_datetime(history.times[first:], unit="s", utc=True), name=symbol)
    fast, slow = STRATEGIES["sma_cross"]["signal"]
    paper = config.paper

    def run():
        t = time.perf_counter()
        signal = sma_signal(np.nan_to_num(closes, nan=0.0), fast, slow)
        before = np.concatenate(([False], signal[:-1]))
        entries, exits = signal & ~before, ~signal & before
        portfolio = vbt.Portfolio.from_signals(close, entries, exits, init_cash=config.account.starting_balance,
                                               fees=paper.taker_fee, slippage=paper.slippage, direction="longonly")
        final = float(portfolio.final_value())
        return time.perf_counter() - t, final, portfolio, int(entries.sum()), int(exits.sum())

    cold, final, portfolio, entries, exits = run()
    warm = [run() for _ in range(repeat)]
    assert all(w[1] == final for w in warm)
    bars = int(closes.size)
    return {"installed": True, "import_seconds": imported, "bars": bars,
            **_runs(cold, [w[0] for w in warm], bars), "final_equity": final,
            "orders": int(portfolio.orders.count()), "fees": float(portfolio.orders.records_readable["Fees"].sum()),
            "entries": entries, "exits": exits}


def measure_throughput(repeat: int) -> dict:
    config = Config()
    t0 = time.perf_counter()
    load_history([BTC_4H], base_funding_rate=config.paper.funding_rate)
    load = time.perf_counter() - t0
    ours = measure_ours(repeat)
    theirs = measure_vectorbt(repeat, config)
    out = {"csv_load_seconds": load, "ours": ours, "vectorbt": theirs}
    if theirs.get("installed"):
        out["ratio"] = ours["bars_per_second"] / theirs["bars_per_second"]
        out["final_equity_difference"] = ours["final_equity"] / theirs["final_equity"] - 1.0
    return out


# ---------------------------------------------------------------- output

def markdown(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Returns a Markdown table, first column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in (head, *rows)) for i in range(len(head))]

    def line(row):
        cells = (c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        return "| " + " | ".join(cells) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ":" if i else "-" * (w + 2) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(head), rule, *(line(row) for row in rows)])


def cockpit_table(c: dict) -> str:
    head = ("run", "fit workers", "bars", "wall s", "loop s", "bars/s", "vol fits", "fit s", "fit share",
            "bars/s w/o fits", "final equity")
    share, rest = c["fit_share_of_wall"], c["non_fit_bars_per_second"]
    row = ("cockpit " + ("(quick: " + " to ".join(c["range"]) + ")" if c["range"] != "full" else "(full)"),
           str(c["fit_workers"]), f"{c['bars']:,}", f"{c['wall_seconds']:,.1f}", f"{c['loop_seconds']:,.1f}",
           f"{c['bars_per_second']:,.1f}", f"{c['volatility_fits']:,}", f"{c['fit_seconds']:,.1f}",
           "-" if share is None else f"{share:.0%}", "-" if rest is None else f"{rest:,.1f}",
           f"{c['final_equity']:,.2f}")
    return markdown(head, [row])


def throughput_table(t: dict) -> str:
    head = ("sma_cross, BTC 4h", "bars", "median s", "bars/s (median)", "first run s", "first run bars/s",
            "final equity", "orders", "fees")
    o, v = t["ours"], t["vectorbt"]
    rows = [("cockpit run_signal", f"{o['bars']:,}", f"{o['median_seconds']:.4f}", f"{o['bars_per_second']:,.0f}",
             f"{o['first_run_seconds']:.4f}", f"{o['first_run_bars_per_second']:,.0f}", f"{o['final_equity']:,.2f}",
             f"{o['fills']:,}", f"{o['fees']:,.2f}")]
    if v.get("installed"):
        rows.append(("vectorbt from_signals", f"{v['bars']:,}", f"{v['median_seconds']:.4f}",
                     f"{v['bars_per_second']:,.0f}", f"{v['first_run_seconds']:.4f}",
                     f"{v['first_run_bars_per_second']:,.0f}", f"{v['final_equity']:,.2f}", f"{v['orders']:,}",
                     f"{v['fees']:,.2f}"))
        rows.append(("ratio ours / vectorbt", "", "", f"{t['ratio']:.2f}x", "", "",
                     f"{t['final_equity_difference']:+.2%}", "", ""))
    else:
        rows.append(("vectorbt from_signals",) + (NO_VECTORBT,) + ("",) * (len(head) - 2))
        rows.append(("ratio ours / vectorbt", NO_VECTORBT) + ("",) * (len(head) - 2))
    return markdown(head, rows)


def usable_cpus() -> int:
    """Returns the CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def machine() -> dict:
    info = {"python": sys.version.split()[0], "numpy": np.__version__, "machine": platform.platform(),
            "processor": platform.processor(), "cpu_count": os.cpu_count(),
            "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None}
    for name in ("pandas", "vectorbt", "numba"):
        module = sys.modules.get(name)
        info[name] = getattr(module, "__version__", None) if module else None
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="benchmarks/results/backtest.json")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT,
                        help=f"timed sma_cross runs per side after the first (default {DEFAULT_REPEAT})")
    parser.add_argument("--fit-workers", type=int, default=usable_cpus(),
                        help="processes for the cockpit run's model fits (default: the usable CPUs; 1 = in process)")
    parser.add_argument("--quick", action="store_true",
                        help=f"cockpit run on {QUICK_RANGE[0]} to {QUICK_RANGE[1]} only (the sma_cross part "
                             f"always uses the full BTC file)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    missing = [str(p) for p in (BTC_4H, ETH_4H) if not p.exists()]
    if missing:
        parser.error(f"market data not found: {', '.join(missing)}")
    started = time.perf_counter()
    # The cockpit run first, in a process that has not imported vectorbt (numba, llvmlite): a
    # smaller heap, as the cockpit runs on its own.
    cockpit = measure_cockpit(args.quick, max(1, args.fit_workers))
    throughput = measure_throughput(args.repeat)
    print(cockpit_table(cockpit))
    print(f"(wall = perf_counter around run_strategy, CSV load included; loop = the runner's own bar-loop time; "
          f"fit s = the volatility fits' own times summed from the journal (with fit workers > 1 they overlap: "
          f"CPU work, not part of the wall), {cockpit['regime_fits_untimed']} regime fits untimed; "
          f"bars/s w/o fits = bars / (wall - fit s), in-process fits only)")
    print()
    print(throughput_table(throughput))
    v = throughput["vectorbt"]
    import_note = f"; vectorbt import {v['import_seconds']:.1f} s" if v.get("installed") else ""
    print(f"(median of {args.repeat} runs after the first; first run = vectorbt's numba compile; "
          f"BTC CSV load {throughput['csv_load_seconds']:.2f} s, not in either{import_note}; "
          f"total {time.perf_counter() - started:.0f} s)")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **machine(), "quick": args.quick, "repeat": args.repeat,
        "data": [str(BTC_4H), str(ETH_4H)], "cockpit": cockpit, "throughput": throughput,
        "total_seconds": time.perf_counter() - started,
    }, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
