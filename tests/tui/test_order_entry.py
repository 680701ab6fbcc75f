"""Manual order entry (key n), driven by keystrokes on the real engine, paper venue and journal:
the preview follows the typing, Enter queues a "manual" proposal that sends nothing until a, and
input that cannot be an allowed order is one line that queues nothing."""

from __future__ import annotations

import re

import pytest
from textual.widgets import Input

from cockpit.domain.order_size import OrderSizeError
from cockpit.tui.screens.order_entry import ManualOrder, parse_side, parse_size
from cockpit.tui.widgets.trade_preview import TradePreviewPanel
from tests.support import BTC, T0, FakeClock
from tests.tui.desk_support import holding_the_book, notice, plain
from tests.tui.test_app import journal_rows, make_app, until


def preview_text(app) -> str:
    return re.sub(r" +", " ", plain(app.screen.query_one(TradePreviewPanel).content))


async def opened(pilot, app, source) -> None:
    """Holds the book (a manual order has positions to add to and to reduce), then opens n."""
    await holding_the_book(pilot, app, source)
    await pilot.press("n")
    await until(pilot, lambda: isinstance(app.screen, ManualOrder) and isinstance(app.focused, Input))


async def fill(pilot, symbol: str, side: str, size: str) -> None:
    """Types the three fields, Tab between them (the cursor starts in symbol)."""
    await pilot.press(*symbol, "tab", *side, "tab", *size)


async def test_n_previews_as_you_type_and_enter_queues_a_manual_proposal_that_a_approves(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app, source)
        assert "no symbol: type one of BTC, ETH" in preview_text(app)
        await fill(pilot, "btc", "buy", "3000 usdt")
        await until(pilot, lambda: "leverage 1.60x → 1.90x" in preview_text(app))
        assert "buy 0.05 BTC ≈ 3,000.00 USDT · stop BTC@" in str(app.screen.query_one("#order-orders").render())
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, ManualOrder))
        (manual,) = [p for p in app.engine.snapshot.proposals if p.kind == "manual"]
        assert f"{manual.id} manual buy 0.05 BTC queued: a approves it" in notice(app)
        assert app.engine.snapshot.state.positions[BTC].quantity == pytest.approx(0.166)  # nothing sent yet
        await pilot.pause(0.3)
        await pilot.press("a")
        await until(pilot, lambda: app.engine.snapshot.state.positions[BTC].quantity == pytest.approx(0.216))
    proposals = [r for r in await journal_rows(tmp_path, "proposal") if r.payload["kind"] == "manual"]
    assert len(proposals) == 1
    decisions = await journal_rows(tmp_path, "decision")
    assert [(d.proposal_id, d.payload["decision"], d.payload["key"]) for d in decisions][-1] == (manual.id, "approve", "a")


async def test_reduce_only_is_a_space_on_the_tickbox_and_gets_no_stop(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app, source)
        await fill(pilot, "ETH", "sell", "0.5")
        await pilot.press("tab", "space")
        await until(pilot, lambda: "reduce-only" in str(app.screen.query_one("#order-orders").render()))
        assert "stop" not in str(app.screen.query_one("#order-orders").render())
        await pilot.press("shift+tab", "enter")
        await until(pilot, lambda: not isinstance(app.screen, ManualOrder))
        (manual,) = [p for p in app.engine.snapshot.proposals if p.kind == "manual"]
        assert [(o.side, o.quantity, o.reduce_only, o.order_type) for o in manual.orders] == [("sell", 0.5, True, "market")]


@pytest.mark.parametrize("symbol, side, size, line", [
    ("DOGE", "buy", "1", "unknown symbol 'DOGE': tradable here: BTC, ETH: nothing was queued"),
    ("BTC", "hold", "1", "side 'hold': type buy or sell: nothing was queued"),
    ("BTC", "buy", "lots", "size 'lots' is not a number: type 0.05 or 500 usdt: nothing was queued"),
    ("BTC", "buy", "0", "quantity must be a number above zero, not 0.0: nothing was queued"),
    ("BTC", "buy", "-1", "quantity must be a number above zero, not -1.0: nothing was queued"),
    ("BTC", "buy", "0usdt", "notional must be a number above zero, not 0.0: nothing was queued"),
    ("BTC", "buy", "1", "refused: DENIED leverage_after=7.65 > ceiling=3.00: nothing was queued"),
    ("BTC", "buy", "0.1", "refused: DENIED exposure BTC=1.60 > cap=1.50 of equity: nothing was queued"),
])
async def test_input_that_cannot_be_an_allowed_order_is_one_line_and_queues_nothing(tmp_path, symbol, side, size, line):
    from tests.support import config

    app, source = make_app(tmp_path, cfg=config(limits={"max_asset_exposure": 1.5}) if "exposure" in line else None)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app, source)
        await fill(pilot, symbol, side, size)
        await pilot.press("enter")
        await until(pilot, lambda: str(app.screen.query_one("#order-error").render()) == line)
        assert isinstance(app.screen, ManualOrder)
        assert app.engine.snapshot.proposals == ()
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ManualOrder))
        assert "manual order cancelled: nothing was queued" in notice(app)
    assert [r for r in await journal_rows(tmp_path, "proposal") if r.payload["kind"] == "manual"] == []


async def test_a_halted_gate_refuses_a_manual_order_in_the_preview_and_on_enter(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await holding_the_book(pilot, app, source)
        await app.engine.flatten(key="F")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.focused, Input))
        await fill(pilot, "BTC", "b", "0.01")
        await until(pilot, lambda: "refused now: DENIED gate=HALTED" in preview_text(app))
        await pilot.press("enter")
        await until(pilot, lambda: "DENIED gate=HALTED" in str(app.screen.query_one("#order-error").render()))
        assert app.engine.snapshot.proposals == ()


@pytest.mark.parametrize("text, expected", [
    ("0.05", (0.05, None)), ("500 usdt", (None, 500.0)), ("500USDT", (None, 500.0)), ("$1,500", (None, 1500.0)),
    ("500u", (None, 500.0)), ("500$", (None, 500.0)), ("-2", (-2.0, None)),
])
def test_sizes_are_read_as_a_quantity_or_a_notional(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "usdt", "$", "1e999", "nan", "five"])
def test_a_size_that_is_not_a_number_is_refused(text):
    with pytest.raises(OrderSizeError):
        parse_size(text)


@pytest.mark.parametrize("text, side", [("b", "buy"), ("BUY", "buy"), ("long", "buy"), ("s", "sell"), ("Short", "sell")])
def test_sides_a_trader_types(text, side):
    assert parse_side(text) == side


@pytest.mark.parametrize("size", [(80, 24), (160, 50)])
def test_order_entry_snapshot(tmp_path, snap_compare, size):
    app, source = make_app(tmp_path, clock=FakeClock(T0))

    async def run_before(pilot) -> None:
        await opened(pilot, app, source)
        await fill(pilot, "btc", "buy", "3000 usdt")
        await until(pilot, lambda: "1.90x" in preview_text(app))
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
