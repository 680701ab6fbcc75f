"""Rebuilding a paper account from the journal lands on exactly the directly-settled numbers."""

from __future__ import annotations

import pytest

from cockpit.domain.account import settle_fill, settle_funding
from cockpit.domain.types import Balance, Fill, FundingPayment, Position
from cockpit.journal import Journal, JournalError, kinds, latest_account, rebuild_paper_account
from cockpit.journal import rebuild

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"

EVENTS = [
    Fill(BTC, "buy", 0.5, 40000.1, 8.00002, 10.0, "c-1"),
    Fill(BTC, "buy", 0.25, 42000.3, 4.200003, 11.0, "c-2"),  # adds: weighted entry
    FundingPayment(BTC, 12.0, 0.0001, -3.1000003),
    Fill(BTC, "sell", 0.3, 43000.7, 5.16, 13.0, "c-3"),  # partial close
    Fill(BTC, "sell", 1.0, 41000.9, 16.4, 14.0, "c-4"),  # 0.45 long -> 0.55 short: flips
    Fill(ETH, "buy", 2.0, 2500.25, 2.0, 15.0, "c-5"),
    FundingPayment(ETH, 16.0, -0.0002, 1.2000001),
    Fill(ETH, "sell", 2.0, 1800.5, 12.3, 17.0, "", liquidation=True),  # forced close
]
DEPOSIT = 10000.0


def settle_directly() -> tuple[Balance, dict[str, Position]]:
    balance, positions = Balance(DEPOSIT), {}
    for event in EVENTS:
        if isinstance(event, Fill):
            balance, positions, _ = settle_fill(balance, positions, event)
        else:
            balance = settle_funding(balance, event)
    return balance, positions


async def journal_events(journal: Journal, account: str = "paper") -> None:
    await journal.append(kinds.START, {"version": "0.1.0", "source": "PAPER"}, account=account)
    await journal.append(kinds.DEPOSIT, {"amount": DEPOSIT}, account=account)
    balance, positions = Balance(DEPOSIT), {}
    for event in EVENTS:
        if isinstance(event, Fill):
            balance, positions, pnl = settle_fill(balance, positions, event)
            await journal.append(kinds.FILL, kinds.fill_payload(event, pnl), account=account,
                                 symbol=event.symbol, client_order_id=event.client_order_id or None)
        else:
            await journal.append(kinds.FUNDING, kinds.funding_payload(event), account=account,
                                 symbol=event.symbol)


async def test_fold_equals_direct_settlement(tmp_path):
    balance, positions = settle_directly()
    assert positions[BTC].quantity < 0 and ETH not in positions  # the flip and the liquidation
    async with await Journal.open(tmp_path / "j.sqlite") as journal:
        await journal_events(journal)
        await journal.append(kinds.NOTE, {"text": "other account"}, account="live")
        await journal.append(kinds.DEPOSIT, {"amount": 5.0}, account="live")
        rebuilt = await rebuild_paper_account(journal, "paper")
    assert rebuilt is not None
    assert rebuilt.balance == balance  # exact float equality, not approx
    assert rebuilt.positions == positions
    assert rebuilt.marks == {BTC: 41000.9, ETH: 1800.5}
    assert rebuilt.last_seq == 2 + len(EVENTS)


async def test_restart_rebuilds_the_same_account(tmp_path):
    path = tmp_path / "j.sqlite"
    async with await Journal.open(path) as journal:
        await journal_events(journal)
        before = await rebuild_paper_account(journal, "paper")
    async with await Journal.open(path) as journal:
        after = await rebuild_paper_account(journal, "paper")
        assert await latest_account(journal) == "paper"
    assert after == before
    assert (after.balance, after.positions) == settle_directly()


async def test_paging_does_not_change_the_result(tmp_path, monkeypatch):
    monkeypatch.setattr(rebuild, "_PAGE", 3)
    async with await Journal.open(tmp_path / "j.sqlite") as journal:
        await journal_events(journal)
        rebuilt = await rebuild_paper_account(journal, "paper")
    assert (rebuilt.balance, rebuilt.positions) == settle_directly()


async def test_marks_are_latest_row_overlaid_by_later_fills(tmp_path):
    async with await Journal.open(tmp_path / "j.sqlite") as journal:
        fill = kinds.fill_payload(Fill(BTC, "buy", 0.1, 39000.0, 0.0, 1.0), 0.0)
        await journal.append(kinds.FILL, fill, account="a", symbol=BTC)
        await journal.append(kinds.MARKS, {"prices": {ETH: 2000.0}}, account="a")
        await journal.append(kinds.MARKS, {"prices": {BTC: 41000.0, ETH: 2600.0}}, account="a")
        eth = kinds.fill_payload(Fill(ETH, "buy", 1.0, 2550.0, 0.0, 2.0), 0.0)
        await journal.append(kinds.FILL, eth, account="a", symbol=ETH)
        rebuilt = await rebuild_paper_account(journal, "a")
    assert rebuilt.marks == {BTC: 41000.0, ETH: 2550.0}
    assert rebuilt.positions[BTC] == Position(BTC, 0.1, 39000.0)


async def test_unknown_account_and_account_without_money(tmp_path):
    async with await Journal.open(tmp_path / "j.sqlite") as journal:
        assert await rebuild_paper_account(journal, "nobody") is None
        assert await latest_account(journal) is None
        await journal.append(kinds.START, {"pid": 1}, account="first")
        await journal.append(kinds.START, {"pid": 2}, account="second")
        await journal.append(kinds.NOTE, {"text": "x"}, account="first")
        assert await latest_account(journal) == "second"
        empty = await rebuild_paper_account(journal, "second")
    assert empty.balance == Balance(0.0) and empty.positions == {} and empty.marks == {}


async def test_damaged_fill_row_is_reported(tmp_path):
    async with await Journal.open(tmp_path / "j.sqlite") as journal:
        await journal.append(kinds.FILL, {"side": "buy"}, account="a", symbol=BTC)
        with pytest.raises(JournalError, match="row 1: fill payload is unusable"):
            await rebuild_paper_account(journal, "a")


async def test_the_equity_peak_is_the_highest_marked_equity(tmp_path):
    async with await Journal.open(tmp_path / "j.sqlite") as journal:
        await journal.append(kinds.DEPOSIT, {"amount": 10_000.0}, account="p")
        await journal.append(kinds.FILL, {"side": "buy", "quantity": 1.0, "price": 40_000.0, "fee": 0.0}, account="p", symbol=BTC)
        for price in (44_000.0, 38_000.0):  # equity 14,000 then 8,000
            await journal.append(kinds.MARKS, {"prices": {BTC: price}}, account="p")
        account = await rebuild_paper_account(journal, "p")
    assert account.peak_equity == pytest.approx(14_000.0)
