"""Manual order entry: symbol, side, quantity or notional, reduce-only, with leverage and
liquidation distance after it updating as you type. Enter queues it as a proposal of kind
"manual"; nothing is sent until it is approved (a) like any other proposal."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, Static

from cockpit.domain.order_size import OrderSizeError, resolve_symbol
from cockpit.domain.types import Order, OrderSide
from cockpit.tui import format as fmt
from cockpit.tui.widgets.steady_input import SteadyInput
from cockpit.tui.widgets.trade_preview import TradePreviewPanel

SIDES: dict[str, OrderSide] = {"b": "buy", "buy": "buy", "long": "buy", "s": "sell", "sell": "sell", "short": "sell"}
# A notional is a number with a USDT mark: "500 usdt", "500usdt", "500u", "$500", "500$", "500 usd".
_NOTIONAL = re.compile(r"^\$\s*(?P<a>[^\s$]+)$|^(?P<b>[^\s$]+?)\s*(?:\$|usdt|usd|u)$")


@dataclass(frozen=True, slots=True)
class ManualEntry:
    """What the form holds, parsed: symbol (unified), side, and a quantity (base units) or a
    notional (USDT)."""

    symbol: str
    side: OrderSide
    quantity: float | None
    notional: float | None
    reduce_only: bool


def parse_side(text: str) -> OrderSide:
    """Returns "buy" or "sell" for buy / b / long, sell / s / short (any case). Raises
    OrderSizeError (one line) for anything else."""
    side = SIDES.get(text.strip().lower())
    if side is None:
        raise OrderSizeError("side: type buy or sell" if not text.strip() else f"side {text.strip()!r}: type buy or sell")
    return side


def parse_size(text: str) -> tuple[float | None, float | None]:
    """Returns (quantity in base units, None) for a bare number, or (None, notional in USDT) for
    a number marked as USDT ("500 usdt", "500u", "$500"). Raises OrderSizeError (one line) when
    it is empty or not a number; zero and negatives are refused by the engine, with the sizes."""
    raw = text.strip().lower().replace(",", "")
    if not raw:
        raise OrderSizeError("size: type a quantity (0.05) or a notional in USDT (500 usdt)")
    match = _NOTIONAL.match(raw)
    number = (match.group("a") or match.group("b")) if match else raw
    try:
        value = float(number)
    except ValueError:
        raise OrderSizeError(f"size {text.strip()!r} is not a number: type 0.05 or 500 usdt") from None
    if not math.isfinite(value):
        raise OrderSizeError(f"size {text.strip()!r} is not a number: type 0.05 or 500 usdt")
    return (None, value) if match else (value, None)


class ManualOrder(ModalScreen[str | None]):
    """Dismisses with the engine's one-line outcome once the order is queued as a proposal, or
    with None on Escape. Input that cannot become an allowed order is said on the error line and
    queues nothing."""

    DEFAULT_CSS = """
    ManualOrder { align: center middle; }
    ManualOrder > Vertical { width: 78; max-width: 100%; height: auto; max-height: 100%;
                             border: round $warning; background: $surface; padding: 0 1; }
    ManualOrder Label, ManualOrder Static { width: 100%; }
    ManualOrder Horizontal { height: 1; margin: 1 0 0 0; }
    ManualOrder Horizontal Label { width: auto; margin: 0 1 0 0; }
    ManualOrder #order-symbol { width: 10; margin: 0 2 0 0; }
    ManualOrder #order-side { width: 8; margin: 0 2 0 0; }
    ManualOrder #order-size { width: 16; margin: 0 2 0 0; }
    ManualOrder #order-reduce { width: auto; }
    ManualOrder Input { background: $boost; }
    ManualOrder #order-error { color: $error; }
    ManualOrder .order-muted { color: $text-muted; }
    """
    HELP_TITLE = "Entering a manual order (n)"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="order-cancel")]

    def __init__(self, *, leverage_ceiling: float, watch_distance: float, danger_distance: float) -> None:
        super().__init__()
        self._preview_args = dict(leverage_ceiling=leverage_ceiling, watch_distance=watch_distance,
                                  danger_distance=danger_distance)
        self._queueing = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("[b]Manual order[/b] · market · queued as a proposal that a approves")
            with Horizontal():
                yield Label("symbol")
                yield SteadyInput(placeholder="BTC", id="order-symbol", compact=True)
                yield Label("side")
                yield SteadyInput(placeholder="buy", id="order-side", compact=True)
                yield Label("size")
                yield SteadyInput(placeholder="0.05 / 500 usdt", id="order-size", compact=True)
                yield Checkbox("reduce-only", id="order-reduce", compact=True)
            yield Static("", id="order-orders")
            yield TradePreviewPanel(id="order-preview", **self._preview_args)
            yield Label("", id="order-error")
            yield Label("Tab: next field · space: reduce-only · Enter: queue it · Escape: cancel",
                        classes="order-muted")

    def on_mount(self) -> None:
        self._update_preview()
        self.query_one("#order-symbol", Input).focus()

    def entry(self) -> ManualEntry:
        """Returns the form parsed. Raises OrderSizeError (one line) on the first field that
        cannot be read, in the order symbol, side, size."""
        engine = self.app.engine
        symbol = resolve_symbol(self.query_one("#order-symbol", Input).value, engine.snapshot.state.instruments)
        side = parse_side(self.query_one("#order-side", Input).value)
        quantity, notional = parse_size(self.query_one("#order-size", Input).value)
        return ManualEntry(symbol, side, quantity, notional, self.query_one(Checkbox).value)

    def _orders(self, entry: ManualEntry) -> tuple[Order, ...]:
        return self.app.engine.manual_orders(entry.symbol, entry.side, quantity=entry.quantity,
                                             notional=entry.notional, reduce_only=entry.reduce_only)

    def on_input_changed(self, _event: Input.Changed) -> None:
        self._update_preview()

    def on_checkbox_changed(self, _event: Checkbox.Changed) -> None:
        self._update_preview()

    def _update_preview(self) -> None:
        engine = self.app.engine
        panel = self.query_one(TradePreviewPanel)
        line = self.query_one("#order-orders", Static)
        self.query_one("#order-error", Label).update("")
        try:
            orders = self._orders(self.entry())
        except OrderSizeError as problem:
            line.update("")
            panel.show(None, problem=str(problem))
            return
        line.update(Text(describe(orders, engine.snapshot.state.marks)))
        panel.show(engine.preview(orders), targets=engine.target_weights())

    async def on_input_submitted(self, _event: Input.Submitted) -> None:
        if self._queueing:
            return
        engine = self.app.engine
        error = self.query_one("#order-error", Label)
        try:
            entry = self.entry()
            orders = self._orders(entry)
        except OrderSizeError as problem:
            error.update(Text(f"{problem}: nothing was queued"))
            return
        preview = engine.preview(orders)
        if preview.denial:
            error.update(Text(f"refused: {preview.denial}: nothing was queued"))
            return
        self._queueing = True
        try:
            before = {p.id for p in engine.pending_proposals()}
            outcome = await engine.propose_manual(entry.symbol, entry.side, quantity=entry.quantity,
                                                  notional=entry.notional, reduce_only=entry.reduce_only)
        finally:
            self._queueing = False
        if any(p.kind == "manual" and p.id not in before for p in engine.pending_proposals()):
            self.dismiss(outcome)
        else:
            error.update(Text(outcome))  # refused at the last moment (prices moved): still here

    def action_cancel(self) -> None:
        self.dismiss(None)


def describe(orders: tuple[Order, ...], marks) -> str:
    """Returns the order and its stop in one line: "buy 0.05 BTC ≈ 3,000.00 USDT · stop
    BTC@56,040 (whole position)"."""
    order, stops = orders[0], orders[1:]
    base = order.symbol.split("/")[0]
    mark = marks.get(order.symbol)
    value = f" ≈ {fmt.money(order.quantity * mark)} USDT" if mark else ""
    text = f"{order.side} {order.quantity:g} {base}{value}" + (" reduce-only" if order.reduce_only else "")
    for stop in stops:
        text += f" · stop {base}@{fmt.price(stop.stop_price or 0.0)} (whole position)"
    return text
