"""The models screen: what the forecasting side thinks of each asset (volatility, score, regime,
model in use, fits), the trader's regime override, the drift warnings and a price / forecast
chart of the asset under the cursor."""

from __future__ import annotations

import math
import time

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from cockpit.engine.forecast_board import AssetForecast, ForecastBoard
from cockpit.tui.screens.regime_override import CLEAR, RegimeOverride
from cockpit.tui.widgets.forecast_chart import ForecastChart
from cockpit.tui.widgets.forecast_table import ForecastTable

REFRESH_SECONDS = 1.0
NEXT_FIT_FORMAT = "%d %b %H:%M"
OVERRIDE_WORKER = "regime-override"


def override_line(board: ForecastBoard) -> str:
    """Returns the regime override line: "regime override: BEAR — o changes, o then 0 clears",
    or "no regime override — o sets one"."""
    if board.regime_override:
        return f"regime override: {board.regime_override.upper()} — o changes, o then 0 clears"
    return "no regime override — o sets one"


def sharpe_text(sharpe: float) -> str:
    """Returns the strategy's Sharpe ratio to 2 decimals ("1.23"), or "n/a" when unknown."""
    return f"{sharpe:.2f}" if math.isfinite(sharpe) else "n/a"


def _when(at: float | None) -> str:
    return "—" if at is None or not math.isfinite(at) else time.strftime(NEXT_FIT_FORMAT, time.gmtime(at))


def fit_line(board: ForecastBoard) -> str:
    """Returns whether a fit runs now and when the next ones are due, in UTC (80 columns): "fit
    running… · next: volatility 14 May 12:00 · ML + regime 15 May 00:00 UTC"."""
    running = "fit running…" if board.running else "no fit running"
    return (f"{running} · next: volatility {_when(board.next_volatility_fit_at)}"
            f" · ML + regime {_when(board.next_learning_fit_at)} UTC")


def asset_line(asset: AssetForecast | None) -> str:
    """Returns one line on the asset under the cursor: its model and why, and the fit note when
    the fit waits, fell back or failed ("" when there is no asset)."""
    if asset is None:
        return ""
    model = f"{asset.model} — {asset.model_reason}" if asset.model_reason else (asset.model or "no model yet")
    note = f" · {asset.fit_status}: {asset.fit_note}" if asset.fit_note else ""
    return f"{asset.asset}: {model} · {asset.bars} bars{note}"


class ModelsScreen(Screen[None]):
    """Reads the engine's forecast board once a second. Arrow keys choose the charted asset, `o`
    sets or clears the regime override; F (flatten) and q (quit) still work from here."""

    DEFAULT_CSS = """
    ModelsScreen { layout: vertical; background: $surface; }
    ModelsScreen > .models-line { height: auto; padding: 0 1; }
    ModelsScreen > #models-asset { color: $text-muted; }
    ModelsScreen > #models-notice { height: 1; padding: 0 1; background: $panel; }
    """
    BINDINGS = [
        Binding("escape,f", "app.pop_screen", "Back", id="models-back"),
        Binding("o", "override", "Regime", id="models-override"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._board = ForecastBoard()
        self._lines: dict[str, object] = {}
        self._theme = ""  # the theme the lines were drawn in: a switch redraws them in the new one

    def compose(self) -> ComposeResult:
        yield ForecastTable(id="forecasts")
        yield Static("", id="models-asset", classes="models-line")
        yield Static("", id="models-override", classes="models-line")
        yield Static("", id="models-drift", classes="models-line")
        yield Static("", id="models-fit", classes="models-line")
        yield ForecastChart(id="forecast-chart")
        yield Static("", id="models-notice")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(ForecastTable).focus()
        self.refresh_from_engine()
        self.set_interval(REFRESH_SECONDS, self.refresh_from_engine)

    @property
    def board(self) -> ForecastBoard:
        """Returns the forecast board shown now."""
        return self._board

    def refresh_from_engine(self) -> None:
        """Redraws from the engine's newest forecast board (each part skips an unchanged one)."""
        engine = getattr(self.app, "engine", None)
        if engine is None or not self.is_attached:
            return
        board = engine.snapshot.forecasts
        if board is self._board and self._lines and self._theme == self.app.theme:
            return
        self._board = board
        self._theme = self.app.theme
        self.query_one(ForecastTable).show(board)
        self._set_line("models-override", override_line(board))
        self._set_line("models-drift", self._drift(board))
        self._set_line("models-fit", fit_line(board))
        self._show_selected()

    def _drift(self, board: ForecastBoard) -> Text:
        text = Text(f"strategy Sharpe {sharpe_text(board.sharpe)} · ")
        if not board.warnings:
            text.append("no drift warnings")
            return text
        count = len(board.warnings)
        text.append(f"{count} drift warning{'s' if count > 1 else ''}:")
        colour = self.app.theme_variables.get("warning", "")
        for warning in board.warnings:
            text.append(f"\n  {warning}", style=colour)
        return text

    def _set_line(self, widget_id: str, content: str | Text) -> None:
        key = content.markup if isinstance(content, Text) else content
        if self._lines.get(widget_id) == key:
            return
        self._lines[widget_id] = key
        self.query_one(f"#{widget_id}", Static).update(content)

    def _show_selected(self) -> None:
        symbol = self.query_one(ForecastTable).selected_symbol
        asset = self._board.asset(symbol) if symbol else None
        self.query_one(ForecastChart).show(asset)
        self._set_line("models-asset", asset_line(asset))

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_selected()

    def action_override(self) -> None:
        """Opens the regime override dialog; a choice is sent to the engine by a worker."""
        if getattr(self.app, "engine", None) is None:
            self._say("still starting: the regime override can be set once the engine runs")
            return
        if any(w.name == OVERRIDE_WORKER and not w.is_finished for w in self.app.workers):
            # The worker is exclusive: a second choice now would cancel the first mid-journal.
            self._say("the last regime override is still being applied")
            return
        self.app.push_screen(RegimeOverride(self._board.regime_override), self._chosen)

    def _chosen(self, choice: str | None) -> None:
        if choice is None:
            self._say("regime override unchanged")
            return
        regime = None if choice == CLEAR else choice
        # An app worker, not this screen's: leaving the screen must not cancel an override that
        # the engine is already applying and journaling.
        self.app.run_worker(
            self._override(regime), name=OVERRIDE_WORKER, group=OVERRIDE_WORKER,
            exclusive=True, exit_on_error=False,
        )

    async def _override(self, regime: str | None) -> None:
        engine = self.app.engine
        self._say(f"setting the regime override to {regime.upper()}…" if regime else "clearing the regime override…")
        try:
            outcome = await engine.override_regime(regime, key="o")
        except Exception as error:
            self._say(f"regime override failed: {error}")
            raise  # the worker's error state: the app reports it as for its other workers
        self._say(outcome)
        self.refresh_from_engine()

    def _say(self, text: str) -> None:
        # Here while this screen is open; through the app's say() (the dashboard's notice line)
        # too, so the outcome is still there when the trader goes back.
        if self.is_attached:
            self.query_one("#models-notice", Static).update(text)
        say = getattr(self.app, "say", None)
        if callable(say):
            say(text)
