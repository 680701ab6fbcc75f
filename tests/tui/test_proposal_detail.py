"""The proposal screen (d or Enter) and the size editor (e), driven by keystrokes on the real
engine, paper venue and journal: reason and figures, before and after, approve and veto from the
detail, edits that are applied, refused or cancelled."""

from __future__ import annotations

import re

import pytest
from textual.widgets import Input

from cockpit.tui.screens.edit_size import EditSize, parse_scale
from cockpit.tui.screens.proposal_detail import ProposalDetail
from cockpit.tui.widgets.trade_preview import TradePreviewPanel
from cockpit.domain.order_size import OrderSizeError
from tests.support import BTC, ETH, T0, FakeClock
from tests.tui.desk_support import notice, plain
from tests.tui.test_app import journal_rows, make_app, started_with_a_proposal, until


def preview_text(app) -> str:
    """The preview panel as plain text, runs of spaces as one (column widths follow the figures)."""
    return re.sub(r" +", " ", plain(app.screen.query_one(TradePreviewPanel).content))


def market_orders(proposal) -> dict:
    return {(o.symbol, o.side): o.quantity for o in proposal.orders if o.order_type == "market"}


async def test_d_shows_the_reason_the_orders_and_the_account_before_and_after(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await started_with_a_proposal(pilot, app, source)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ProposalDetail))
        await pilot.pause(0.2)
        assert str(app.screen.query_one("#proposal-head").render()).startswith("P-1 rebalance · expires in ")
        assert "drift BTC -50.0 pts beyond band 5.0" in str(app.screen.query_one("#proposal-reason").render())
        assert "orders: buy 0.166 BTC, buy 2 ETH, stops BTC@" in str(app.screen.query_one("#proposal-orders").render())
        numbers = str(app.screen.query_one("#proposal-numbers").render())
        assert "drift_BTC" in numbers and "-50.0 pts" in numbers
        text = preview_text(app)
        # Flat before; the proposal's own figure after (1.60x), and the target weights beside.
        assert "leverage 0.00x → 1.60x ceiling 3.00x" in text
        assert "BTC weight +0.0% → +49.9% target +50.0%" in text
        assert "passes the pre-trade checks now" in text
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ProposalDetail))


async def test_enter_on_the_proposal_opens_it_and_a_there_approves_it_with_key_a(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await started_with_a_proposal(pilot, app, source)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ProposalDetail))
        await pilot.press("a")
        await until(pilot, lambda: len(app.engine.snapshot.state.positions) == 2)
        await until(pilot, lambda: not isinstance(app.screen, ProposalDetail))
        assert "P-1 approved: 2/2 filled" in notice(app)
    decisions = await journal_rows(tmp_path, "decision")
    assert [(d.payload["decision"], d.payload["key"]) for d in decisions] == [("approve", "a")]


async def test_v_in_the_detail_vetoes_and_sends_nothing(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await started_with_a_proposal(pilot, app, source)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ProposalDetail))
        await pilot.press("v")
        await until(pilot, lambda: not isinstance(app.screen, ProposalDetail))
        assert app.engine.snapshot.proposals == () and "P-1 vetoed" in notice(app)
    assert await journal_rows(tmp_path, "order") == []


async def test_a_proposal_gone_while_shown_says_so_and_its_keys_do_nothing(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await started_with_a_proposal(pilot, app, source)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ProposalDetail))
        await app.engine.veto("P-1", key="v")
        await until(pilot, lambda: "no longer pending" in str(app.screen.query_one("#proposal-head").render()))
        await pilot.press("a", "e")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ProposalDetail)
        assert "no longer pending: nothing to" in str(app.screen.query_one("#proposal-hint").render())
    assert [d.payload["decision"] for d in await journal_rows(tmp_path, "decision")] == ["veto"]


async def test_d_and_e_with_nothing_pending_say_so_and_open_nothing(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.engine is not None)
        for key in ("d", "e"):
            await pilot.press(key)
            await pilot.pause(0.1)
            assert len(app.screen_stack) == 1
            assert "no proposal selected" in notice(app)


# ---- the size editor ---------------------------------------------------------------------------


async def test_e_edits_the_size_with_a_live_preview_and_a_then_sends_the_edited_orders(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await started_with_a_proposal(pilot, app, source)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.focused, Input))
        assert "leverage 0.00x → 1.60x" in preview_text(app)  # as it stands
        await pilot.press(*"50%")
        await until(pilot, lambda: "0.80x" in preview_text(app))
        assert "edited: buy 0.083 BTC, buy 1 ETH" in str(app.screen.query_one("#edit-orders").render())
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, EditSize))
        assert "P-1 edited x0.5: buy 0.166→0.083 BTC, buy 2→1 ETH" in notice(app)
        assert app.engine.snapshot.state.positions == {}  # an edit sends nothing
        assert market_orders(app.engine.snapshot.proposals[0]) == {(BTC, "buy"): 0.083, (ETH, "buy"): 1.0}
        await pilot.pause(0.3)
        await pilot.press("a")
        await until(pilot, lambda: len(app.engine.snapshot.state.positions) == 2)
        assert app.engine.snapshot.state.positions[BTC].quantity == pytest.approx(0.083)
    decisions = await journal_rows(tmp_path, "decision")
    assert [(d.payload["decision"], d.payload["key"]) for d in decisions] == [("edit", "e"), ("approve", "a")]
    edit = decisions[0].payload
    assert edit["scale"] == 0.5 and edit["note"] == "x0.5: buy 0.166→0.083 BTC, buy 2→1 ETH"
    orders = await journal_rows(tmp_path, "order")
    assert [o.payload["quantity"] for o in orders if o.payload["order_type"] == "market"] == [0.083, 1.0]


@pytest.mark.parametrize("typed, line", [
    ("abc", "'abc' is not a number: type a scale like 0.5 or 50%: nothing changed"),
    ("0", "scale must be a number above zero, not 0.0: nothing changed"),
    ("-1", "scale must be a number above zero, not -1.0: nothing changed"),
    ("2", "refused: DENIED leverage_after=3.20 > ceiling=3.00: nothing changed"),
    ("0.000001", "x1e-06 rounds every order down to nothing: nothing changed"),
])
async def test_a_scale_the_checks_refuse_is_said_and_changes_nothing(tmp_path, typed, line):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await started_with_a_proposal(pilot, app, source)
        proposal = app.engine.snapshot.proposals[0]
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.focused, Input))
        await pilot.press(*typed, "enter")
        await until(pilot, lambda: str(app.screen.query_one("#edit-error").render()) == line)
        assert isinstance(app.screen, EditSize)
        assert app.engine.snapshot.proposals == (proposal,)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, EditSize))
        assert "edit cancelled: the proposal is unchanged" in notice(app)
    assert await journal_rows(tmp_path, "decision") == []


async def test_e_from_the_detail_edits_that_proposal_and_the_detail_shows_it(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await started_with_a_proposal(pilot, app, source)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ProposalDetail))
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.focused, Input))
        await pilot.press("x", "0", ".", "5", "enter")
        await until(pilot, lambda: isinstance(app.screen, ProposalDetail))
        await until(pilot, lambda: "size edited x0.5" in str(app.screen.query_one("#proposal-head").render()))
        assert "0.80x" in preview_text(app)


@pytest.mark.parametrize("text, scale", [("0.5", 0.5), ("50%", 0.5), ("x2", 2.0), (" 1,5 ", 1.5)])
def test_scales_are_read_as_a_trader_types_them(text, scale):
    assert parse_scale(text) == scale


@pytest.mark.parametrize("text", ["", "half", "inf", "nan", "5x"])
def test_a_scale_that_is_not_a_number_is_one_line(text):
    with pytest.raises(OrderSizeError):
        parse_scale(text)


@pytest.mark.parametrize("size", [(80, 24), (160, 50)])
def test_proposal_screen_snapshot(tmp_path, snap_compare, size):
    app, source = make_app(tmp_path, clock=FakeClock(T0))

    async def run_before(pilot) -> None:
        await started_with_a_proposal(pilot, app, source)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ProposalDetail))
        await pilot.pause(1.2)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24), (160, 50)])
def test_size_editor_snapshot(tmp_path, snap_compare, size):
    app, source = make_app(tmp_path, clock=FakeClock(T0))

    async def run_before(pilot) -> None:
        await started_with_a_proposal(pilot, app, source)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.focused, Input))
        await pilot.press(*"0.5")
        await until(pilot, lambda: "0.80x" in preview_text(app))
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
