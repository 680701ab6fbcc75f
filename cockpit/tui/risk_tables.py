"""The stress report and the breaker board as Rich tables: drawn on the risk screen, and printed
by `cockpit status` (the same tables, so the two can never disagree)."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Callable, Iterable

from rich import box
from rich.table import Table
from rich.text import Text

from cockpit.domain.breakers import BreakerState, BreakerStatus
from cockpit.domain.scenarios import StressReport
from cockpit.tui import format as fmt

# Maps a band name (safe / watch / danger) to a Rich style; plain text when printing to a pipe.
Palette = Callable[[str], str]


def no_colour(_band: str) -> str:
    """Returns no style: for plain-text output."""
    return ""


def _table(title: str) -> Table:
    # Light rules and no outer edge: three tables must fit an 80x24 terminal with room to spare.
    return Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD,
                 show_edge=False, pad_edge=False, padding=(0, 1), expand=False)


def _move(distance: float, band: str) -> str:
    # The band's mark as well as its colour: `cockpit status` into a pipe has no colour at all.
    if not math.isfinite(distance) or distance >= 10:
        return "none"
    return fmt.with_band_mark(fmt.percent(-distance, signed=True), band)


def stress_heading(report: StressReport) -> str:
    """Returns one line: when the marks were taken and the equity the scenarios start from."""
    when = datetime.fromtimestamp(report.timestamp, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"at marks of {when} · equity {fmt.money(report.equity)} USDT"


def liquidation_table(report: StressReport, *, watch: float, danger: float, palette: Palette = no_colour) -> Table:
    """Returns the adverse move that liquidates each position, and the whole book together."""
    table = _table("What liquidates me")
    for name, justify in (("Position", "left"), ("Side", "left"), ("Mark", "right"),
                          ("Liq price", "right"), ("Adverse move", "right")):
        table.add_column(name, justify=justify)
    for row in report.positions:
        band = fmt.distance_band(row.liquidation_distance, watch=watch, danger=danger)
        table.add_row(
            row.symbol.split("/")[0],
            f"{row.side} {row.margin_mode}",
            fmt.price(row.mark_price),
            fmt.price(row.liquidation_price) if row.liquidation_price > 0 else "none",
            Text(_move(row.liquidation_distance, band), style=palette(band)),
        )
    if report.positions:
        band = fmt.distance_band(report.portfolio_move, watch=watch, danger=danger)
        table.add_row("all together", "cross book", "", "", Text(_move(report.portfolio_move, band), style=f"bold {palette(band)}"))
    else:
        table.add_row("no open positions", "", "", "", "")
    return table


def scenario_table(report: StressReport, *, palette: Palette = no_colour) -> Table:
    """Returns one row per shock scenario: the moves applied, equity after, loss, liquidations."""
    assets = sorted({base_asset_of(symbol) for symbol in report.marks} or {"BTC"})
    table = _table("If it happened now")
    table.add_column("Scenario")
    for asset in assets:
        table.add_column(asset, justify="right")
    for name in ("Equity after", "Loss", "Liquidated"):
        table.add_column(name, justify="right" if name != "Liquidated" else "left", no_wrap=True)
    for result, scenario_returns in zip(report.scenarios, _returns(report, assets)):
        liquidated = ", ".join(s.split("/")[0] for s in result.liquidated) or "none"
        table.add_row(
            result.label,
            *scenario_returns,
            fmt.money(result.equity_after),
            fmt.percent(-result.loss_fraction, signed=True),
            Text(liquidated, style=palette("danger") if result.liquidated else ""),
        )
    return table


def base_asset_of(symbol: str) -> str:
    """Returns "BTC" for "BTC/USDT:USDT"."""
    return symbol.split("/")[0]


def _returns(report: StressReport, assets: list[str]) -> Iterable[list[str]]:
    for result in report.scenarios:
        moved = {base_asset_of(s): after / report.marks[s] - 1.0 for s, after in result.marks_after.items()
                 if report.marks.get(s)}
        yield [fmt.percent(moved[a], signed=True) if a in moved else "" for a in assets]


def breaker_table(latches: Iterable[BreakerState], *, palette: Palette = no_colour) -> Table:
    """Returns every breaker: armed, tripped (with its value) or latched (with the trip's value)."""
    table = _table("Circuit breakers")
    for name, justify in (("Breaker", "left"), ("On", "left"), ("Status", "left"), ("Now", "right"),
                          ("Limit", "right"), ("At trip", "right")):
        table.add_column(name, justify=justify)
    shown = 0
    for latch in latches:
        shown += 1
        style = {BreakerStatus.TRIPPED: palette("danger"), BreakerStatus.LATCHED: palette("watch")}.get(latch.status, "")
        table.add_row(
            latch.breaker.replace("_", " "),
            latch.subject.split("/")[0],
            Text(latch.status.value, style=f"bold {style}" if style else ""),
            breaker_figure(latch.breaker, latch.value),
            breaker_figure(latch.breaker, latch.threshold),
            breaker_figure(latch.breaker, latch.tripped_value) if latch.engaged else "",
        )
    if not shown:
        table.add_row("waiting for prices", "", "", "", "", "")
    return table


def breaker_figure(breaker: str, value: float | None) -> str:
    """Returns one breaker figure in its unit: seconds for stale data, a correlation, a funding
    rate per 8h (3 decimals of a percent), or a loss percentage; "n/a" when unknown."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if breaker == "stale_data":
        return f"{value:.0f}s"
    if breaker == "correlation_spike":
        return f"{value:.2f}"
    return fmt.percent(value, signed=False) if breaker != "funding_extreme" else f"{value * 100:.3f}%"


__all__ = ["breaker_figure", "breaker_table", "liquidation_table", "no_colour", "scenario_table", "stress_heading"]
