"""CSV export and the one-line text view."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone

from cockpit.domain.types import Order, Proposal
from cockpit.journal import Journal, export_csv, format_entries, kinds
from cockpit.journal.store import Entry

BTC = "BTC/USDT:USDT"
T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


async def _fill_journal(journal: Journal) -> None:
    proposal = Proposal(
        "P-3", "rebalance", (Order(BTC, "sell", 0.01, reduce_only=True),), "drift 6% > band 5%",
        {"drift": 0.06, "band": 0.05}, 1.25, 2.1, float("inf"), T0, T0 + 60, {BTC: 40000.0},
    )
    await journal.append(kinds.PROPOSAL, kinds.proposal_payload(proposal), account="paper",
                         proposal_id="P-3", ts=T0)
    await journal.append(kinds.DECISION, {"decision": "approve", "key": "a", "note": None},
                         account="paper", proposal_id="P-3", ts=T0 + 1)
    await journal.append(kinds.ORDER, kinds.order_payload(proposal.orders[0]), account="paper",
                         symbol=BTC, proposal_id="P-3", client_order_id="P-3-0", ts=T0 + 2)
    await journal.append(kinds.NOTE, {"text": 'comma, "quote"\nnewline'}, account="live",
                         ts=T0 + 3)


async def test_export_csv_parses_back(tmp_path):
    out = io.StringIO()
    async with await Journal.open(tmp_path / "j.sqlite") as journal:
        await _fill_journal(journal)
        written = await export_csv(journal, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert written == len(rows) == 4
    assert list(rows[0]) == ["seq", "time_utc", "account", "kind", "symbol", "proposal_id",
                             "client_order_id", "payload"]
    assert [r["kind"] for r in rows] == ["proposal", "decision", "order", "note"]
    assert datetime.fromisoformat(rows[0]["time_utc"]) == datetime.fromtimestamp(T0, timezone.utc)
    assert rows[0]["time_utc"].endswith("+00:00")
    proposal = json.loads(rows[0]["payload"])
    assert proposal["liquidation_distance_after"] == "inf"
    assert proposal["orders"] == [{"symbol": BTC, "side": "sell", "quantity": 0.01,
                                   "reduce_only": True, "order_type": "market"}]
    assert rows[2]["client_order_id"] == "P-3-0" and rows[1]["symbol"] == ""
    assert json.loads(rows[3]["payload"]) == {"text": 'comma, "quote"\nnewline'}
    assert " " not in rows[2]["payload"]  # compact JSON


async def test_export_limit_and_account(tmp_path):
    async with await Journal.open(tmp_path / "j.sqlite") as journal:
        await _fill_journal(journal)
        newest = io.StringIO()
        assert await export_csv(journal, newest, limit=2) == 2
        paper = io.StringIO()
        assert await export_csv(journal, paper, account="paper") == 3
    assert [r["seq"] for r in csv.DictReader(io.StringIO(newest.getvalue()))] == ["3", "4"]
    assert {r["account"] for r in csv.DictReader(io.StringIO(paper.getvalue()))} == {"paper"}


async def test_format_entries(tmp_path):
    async with await Journal.open(tmp_path / "j.sqlite") as journal:
        await _fill_journal(journal)
        lines = format_entries(await journal.entries())
    assert len(lines) == 4 and all("\n" not in line for line in lines)
    assert "2023-11-14 22:13:20 UTC" in lines[0]
    assert "P-3 rebalance: sell 0.01 BTC/USDT:USDT RO; drift 6% > band 5%" in lines[0]
    assert "decision" in lines[1] and "approve key=a proposal=P-3" in lines[1]
    assert "sell 0.01 market reduce-only id=P-3-0" in lines[2] and BTC in lines[2]
    assert 'comma, "quote" newline' in lines[3]


def test_format_entries_survives_odd_payloads():
    odd = [
        Entry(1, T0, "a", "fill", BTC, None, None, {"_raw": "{broken"}),
        Entry(2, T0, "a", "someday", None, None, None, {"x": 1}),
        Entry(3, T0, "a", "funding", BTC, None, None, {"rate": 0.0001, "amount": -1.5}),
        Entry(4, T0, "a", "marks", None, None, None, {"prices": {BTC: 40000.5}}),
        Entry(5, T0, "a", "note", None, None, None, {"text": "x" * 500}),
    ]
    lines = format_entries(odd)
    assert len(lines) == 5
    assert '{"x":1}' in lines[1]
    assert "rate 0.01% amount -1.5" in lines[2]
    assert f"{BTC}=40000.5" in lines[3]
    assert len(lines[4]) < 250
