"""The backtest results screen: a real `cockpit backtest --json` file (BTC, Jan-Feb 2020) as
charts and tables, by keystrokes; a missing, garbage or foreign file is one line and exit 2."""

from __future__ import annotations

import json

import pytest
from textual.widgets import TabbedContent

from cockpit.backtest.results_file import ResultsFileError, load_results
from cockpit.tui.results_app import ResultsApp
from cockpit.tui.screens.results_screen import ResultsScreen
from cockpit.tui.widgets.results_chart import ResultsChart
from cockpit.tui.widgets.strategy_table import StrategyTable
from tests.conftest import MARKET
from tests.test_cli import cockpit, refused
from tests.tui.test_app import until


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Returns the path of a short real backtest's JSON (two baselines, two months of 4h bars)."""
    btc = MARKET / "binance_spot" / "BTCUSDT_4h.csv.gz"
    if not btc.exists():
        pytest.skip("../shared/data/market is not beside this checkout")
    folder = tmp_path_factory.mktemp("results")
    out = folder / "jan-feb-2020.json"
    run = cockpit("backtest", "--data", str(btc), "--from", "2020-01-01", "--to", "2020-03-01",
                  "--strategies", "hold_1x,static_3x", "--json", str(out), "--workers", "1",
                  "--journal-dir", str(folder / "journals"))
    assert run.returncode == 0, run.stderr
    return out


def test_the_saved_file_carries_curves_that_match_its_figures(saved):
    results = load_results(saved)
    assert [s.name for s in results.strategies] == ["hold_1x", "static_3x"]
    for strategy in results.strategies:
        curve = strategy.curve
        assert curve is not None and len(curve.time) == len(curve.equity) == 359
        assert curve.equity[-1] == pytest.approx(strategy.figures["final_equity"])
        assert max(curve.drawdown) == pytest.approx(strategy.figures["max_drawdown"])
    assert results.describe_run() == "BTCUSDT_4h · 2020-01-01 to 2020-03-01 · 359 bars"


async def test_the_screen_shows_the_charts_the_table_and_the_claims_by_keys(saved):
    app = ResultsApp(load_results(saved))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ResultsScreen))
        screen = app.screen
        tabs = screen.query_one(TabbedContent)
        assert tabs.active == "equity"
        assert all(chart.message == "" for chart in screen.query(ResultsChart))
        await pilot.press("2")
        assert tabs.active == "drawdown"
        await pilot.press("3")
        assert tabs.active == "strategies"
        table = screen.query_one(StrategyTable)
        assert table.row_count == 2
        row = [str(cell) for cell in table.get_row("static_3x")]
        assert row[:4] == ["static_3x", "14,394", "+841.7%", "46.5%"]
        await pilot.press("4")
        assert tabs.active == "claims"
        claims = str(screen.query_one("#results-claims-text").render())
        assert claims.count("NOT MEASURED") == 4 and "3x survives what 10x does not" in claims
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert not app.is_running


async def test_a_file_written_before_curves_were_saved_shows_its_tables_and_says_so(saved, tmp_path):
    document = json.loads(saved.read_text())
    del document["curves"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(document))
    app = ResultsApp(load_results(old))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ResultsScreen))
        assert app.screen.query_one(ResultsChart).message.startswith("no curves in this file")
        assert app.screen.query_one(StrategyTable).row_count == 2


@pytest.mark.parametrize("content, expected", [
    (None, "no file"),
    ("not json {", "is not JSON (line 1 column 1"),
    ('{"rows": []}', 'is not a cockpit backtest result: it has no "strategies"'),
    ('[1, 2, 3]', "is not a cockpit backtest result"),
    ('{"strategies": {}}', "holds no strategies"),
    ('{"strategies": {"a": {"cagr": "lots"}}}', "strategies.a.cagr is not a number"),
    ('{"strategies": {"a": {}}, "curves": {"a": {"time": [2, 1], "equity": [1, 1], "drawdown": [0, 0]}}}',
     "curves.a.time does not run forward"),
    ('{"strategies": {"a": {}}, "claims": [{"claim": 1}]}', "claims[0] needs the texts"),
])
def test_a_file_that_is_not_a_result_is_one_line(tmp_path, content, expected):
    path = tmp_path / "result.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ResultsFileError) as info:
        load_results(path)
    assert expected in str(info.value) and str(path) in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("content, expected", [
    (None, "no file"),
    ("garbage, not JSON", "is not JSON"),
    ('{"strategies": 3}', "is not a cockpit backtest result"),
])
def test_cockpit_results_with_a_bad_file_is_one_line_and_status_2(tmp_path, content, expected):
    path = tmp_path / "result.json"
    if content is not None:
        path.write_text(content)
    refused(cockpit("results", str(path)), expected)


def test_results_screen_snapshot_at_80x24(saved, snap_compare):
    app = ResultsApp(load_results(saved))
    assert snap_compare(app, terminal_size=(80, 24), run_before=lambda pilot: pilot.pause(0.3))


def test_results_screen_snapshot_at_160x50(saved, snap_compare):
    app = ResultsApp(load_results(saved))
    assert snap_compare(app, terminal_size=(160, 50), run_before=lambda pilot: pilot.pause(0.3))


def test_results_strategy_table_snapshot_at_80x24(saved, snap_compare):
    app = ResultsApp(load_results(saved))

    async def run_before(pilot) -> None:
        await pilot.pause(0.1)
        await pilot.press("3")
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_results_claims_snapshot_at_80x24(saved, snap_compare):
    app = ResultsApp(load_results(saved))

    async def run_before(pilot) -> None:
        await pilot.pause(0.1)
        await pilot.press("4")
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
