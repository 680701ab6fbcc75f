"""A new synthetic-demo account opens holding a book, granted without any order."""

from __future__ import annotations

import pytest

from cockpit.engine.bootstrap import MarketChoice, demo_book_weights, open_engine
from cockpit.journal.rebuild import rebuild_paper_account
from cockpit.journal.store import Journal
from cockpit.venues.synthetic import SyntheticSource
from tests.support import BTC, ETH, config

DEMO = MarketChoice("demo", "paper-demo", "demo", grant_demo_book=True)


def test_demo_weights_move_ten_points_from_the_last_target_to_the_first():
    assert demo_book_weights({BTC: 0.5, ETH: 0.3}) == pytest.approx({BTC: 0.6, ETH: 0.2})
    assert demo_book_weights({BTC: 0.5}) == pytest.approx({BTC: 0.4})


async def test_a_new_demo_account_holds_a_book_and_a_proposal_is_due(tmp_path):
    async with await Journal.open(tmp_path / "j.sqlite") as journal:
        engine = await open_engine(config(), DEMO, journal, source=SyntheticSource(seed=7))
        positions = engine.snapshot.state.positions
        # 0.6 * 2x * 10,000 = 12,000 USDT of BTC at 60,000 = 0.2 BTC; 0.2 * 2 * 10,000 = 4,000 USDT
        # of ETH at 3,000 = 1.333 ETH (step 0.001, rounded down).
        assert positions[BTC].quantity == pytest.approx(0.2)
        assert positions[ETH].quantity == pytest.approx(1.333)
        assert engine.snapshot.drift[BTC] == pytest.approx(0.1, abs=1e-3)
        assert engine.snapshot.risk.positions[0].liquidation_distance > 0
        assert await journal.entries(kinds=["order"]) == []  # nothing was sent
        grants = await journal.entries(kinds=["fill"])
        assert {g.client_order_id for g in grants} == {"demo-grant"}
        assert all(g.payload["fee"] == 0 for g in grants)
        assert "no order was sent" in (await journal.entries(kinds=["note"]))[0].payload["text"]
        rebuilt = await rebuild_paper_account(journal, "paper-demo")
        assert rebuilt.positions[BTC].quantity == pytest.approx(0.2)
        await engine.stop("test")

        again = await open_engine(config(), DEMO, journal, source=SyntheticSource(seed=7))
        assert len(await journal.entries(kinds=["fill"])) == 2  # granted once, not on every start
        assert again.snapshot.state.positions[BTC].quantity == pytest.approx(0.2)


async def test_live_and_replay_accounts_start_in_cash(tmp_path):
    async with await Journal.open(tmp_path / "j.sqlite") as journal:
        choice = MarketChoice("live", "paper-live", "prices")
        engine = await open_engine(config(), choice, journal, source=SyntheticSource(seed=7))
        assert engine.snapshot.state.positions == {}
        assert await journal.entries(kinds=["fill"]) == []
