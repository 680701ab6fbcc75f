"""The stress panel (key s) and the breakers on screen, driven by keystrokes on the real engine."""

from __future__ import annotations

from cockpit.domain.types import Gate
from cockpit.tui.screens.risk_screen import RiskScreen
from cockpit.tui.widgets.stress_panel import StressPanel
from textual.widgets import Input
from tests.support import BTC, ETH, T0, tick
from tests.tui.test_app import journal_rows, make_app, started_with_a_proposal, until

# The book the default targets build at 60,000 / 3,000 with 0.05% slippage and 0.05% fee:
# 0.166 BTC at 60,030 and 2 ETH at 3,001.5.
BTC_QTY, BTC_ENTRY, ETH_QTY, ETH_ENTRY = 0.166, 60_030.0, 2.0, 3_001.5
WALLET = 10_000.0 - 0.0005 * (BTC_QTY * BTC_ENTRY + ETH_QTY * ETH_ENTRY)


def equity_at(btc: float, eth: float) -> float:
    return WALLET + BTC_QTY * (btc - BTC_ENTRY) + ETH_QTY * (eth - ETH_ENTRY)


async def holding_the_book(pilot, app, source, *, stops: bool = True) -> None:
    await started_with_a_proposal(pilot, app, source)
    await pilot.press("a")
    await until(pilot, lambda: len(app.engine.snapshot.state.positions) == 2)
    if not stops:
        # The crash below must reach the breakers, not the protective stops (6.6% away): as if
        # the trader had taken the stops off.
        await app.engine._venue.cancel_all()


def plain(app) -> str:
    # Render the panel's Rich group to plain text at a wide width, so columns are not wrapped.
    from rich.console import Console

    console = Console(width=200, record=True, color_system=None)
    console.print(app.screen.query_one(StressPanel).content)
    return console.export_text()


async def test_s_shows_the_stress_numbers_for_a_known_book_and_escape_returns(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await holding_the_book(pilot, app, source)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, RiskScreen))
        await pilot.pause(0.3)
        text = plain(app)
        now = equity_at(60_000, 3_000)
        # -10% on both: 10% of 15,960 of notional is lost.
        ten = equity_at(54_000, 2_700)
        assert f"{ten:,.2f}" in text and f"{(ten - now) / now * 100:+.1f}%" in text
        # March 2020's worst 24h: BTC -50.64%, ETH -53.03% over the same window.
        march = equity_at(60_000 * (1 - 0.5064), 3_000 * (1 - 0.5303))
        assert f"{march:,.2f}" in text
        assert "Mar 2020 24h" in text and "-50.6%" in text and "-53.0%" in text
        # At 1.6x nothing is liquidated even in March 2020; "all together" is the common move.
        assert "liq all" not in text and text.count(" none") >= 6  # the Liquidated column
        move = app.engine.snapshot.stress.portfolio_move
        assert f"{-move * 100:+.1f}%" in text
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, RiskScreen))


async def test_a_crash_trips_the_breaker_line_and_r_with_the_word_rearms_it(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await holding_the_book(pilot, app, source, stops=False)
        # BTC -20% within the day: its position day loss breaker (15%) trips, and so does the
        # portfolio's (BTC is 1x of equity, so equity falls 20% > 8%), which moves the gate.
        source.push(tick(BTC, 48_000.0, T0 + 3600))
        await until(pilot, lambda: sum(latch.engaged for latch in app.engine.snapshot.breakers) == 2)
        await pilot.pause(0.4)
        line = str(app.query_one("#breakers").render())
        assert "TRIPPED day loss 20." in line and "TRIPPED BTC pos day loss 20.0%>15.0%" in line
        assert app.engine.gate is Gate.REDUCING
        cuts = {p.reason.split(":")[0]: [(o.symbol, o.side, o.quantity, o.reduce_only) for o in p.orders]
                for p in app.engine.snapshot.proposals if p.kind == "breaker"}
        # Half of 0.166 BTC; 30% of each position rounded down to the step (0.001 BTC, 0.001 ETH).
        assert cuts == {
            "cut BTC 50%": [(BTC, "sell", 0.083, True)],
            "cut risk 30%": [(BTC, "sell", 0.049, True), (ETH, "sell", 0.6, True)],
        }
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.focused, Input))
        await pilot.press(*"RESUME", "enter")
        await until(pilot, lambda: not any(latch.engaged for latch in app.engine.snapshot.breakers))
        await pilot.pause(0.4)
        assert "armed" in str(app.query_one("#breakers").render())
        assert app.engine.gate is Gate.ACTIVE
    rows = await journal_rows(tmp_path, "breaker")
    assert [(r.payload["breaker"], r.payload["status"]) for r in rows] == [
        ("portfolio_day_loss", "tripped"), ("position_day_loss", "tripped"),
        ("portfolio_day_loss", "reset"), ("position_day_loss", "reset")]
    assert rows[1].payload["value"] > 0.15 and rows[2].payload["key"] == "R"


async def test_s_is_a_no_op_before_the_engine_exists_and_keys_do_not_stack_screens(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await holding_the_book(pilot, app, source)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, RiskScreen))
        depth = len(app.screen_stack)
        await pilot.press("a")  # deciding keys do nothing off the dashboard
        await pilot.pause(0.2)
        assert len(app.screen_stack) == depth
        assert app.engine.snapshot.proposals == ()


def test_risk_screen_snapshot_at_80x24(tmp_path, snap_compare):
    app, source = make_app(tmp_path)

    async def run_before(pilot) -> None:
        await holding_the_book(pilot, app, source, stops=False)
        source.push(tick(ETH, 2_600.0, T0 + 3600), tick(BTC, 50_000.0, T0 + 3600))
        await until(pilot, lambda: any(latch.engaged for latch in app.engine.snapshot.breakers))
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, RiskScreen))
        await pilot.pause(1.2)
        app.clear_notifications()  # the trips' notifications would cover the board; tested in test_palette_and_alerts
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


async def test_the_risk_screen_explains_the_aim_with_the_product_defaults(tmp_path):
    from rich.console import Console

    from cockpit.config import load_config
    from cockpit.tui.widgets.sizing_panel import SizingPanel

    app, source = make_app(tmp_path, cfg=load_config(environ={}))  # regime-aware sizing
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.engine is not None)
        source.push(tick(BTC, 60_000.0), tick(ETH, 3_000.0))
        await until(pilot, lambda: app.engine.snapshot.proposals)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, RiskScreen))
        await pilot.pause(1.2)  # the screen reads the snapshot once a second
        console = Console(width=200, record=True, color_system=None)
        console.print(app.screen.query_one(SizingPanel).content)
        text = console.export_text()
        aim = app.engine.snapshot.aim_leverage
        # No daily history yet: consolidation halves the volatility-targeted 2.14x.
        assert f"aim         {aim:.2f}x gross of 1.60x asked · limited by volatility target" in text
        assert "consolidation x0.50" in text and "not enough history" in text
        assert "94% a year" in text  # 2 % per 4h, annualized over 6 x 365 periods
        assert "reserve     0 USDT (0% of equity)" in text
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, RiskScreen))


async def test_breakers_switched_off_in_the_config_say_so_on_the_dashboard(tmp_path):
    from cockpit.tui.widgets.breaker_line import BreakerLine
    from tests.support import config

    app, source = make_app(tmp_path, cfg=config(breakers={"enabled": False}))
    async with app.run_test(size=(120, 40)) as pilot:
        await started_with_a_proposal(pilot, app, source)
        await until(pilot, lambda: "OFF" in str(app.query_one(BreakerLine).render()))
        assert "only stale data is armed" in str(app.query_one(BreakerLine).render())
