"""Liquidation price, maintenance tiers and distance: hand-worked cases and properties."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cockpit.domain.liquidation import (
    SHORT_LIQUIDATED_AT_ANY_PRICE,
    liquidation_distance,
    liquidation_price,
    liquidation_price_tiered,
    maintenance_margin,
    maintenance_tier,
)
from cockpit.domain.tiers import DEFAULT_TIERS, brackets_to_tiers
from cockpit.domain.types import MaintenanceTier

TIERS_FILE = Path(__file__).resolve().parents[2].parent / "shared/data/market/binance_usdm_leverage_tiers.json"
FLAT_TIER = (MaintenanceTier(0.0, math.inf, 0.004, 0.0, 125.0),)


def isolated(side, quantity, entry, margin, rate=0.004, amount=0.0):
    return liquidation_price(
        side=side, quantity=quantity, entry_price=entry, wallet_balance=margin,
        maintenance_margin_rate=rate, maintenance_amount=amount,
    )


@pytest.fixture(scope="module")
def btc_tiers():
    if not TIERS_FILE.exists():
        pytest.skip(f"tier data not found at {TIERS_FILE}")
    return json.loads(TIERS_FILE.read_text())["BTC/USDT:USDT"]


# --- hand-worked, isolated, MMR 0.4 %, cum 0 ----------------------------------------------------

@pytest.mark.parametrize(
    "side, margin, expected",
    [
        # 3x long, 1 BTC at 30000, margin 10000: (10000 - 30000) / (0.004 - 1) = 20000 / 0.996
        ("long", 10_000.0, 20_000 / 0.996),  # 20080.3212851...
        # 10x long, margin 3000: (3000 - 30000) / (0.004 - 1) = 27000 / 0.996
        ("long", 3_000.0, 27_000 / 0.996),  # 27108.4337349...
        # 3x short: (10000 + 30000) / (0.004 + 1) = 40000 / 1.004
        ("short", 10_000.0, 40_000 / 1.004),  # 39840.6374501...
        # 10x short: (3000 + 30000) / 1.004 = 33000 / 1.004
        ("short", 3_000.0, 33_000 / 1.004),  # 32868.5258964...
    ],
)
def test_isolated_hand_worked(side, margin, expected):
    assert isolated(side, 1.0, 30_000.0, margin) == pytest.approx(expected, rel=1e-9)
    tiered = liquidation_price_tiered(
        side=side, quantity=1.0, entry_price=30_000.0, wallet_balance=margin, tiers=FLAT_TIER
    )
    assert tiered == pytest.approx(expected, rel=1e-9)


def test_design_rule_of_thumb_distances():
    # 3x long: (30000 - 20080.3213) / 30000 = 0.33066; 10x: (30000 - 27108.4337) / 30000 = 0.09639
    assert liquidation_distance("long", 30_000.0, 20_000 / 0.996) == pytest.approx(0.3306559, rel=1e-6)
    assert liquidation_distance("long", 30_000.0, 27_000 / 0.996) == pytest.approx(0.0963855, rel=1e-6)


def test_cannot_be_liquidated_returns_zero():
    # 1x long with margin 30000 + 1000: numerator 31000 - 30000 > 0 over a negative denominator
    assert isolated("long", 1.0, 30_000.0, 31_000.0) == 0.0
    assert isolated("long", 0.0, 30_000.0, 100.0) == 0.0
    # MMR 100 % long: denominator 1*1 - 1 = 0
    assert isolated("long", 1.0, 30_000.0, 100.0, rate=1.0) == 0.0


def test_short_bust_at_every_price_is_not_reported_as_safe():
    # cross short with other positions losing more than everything: numerator
    # 1000 - 0 + (-50000) + 0 + 30000 = -19000 < 0 -> below maintenance at any price
    price = liquidation_price(
        side="short", quantity=1.0, entry_price=30_000.0, wallet_balance=1_000.0,
        maintenance_margin_rate=0.004, maintenance_amount=0.0, margin_mode="cross",
        other_unrealized_pnl=-50_000.0,
    )
    assert price == SHORT_LIQUIDATED_AT_ANY_PRICE
    assert liquidation_distance("short", 30_000.0, price) == 0.0


def test_isolated_ignores_other_positions():
    base = isolated("long", 1.0, 30_000.0, 10_000.0)
    with_others = liquidation_price(
        side="long", quantity=1.0, entry_price=30_000.0, wallet_balance=10_000.0,
        maintenance_margin_rate=0.004, maintenance_amount=0.0, margin_mode="isolated",
        other_maintenance_margin=5_000.0, other_unrealized_pnl=-3_000.0,
    )
    assert with_others == base


def test_cross_with_offsetting_position():
    # Long 1 BTC at 30000 in cross; the other position is short 10 ETH entered 2000, marked 1800:
    # its PnL = -10 * (1800 - 2000) = +2000, its maintenance = 18000 * 0.004 = 72. Wallet 5000.
    # LP = (5000 - 72 + 2000 + 0 - 30000) / (0.004 - 1) = 23072 / 0.996 = 23164.658634...
    price = liquidation_price(
        side="long", quantity=1.0, entry_price=30_000.0, wallet_balance=5_000.0,
        maintenance_margin_rate=0.004, maintenance_amount=0.0, margin_mode="cross",
        other_maintenance_margin=72.0, other_unrealized_pnl=2_000.0,
    )
    assert price == pytest.approx(23_072 / 0.996, rel=1e-9)


def test_liquidation_distance_edges():
    assert liquidation_distance("long", 100.0, 0.0) == 1.0
    assert liquidation_distance("short", 100.0, 0.0) == math.inf
    assert liquidation_distance("long", 100.0, 120.0) == 0.0  # already past it
    assert liquidation_distance("short", 100.0, 90.0) == 0.0
    assert liquidation_distance("short", 100.0, 125.0) == pytest.approx(0.25)  # (125-100)/100
    with pytest.raises(ValueError):
        liquidation_distance("long", 0.0, 10.0)
    with pytest.raises(ValueError):
        liquidation_distance("sideways", 100.0, 10.0)


# --- tiers -----------------------------------------------------------------------------------------

def test_maintenance_tier_lookup_accepts_ccxt_dicts_and_objects(btc_tiers):
    # BTC brackets: [0, 50k) 0.4 % cum 0; [50k, 600k) 0.5 % cum 50; [600k, 3M) 0.65 % cum 950
    assert maintenance_tier(btc_tiers, 10_000.0) == (0.004, 0.0)
    assert maintenance_tier(btc_tiers, 50_000.0) == (0.005, 50.0)  # floor belongs to the bracket
    assert maintenance_tier(btc_tiers, 60_000.0) == (0.005, 50.0)
    assert maintenance_tier(btc_tiers, 600_000.0) == (0.0065, 950.0)
    last = btc_tiers[-1]
    above = maintenance_tier(btc_tiers, last["maxNotional"] * 10)
    assert above == (last["maintenanceMarginRate"], float(last["info"]["cum"]))
    assert maintenance_tier(DEFAULT_TIERS, 60_000.0) == (0.005, 50.0)
    assert maintenance_tier(list(reversed(DEFAULT_TIERS)), 60_000.0) == (0.005, 50.0)


def test_maintenance_margin_is_continuous_at_every_real_boundary(btc_tiers):
    # e.g. at 50000: 50000 * 0.004 - 0 = 200 = 50000 * 0.005 - 50
    for lower, upper in zip(btc_tiers, btc_tiers[1:]):
        edge = upper["minNotional"]
        from_below = edge * lower["maintenanceMarginRate"] - float(lower["info"]["cum"])
        assert maintenance_margin(edge, btc_tiers) == pytest.approx(from_below, rel=1e-12)
    assert maintenance_margin(60_000.0, btc_tiers) == pytest.approx(250.0)  # 60000*0.005 - 50


def test_tier_boundary_long_falls_back_into_lower_bracket(btc_tiers):
    # Long 0.6 BTC at 100000 (notional 60000, bracket 2), margin 12000 (5x).
    # Bracket 2 would give (12000 + 50 - 60000) / (0.003 - 0.6) = 47950 / 0.597 = 80318.26,
    #   notional 48190.95 < 50000: not in bracket 2, inconsistent.
    # Bracket 1: (12000 + 0 - 60000) / (0.0024 - 0.6) = 48000 / 0.5976 = 80321.2851...,
    #   notional 48192.77 in [0, 50000): the consistent one.
    price = liquidation_price_tiered(
        side="long", quantity=0.6, entry_price=100_000.0, wallet_balance=12_000.0, tiers=btc_tiers
    )
    assert price == pytest.approx(48_000 / 0.5976, rel=1e-9)


def test_tier_boundary_short_climbs_into_higher_bracket(btc_tiers):
    # Short 0.45 BTC at 100000 (notional 45000, bracket 1), margin 15000.
    # Bracket 1: (15000 + 45000) / (0.45 * 1.004) = 132802.1, notional 59761 >= 50000: inconsistent.
    # Bracket 2: (15000 + 50 + 45000) / (0.45 * 1.005) = 60050 / 0.45225 = 132780.5445...,
    #   notional 59751.2 in [50000, 600000): consistent.
    price = liquidation_price_tiered(
        side="short", quantity=0.45, entry_price=100_000.0, wallet_balance=15_000.0, tiers=btc_tiers
    )
    assert price == pytest.approx(60_050 / 0.45225, rel=1e-9)


def test_large_long_uses_bracket_of_liquidation_notional(btc_tiers):
    # Long 10 BTC at 100000 (1M notional), margin 100000: bracket [600k, 3M) 0.65 %, cum 950:
    # (100000 + 950 - 1000000) / (0.065 - 10) = 899050 / 9.935 = 90493.2058...
    price = liquidation_price_tiered(
        side="long", quantity=10.0, entry_price=100_000.0, wallet_balance=100_000.0, tiers=btc_tiers
    )
    assert price == pytest.approx(899_050 / 9.935, rel=1e-9)


# --- properties ------------------------------------------------------------------------------------

@st.composite
def tier_tables(draw):
    floors = sorted(set(draw(st.lists(st.floats(1e3, 1e8), max_size=5))))
    rates = sorted(draw(st.lists(st.floats(0.001, 0.3), min_size=len(floors) + 1,
                                 max_size=len(floors) + 1)))
    brackets = [(0.0, rates[0], 125.0)] + [(f, r, 10.0) for f, r in zip(floors, rates[1:])]
    return brackets_to_tiers(brackets, (floors[-1] if floors else 1e3) * 10)


sides = st.sampled_from(["long", "short"])
quantities = st.floats(1e-3, 1e3)
entries = st.floats(1.0, 1e5)


def assert_at_maintenance(side, quantity, entry, price, tiers, wallet, other_mm=0.0, other_upnl=0.0):
    direction = 1.0 if side == "long" else -1.0
    balance = wallet + other_upnl + direction * quantity * (price - entry)
    required = other_mm + maintenance_margin(quantity * price, tiers)
    # Relative to the largest money term: the two sides are differences of such terms.
    scale = max(abs(wallet), abs(other_mm), abs(other_upnl), quantity * entry, quantity * price)
    assert abs(balance - required) <= 1e-9 * scale


@settings(max_examples=300, deadline=None)
@given(side=sides, quantity=quantities, entry=entries, leverage=st.floats(1.01, 125.0),
       tiers=st.one_of(tier_tables(), st.just(DEFAULT_TIERS)))
def test_isolated_margin_balance_equals_maintenance_at_liquidation(side, quantity, entry, leverage, tiers):
    margin = quantity * entry / leverage
    price = liquidation_price_tiered(
        side=side, quantity=quantity, entry_price=entry, wallet_balance=margin, tiers=tiers
    )
    assume(price > 0)
    assert_at_maintenance(side, quantity, entry, price, tiers, margin)


@settings(max_examples=300, deadline=None)
@given(side=sides, quantity=quantities, entry=entries, wallet=st.floats(0.0, 1e6),
       other_mm=st.floats(0.0, 1e5), other_upnl=st.floats(-1e5, 1e5),
       tiers=st.one_of(tier_tables(), st.just(DEFAULT_TIERS)))
def test_cross_margin_balance_equals_maintenance_at_liquidation(
    side, quantity, entry, wallet, other_mm, other_upnl, tiers
):
    price = liquidation_price_tiered(
        side=side, quantity=quantity, entry_price=entry, wallet_balance=wallet, tiers=tiers,
        margin_mode="cross", other_maintenance_margin=other_mm, other_unrealized_pnl=other_upnl,
    )
    assume(price > SHORT_LIQUIDATED_AT_ANY_PRICE)
    assert_at_maintenance(side, quantity, entry, price, tiers, wallet, other_mm, other_upnl)


@settings(max_examples=300, deadline=None)
@given(side=sides, quantity=quantities, entry=entries, low_leverage=st.floats(1.0, 60.0),
       extra=st.floats(0.01, 60.0), tiers=st.one_of(tier_tables(), st.just(DEFAULT_TIERS)))
def test_distance_falls_as_leverage_rises(side, quantity, entry, low_leverage, extra, tiers):
    def distance_at(leverage):
        price = liquidation_price_tiered(
            side=side, quantity=quantity, entry_price=entry,
            wallet_balance=quantity * entry / leverage, tiers=tiers,
        )
        return price, liquidation_distance(side, entry, price)

    safe_price, safe = distance_at(low_leverage)
    risky_price, risky = distance_at(low_leverage + extra)
    assert risky <= safe
    if risky_price > 0 and risky > 0:
        assert risky < safe


def test_liquidation_price_mismatch_warns_beyond_half_a_percent():
    from cockpit.domain.liquidation import liquidation_price_mismatch

    assert liquidation_price_mismatch(40_000.0, 40_150.0) is None  # 0.37 % apart
    warning = liquidation_price_mismatch(40_000.0, 40_250.0)  # 0.62 % apart
    assert warning is not None and "0.62% apart > 0.50%" in warning
    assert liquidation_price_mismatch(0.0, 0.0) is None
    assert liquidation_price_mismatch(0.0, 35_000.0) is not None
