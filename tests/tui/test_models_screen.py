"""The models screen (key f): the forecast table, the override, drift and fit lines, the chart of
the asset under the cursor and the regime override dialog. Rendering is tested on a small host
app whose fake engine holds a hand-built forecast board; the keys on the real app."""

from __future__ import annotations

import asyncio
import calendar
import math
from types import SimpleNamespace

from rich.text import Text
from textual.app import App
from textual.widgets import Input, Static

from cockpit.engine.forecast_board import FAILED, FALLBACK, OK, WAITING, AssetForecast, ForecastBoard
from cockpit.tui.screens.models_screen import ModelsScreen
from cockpit.tui.screens.regime_override import RegimeOverride
from cockpit.tui.screens.typed_confirm import TypedConfirm
from cockpit.tui.themes import shipped_themes
from cockpit.tui.widgets.forecast_chart import ForecastChart, chart_series
from cockpit.tui.widgets.forecast_table import ForecastTable
from tests.tui.test_app import journal_rows, make_app, until

BTC, ETH, SOL = "BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"
# 14 May 2024 08:00 UTC, a 4h bar close.
T = calendar.timegm((2024, 5, 14, 8, 0, 0))
BAR = 4 * 3600


def chart(n: int, price0: float, step: float) -> dict:
    times = tuple(float(T - (n - 1 - i) * BAR) for i in range(n))
    prices = tuple(price0 + step * i + (step * 3 if i % 5 == 0 else 0.0) for i in range(n))
    # No forecast at the first two closes (NaN), then a slowly rising sigma.
    sigma = tuple(math.nan if i < 2 else 0.04 + 0.0005 * i for i in range(n))
    return dict(chart_times=times, chart_prices=prices, chart_sigma=sigma)


def board(**changes) -> ForecastBoard:
    assets = (
        AssetForecast(BTC, sigma_4h=0.0312, sigma_24h=0.0765, score=91.4, model="gjr",
                      model_reason="best 24h QLIKE over the last 90 days (1.234)", regime="bear",
                      regime_probability=0.62, regime_source="model", last_fit_at=T + 5 * 60,
                      fit_status=OK, bars=1200, **chart(24, 60_000.0, 150.0)),
        AssetForecast(ETH, score=math.nan, regime="consolidation", regime_source="rules", fit_status=WAITING,
                      fit_note="120 bars, a first fit needs 500", bars=120),
        AssetForecast(SOL, sigma_4h=0.05, sigma_24h=0.1234, score=76.6, model="ewma", regime="crisis",
                      regime_source="model", last_fit_at=T - 3600 + 59, fit_status=FALLBACK,
                      fit_note="gjr did not converge; ewma in use", bars=900, **chart(12, 150.0, -1.0)),
    )
    values = dict(assets=assets, warnings=("BTC realized vol above its forecast 5 days running",
                                           "regime accuracy 41% over 30 days, below 50%"),
                  sharpe=1.234, running=True, next_volatility_fit_at=T + BAR,
                  next_learning_fit_at=T + 16 * 3600)
    values.update(changes)
    return ForecastBoard(**values)


class FakeEngine:
    """Holds a snapshot with a forecast board and records every override it is asked for."""

    def __init__(self, forecasts: ForecastBoard) -> None:
        self.snapshot = SimpleNamespace(forecasts=forecasts)
        self.calls: list[tuple[str | None, str]] = []

    async def override_regime(self, regime: str | None, *, key: str) -> str:
        self.calls.append((regime, key))
        return f"regime override {regime or 'cleared'} (engine)"


class Host(App):
    """Shows the models screen over a fake engine, in the cockpit's theme."""

    def __init__(self, forecasts: ForecastBoard) -> None:
        super().__init__()
        self.engine = FakeEngine(forecasts)
        for theme in shipped_themes().values():
            self.register_theme(theme)
        self.theme = "cockpit-dark"

    def on_mount(self) -> None:
        self.push_screen(ModelsScreen())


def rows(app) -> list[list[Text]]:
    table = app.screen.query_one(ForecastTable)
    return [table.get_row_at(i) for i in range(table.row_count)]


def plain_rows(app) -> list[list[str]]:
    return [[cell.plain for cell in row] for row in rows(app)]


def line(app, widget_id: str) -> str:
    return str(app.screen.query_one(f"#{widget_id}", Static).render())


async def shown(pilot) -> None:
    """Waits until the models screen shows the board's rows."""

    def ready() -> bool:
        screen = pilot.app.screen
        return isinstance(screen, ModelsScreen) and screen.query_one(ForecastTable).row_count > 0

    await until(pilot, ready)
    await pilot.pause()


async def test_every_column_renders_from_the_board():
    app = Host(board())
    async with app.run_test(size=(100, 40)) as pilot:
        await shown(pilot)
        assert plain_rows(app) == [
            # 0.0312 -> 3.12%; 91.4 rounds to 91; the fit at 08:05 UTC.
            ["BTC", "3.12%", "7.65%", "91", "bear 62%", "gjr", "08:05", "ok"],
            # No fit yet: both sigmas "—", the score NaN, the regime decided by the rules.
            ["ETH", "—", "—", "n/a", "consol. (rules)", "—", "—", "waiting"],
            # 0.1234 -> 12.34%; 76.6 -> 77; no probability from the model: the name alone.
            ["SOL", "5.00%", "12.34%", "77", "crisis", "ewma", "07:00", "fallback"],
        ]
        variables = app.theme_variables
        btc, eth, sol = rows(app)
        assert variables["error"] in str(btc[3].style)  # 91 >= 90: danger
        assert variables["warning"] in str(sol[3].style)  # 77 >= 75: warning
        assert variables["warning"] in str(sol[7].style)  # fell back
        assert not str(btc[7].style) and not str(eth[3].style)
        assert "Forecasts · 3 assets" in str(app.screen.query_one(ForecastTable).border_title)


async def test_failed_fit_and_a_score_just_under_the_bands_are_styled_right():
    assets = (AssetForecast(BTC, score=74.4, fit_status=FAILED), AssetForecast(ETH, score=89.5, fit_status=OK))
    app = Host(ForecastBoard(assets=assets))
    async with app.run_test(size=(100, 30)) as pilot:
        await shown(pilot)
        btc, eth = rows(app)
        assert (btc[3].plain, str(btc[3].style)) == ("74", "")  # under 75: plain
        assert btc[7].plain == "failed" and app.theme_variables["warning"] in str(btc[7].style)
        # 89.5 shows as 90 (round half to even gives 90), so it is styled as the danger it reads.
        assert eth[3].plain == "90" and app.theme_variables["error"] in str(eth[3].style)


async def test_the_override_warnings_sharpe_and_fit_lines():
    overridden = board(assets=tuple(
        AssetForecast(a.symbol, regime="bear", regime_source="override") for a in board().assets),
        regime_override="bear")
    app = Host(overridden)
    async with app.run_test(size=(100, 40)) as pilot:
        await shown(pilot)
        assert [row[4] for row in plain_rows(app)] == ["BEAR (override)"] * 3
        assert line(app, "models-override") == "regime override: BEAR — o changes, o then 0 clears"
        drift = line(app, "models-drift")
        assert drift.startswith("strategy Sharpe 1.23 · 2 drift warnings:")
        assert "BTC realized vol above its forecast 5 days running" in drift
        assert "regime accuracy 41% over 30 days, below 50%" in drift
        content = app.screen.query_one("#models-drift", Static).content
        warned = [content.plain[s.start:s.end] for s in content.spans if app.theme_variables["warning"] in str(s.style)]
        assert warned == ["\n  BTC realized vol above its forecast 5 days running",
                          "\n  regime accuracy 41% over 30 days, below 50%"]
        # Next volatility fit 12:00 (T + 4h), next ML + regime fit 15 May 00:00 (T + 16h).
        assert line(app, "models-fit") == (
            "fit running… · next: volatility 14 May 12:00 · ML + regime 15 May 00:00 UTC")


async def test_no_override_no_warnings_unknown_sharpe_and_no_fit_running():
    app = Host(board(warnings=(), sharpe=math.nan, running=False, next_learning_fit_at=None))
    async with app.run_test(size=(100, 40)) as pilot:
        await shown(pilot)
        assert line(app, "models-override") == "no regime override — o sets one"
        assert line(app, "models-drift") == "strategy Sharpe n/a · no drift warnings"
        assert line(app, "models-fit") == "no fit running · next: volatility 14 May 12:00 · ML + regime — UTC"


async def test_the_chart_follows_the_cursor_and_skips_an_unchanged_asset():
    app = Host(board())
    async with app.run_test(size=(100, 40)) as pilot:
        await shown(pilot)
        chart_widget = app.screen.query_one(ForecastChart)
        assert chart_widget.shown_symbol == BTC and chart_widget.message == ""
        assert line(app, "models-asset").startswith("BTC: gjr — best 24h QLIKE over the last 90 days")
        await pilot.press("down")
        await until(pilot, lambda: chart_widget.shown_symbol == ETH)  # at most 0.1 s: redraws are throttled
        assert chart_widget.message == "ETH price and 24h σ forecast: no chart points yet (120 bars of history)"
        assert "waiting: 120 bars, a first fit needs 500" in line(app, "models-asset")
        await pilot.press("down")
        await until(pilot, lambda: chart_widget.shown_symbol == SOL)
        assert chart_widget.message == ""
        # A new board with the same SOL content (NaNs included) is not a new chart.
        before = chart_widget.throttle.redraws
        app.engine.snapshot.forecasts = board()
        app.screen.refresh_from_engine()
        await pilot.pause(0.2)
        assert chart_widget.throttle.redraws == before and chart_widget.shown_symbol == SOL
        # The cursor stays on SOL when the table is rebuilt with a changed row.
        app.engine.snapshot.forecasts = board(assets=board().assets[:2] + (
            AssetForecast(SOL, sigma_4h=0.06, **chart(12, 150.0, -1.0)),))
        app.screen.refresh_from_engine()
        await pilot.pause()
        assert app.screen.query_one(ForecastTable).selected_symbol == SOL
        assert plain_rows(app)[2][1] == "6.00%"
        await pilot.press("up", "up")
        await until(pilot, lambda: chart_widget.shown_symbol == BTC)


def test_chart_series_drop_missing_points_and_sigma_is_in_percent():
    btc = board().assets[0]
    price_t, price_y, sigma_t, sigma_y = chart_series(btc)
    assert len(price_t) == 24 and len(sigma_t) == 22  # the first two closes had no forecast
    assert sigma_t[0] == btc.chart_times[2] and math.isclose(sigma_y[0], (0.04 + 0.0005 * 2) * 100)
    assert price_t[-1] == T and price_y[0] == 60_000.0 + 450.0


async def test_the_override_dialog_maps_each_digit_to_its_regime():
    app = Host(board())
    async with app.run_test(size=(100, 40)) as pilot:
        await shown(pilot)
        expected = []
        for digit, regime in [("1", "bull"), ("2", "consolidation"), ("3", "bear"), ("4", "crisis"), ("0", None)]:
            await pilot.press("o")
            await until(pilot, lambda: isinstance(app.screen, RegimeOverride))
            await pilot.press(digit)
            expected.append((regime, "o"))
            await until(pilot, lambda: line(app, "models-notice") == f"regime override {regime or 'cleared'} (engine)")
            assert app.engine.calls == expected and isinstance(app.screen, ModelsScreen)


async def test_the_override_dialog_ignores_other_keys_and_escape_cancels():
    app = Host(board())
    async with app.run_test(size=(100, 40)) as pilot:
        await shown(pilot)
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, RegimeOverride))
        await pilot.press("x", "5", "9", "b", "q", "enter", "f", "o")  # wrong keys: nothing happens
        await pilot.pause()
        assert isinstance(app.screen, RegimeOverride) and app.engine.calls == []
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ModelsScreen))
        await pilot.pause()
        assert app.engine.calls == []
        assert line(app, "models-notice") == "regime override unchanged"


async def test_no_second_override_while_the_first_is_being_applied():
    app = Host(board())
    release = asyncio.Event()
    recorded = app.engine.override_regime

    async def slow_override(regime, *, key):
        await release.wait()
        return await recorded(regime, key=key)

    app.engine.override_regime = slow_override
    async with app.run_test(size=(100, 40)) as pilot:
        await shown(pilot)
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, RegimeOverride))
        await pilot.press("4")
        await until(pilot, lambda: line(app, "models-notice") == "setting the regime override to CRISIS…")
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, ModelsScreen)
        assert line(app, "models-notice") == "the last regime override is still being applied"
        release.set()
        await until(pilot, lambda: line(app, "models-notice") == "regime override crisis (engine)")
        assert app.engine.calls == [("crisis", "o")]


async def test_the_outcome_goes_through_the_apps_say_when_it_has_one():
    said: list[str] = []
    app = Host(board())
    app.say = said.append
    async with app.run_test(size=(100, 40)) as pilot:
        await shown(pilot)
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, RegimeOverride))
        await pilot.press("3")
        await until(pilot, lambda: "regime override bear (engine)" in said)
        assert said == ["setting the regime override to BEAR…", "regime override bear (engine)"]
        assert app.engine.calls == [("bear", "o")]
        assert line(app, "models-notice") == "regime override bear (engine)"


async def test_f_opens_the_models_screen_where_o_overrides_and_flatten_still_works(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.engine is not None)
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, ModelsScreen))
        await pilot.pause(0.2)
        assert app.screen.board is app.engine.snapshot.forecasts
        assert line(app, "models-override") == "no regime override — o sets one"
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, RegimeOverride))
        await pilot.press("3")
        await until(pilot, lambda: app.engine.snapshot.forecasts.regime_override == "bear")
        await until(pilot, lambda: line(app, "models-override").startswith("regime override: BEAR"))
        assert "bear" in line(app, "models-notice")  # the engine's own outcome line
        await pilot.press("F")
        await until(pilot, lambda: isinstance(app.focused, Input))
        await pilot.press("f")  # typed into the dialog: no screen change under it
        assert isinstance(app.screen, TypedConfirm)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ModelsScreen))
        await pilot.press("f")
        await until(pilot, lambda: not isinstance(app.screen, ModelsScreen))
        assert len(app.screen_stack) == 1
        # The app says its outcomes on the dashboard's notice line.
        assert "flatten cancelled" in str(app.query_one("#notice").render())
    rows = [r.payload for r in await journal_rows(tmp_path, "model") if r.payload.get("event") == "regime_override"]
    assert [(r["regime"], r["key"]) for r in rows] == [("bear", "o")]


def _snapshot_app() -> Host:
    return Host(board())


async def _settle(pilot) -> None:
    await shown(pilot)
    await pilot.pause(0.2)


def test_models_screen_snapshot_at_80x24(snap_compare):
    assert snap_compare(_snapshot_app(), terminal_size=(80, 24), run_before=_settle)


def test_models_screen_snapshot_at_160x50(snap_compare):
    assert snap_compare(_snapshot_app(), terminal_size=(160, 50), run_before=_settle)
