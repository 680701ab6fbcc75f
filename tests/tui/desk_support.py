"""Shared steps for the tests of the detail, edit, manual-order and bulk screens: a running app
on the real engine, paper venue and journal, with the price source fed by the test."""

from __future__ import annotations

from rich.console import Console

from tests.support import BTC, ETH, T0, tick
from tests.tui.test_app import started_with_a_proposal, until


def notice(app) -> str:
    """Returns the dashboard's notice line as plain text."""
    return str(app.query_one("#notice").render())


def plain(renderable, width: int = 160) -> str:
    """Returns a Rich renderable (a Static's content) as plain text at `width` columns."""
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


async def holding_the_book(pilot, app, source) -> None:
    """Starts, approves the first rebalance (0.166 BTC and 2 ETH at 60,000 / 3,000, with their
    stops) and waits until both positions are on the dashboard."""
    await started_with_a_proposal(pilot, app, source)
    await app.engine.approve(app.engine.snapshot.proposals[0].id, key="a")
    await until(pilot, lambda: len(app.engine.snapshot.state.positions) == 2)


async def holding_a_levered_btc(pilot, app, source) -> None:
    """The book above plus a manual 0.15 BTC (2.5x in all), so that BTC alone has a liquidation
    price (~28,000) for the ladder to walk to; then a few prices for the PnL chart."""
    await holding_the_book(pilot, app, source)
    await app.engine.propose_manual(BTC, "buy", quantity=0.15)
    (manual,) = [p for p in app.engine.snapshot.proposals if p.kind == "manual"]
    await app.engine.approve(manual.id, key="a")
    await until(pilot, lambda: abs(app.engine.snapshot.state.positions[BTC].quantity - 0.316) < 1e-9)
    for minute, (btc, eth) in enumerate([(60_200.0, 3_010.0), (59_800.0, 2_990.0), (59_500.0, 2_985.0)], start=1):
        source.push(tick(BTC, btc, T0 + 60 * minute), tick(ETH, eth, T0 + 60 * minute))
    await until(pilot, lambda: app.engine.snapshot.state.marks[BTC] == 59_500.0
                and app.engine.snapshot.state.marks[ETH] == 2_985.0)
