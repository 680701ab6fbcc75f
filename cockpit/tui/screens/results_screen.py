"""The backtest results screen: a saved `cockpit backtest --json` file as equity and drawdown
charts, the strategy table and the claims table. It needs no engine: `cockpit results FILE`
opens it alone, the command palette inside a running cockpit opens it over the dashboard."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static, TabbedContent, TabPane

from cockpit.backtest.results_file import ResultsFileError, SavedResults, load_results
from cockpit.tui.screens.path_prompt import PathPrompt
from cockpit.tui.widgets.results_chart import ResultsChart
from cockpit.tui.widgets.strategy_table import StrategyTable

TABS = ("equity", "drawdown", "strategies", "claims")
# The verdict's colour: the liquidation bands' theme variables, so every theme reads the same.
VERDICT_VARIABLES = {"holds": "liq-safe", "does not hold": "liq-danger"}


class ResultsScreen(Screen[None]):
    """Four tabs, 1-4 or ←/→ on the tab row: equity, drawdown, strategies, claims."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="results-back"),
        Binding("1", "tab('equity')", "Equity", id="results-equity"),
        Binding("2", "tab('drawdown')", "Drawdown", id="results-drawdown"),
        Binding("3", "tab('strategies')", "Strategies", id="results-strategies"),
        Binding("4", "tab('claims')", "Claims", id="results-claims"),
    ]
    HELP_TITLE = "On the backtest results screen"
    DEFAULT_CSS = """
    ResultsScreen { background: $surface; }
    ResultsScreen > #results-title { height: auto; background: $panel; padding: 0 1; }
    ResultsScreen TabbedContent { height: 1fr; }
    ResultsScreen TabPane { padding: 0; height: 1fr; }
    ResultsScreen #results-claims-text { padding: 0 1; }
    """

    def __init__(self, results: SavedResults) -> None:
        super().__init__()
        self.results = results

    def compose(self) -> ComposeResult:
        results = self.results
        title = Text("Backtest", style="bold")
        title.append(f" · {results.path.name} · {results.describe_run()}", style="")
        yield Static(title, id="results-title")
        with TabbedContent(initial="equity"):
            with TabPane("1 Equity", id="equity"):
                yield ResultsChart("equity", results.strategies, id="results-equity-chart")
            with TabPane("2 Drawdown", id="drawdown"):
                yield ResultsChart("drawdown", results.strategies, id="results-drawdown-chart")
            with TabPane("3 Strategies", id="strategies"):
                yield StrategyTable(results.strategies, id="results-table")
            with TabPane("4 Claims", id="claims"):
                with VerticalScroll():
                    yield Static(self._claims(), id="results-claims-text")
        yield Footer()

    def _claims(self) -> Text:
        claims = self.results.claims
        if not claims:
            return Text("no claims in this file (a sweep measures none)")
        variables = self.app.theme_variables
        out = Text()
        for k, claim in enumerate(claims):
            if k:
                out.append("\n\n")
            colour = variables.get(VERDICT_VARIABLES.get(claim.verdict, ""), "")
            out.append(claim.verdict.upper(), style=f"bold {colour}".strip())
            out.append(f": {claim.claim}\n")
            out.append(f"measured: {claim.measured}", style="italic")
        return out

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._recolour)

    def _recolour(self, _theme: object) -> None:
        # The verdicts take the theme's colours: redraw them in the new one.
        self.query_one("#results-claims-text", Static).update(self._claims())

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_back(self) -> None:
        self.dismiss()


def ask_and_open_results(app: App) -> None:
    """Asks for a result file's path and opens it in a ResultsScreen over the current screen; a
    file that cannot be shown is one line in the dialog, which stays open."""
    loaded: list[SavedResults] = []

    async def read(path: str) -> tuple[bool, str]:
        try:
            # Off the event loop: the engine's prices keep flowing while the file is read.
            loaded.append(await asyncio.to_thread(load_results, path))
        except ResultsFileError as error:
            return False, str(error)
        return True, f"backtest results: {loaded[-1].path}"

    def opened(line: str | None) -> None:
        if line is not None and loaded:
            app.push_screen(ResultsScreen(loaded[-1]))

    app.push_screen(
        PathPrompt("Open backtest results",
                   "A JSON file written by cockpit backtest --json OUT (a relative path is from the current folder).",
                   read),
        opened,
    )
