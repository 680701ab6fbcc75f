"""Benchmark: the per-update risk recompute, cockpit's RiskBook next to a plain-numpy reference.

Run from the repo root:  python -m benchmarks.risk_update [--json OUT] [--repeat N]

One *update* is one price tick for one symbol followed by the whole risk recompute, for books of
10, 100 and 1,000 positions (~10 % isolated, the rest cross; each position gets one of the real
Binance tier tables from ../shared/data/market when present, else cockpit's DEFAULT_TIERS).

cockpit (timed as "cockpit"), the product hot path:
    book.update(symbol, price)    # RiskBook (cockpit.domain.riskbook): mark-to-market, equity,
                                  # gross/net notional, effective leverage, tiered maintenance,
                                  # per-position cross/isolated liquidation price and distance,
                                  # margin ratio, drift from target weights, day return
    breaker comparisons, all evaluated: leverage_above(3.0), liquidation_within(0.10),
        margin_ratio_above(0.5), drift_breaches_band(0.05), positions_over_day_loss(0.15)
  The book is built once (RiskBook.from_state) before timing, as the engine builds it only when
  positions, wallet, instruments or targets change.

numpy reference (timed as "numpy"), the same arithmetic written plainly on preallocated arrays:
    marks[i] = price, then notional, PnL, equity, gross/net, the current bracket of every
    position (padded per-position tier tables), maintenance, cross backing (cross wallet, other
    positions' maintenance and PnL) or isolated margin, the DESIGN/Binance formula
        LP = (WB - TMM1 + UPNL1 + cum - s*q*EP) / (q*MMR - s*q)
    for *every* bracket keeping the self-consistent one, cockpit's clamping (long <= 0 -> 0,
    short <= 0 -> ulp), distance, leverage, margin ratio, drift, day return, the same breaker
    comparisons. It skips what cockpit's kernel adds for exactness: the sequential cross sums
    that make liquidation prices bit-identical to `assess`, and the nearest-bracket fallback
    (rows with no self-consistent bracket take the current one; the check below counts them).

Informational columns, not per tick, so not in the ratio:
    snapshot    book.snapshot(): the RiskSnapshot/PositionRisk objects for the screen (~4 Hz).
    assess      the old per-tick path: state.with_marks + assess + weight_drift.
    liq move    stress.account_liquidation_move(state), the common-move search; the engine
                recomputes it when positions change or at most once a second, not per tick.

Correctness check (asserted): before timing, RiskBook.snapshot() equals assess(state) field by
field (rel 1e-9) and the reference's liquidation prices equal the book's (rel 1e-9); after the
timed ticks the book again equals assess at its final marks.

Timing: time.perf_counter_ns around each single update, warm-up first, median and p90. Repeats
are capped by --repeat and by a time budget per case so the whole run stays around a minute.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from cockpit.domain.rebalance import weight_drift
from cockpit.domain.risk import assess
from cockpit.domain.riskbook import RiskBook
from cockpit.domain.stress import account_liquidation_move
from cockpit.domain.tiers import DEFAULT_TIERS, tiers_from_ccxt
from cockpit.domain.types import Balance, Instrument, Position, State

SIZES = (10, 100, 1_000)
TARGET_LEVERAGE = 2.0
TARGET_GROSS_LEVERAGE = 1.5
ISOLATED_SHARE = 0.1
ISOLATED_LEVERAGE = 5.0
LEVERAGE_CEILING = 3.0
MIN_DISTANCE = 0.10
MAX_MARGIN_RATIO = 0.5
BAND = 0.05
DAY_LOSS = 0.15
BUDGET_NS = {"cockpit": 5e9, "numpy": 5e9, "snapshot": 1.5e9, "assess": 2e9, "liq_move": 2e9}
DEFAULT_REPEAT = 2_000
MIN_REPEAT = 20
SEED = 20240601
ULP = math.ulp(0.0)
TIERS_FILE = Path(__file__).resolve().parents[1].parent / "shared/data/market/binance_usdm_leverage_tiers.json"


def symbol(i: int) -> str:
    return f"S{i + 1:04d}/USDT:USDT"


def tier_tables() -> tuple[list[tuple], str]:
    """Returns the tier tables positions cycle through, and where they came from."""
    if not TIERS_FILE.exists():
        return [DEFAULT_TIERS], "DEFAULT_TIERS only (no ../shared tier file)"
    raw = json.loads(TIERS_FILE.read_text())
    tables = [tiers_from_ccxt(entries) for key, entries in sorted(raw.items()) if not key.startswith("_")]
    return tables + [DEFAULT_TIERS], f"{len(tables)} Binance tables + DEFAULT_TIERS"


def build_case(n: int, tables: list[tuple], seed: int = SEED):
    """Returns (state, targets, reference_marks, arrays) for n positions at ~1.5x leverage."""
    rng = np.random.default_rng(seed + n)
    marks = np.exp(rng.uniform(np.log(0.05), np.log(60_000.0), n))
    entries = marks * (1.0 + rng.normal(0.0, 0.05, n))
    signs = np.where(rng.random(n) < 0.6, 1.0, -1.0)
    weights = rng.lognormal(0.0, 1.0, n)
    isolated = rng.random(n) < ISOLATED_SHARE
    gross = 1_500_000.0
    notionals = gross * weights / weights.sum()
    quantities = signs * notionals / marks
    margins = np.where(isolated, np.abs(quantities) * entries / ISOLATED_LEVERAGE, 0.0)
    upnl = float(np.sum(quantities * (marks - entries)))
    wallet = gross / TARGET_GROSS_LEVERAGE - upnl + float(margins.sum())
    symbols = [symbol(i) for i in range(n)]
    table_of = [tables[i % len(tables)] for i in range(n)]
    positions = {
        s: Position(s, float(q), float(e), "isolated" if iso else "cross", float(m))
        for s, q, e, iso, m in zip(symbols, quantities, entries, isolated, margins)
    }
    instruments = {s: Instrument(s, s.split("/")[0], 0.001, 5.0, 0.01, t) for s, t in zip(symbols, table_of)}
    state = State(0.0, Balance(wallet), positions, {s: float(m) for s, m in zip(symbols, marks)}, instruments)
    targets = {s: 1.0 / n for s in symbols}
    reference_marks = marks * np.exp(rng.normal(0.0, 0.08, n))
    arrays = reference_arrays(marks, entries, quantities, isolated, margins, table_of, wallet,
                              np.full(n, 1.0 / n), reference_marks)
    return state, targets, dict(zip(symbols, reference_marks.tolist())), arrays


# ---------------------------------------------------------------- numpy reference

def reference_arrays(marks, entries, quantities, isolated, margins, tables, wallet, targets, day_ago):
    """Plain arrays for the reference: per-position tier tables padded to the widest one."""
    n, width = len(marks), max(len(t) for t in tables)
    floors = np.full((n, width), np.inf)
    rates = np.zeros((n, width))
    cums = np.zeros((n, width))
    for i, table in enumerate(tables):
        floors[i, :len(table)] = [t.min_notional for t in table]
        rates[i, :len(table)] = [t.maintenance_margin_rate for t in table]
        cums[i, :len(table)] = [t.maintenance_amount for t in table]
    lows = floors.copy()
    lows[:, 0] = -np.inf
    highs = np.concatenate((floors[:, 1:], np.full((n, 1), np.inf)), axis=1)
    size, side = np.abs(quantities), np.sign(quantities)
    return {
        "marks": marks.copy(), "entries": entries, "quantities": quantities, "size": size,
        "side": side, "isolated": isolated, "margins": margins, "wallet": wallet,
        "cross_wallet": wallet - margins.sum(), "targets": targets, "day_ago": day_ago,
        "lows": lows, "highs": highs, "rates": rates, "cums": cums, "rows": np.arange(n),
        "denominators": size[:, None] * rates - (side * size)[:, None],
    }


def reference_risk(a):
    """assess + weight_drift + day returns + breaker comparisons, vectorized."""
    marks, q, size, side = a["marks"], a["quantities"], a["size"], a["side"]
    notional = size * marks
    upnl = q * (marks - a["entries"])
    equity = a["wallet"] + upnl.sum()
    bracket = (a["lows"] <= notional[:, None]).sum(axis=1) - 1
    mm = notional * a["rates"][a["rows"], bracket] - a["cums"][a["rows"], bracket]
    cross = ~a["isolated"]
    cross_mm, cross_upnl = mm[cross].sum(), upnl[cross].sum()
    backing = np.where(a["isolated"], a["margins"],
                       a["cross_wallet"] - (cross_mm - mm) + (cross_upnl - upnl))
    numer = backing[:, None] + a["cums"] - (side * size * a["entries"])[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        lp_all = numer / a["denominators"]
    at_lp = size[:, None] * lp_all
    ok = (a["lows"] <= at_lp) & (at_lp < a["highs"])
    found = ok.any(axis=1)
    lp = lp_all[a["rows"], np.where(found, ok.argmax(axis=1), bracket)]
    lp = np.where(np.isfinite(lp), lp, 0.0)
    lp = np.where(lp <= 0, np.where(side > 0, 0.0, ULP), lp)
    dist = np.where(side > 0, (marks - lp) / marks, np.where(lp == 0.0, np.inf, (lp - marks) / marks))
    dist = np.maximum(dist, 0.0)
    gross, net, total_mm = notional.sum(), (q * marks).sum(), mm.sum()
    if equity > 0:
        leverage, margin_ratio = gross / equity, total_mm / equity
        drift = q * marks / (TARGET_LEVERAGE * equity) - a["targets"]
    else:
        leverage = margin_ratio = math.inf
        drift = np.full_like(notional, math.nan)
    day_return = side * (marks - a["day_ago"]) / a["day_ago"]
    nearest = dist.min() if len(dist) else math.inf
    trips = (leverage > LEVERAGE_CEILING, nearest < MIN_DISTANCE, margin_ratio > MAX_MARGIN_RATIO,
             bool((np.abs(drift) > BAND).any()), np.flatnonzero(day_return < -DAY_LOSS))
    return lp, int((~found).sum()), net, trips


# ---------------------------------------------------------------- cockpit path

def breaker_checks(book: RiskBook):
    return (book.leverage_above(LEVERAGE_CEILING), book.liquidation_within(MIN_DISTANCE),
            book.margin_ratio_above(MAX_MARGIN_RATIO), book.drift_breaches_band(BAND),
            book.positions_over_day_loss(DAY_LOSS))


# ---------------------------------------------------------------- check and timing

def _max_rel(ours, theirs) -> float:
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    same = (ours == theirs) | (np.isnan(ours) & np.isnan(theirs))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-300)
    return float(np.where(same, 0.0, rel).max(initial=0.0))


def compare_with_assess(book: RiskBook, state: State) -> float:
    """Asserts book.snapshot() == assess(state) within rel 1e-9; returns the largest rel diff."""
    ours, theirs = book.snapshot(), assess(state)
    worst = 0.0
    for name in ("equity", "gross_notional", "net_notional", "effective_leverage", "maintenance_margin",
                 "margin_ratio", "nearest_liquidation_distance"):
        worst = max(worst, _max_rel([getattr(ours, name)], [getattr(theirs, name)]))
    assert [p.symbol for p in ours.positions] == [p.symbol for p in theirs.positions]
    for name in ("notional", "unrealized_pnl", "maintenance_margin", "liquidation_price", "liquidation_distance"):
        worst = max(worst, _max_rel([getattr(p, name) for p in ours.positions],
                                    [getattr(p, name) for p in theirs.positions]))
    assert worst <= 1e-9, f"RiskBook differs from assess: max rel {worst}"
    return worst


def time_case(step, repeat: int, budget_ns: float) -> list[int]:
    """Runs step(k) with warm-up, capping repeats by the budget; returns ns per call."""
    for k in range(5):
        step(k)
    start = time.perf_counter_ns()
    for k in range(5):
        step(k)
    per = (time.perf_counter_ns() - start) / 5
    count = max(MIN_REPEAT, min(repeat, int(budget_ns / max(per, 1.0))))
    samples, clock = [], time.perf_counter_ns
    for k in range(count):
        t0 = clock()
        step(k)
        samples.append(clock() - t0)
    return samples


def measure(n: int, repeat: int, tables: list[tuple]) -> dict:
    state0, targets, day_ago, arrays = build_case(n, tables)
    book = RiskBook.from_state(state0, targets, TARGET_LEVERAGE, day_ago)
    lp, no_bracket, net, _trips = reference_risk(arrays)
    check = {"book_vs_assess_max_rel": compare_with_assess(book, state0),
             "reference_vs_book_lp_max_rel": _max_rel(lp, book.liquidation_prices),
             "reference_rows_without_bracket": no_bracket}
    assert check["reference_vs_book_lp_max_rel"] <= 1e-9, check
    assert math.isclose(net, book.net_notional, rel_tol=1e-9)

    rng = np.random.default_rng(n)
    syms = [symbol(i) for i in range(n)]
    base = arrays["marks"].copy()
    ticks = [(i % n, float(base[i % n] * (1.0 + rng.normal(0.0, 0.001)))) for i in range(4096)]

    def cockpit_step(k):
        index, price = ticks[k % len(ticks)]
        book.update(syms[index], price)
        breaker_checks(book)

    def numpy_step(k):
        index, price = ticks[k % len(ticks)]
        arrays["marks"][index] = price
        reference_risk(arrays)

    holder = [state0]

    def assess_step(k):
        index, price = ticks[k % len(ticks)]
        holder[0] = holder[0].with_marks({syms[index]: price}, float(k))
        assess(holder[0])
        weight_drift(holder[0], targets, TARGET_LEVERAGE)

    result = {"positions": n, "check": check}
    steps = (("cockpit", cockpit_step), ("numpy", numpy_step), ("snapshot", lambda k: book.snapshot()),
             ("assess", assess_step), ("liq_move", lambda k: account_liquidation_move(state0)))
    for name, step in steps:
        samples = sorted(time_case(step, repeat, BUDGET_NS[name]))
        result[name] = {"runs": len(samples), "median_us": statistics.median(samples) / 1e3,
                        "p90_us": samples[min(len(samples) - 1, int(0.9 * len(samples)))] / 1e3}
    result["ratio"] = result["cockpit"]["median_us"] / result["numpy"]["median_us"]
    final = state0.with_marks(dict(zip(book.symbols, book.marks.tolist())), 1.0)
    check["book_vs_assess_after_ticks_max_rel"] = compare_with_assess(book, final)
    return result


def table(results: list[dict]) -> str:
    head = ("positions", "cockpit med µs", "cockpit p90 µs", "numpy med µs", "numpy p90 µs", "ratio",
            "snapshot µs", "assess µs", "liq move µs", "runs")
    rows = [head]
    for r in results:
        rows.append((f"{r['positions']:,}", f"{r['cockpit']['median_us']:,.1f}",
                     f"{r['cockpit']['p90_us']:,.1f}", f"{r['numpy']['median_us']:,.1f}",
                     f"{r['numpy']['p90_us']:,.1f}", f"{r['ratio']:.2f}x",
                     f"{r['snapshot']['median_us']:,.0f}", f"{r['assess']['median_us']:,.0f}",
                     f"{r['liq_move']['median_us']:,.0f}", str(r["cockpit"]["runs"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="benchmarks/results/risk_update.json")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT,
                        help="max timed updates per case (capped further by a time budget)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    tables, tiers_note = tier_tables()
    results = [measure(n, args.repeat, tables) for n in SIZES]
    print(table(results))
    print(f"(ratio = cockpit / numpy medians, same run; snapshot, assess and liq move are "
          f"informational, not per tick; tiers: {tiers_note}; total {time.perf_counter() - started:.1f} s)")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "python": sys.version.split()[0], "numpy": np.__version__,
        "machine": platform.platform(), "processor": platform.processor(), "tiers": tiers_note,
        "results": results,
    }, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
