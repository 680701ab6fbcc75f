"""What a backtest prints and writes: the strategy table, the claims table, the JSON document
and the plotext charts."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from cockpit.backtest.claims import Claim
from cockpit.backtest.runner import StrategyResult
from cockpit.domain.performance import drawdowns

# Points per strategy curve in the JSON: more than any terminal chart draws, a few kB a strategy.
CURVE_POINTS = 1500
JSON_FIGURES = ("final_equity", "cagr", "max_drawdown", "max_drawdown_days", "sharpe", "sortino", "calmar",
                "win_rate", "recovery_factor", "liquidations", "fees", "funding", "turnover")


def _number(value: float, style: str) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "n/a" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return format(value, style)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    """Returns a Markdown table whose columns line up in a terminal too."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).rjust(w) if r else str(c).ljust(w) for c, w, r in zip(cells, widths, right)) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if r else ("-" * (w + 2)) for w, r in zip(widths, right)) + "|"
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


# The columns a narrow terminal keeps, in this order.
NARROW_COLUMNS = ("strategy", "final", "CAGR", "max DD", "Sharpe", "liq", "funding")


def strategy_table(results: Sequence[StrategyResult], width: int | None = None) -> str:
    """Returns the table of every strategy's figures (money in USDT); when it is wider than
    `width` characters, only the NARROW_COLUMNS, with a line saying where the rest is."""
    table = _full_table(results)
    if width is None or len(table.splitlines()[0]) <= width:
        return table
    header = [cell.strip() for cell in table.splitlines()[0].strip("|").split("|")]
    keep = [header.index(name) for name in NARROW_COLUMNS]
    rows = [[cells[k] for k in keep] for cells in
            ([c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:])]
    narrow = markdown_table([header[k] for k in keep], rows, [k > 0 for k in keep])
    return narrow + f"\n({len(header) - len(keep)} more columns in a terminal {len(table.splitlines()[0])} wide, or with --json)"


def _full_table(results: Sequence[StrategyResult]) -> str:
    header = ["strategy", "final", "CAGR", "max DD", "DD days", "Sharpe", "Sortino", "Calmar", "win", "recovery",
              "liq", "fees", "funding", "turnover", "props", "appr", "veto"]
    rows = []
    for result in results:
        p = result.performance()
        rows.append([result.name, _number(p.final_equity, ",.0f"), _number(p.cagr, "+.1%"), _number(p.max_drawdown, ".1%"),
                     _number(p.max_drawdown_days, ".0f"), _number(p.sharpe, ".2f"), _number(p.sortino, ".2f"),
                     _number(p.calmar, ".2f"), _number(p.win_rate, ".0%"), _number(p.recovery_factor, ".2f"),
                     str(p.liquidations), _number(p.fees, ",.0f"), _number(p.funding, ",.0f"), _number(p.turnover, ".1f"),
                     str(result.proposals), str(result.approvals), str(result.vetoes)])
    return markdown_table(header, rows, [False] + [True] * (len(header) - 1))


def claims_table(claims: Sequence[Claim], width: int | None = None) -> str:
    """Returns the table of claims with the measured numbers and the verdicts; when it is wider
    than `width` characters, each claim as a short block of wrapped lines instead."""
    table = markdown_table(["claim", "measured", "verdict"], [[c.claim, c.measured, c.verdict] for c in claims],
                           [False, False, False])
    if width is None or len(table.splitlines()[0]) <= width:
        return table
    import textwrap

    blocks = []
    for claim in claims:
        lines = textwrap.wrap(f"{claim.verdict.upper()}: {claim.claim}", width)
        lines += textwrap.wrap(claim.measured, width, initial_indent="  ", subsequent_indent="  ")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _plain(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def curve(times: np.ndarray, equity: np.ndarray, points: int = CURVE_POINTS) -> dict[str, list]:
    """Returns {"time": epoch s, "equity": USDT, "drawdown": fraction below the running peak} for
    charts: every bar, or at most `points` buckets of bars, each at its last bar with its
    deepest drawdown (so the chart shows the worst drawdown exactly)."""
    stamps = np.asarray(times, dtype=float)
    values = np.asarray(equity, dtype=float)
    depth = drawdowns(values)
    if stamps.size > points:
        edges = np.linspace(0, stamps.size, points + 1).astype(int)
        last = edges[1:] - 1
        depth = np.maximum.reduceat(depth, edges[:-1])
        stamps, values = stamps[last], values[last]
    return {"time": [round(float(t), 3) for t in stamps], "equity": [_plain(float(v)) for v in values],
            "drawdown": [_plain(float(d)) for d in depth]}


def json_document(results: Sequence[StrategyResult], claims: Sequence[Claim], meta: Mapping[str, object]) -> dict:
    """Returns {"strategies": {name: figures}, "claims": [...], "run": meta, "curves": {name:
    curve}} (see `curve`); NaN and infinities become null (JSON has neither)."""
    strategies = {}
    curves = {}
    for result in results:
        curves[result.name] = curve(result.times, result.equity)
        figures = result.performance().as_dict()
        entry = {name: _plain(figures[name]) if isinstance(figures[name], float) else figures[name] for name in JSON_FIGURES}
        entry.update(proposals=result.proposals, approvals=result.approvals, vetoes=result.vetoes, expired=result.expired,
                     bars=result.bars, seconds=round(result.seconds, 2))
        strategies[result.name] = entry
    return {"strategies": strategies, "claims": [c.as_dict() for c in claims], "run": dict(meta), "curves": curves}


def plot(results: Sequence[StrategyResult], *, width: int = 100, height: int = 18) -> str:
    """Returns plotext charts of every strategy's equity (log scale) and drawdown."""
    import plotext as plt

    out = []
    for title, values in (("equity (USDT, log10)", lambda r: np.log10(np.maximum(r.equity, 1e-2))),
                          ("drawdown (%)", lambda r: -100 * drawdowns(r.equity))):
        plt.clear_figure()
        plt.plotsize(width, height)
        plt.title(title)
        for result in results:
            days = (result.times - result.times[0]) / 86_400
            plt.plot(days.tolist(), values(result).tolist(), label=result.name)
        plt.xlabel("days")
        out.append(plt.build())
    return "\n".join(out)
