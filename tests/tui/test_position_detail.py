"""The position screen (key p): liquidation ladder, resting stop, hedge and PnL chart, driven by
keystrokes on the real engine, paper venue and journal."""

from __future__ import annotations

import pytest

from cockpit.tui.screens.position_detail import PositionDetail
from cockpit.tui.widgets.liquidation_ladder import LiquidationLadder
from cockpit.tui.widgets.pnl_chart import PnlChart
from tests.support import BTC, ETH, T0, FakeClock, config
from tests.tui.desk_support import holding_a_levered_btc, holding_the_book, notice
from tests.tui.test_app import make_app, started_with_a_proposal, until


def head(app) -> str:
    return str(app.screen.query_one("#position-head").render())


def ladder_rows(app) -> list[list[str]]:
    table = app.screen.query_one(LiquidationLadder)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def test_p_without_a_position_says_so_and_opens_nothing(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await started_with_a_proposal(pilot, app, source)
        await pilot.press("p")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, PositionDetail)
        assert "no open position to show" in notice(app)


async def test_p_shows_the_ladder_to_liquidation_the_stop_and_the_chart(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await holding_a_levered_btc(pilot, app, source)
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PositionDetail))
        await until(pilot, lambda: "stop: sell" in str(app.screen.query_one("#position-stop").render()))
        row = app.engine.snapshot.risk.position(BTC)
        assert row.liquidation_price > 0  # 0.316 BTC against ~10,000 of equity
        assert head(app).startswith("BTC long 0.316 · entry ")
        assert "1/2 ←→" in head(app) and "cross" in head(app)
        rows = ladder_rows(app)
        labels = [r[-1] for r in rows]
        assert labels[0] == "mark" and labels[-1] == "LIQUIDATION" and "stop" in labels
        assert rows[-1][2].startswith("0.0%")  # nothing left at the liquidation price
        assert rows[-1][4] == "100.0%"  # the margin ratio that liquidates
        # The stop that rests covers the whole 0.316 (it was replaced when the manual buy filled).
        stop = str(app.screen.query_one("#position-stop").render())
        assert "stop: sell 0.316 @ " in stop and "before liquidation" in stop and "covers the whole position" in stop
        assert "hedge: none ([hedge] asset is not set)" in str(app.screen.query_one("#position-hedge").render())
        chart = app.screen.query_one(PnlChart)
        assert chart.message == ""  # enough marks seen to draw


async def test_arrows_step_through_the_positions_and_escape_returns(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await holding_the_book(pilot, app, source)
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PositionDetail))
        assert app.screen.symbol == BTC
        await pilot.press("right")
        await until(pilot, lambda: head(app).startswith("ETH long 2 "))
        await pilot.press("right")
        await until(pilot, lambda: head(app).startswith("BTC long 0.166 "))
        await pilot.press("left")
        await until(pilot, lambda: head(app).startswith("ETH "))
        # No liquidation price at 1.6x: the ladder walks fixed moves down, none to liquidation.
        assert "LIQUIDATION" not in [r[-1] for r in ladder_rows(app)]
        await pilot.press("a", "v", "e", "n", "A")  # deciding keys sleep off the dashboard
        await pilot.pause(0.2)
        assert isinstance(app.screen, PositionDetail)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, PositionDetail))
        assert app.screen.query("#proposals")


async def test_a_position_closed_while_shown_says_so(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await holding_the_book(pilot, app, source)
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PositionDetail))
        await app.engine.flatten(key="F")
        await until(pilot, lambda: "BTC: no open position" in head(app))
        assert ladder_rows(app) == []


async def test_the_hedge_line_names_the_leg_while_its_window_fills(tmp_path):
    cfg = config(portfolio={"targets": {"ETH": 0.6}}, hedge={"asset": "BTC"})
    app, source = make_app(tmp_path, cfg=cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await started_with_a_proposal(pilot, app, source)
        await app.engine.approve(app.engine.snapshot.proposals[0].id)
        await until(pilot, lambda: ETH in app.engine.snapshot.state.positions)
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PositionDetail))
        await pilot.pause(0.3)
        assert "hedge: BTC leg · its price window is still filling" in str(
            app.screen.query_one("#position-hedge").render())


@pytest.mark.parametrize("size", [(80, 24), (160, 50)])
def test_position_screen_snapshot(tmp_path, snap_compare, size):
    app, source = make_app(tmp_path, clock=FakeClock(T0))

    async def run_before(pilot) -> None:
        await holding_a_levered_btc(pilot, app, source)
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PositionDetail))
        await until(pilot, lambda: "stop: sell" in str(app.screen.query_one("#position-stop").render()))
        await pilot.pause(1.2)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
