"""`cockpit results FILE`: the backtest results screen on its own, without an engine or a
journal. It reads one file and sends nothing anywhere."""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding

from cockpit.backtest.results_file import SavedResults
from cockpit.tui.screens.results_screen import ResultsScreen
from cockpit.tui.themes import ThemeCatalogue, ThemeError, load_themes


class ResultsApp(App[None]):
    """Shows one saved backtest result; Escape or q quits."""

    TITLE = "cockpit results"
    BINDINGS = [Binding("q", "quit", "Quit", id="results-quit")]

    def __init__(self, results: SavedResults, *, theme: str = "cockpit-dark", themes: ThemeCatalogue | None = None) -> None:
        """Raises ThemeError (one line) when `theme` is not among `themes` (default: shipped)."""
        super().__init__()
        self.results = results
        self.themes = themes if themes is not None else load_themes()
        problem = self.themes.unknown_theme(theme)
        if problem:
            raise ThemeError(problem)
        for registered in self.themes.themes.values():
            self.register_theme(registered)
        self.theme = theme

    def on_mount(self) -> None:
        self.push_screen(ResultsScreen(self.results), lambda _: self.exit())
