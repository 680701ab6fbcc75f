"""The replay venue: latency costs a bounded, seeded adverse move; the ledger counts what was paid."""

from __future__ import annotations

import asyncio
import math

import pytest

from cockpit.backtest.venue import BacktestVenue
from cockpit.domain.types import Balance, Order, Tick
from cockpit.venues.funding import FundingSchedule
from cockpit.venues.instruments import instrument_for_base

BTC = "BTC/USDT:USDT"
BAR = 4 * 3600.0


def venue(seed=1, funding=0.0):
    instruments = {BTC: instrument_for_base("BTC")}
    return BacktestVenue(instruments, Balance(10_000.0), bar_seconds=BAR, seed=seed, taker_fee=0.0005,
                         slippage=0.0005, funding=FundingSchedule.constant(funding), clock=lambda: 0.0)


def test_a_market_order_pays_slippage_plus_a_latency_move_inside_the_bar():
    v = venue()
    v.observe(Tick(BTC, 0.0, 50_000.0, 51_000.0, 49_000.0))  # a 4% range
    fill = asyncio.run(v.submit(Order(BTC, "buy", 0.1))).fill
    extra = fill.price / 50_000.0 - 1 - 0.0005
    low, high = 0.04 * math.sqrt(0.05 / BAR), 0.04 * math.sqrt(0.5 / BAR)
    assert low <= extra <= high
    assert fill.price < 51_000.0  # never beyond the bar
    assert v.ledger.fees == pytest.approx(fill.fee) and v.ledger.traded_notional == pytest.approx(0.1 * fill.price)
    again = venue()
    again.observe(Tick(BTC, 0.0, 50_000.0, 51_000.0, 49_000.0))
    assert asyncio.run(again.submit(Order(BTC, "buy", 0.1))).fill.price == fill.price  # seeded
    assert v.slippage == 0.0005  # the extra is for that one order only


def test_funding_and_a_liquidation_go_to_the_ledger():
    v = venue(funding=0.001)
    v.observe(Tick(BTC, 0.0, 50_000.0, 50_000.0, 50_000.0))
    asyncio.run(v.submit(Order(BTC, "buy", 1.0)))  # 5x a 10,000 USDT wallet
    v.observe(Tick(BTC, 8 * 3600.0 + 1, 50_000.0, 50_000.0, 50_000.0))  # one settlement, longs pay
    assert v.ledger.funding == pytest.approx(50.0)
    v.observe(Tick(BTC, 9 * 3600.0, 45_000.0, 45_000.0, 40_000.0))  # the low wipes the margin
    assert v.ledger.liquidations == 1 and v.account()[1] == {}
