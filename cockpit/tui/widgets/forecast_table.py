"""The forecast table: per asset the volatility forecasts, their score, the regime, the model in
use and how its fits are going."""

from __future__ import annotations

import math
import time

from rich.text import Text
from textual.widgets import DataTable

from cockpit.engine.forecast_board import FAILED, FALLBACK, AssetForecast, ForecastBoard

# Short headers and values so a row fits 80 columns with the longest values ("CONSOL.
# (override)", model "ensemble", status "fallback"); the lines under the table spell things out.
COLUMNS = ("Asset", "σ 4h", "σ 24h", "Score", "Regime", "Model", "Fit", "Status")
# A score at or above these is styled in the danger / warning colour of the theme.
SCORE_DANGER = 90
SCORE_WARNING = 75
# "consolidation" alone would push the row past 80 columns once "(override)" follows it.
SHORT_REGIME = {"consolidation": "consol."}


def sigma_text(sigma: float | None) -> str:
    """Returns a forecast sigma (a fraction) as a percentage with 2 decimals ("3.12%"), or "—"
    before the first fit (None) or when it is not finite."""
    if sigma is None or not math.isfinite(sigma):
        return "—"
    return f"{sigma * 100:.2f}%"


def score_text(score: float) -> str:
    """Returns the 0-100 volatility score as an integer ("87"), or "n/a" when unknown (NaN)."""
    return "n/a" if not math.isfinite(score) else f"{round(score):d}"


def score_band(score: float) -> str:
    """Returns "danger" (score >= 90), "warning" (>= 75) or "" for the score as shown (rounded),
    so a cell reading 90 is never left plain."""
    if not math.isfinite(score):
        return ""
    shown = round(score)
    if shown >= SCORE_DANGER:
        return "danger"
    if shown >= SCORE_WARNING:
        return "warning"
    return ""


def regime_text(forecast: AssetForecast) -> str:
    """Returns the regime as the table shows it: "bear 62%" from the model, "bear (rules)" when
    the rules decided, "BEAR (override)" while the trader's override holds, "—" when unknown."""
    if not forecast.regime:
        return "—"
    name = SHORT_REGIME.get(forecast.regime, forecast.regime)
    if forecast.regime_source == "override":
        return f"{name.upper()} (override)"
    if forecast.regime_source == "rules":
        return f"{name} (rules)"
    if math.isfinite(forecast.regime_probability):
        return f"{name} {forecast.regime_probability * 100:.0f}%"
    return name


def fit_time_text(at: float | None) -> str:
    """Returns the wall-clock time of the last fit as UTC "HH:MM", or "—" before the first."""
    if at is None or not math.isfinite(at):
        return "—"
    return time.strftime("%H:%M", time.gmtime(at))


def forecast_cells(forecast: AssetForecast) -> tuple[tuple[str, str], ...]:
    """Returns one row of the table as (text, band) pairs, band being "danger", "warning" or ""
    (plain): the score by its value, the status when the fit failed or fell back."""
    status_band = "warning" if forecast.fit_status in (FAILED, FALLBACK) else ""
    return (
        (forecast.asset, ""),
        (sigma_text(forecast.sigma_4h), ""),
        (sigma_text(forecast.sigma_24h), ""),
        (score_text(forecast.score), score_band(forecast.score)),
        (regime_text(forecast), ""),
        (forecast.model or "—", ""),
        (fit_time_text(forecast.last_fit_at), ""),
        (forecast.fit_status, status_band),
    )


# Numbers are right-aligned so decimals line up; words stay left.
_RIGHT = frozenset({1, 2, 3})


class ForecastTable(DataTable):
    """One row per forecast asset; the cursor chooses the asset the chart below shows."""

    DEFAULT_CSS = """
    ForecastTable { height: auto; max-height: 10; border-top: solid $primary; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self._shown: tuple | None = None

    def on_mount(self) -> None:
        self._add_columns()
        self.border_title = "Forecasts"

    def _add_columns(self) -> None:
        self.add_columns(*(Text(name, justify="right" if i in _RIGHT else "left") for i, name in enumerate(COLUMNS)))

    @property
    def selected_symbol(self) -> str | None:
        """Returns the symbol of the row under the cursor, or None when the table is empty."""
        if self.row_count == 0:
            return None
        row_key, _ = self.coordinate_to_cell_key((min(self.cursor_row, self.row_count - 1), 0))
        return row_key.value

    def show(self, board: ForecastBoard) -> None:
        """Redraws the rows when anything shown changed, keeping the cursor on the same asset."""
        rows = tuple((a.symbol, forecast_cells(a)) for a in board.assets)
        # The theme is part of what is shown: after a switch the same rows are redrawn in its colours.
        if (rows, self.app.theme) == self._shown:
            return
        self._shown = (rows, self.app.theme)
        selected = self.selected_symbol
        # Columns are rebuilt so their widths follow what is shown now, not the widest ever.
        self.clear(columns=True)
        self._add_columns()
        for symbol, cells in rows:
            self.add_row(*(self._cell(i, text, band) for i, (text, band) in enumerate(cells)), key=symbol)
        symbols = [symbol for symbol, _ in rows]
        if selected in symbols:
            self.move_cursor(row=symbols.index(selected))
        count = len(rows)
        self.border_title = f"Forecasts · {count} asset{'s' if count != 1 else ''}" if count else "Forecasts · none yet"

    def _cell(self, column: int, text: str, band: str) -> Text:
        justify = "right" if column in _RIGHT else "left"
        if not band:
            return Text(text, justify=justify)
        # The theme's own colours ($error / $warning), never literal ones.
        colour = self.app.theme_variables.get("error" if band == "danger" else "warning", "")
        return Text(text, style=f"bold {colour}".strip(), justify=justify)
