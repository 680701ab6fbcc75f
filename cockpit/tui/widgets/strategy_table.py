"""The backtest strategy table: one row per strategy, the figures `cockpit backtest` prints."""

from __future__ import annotations

from typing import Callable, Sequence

from rich.text import Text
from textual.widgets import DataTable

from cockpit.backtest.results_file import SavedStrategy


def _fmt(style: str) -> Callable[[float], str]:
    return lambda value: format(value, style)


# (header, JSON key, format) in the order of the printed table; money is USDT.
COLUMNS: tuple[tuple[str, str, Callable[[float], str]], ...] = (
    ("final", "final_equity", _fmt(",.0f")),
    ("CAGR", "cagr", _fmt("+.1%")),
    ("max DD", "max_drawdown", _fmt(".1%")),
    ("DD days", "max_drawdown_days", _fmt(".0f")),
    ("Sharpe", "sharpe", _fmt(".2f")),
    ("Sortino", "sortino", _fmt(".2f")),
    ("Calmar", "calmar", _fmt(".2f")),
    ("win", "win_rate", _fmt(".0%")),
    ("recovery", "recovery_factor", _fmt(".2f")),
    ("liq", "liquidations", _fmt(".0f")),
    ("fees", "fees", _fmt(",.0f")),
    ("funding", "funding", _fmt(",.0f")),
    ("turnover", "turnover", _fmt(".1f")),
    ("props", "proposals", _fmt(".0f")),
    ("appr", "approvals", _fmt(".0f")),
    ("veto", "vetoes", _fmt(".0f")),
)


def cell(strategy: SavedStrategy, key: str, shown: Callable[[float], str]) -> str:
    """Returns one figure as the printed table shows it; "n/a" where the run had none."""
    value = strategy.figures.get(key)
    return "n/a" if value is None else shown(value)


class StrategyTable(DataTable):
    """Every strategy's figures; the strategy column stays put while the rest scroll sideways."""

    DEFAULT_CSS = """
    StrategyTable { height: auto; max-height: 1fr; }
    """

    def __init__(self, strategies: Sequence[SavedStrategy], **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._strategies = tuple(strategies)
        self.fixed_columns = 1

    def on_mount(self) -> None:
        self.add_column("strategy", key="strategy")
        for header, key, _ in COLUMNS:
            self.add_column(Text(header, justify="right"), key=key)
        for strategy in self._strategies:
            self.add_row(strategy.name, *(Text(cell(strategy, key, shown), justify="right") for _, key, shown in COLUMNS),
                         key=strategy.name)
