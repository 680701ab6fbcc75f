"""Account risk: mark-to-market, leverage, cross/isolated liquidation, the leverage check."""

from __future__ import annotations

import math

import pytest

from cockpit.domain.risk import (
    assess,
    check_leverage_ceiling,
    is_risk_reducing,
    simulate_fills,
)
from cockpit.domain.types import Balance, Order, Position, State

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"


def state(wallet, positions=(), marks=None):
    return State(
        timestamp=0.0,
        balance=Balance(wallet),
        positions={p.symbol: p for p in positions},
        marks=marks or {},
    )


def test_mark_to_market_and_effective_leverage():
    # Long 0.5 BTC @ 40000 marked 42000: PnL 0.5*2000 = +1000, notional 21000.
    # Short 5 ETH @ 3000 marked 2900: PnL -5*(2900-3000) = +500, notional 14500.
    # Equity 10000 + 1500 = 11500; gross 35500; net 21000 - 14500 = 6500; leverage 35500/11500.
    snap = assess(state(10_000.0, [Position(BTC, 0.5, 40_000.0), Position(ETH, -5.0, 3_000.0)],
                        {BTC: 42_000.0, ETH: 2_900.0}))
    assert snap.unrealized_pnl == pytest.approx(1_500.0)
    assert snap.equity == pytest.approx(11_500.0)
    assert snap.gross_notional == pytest.approx(35_500.0)
    assert snap.net_notional == pytest.approx(6_500.0)
    assert snap.effective_leverage == pytest.approx(35_500 / 11_500)  # 3.0869...
    assert [p.symbol for p in snap.positions] == [BTC, ETH]
    btc = snap.position(BTC)
    assert btc.unrealized_pnl == pytest.approx(1_000.0)
    assert btc.leverage == pytest.approx(21_000 / 11_500)
    # default tiers, first bracket 0.4 %: 21000*0.004 + 14500*0.004 = 84 + 58 = 142
    assert snap.maintenance_margin == pytest.approx(142.0)
    assert snap.margin_ratio == pytest.approx(142 / 11_500)
    assert snap.position("SOL/USDT:USDT") is None


def test_cross_account_with_offsetting_positions():
    # Wallet 5000, cross. Long 1 BTC @ 30000 (mark 30000, PnL 0, MM 120);
    # short 10 ETH @ 2000 marked 1800 (PnL +2000, MM 18000*0.004 = 72).
    # BTC: (5000 - 72 + 2000 - 30000) / (0.004 - 1) = 23072 / 0.996 = 23164.6586
    # ETH: (5000 - 120 + 0 + 10*2000) / (10*0.004 + 10) = 24880 / 10.04 = 2478.0876
    snap = assess(state(5_000.0, [Position(BTC, 1.0, 30_000.0), Position(ETH, -10.0, 2_000.0)],
                        {BTC: 30_000.0, ETH: 1_800.0}))
    btc, eth = snap.position(BTC), snap.position(ETH)
    assert btc.liquidation_price == pytest.approx(23_072 / 0.996, rel=1e-9)
    assert eth.liquidation_price == pytest.approx(24_880 / 10.04, rel=1e-9)
    # distances: (30000 - 23164.66)/30000 = 0.227845; (2478.09 - 1800)/1800 = 0.376715
    assert btc.liquidation_distance == pytest.approx((30_000 - 23_072 / 0.996) / 30_000)
    assert eth.liquidation_distance == pytest.approx((24_880 / 10.04 - 1_800) / 1_800)
    assert snap.nearest_liquidation_distance == btc.liquidation_distance
    assert snap.equity == pytest.approx(7_000.0)
    assert snap.effective_leverage == pytest.approx(48_000 / 7_000)


def test_isolated_position_uses_its_own_margin_and_leaves_the_cross_wallet():
    # Wallet 20000 of which 10000 is locked in an isolated long 1 BTC @ 30000:
    #   BTC LP = (10000 - 30000) / (0.004 - 1) = 20080.32
    # Cross long 10 ETH @ 2000 is backed by the remaining 10000 only:
    #   ETH LP = (10000 - 20000) / (10*0.004 - 10) = 10000 / 9.96 = 1004.016
    snap = assess(state(20_000.0, [
        Position(BTC, 1.0, 30_000.0, margin_mode="isolated", isolated_margin=10_000.0),
        Position(ETH, 10.0, 2_000.0),
    ], {BTC: 30_000.0, ETH: 2_000.0}))
    assert snap.position(BTC).liquidation_price == pytest.approx(20_000 / 0.996, rel=1e-9)
    assert snap.position(ETH).liquidation_price == pytest.approx(10_000 / 9.96, rel=1e-9)


def test_missing_mark_uses_entry_and_flat_account_is_calm():
    snap = assess(state(1_000.0, [Position(BTC, 0.01, 50_000.0)]))
    assert snap.position(BTC).mark_price == 50_000.0
    assert snap.unrealized_pnl == 0.0
    flat = assess(state(1_000.0))
    assert flat.effective_leverage == 0.0
    assert flat.nearest_liquidation_distance == math.inf
    assert flat.positions == ()


def test_non_positive_equity_means_infinite_leverage():
    # Long 1 BTC @ 30000 marked 20000 with wallet 5000: equity 5000 - 10000 = -5000
    snap = assess(state(5_000.0, [Position(BTC, 1.0, 30_000.0)], {BTC: 20_000.0}))
    assert snap.equity == pytest.approx(-5_000.0)
    assert snap.effective_leverage == math.inf
    assert snap.position(BTC).leverage == math.inf
    assert snap.position(BTC).liquidation_distance == 0.0


def test_simulate_fills_pays_slippage_and_fees():
    # Buy 0.1 BTC at mark 50000 with 0.1 % slippage: price 50050; fee 0.0005*0.1*50050 = 2.5025.
    # Wallet 10000 - 2.5025 = 9997.4975; PnL at mark 0.1*(50000 - 50050) = -5.
    before = state(10_000.0, marks={BTC: 50_000.0})
    after = simulate_fills(before, [Order(BTC, "buy", 0.1), Order(ETH, "buy", 1.0)],
                           slippage=0.001, fee_rate=0.0005)
    assert after.balance.wallet == pytest.approx(9_997.4975)
    assert after.positions[BTC].entry_price == pytest.approx(50_050.0)
    assert ETH not in after.positions  # no mark: skipped
    assert assess(after).equity == pytest.approx(9_992.4975)
    # A sell gets less: closing at 50000*(1-0.001) = 49950 realizes 0.1*(49950-50050) = -10
    closed = simulate_fills(after, [Order(BTC, "sell", 0.1)], slippage=0.001, fee_rate=0.0)
    assert BTC not in closed.positions
    assert closed.balance.wallet == pytest.approx(9_987.4975)


def test_leverage_ceiling_denies_with_reason():
    flat = state(10_000.0, marks={BTC: 50_000.0})
    # 0.7 BTC * 50000 / 10000 = 3.5x
    assert check_leverage_ceiling(flat, [Order(BTC, "buy", 0.7)], ceiling=3.0, slippage=0.0,
                                  fee_rate=0.0) == "DENIED leverage_after=3.50 > ceiling=3.00"
    # 0.6 BTC -> exactly 3.0x
    assert check_leverage_ceiling(flat, [Order(BTC, "buy", 0.6)], ceiling=3.0, slippage=0.0,
                                  fee_rate=0.0) is None


def test_leverage_ceiling_never_blocks_a_reduction():
    # 0.8 BTC at 50000 on 10000 equity = 4x, already above a 3x ceiling.
    over = state(10_000.0, [Position(BTC, 0.8, 50_000.0)], {BTC: 50_000.0})
    # sell 0.1 -> 35000/10000 = 3.5x: still over, but lower, so allowed
    assert check_leverage_ceiling(over, [Order(BTC, "sell", 0.1)], ceiling=3.0, slippage=0.0,
                                  fee_rate=0.0) is None
    # buy 0.1 -> 4.5x
    assert check_leverage_ceiling(over, [Order(BTC, "buy", 0.1)], ceiling=3.0, slippage=0.0,
                                  fee_rate=0.0) == "DENIED leverage_after=4.50 > ceiling=3.00"


@pytest.mark.parametrize(
    "held, side, quantity, expected",
    [
        (1.0, "sell", 0.5, True),
        (1.0, "sell", 1.0, True),  # exact close
        (1.0, "sell", 1.5, False),  # flips
        (1.0, "buy", 0.5, False),
        (0.0, "sell", 0.5, False),
        (-1.0, "buy", 0.4, True),
        (-1.0, "sell", 0.4, False),
    ],
)
def test_is_risk_reducing(held, side, quantity, expected):
    assert is_risk_reducing(held, Order(BTC, side, quantity)) is expected
