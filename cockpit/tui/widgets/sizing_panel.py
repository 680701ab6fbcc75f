"""The sizing panel: how much leverage the policy aims for, and every number behind it."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from rich.console import Group
from textual.widgets import Static

from cockpit.engine.hedge_watch import HedgeReading
from cockpit.engine.sizing_watch import PERIODS_4H_PER_YEAR, Sizing

_ANNUAL = PERIODS_4H_PER_YEAR ** 0.5


def sizing_rows(sizing: Sizing | None, hedge: HedgeReading | None, reserve: float, equity: float) -> list[tuple[str, str]]:
    """Returns (label, value) rows for the panel: aim, regime, volatility, drawdown, Kelly, hedge
    and reserve, formatted for the screen (leverage as 1.23x, fractions as percentages)."""
    if sizing is None:
        return [("aim", "no targets to size")]
    d = sizing.decision
    rows = [
        ("aim", f"{d.leverage:.2f}x gross of {d.ceiling:.2f}x asked · limited by {sizing.bound_by}"),
        ("regime", f"{d.regime} x{d.regime_multiplier:.2f}"
         + (f" — {sizing.regime.reason}" if sizing.regime else " — no daily close yet")),
        ("volatility", f"book {sizing.book_sigma_4h:.2%} per 4h = {sizing.book_sigma_4h * _ANNUAL:.0%} a year;"
         f" target / forecast {d.volatility_ratio:.2f}x"),
        ("drawdown", f"{d.drawdown:.1%} below the peak (limit {d.max_drawdown:.0%})"),
    ]
    if d.kelly_fraction is not None and d.kelly_leverage is not None:
        rows.append(("Kelly", f"risk {d.kelly_fraction:.1%} per stop-out -> {d.kelly_leverage:.2f}x"))
    if hedge is not None:
        warning = f" — {hedge.warning.message}" if hedge.warning else ""
        rows.append(("hedge", f"{hedge.symbol.split('/')[0]} ratio {hedge.ratio:.2f}, correlation "
                              f"{hedge.correlation:+.2f} over {hedge.samples} samples{warning}"))
    share = reserve / equity if equity > 0 else 0.0
    rows.append(("reserve", f"{reserve:,.0f} USDT ({share:.0%} of equity), ring-fenced from sizing"))
    return rows


class SizingPanel(Static):
    """Redrawn when the sizing numbers change (once a second at most, from the risk screen)."""

    DEFAULT_CSS = """
    SizingPanel { height: auto; padding: 0 1; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("sizing…", **kwargs)
        self._shown: list[tuple[str, str]] | None = None

    def show(self, sizing: Sizing | None, hedge: HedgeReading | None, reserve: float, equity: float) -> None:
        """Redraws from the snapshot's sizing figures unless they are the ones already shown."""
        rows = sizing_rows(sizing, hedge, reserve, equity)
        if rows == self._shown:
            return
        self._shown = rows
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for label, value in rows:
            table.add_row(label, value)
        self.update(Group(Text("Sizing", style="bold"), table))
