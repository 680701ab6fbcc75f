"""What a backtest prints and writes: the strategy table, the claims table, the JSON document
and the plotext charts."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from cockpit.backtest.claims import Claim
from cockpit.backtest.runner import StrategyResult
from cockpit.domain.performance import drawdowns

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


def strategy_table(results: Sequence[StrategyResult]) -> str:
    """Returns the table of every strategy's figures (money in USDT)."""
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


def claims_table(claims: Sequence[Claim]) -> str:
    """Returns the table of claims with the measured numbers and the verdicts."""
    return markdown_table(["claim", "measured", "verdict"], [[c.claim, c.measured, c.verdict] for c in claims],
                          [False, False, False])


def _plain(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def json_document(results: Sequence[StrategyResult], claims: Sequence[Claim], meta: Mapping[str, object]) -> dict:
    """Returns {"strategies": {name: figures}, "claims": [...], "run": meta}; NaN and infinities
    become null (JSON has neither)."""
    strategies = {}
    for result in results:
        figures = result.performance().as_dict()
        entry = {name: _plain(figures[name]) if isinstance(figures[name], float) else figures[name] for name in JSON_FIGURES}
        entry.update(proposals=result.proposals, approvals=result.approvals, vetoes=result.vetoes, expired=result.expired,
                     bars=result.bars, seconds=round(result.seconds, 2))
        strategies[result.name] = entry
    return {"strategies": strategies, "claims": [c.as_dict() for c in claims], "run": dict(meta)}


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
