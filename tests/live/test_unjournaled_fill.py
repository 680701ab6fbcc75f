"""A cockpit killed after journaling an order's answer ("filled") and before its fill row: the
restart asks the exchange for that order and journals the fill, instead of finding the positions
different and halting (found by the kill -9 drills, tests/drills/test_kill_order_path.py)."""

from __future__ import annotations

import pytest

from cockpit.domain.types import Gate, Order
from cockpit.engine import public_market
from cockpit.journal.kinds import order_payload
from cockpit.journal.store import Journal
from cockpit.secrets import Credentials
from cockpit.venues.exchange import Exchange
from tests.live.conftest import KEY, SECRET
from tests.live.test_live_session import live_config, open_session, rows

BTC = "BTC/USDT:USDT"
ACCOUNT = "live-binanceusdm"


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("COCKPIT_API_KEY", KEY)
    monkeypatch.setenv("COCKPIT_API_SECRET", SECRET)
    monkeypatch.setattr(public_market, "HISTORY_BARS", 100)  # the models' head start is not what is tested


async def test_a_filled_answer_without_its_fill_row_is_completed_from_the_exchange(binance, tmp_path):
    journal_path = tmp_path / "j.sqlite"
    config = live_config(tmp_path, binance.url)
    await (await open_session(config, journal_path)).close("first start: journal and exchange agree")

    # What the executor had committed when the process died: approval, intent, answer; no fill.
    async with await Journal.open(journal_path) as journal:
        decision = await journal.append("decision", {"decision": "approve", "key": "a", "note": ""}, account=ACCOUNT,
                                        proposal_id="P-1")
        order = Order(BTC, "buy", 0.01, client_order_id=f"ck{journal.identity[:6]}-{decision}-0")
        await journal.append("order", order_payload(order), account=ACCOUNT, symbol=BTC, proposal_id="P-1",
                             client_order_id=order.client_order_id)
    exchange = Exchange("binanceusdm", credentials=Credentials(KEY, SECRET, source="environment"), api_url=binance.url)
    try:
        assert (await exchange.submit(order)).status == "filled"
    finally:
        await exchange.close()
    async with await Journal.open(journal_path) as journal:
        await journal.append("order_result", {"status": "filled", "reason": ""}, account=ACCOUNT, symbol=BTC,
                             proposal_id="P-1", client_order_id=order.client_order_id)

    session = await open_session(config, journal_path)
    try:
        assert session.engine.gate is Gate.ACTIVE
        assert session.engine.snapshot.state.positions[BTC].quantity == pytest.approx(0.01)
    finally:
        await session.close("test")
    fills = [r for r in await rows(journal_path, "fill") if r.client_order_id == order.client_order_id]
    assert len(fills) == 1 and fills[0].payload["quantity"] == pytest.approx(0.01) and fills[0].proposal_id == "P-1"
    reconciled = (await rows(journal_path, "reconcile"))[-1].payload
    assert reconciled["agreed"] is True, reconciled
    assert any(order.client_order_id in text and "journaled now" in text for text in reconciled["found"])
    results = [r.payload["status"] for r in await rows(journal_path, "order_result")]
    assert results == ["filled"]  # asked, not answered again, not sent again
    assert len([o for o in binance.orders if o.client_id == order.client_order_id]) == 1
