"""From 80x24 up: the screens at 160x50 (their 80x24 snapshots sit with each screen's tests), a
live resize both ways with the key figures on screen at each size, and the 80-column cases
that used to cut off what a trader needs (the gate, the liquidation distance)."""

from __future__ import annotations

from types import SimpleNamespace

from textual.app import App

from cockpit.domain.types import Order, Proposal
from cockpit.engine.bootstrap import MarketChoice
from cockpit.engine.session import Session
from cockpit.tui.app import CockpitApp
from cockpit.tui.screens.help_screen import HelpScreen
from cockpit.tui.screens.models_screen import ModelsScreen
from cockpit.tui.screens.risk_screen import RiskScreen
from cockpit.tui.widgets.positions_table import PositionsTable
from cockpit.tui.widgets.proposals_panel import ProposalsPanel
from cockpit.tui import format as fmt
from tests.support import BTC, ETH, T0, FakeClock, QueueSource, config, tick
from tests.tui.test_app import make_app, until
from tests.tui.test_exchange_liquidation import report_liquidation_prices
from tests.tui.test_redraw import holding_the_book, screen_text
from tests.tui.test_risk_screen import holding_the_book as holding_without_stops


async def a_book_and_a_rebalance_pending(pilot, app, source) -> None:
    """As tests/tui/test_app.py's dashboard snapshot: a 1.6x book, then BTC -5% and ETH +20%."""
    await until(pilot, lambda: app.engine is not None)
    source.push(tick(BTC, 60_000.0), tick(ETH, 3_000.0))
    await until(pilot, lambda: len(app.engine.snapshot.proposals) == 1)
    await app.engine.approve(app.engine.snapshot.proposals[0].id)
    await app.engine.toggle_mode()
    source.push(tick(ETH, 3_600.0, T0), tick(BTC, 57_000.0, T0))
    await until(pilot, lambda: len(app.engine.snapshot.proposals) == 1)
    await pilot.pause(0.4)


def test_dashboard_snapshot_at_160x50(tmp_path, snap_compare):
    app, source = make_app(tmp_path, clock=FakeClock(T0))
    assert snap_compare(app, terminal_size=(160, 50),
                        run_before=lambda pilot: a_book_and_a_rebalance_pending(pilot, app, source))


def test_risk_screen_snapshot_at_160x50(tmp_path, snap_compare):
    # As tests/tui/test_risk_screen.py's 80x24 one: after a crash tripped the breakers.
    app, source = make_app(tmp_path)

    async def run_before(pilot) -> None:
        await holding_without_stops(pilot, app, source, stops=False)
        source.push(tick(ETH, 2_600.0, T0 + 3600), tick(BTC, 50_000.0, T0 + 3600))
        await until(pilot, lambda: any(latch.engaged for latch in app.engine.snapshot.breakers))
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, RiskScreen))
        await pilot.pause(1.2)

    assert snap_compare(app, terminal_size=(160, 50), run_before=run_before)


def dashboard_figures(app) -> list[str]:
    """Returns what a trader must see on the dashboard, as the screen should show it."""
    snap = app.engine.snapshot
    distances = [app.query_one(PositionsTable).get_row(symbol)[-1].plain for symbol in (BTC, ETH)]
    return [f"gate {snap.gate.value}", "equity ", "liq all ", *distances, snap.proposals[0].id, "Liq dist"]


def assert_on_screen(app, figures: list[str]) -> None:
    shown = screen_text(app)
    missing = [figure for figure in figures if figure not in shown]
    assert not missing, f"not on screen at {app.size}: {missing}\n{shown}"


async def test_a_live_resize_from_80x24_to_160x50_and_back_keeps_every_key_figure_on_screen(tmp_path):
    app, source = make_app(tmp_path, clock=FakeClock(T0))
    async with app.run_test(size=(80, 24)) as pilot:
        await a_book_and_a_rebalance_pending(pilot, app, source)
        sizes = [(160, 50), (80, 24), (120, 40), (80, 24)]
        for width, height in sizes:
            await pilot.resize_terminal(width, height)
            await pilot.pause(0.4)
            assert app.size == (width, height)
            assert_on_screen(app, dashboard_figures(app))
        # Each screen survives the same round trip with its headline on screen.
        screens = [("s", RiskScreen, ["What liquidates me", "all together"]),
                   ("f", ModelsScreen, ["Forecasts"]),
                   ("question_mark", HelpScreen, ["Approve", "Flatten"])]
        for key, screen, headlines in screens:
            await pilot.press(key)
            await until(pilot, lambda: isinstance(app.screen, screen))
            for width, height in [(160, 50), (80, 24)]:
                await pilot.resize_terminal(width, height)
                await pilot.pause(0.4)
                assert_on_screen(app, headlines)
            await pilot.press("escape")
            await until(pilot, lambda: len(app.screen_stack) == 1)
        await pilot.press("j")
        await until(pilot, lambda: len(app.screen_stack) == 2)
        for width, height in [(160, 50), (80, 24)]:
            await pilot.resize_terminal(width, height)
            await pilot.pause(0.4)
            assert_on_screen(app, ["Journal", "deposit"])
        await pilot.press("escape")
        await until(pilot, lambda: len(app.screen_stack) == 1)
        await pilot.pause(0.4)
        assert_on_screen(app, dashboard_figures(app))
        assert app.is_running


async def test_the_risk_screen_at_80x24_says_how_to_reach_what_is_below(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await holding_the_book(pilot, app, source)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, RiskScreen))
        await pilot.pause(0.3)
        assert "Sizing" not in screen_text(app) and "PgDn: more" in screen_text(app)
        await pilot.press("pagedown", "pagedown", "pagedown")
        await pilot.pause(0.3)
        assert "Sizing" in screen_text(app)


async def test_the_gate_and_stale_stay_on_an_80_column_header_of_a_live_paper_account(tmp_path):
    # "PAPER (binanceusdm public prices)" and the full mode text left "gate HALTED" past column 80.
    source = QueueSource()
    source.label = "PAPER"
    clock = FakeClock(T0)
    session = Session(config(), tmp_path / "journal.sqlite", source=source, clock=clock,
                      choice=MarketChoice("live", "paper-live", "binanceusdm public prices", source=source))
    app = CockpitApp(session)
    async with app.run_test(size=(80, 24)) as pilot:
        await holding_the_book(pilot, app, source)
        header = str(app.query_one("#status").render()).splitlines()[0]
        assert header == " PAPER (binanceusdm public prices)  00:00:00  next 4h00m  gate ACTIVE"
        clock.now = T0 + 100  # no price for 100 s: stale data halts
        await until(pilot, lambda: "STALE" in str(app.query_one("#status").render()))
        header, money = str(app.query_one("#status").render()).splitlines()
        assert header.startswith(" PAPER  00:00:00  next 4h00m  gate HALTED (R resumes)  STALE 1")
        assert len(header) <= 78 and money.endswith("liq all -62.4% ok")  # the money line keeps its cents
        assert_on_screen(app, ["gate HALTED (R resumes)", "STALE 1", "equity 9,984.04"])
    app, source = make_app(tmp_path / "wide")  # wider, every word is back
    async with app.run_test(size=(160, 24)) as pilot:
        await holding_the_book(pilot, app, source)
        assert "interval 4h · next 4h00m  gate ACTIVE" in str(app.query_one("#status").render())


# Two positions near 3x, so the prices, the PnL and the liquidation figures are all wide.
LEVERED = config(portfolio={"targets": {"BTC": 0.5, "ETH": 0.5}, "target_leverage": 2.9},
                 limits={"max_asset_exposure": 3.0}, sizing={"regime_aware": False, "target_volatility": 10.0})


async def test_the_distance_stays_on_an_80_column_row_with_the_exchanges_liquidation_price(tmp_path):
    # A four-figure PnL and "ours ≠ theirs!" in the liquidation price widened the row past 80.
    app, source = make_app(tmp_path, cfg=LEVERED)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.engine is not None)
        source.push(tick(BTC, 60_000.0), tick(ETH, 3_000.0))
        await until(pilot, lambda: app.engine.snapshot.proposals)
        await app.engine.approve(app.engine.snapshot.proposals[0].id)
        await until(pilot, lambda: len(app.engine.snapshot.state.positions) == 2)
        await app.engine._venue.cancel_all()  # the 10% fall below must not fill the stops
        risk = app.engine.snapshot.risk
        report_liquidation_prices(app.engine._venue, {s: risk.position(s).liquidation_price * 1.02 for s in (BTC, ETH)})
        source.push(tick(BTC, 54_000.0, T0 + 1), tick(ETH, 2_700.0, T0 + 1))
        table = app.query_one(PositionsTable)
        await until(pilot, lambda: table.row_count == 2 and "≠" in str(table.get_row(BTC)[7]))
        await pilot.pause(0.3)
        rows = [table.get_row(symbol) for symbol in (BTC, ETH)]
        assert all(row[5].plain.startswith("-1,") and "." not in row[5].plain for row in rows)  # no cents
        assert all(" ≠ " in row[7].plain for row in rows)  # both figures still fit
        assert_on_screen(app, [f" {row[7].plain}  {row[8].plain}" for row in rows])  # and the distance is there
        await pilot.resize_terminal(76, 24)  # narrower still: ours, and that the exchange disagrees
        await pilot.pause(0.4)
        rows = [table.get_row(symbol) for symbol in (BTC, ETH)]
        ours = [app.engine.snapshot.risk.position(symbol).liquidation_price for symbol in (BTC, ETH)]
        assert [row[7].plain for row in rows] == [fmt.price(price) + " ≠!" for price in ours]
        assert_on_screen(app, [f" {row[7].plain}  {row[8].plain}" for row in rows])
        await pilot.resize_terminal(120, 30)  # room enough: both figures and the cents again
        await pilot.pause(0.4)
        rows = [table.get_row(symbol) for symbol in (BTC, ETH)]
        assert all(" ≠ " in row[7].plain and "." in row[5].plain for row in rows)
        assert_on_screen(app, [f" {row[7].plain}  {row[8].plain}" for row in rows])


def proposal(orders: tuple, pid: str = "P-7") -> Proposal:
    return Proposal(pid, "rebalance", orders, "drift", {}, estimated_cost=12.34, leverage_after=1.07,
                    liquidation_distance_after=0.932, created_at=T0, expires_at=T0 + 95, reference_prices={})


class PanelHost(App):
    """The proposals panel alone, fed a snapshot by hand (it reads only proposals and the time)."""

    def compose(self):
        yield ProposalsPanel()


async def test_the_expiry_stays_on_an_80_column_proposal_row_however_many_orders():
    two = (Order(BTC, "sell", 0.132, reduce_only=True), Order(ETH, "sell", 0.525, reduce_only=True))
    many = tuple(Order(f"{base}/USDT:USDT", "sell", 1234.5, reduce_only=True) for base in ("BTC", "ETH", "SOL", "XRP"))
    app = PanelHost()
    async with app.run_test(size=(80, 24)) as pilot:
        panel, table = app.query_one(ProposalsPanel), app.query_one("#proposal-list")
        for orders, expected in [(two, "sell 0.132 BTC RO, sell 0.525 ETH RO"),  # "(reduce)" gave way
                                 (many, "sell 1234.5 BTC RO, sell 1234.5 ETH RO, sell…")]:  # cut to fit
            panel.show(SimpleNamespace(proposals=(proposal(orders),), taken_at=T0))
            await until(pilot, lambda: table.row_count == 1 and table.get_row_at(0)[1] == expected)
            await pilot.pause(0.2)
            assert_on_screen(app, [f"{expected}  12.34  1.07x  93.2%  1m35s"])
        await pilot.resize_terminal(160, 24)  # room: every order in full again
        await until(pilot, lambda: table.get_row_at(0)[1].startswith("sell 1234.5 BTC (reduce), "))
        assert table.get_row_at(0)[1].endswith("sell 1234.5 XRP (reduce)")
