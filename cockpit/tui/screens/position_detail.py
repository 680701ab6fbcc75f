"""The position screen: one position's liquidation ladder, the stop that rests for it, the hedge
leg, and its unrealized PnL since this start. ← → step through the open positions."""

from __future__ import annotations


from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

from cockpit.domain.ladder import liquidation_ladder
from cockpit.domain.risk import PositionRisk
from cockpit.domain.stops import stop_price
from cockpit.domain.types import Order
from cockpit.engine.hedge_watch import HedgeReading
from cockpit.engine.sizing_watch import DEFAULT_SIGMA_4H
from cockpit.engine.snapshot import EngineSnapshot
from cockpit.tui import format as fmt
from cockpit.tui.widgets.liquidation_ladder import LiquidationLadder
from cockpit.tui.widgets.pnl_chart import PnlChart

REFRESH_SECONDS = 1.0
LADDER_STEPS = 5


def _base(symbol: str) -> str:
    return symbol.split("/")[0]


def stop_line(row: PositionRisk, stop: Order | None, *, sigma_4h: float | None, tick_size: float | None) -> str:
    """Returns what protects the position: the resting stop with its distance from the mark and
    its room before the liquidation price ("stop: sell 0.166 @ 56,040 (-6.6% from mark · 26.0%
    before liquidation) · covers the whole position"), or, when none rests, where a volatility
    stop would sit now."""
    if stop is not None and stop.stop_price:
        move = stop.stop_price / row.mark_price - 1.0
        room = ""
        if row.liquidation_price > 0:
            room = f" · {fmt.percent(abs(stop.stop_price - row.liquidation_price) / row.mark_price)} before liquidation"
        covers = ("the whole position" if stop.quantity >= abs(row.quantity) - 1e-12
                  else f"{stop.quantity:g} of the {abs(row.quantity):g} held")
        return (f"stop: {stop.side} {stop.quantity:g} @ {fmt.price(stop.stop_price)} "
                f"({fmt.percent(move, signed=True)} from mark{room}) · covers {covers}")
    sigma = sigma_4h or DEFAULT_SIGMA_4H
    level = stop_price(row.side, row.mark_price, sigma, row.liquidation_price, tick_size=tick_size)
    if not level.feasible:
        return f"stop: none rests · no stop fits inside liquidation ({fmt.percent(row.liquidation_distance)} away): cut it"
    return (f"stop: none rests on {_base(row.symbol)} · a volatility stop now would sit at {fmt.price(level.price)} "
            f"({fmt.percent(-level.distance if row.side == 'long' else level.distance, signed=True)}, σ4h {sigma:.2%})")


def hedge_line(symbol: str, snapshot: EngineSnapshot, hedge_asset: str) -> str:
    """Returns the hedge leg as it concerns `symbol`: not configured, filling its window, this
    position *is* the hedge, or the hedge that covers this core position (ratio in USDT of hedge
    per USDT of core, correlation, how much of it is held)."""
    if not hedge_asset:
        return "hedge: none ([hedge] asset is not set)"
    reading: HedgeReading | None = snapshot.hedge
    hedge_symbol = f"{hedge_asset}/USDT:USDT"
    if reading is None:
        return f"hedge: {hedge_asset} leg · its price window is still filling: no ratio yet"
    figures = f"ratio {reading.ratio:.2f} · correlation {reading.correlation:.2f} over {reading.samples} samples"
    state = "tracks the core" if reading.hedges else f"off: {reading.warning.message}" if reading.warning else "off"
    if symbol == hedge_symbol:
        return f"hedge: this is the hedge leg · {figures} · {state}"
    held = snapshot.state.positions.get(hedge_symbol)
    holding = f"holding {held.quantity:+g} {hedge_asset}" if held is not None else f"no {hedge_asset} held"
    return f"hedge: {hedge_asset} short against the core · {figures} · {holding} · {state}"


class PositionDetail(Screen[None]):
    """Reads the engine's snapshot once a second and the resting stops when the position
    changes; Escape (or p) returns, ← → switch position, F and q still work from here."""

    DEFAULT_CSS = """
    PositionDetail { layout: vertical; background: $surface; }
    PositionDetail > .position-line { height: auto; padding: 0 1; }
    PositionDetail > #position-head { text-style: bold; }
    PositionDetail > LiquidationLadder { border-top: solid $primary; }
    PositionDetail > PnlChart { border-top: solid $primary; }
    """
    HELP_TITLE = "On a position (p)"
    BINDINGS = [
        Binding("escape,p", "app.pop_screen", "Back", id="position-back"),
        Binding("left", "step(-1)", "Previous", id="position-previous", key_display="←"),
        Binding("right", "step(1)", "Next", id="position-next", key_display="→"),
    ]

    def __init__(self, symbol: str | None = None, *, watch_distance: float, danger_distance: float) -> None:
        super().__init__()
        self.symbol = symbol
        self._watch = watch_distance
        self._danger = danger_distance
        self._stops: dict[str, Order] | None = None
        self._stop_error = ""
        self._stops_for: object = None  # the positions the stops were read for

    def compose(self) -> ComposeResult:
        yield Static("", id="position-head", classes="position-line")
        yield Static("", id="position-stop", classes="position-line")
        yield Static("", id="position-hedge", classes="position-line")
        ladder = LiquidationLadder(watch_distance=self._watch, danger_distance=self._danger, id="position-ladder")
        ladder.can_focus = False  # ← → belong to the screen
        yield ladder
        yield PnlChart(id="position-chart")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_from_engine()
        self.set_interval(REFRESH_SECONDS, self.refresh_from_engine)

    def _symbols(self, snapshot: EngineSnapshot) -> list[str]:
        return [row.symbol for row in snapshot.risk.positions]

    def action_step(self, by: int) -> None:
        """Shows the previous (-1) or next (+1) open position, in the positions table's order."""
        engine = getattr(self.app, "engine", None)
        if engine is None:
            return
        symbols = self._symbols(engine.snapshot)
        if not symbols:
            return
        index = symbols.index(self.symbol) if self.symbol in symbols else -1
        self.symbol = symbols[(index + by) % len(symbols)]
        self.refresh_from_engine()

    def refresh_from_engine(self) -> None:
        """Redraws from the engine's newest snapshot (the ladder and chart skip an unchanged one)."""
        engine = getattr(self.app, "engine", None)
        if engine is None or not self.is_attached:
            return
        snapshot = engine.snapshot
        symbols = self._symbols(snapshot)
        if self.symbol is None and symbols:
            self.symbol = symbols[0]
        positions_key = tuple((s, p.quantity) for s, p in sorted(snapshot.state.positions.items()))
        if positions_key != self._stops_for:
            self._stops_for = positions_key
            self.read_stops()
        row = snapshot.risk.position(self.symbol) if self.symbol else None
        where = f" · {symbols.index(self.symbol) + 1}/{len(symbols)} ←→" if row and len(symbols) > 1 else ""
        if row is None:
            what = f"{_base(self.symbol)}: no open position" if self.symbol else "no open positions"
            self.query_one("#position-head", Static).update(Text(what))
            self.query_one("#position-stop", Static).update("")
            self.query_one("#position-hedge", Static).update("")
            self.query_one(LiquidationLadder).show(None)
            self.query_one(PnlChart).show(engine.pnl_history(self.symbol) if self.symbol else None)
            return
        position = snapshot.state.positions[row.symbol]
        band = fmt.distance_band(row.liquidation_distance, watch=self._watch, danger=self._danger)
        liquidation = fmt.price(row.liquidation_price) if row.liquidation_price > 0 else "none"
        head = Text()
        head.append(f"{_base(row.symbol)} {row.side} {abs(row.quantity):g} · entry {fmt.price(row.entry_price)} · "
                    f"mark {fmt.price(row.mark_price)} · uPnL {fmt.money(row.unrealized_pnl, signed=True)} · "
                    f"lev {fmt.leverage(row.leverage)}\n")
        head.append(f"liq price {liquidation} · ")
        head.append(f"distance {fmt.with_band_mark(fmt.percent(row.liquidation_distance), band)}",
                    style=self.app.theme_variables.get(f"liq-{band}", ""))
        head.append(f" · liq all {fmt.percent(-snapshot.account_liquidation_move, signed=True)}"
                    f" · {position.margin_mode}{where}")
        self.query_one("#position-head", Static).update(head)
        stop = (self._stops or {}).get(row.symbol)
        instrument = snapshot.state.instruments.get(row.symbol)
        if self._stops is None and not self._stop_error:
            stop_text = "stop: asking the venue…"
        elif self._stop_error:
            stop_text = f"stop: the venue did not answer ({self._stop_error})"
        else:
            stop_text = stop_line(row, stop, sigma_4h=engine.sigma_4h(row.symbol),
                                  tick_size=instrument.tick_size if instrument else None)
        self.query_one("#position-stop", Static).update(Text(stop_text))
        self.query_one("#position-hedge", Static).update(Text(hedge_line(row.symbol, snapshot, engine.config.hedge.asset)))
        ladder = liquidation_ladder(snapshot.state, row.symbol, steps=LADDER_STEPS,
                                    stop_price=stop.stop_price if stop is not None else None)
        self.query_one(LiquidationLadder).show(ladder)
        self.query_one(PnlChart).show(engine.pnl_history(row.symbol))

    @work(exclusive=True, group="position-stops", exit_on_error=False)
    async def read_stops(self) -> None:
        """Asks the venue which stops rest (once per change of the positions, not per tick: a live
        exchange answers each ask with a request)."""
        engine = getattr(self.app, "engine", None)
        if engine is None:
            return
        try:
            self._stops, self._stop_error = await engine.resting_stops(), ""
        except Exception as error:  # noqa: BLE001 - an exchange failure is shown, not raised
            self._stops, self._stop_error = None, str(error) or type(error).__name__
        self.refresh_from_engine()
