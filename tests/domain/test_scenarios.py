"""Shock scenarios and the stress report: what a crash would do to the account now."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import assume, given, settings, strategies as st

from cockpit.domain.risk import assess
from cockpit.domain.scenarios import (
    ALL_SCENARIOS,
    HISTORICAL,
    SHOCKS,
    Scenario,
    apply_scenario,
    base_asset,
    positions_key,
    stress_report,
)
from cockpit.domain.stress import account_liquidation_move
from cockpit.domain.tiers import DEFAULT_TIERS
from cockpit.domain.types import Balance, Instrument, Position, State

BTC, ETH, SOL = "BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"
INSTRUMENTS = {s: Instrument(s, s[:3], 0.001, 5.0, 0.1, DEFAULT_TIERS) for s in (BTC, ETH)}
MARKET = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "market"


def state(wallet, positions=(), marks=None):
    return State(0.0, Balance(wallet), {p.symbol: p for p in positions}, marks or {}, INSTRUMENTS)


def uniform(r):
    return Scenario("u", "uniform", {}, r)


def by_name(name):
    return next(s for s in ALL_SCENARIOS if s.name == name)


# --- hand-worked cases -------------------------------------------------------------------------

# 1.5 BTC long at 60,000 = 90,000 notional on a 30,000 wallet: 3x. Equity after = 30,000 +
# 1.5 * (60,000 * (1 + r) - 60,000) = 30,000 + 90,000 * r.
#   -10%: mark 54,000, equity 21,000, loss  9,000 (30 %); notional 81,000
#   -20%: mark 48,000, equity 12,000, loss 18,000 (60 %); notional 72,000
#   -33%: mark 40,200, equity    300, loss 29,700 (99 %); notional 60,300
# All three notionals are in tier 2 (>= 50,000: mmr 0.5 %, cum = 50,000 * (0.005 - 0.004) = 50).
# Maintenance at -33% = 60,300 * 0.005 - 50 = 251.5 < 300: NOT liquidated, with 1 % left.
# Exact LP, tier 2: (30,000 + 50 - 1.5*60,000) / (1.5*0.005 - 1.5) = -59,950 / -1.4925 = 40,167.50
# (notional 60,251, inside tier 2), distance 1 - 40,167.50/60,000 = 33.05 %: just beyond 33 %.
def test_a_3x_btc_long_under_the_uniform_shocks():
    s = state(30_000.0, [Position(BTC, 1.5, 60_000.0)], {BTC: 60_000.0})
    risk = assess(s).position(BTC)
    assert risk.liquidation_price == pytest.approx(59_950 / 1.4925, rel=1e-12)
    assert risk.liquidation_distance == pytest.approx(1 - 59_950 / 1.4925 / 60_000, rel=1e-12)
    results = [apply_scenario(s, shock) for shock in SHOCKS]
    assert [r.name for r in results] == ["shock-10", "shock-20", "shock-33"]
    for result, equity, mark in zip(results, (21_000, 12_000, 300), (54_000, 48_000, 40_200)):
        assert result.equity_before == pytest.approx(30_000.0)
        assert result.equity_after == pytest.approx(equity)
        assert result.loss == pytest.approx(30_000.0 - equity)
        assert result.loss_fraction == pytest.approx((30_000.0 - equity) / 30_000.0)
        assert result.marks_after[BTC] == pytest.approx(mark)
        assert result.liquidated == ()
    # March 2020 (BTC -50.64 %) goes far past the LP: the whole 30,000 is gone.
    march = apply_scenario(s, by_name("mar-2020"))
    assert march.liquidated == (BTC,)
    assert march.equity_after == 0.0
    assert march.loss == pytest.approx(30_000.0)
    assert march.loss_fraction == pytest.approx(1.0)


def test_liquidated_with_equity_left_still_loses_the_collateral():
    # Same position on 29,950: at -33% equity is 29,950 - 29,700 = 250 < maintenance 251.5.
    # Mark-to-market it would still be worth 250; Binance keeps that remaining margin.
    s = state(29_950.0, [Position(BTC, 1.5, 60_000.0)], {BTC: 60_000.0})
    result = apply_scenario(s, by_name("shock-33"))
    assert result.liquidated == (BTC,)
    assert result.equity_after == 0.0
    assert result.loss == pytest.approx(29_950.0)


def test_an_offsetting_long_short_book():
    # Cross, wallet 10,000: long 1 BTC at 60,000, short 20 ETH at 3,000 (60,000 each side).
    # Uniform -33%: BTC PnL -19,800, ETH PnL +19,800 -> equity 10,000, no loss; maintenance
    # 2 * 40,200 * 0.004 = 321.6, far below.
    s = state(10_000.0, [Position(BTC, 1.0, 60_000.0), Position(ETH, -20.0, 3_000.0)],
              {BTC: 60_000.0, ETH: 3_000.0})
    flat = apply_scenario(s, by_name("shock-33"))
    assert flat.loss == pytest.approx(0.0, abs=1e-6)
    assert flat.liquidated == ()
    # Historical scenarios keep the real cross-asset moves: ETH fell further than BTC, so the
    # short ETH leg gains more than the BTC leg loses: equity = 10,000 + 60,000 * (r_btc - r_eth).
    for scenario in HISTORICAL:
        result = apply_scenario(s, scenario)
        expected = 10_000.0 + 60_000.0 * (scenario.returns["BTC"] - scenario.returns["ETH"])
        assert result.equity_after == pytest.approx(expected)
        assert result.loss < 0  # a gain
        assert result.liquidated == ()
    # March 2020: 10,000 + 60,000 * (-0.5064 + 0.5303) = 11,434.
    assert apply_scenario(s, by_name("mar-2020")).equity_after == pytest.approx(11_434.0)


def test_an_isolated_position_is_liquidated_on_its_own_while_the_cross_book_survives():
    # Wallet 20,000. Isolated: 10 ETH long at 3,000 (30,000 notional) on 3,000 margin = 10x;
    # LP = (3,000 - 30,000) / (10*0.004 - 10) = 2,710.84, 9.64 % below. Cross: 0.2 BTC long at
    # 60,000 backed by the cross wallet 20,000 - 3,000 = 17,000.
    # -10%: ETH 2,700 < LP -> isolated margin lost (3,000). BTC PnL -1,200: cross 15,800.
    #        equity after 15,800, loss 20,000 - 15,800 = 4,200.
    # -20%: ETH margin lost (not the 6,000 mark-to-market loss: the margin is all it can take);
    #        BTC PnL -2,400, cross 14,600 vs maintenance 9,600 * 0.4 % = 38.4. Loss 5,400.
    s = state(20_000.0,
              [Position(ETH, 10.0, 3_000.0, "isolated", 3_000.0), Position(BTC, 0.2, 60_000.0)],
              {BTC: 60_000.0, ETH: 3_000.0})
    assert assess(s).position(ETH).liquidation_price == pytest.approx(27_000 / 9.96)
    ten, twenty = apply_scenario(s, by_name("shock-10")), apply_scenario(s, by_name("shock-20"))
    assert ten.liquidated == twenty.liquidated == (ETH,)
    assert ten.equity_after == pytest.approx(15_800.0)
    assert ten.loss == pytest.approx(4_200.0)
    assert twenty.equity_after == pytest.approx(14_600.0)
    assert twenty.loss == pytest.approx(5_400.0)
    assert twenty.loss_fraction == pytest.approx(0.27)


def test_a_flat_account_loses_nothing():
    s = state(5_000.0)
    report = stress_report(s)
    assert report.positions == ()
    assert report.portfolio_move == math.inf
    assert report.equity == 5_000.0
    for result in report.scenarios:
        assert (result.equity_before, result.equity_after, result.loss) == (5_000.0, 5_000.0, 0.0)
        assert result.loss_fraction == 0.0
        assert result.liquidated == ()
        assert dict(result.marks_after) == {}


def test_an_account_already_under_maintenance_is_liquidated_in_every_scenario():
    s = state(10.0, [Position(BTC, 1.0, 60_000.0)], {BTC: 50_000.0})
    assert apply_scenario(s, uniform(0.0)).liquidated == (BTC,)


def test_assets_without_their_own_return_move_like_btc_in_history():
    sol = Position(SOL, 100.0, 100.0)
    s = state(50_000.0, [sol], {SOL: 100.0})
    for scenario in HISTORICAL:
        assert scenario.default_return == scenario.returns["BTC"]
        result = apply_scenario(s, scenario)
        assert result.marks_after[SOL] == pytest.approx(100.0 * (1 + scenario.returns["BTC"]))


def test_base_asset_names():
    s = state(0.0)
    assert base_asset(s, BTC) == "BTC"
    assert base_asset(s, SOL) == "SOL"
    assert base_asset(s, "ETHUSDT") == "ETH"


def test_a_return_below_minus_one_is_refused():
    with pytest.raises(ValueError, match="below -100%"):
        Scenario("x", "x", {"BTC": -1.2}, 0.0)


def test_the_report_holds_every_position_and_scenario_in_order():
    s = state(20_000.0,
              [Position(ETH, 10.0, 3_000.0, "isolated", 3_000.0), Position(BTC, 0.2, 60_000.0)],
              {BTC: 61_000.0, ETH: 2_900.0})
    report = stress_report(s)
    risk = assess(s)
    assert [r.name for r in report.scenarios] == [
        "shock-10", "shock-20", "shock-33", "mar-2020", "may-2021", "nov-2022"]
    assert [p.symbol for p in report.positions] == [BTC, ETH]
    eth = report.positions[1]
    assert eth.margin_mode == "isolated" and eth.side == "long"
    assert eth.liquidation_distance == risk.position(ETH).liquidation_distance
    assert report.portfolio_move == account_liquidation_move(s)
    assert report.marks == {BTC: 61_000.0, ETH: 2_900.0}
    assert report.key == positions_key(s)


def test_the_key_changes_with_positions_not_with_marks():
    s = state(10_000.0, [Position(BTC, 0.1, 60_000.0)], {BTC: 60_000.0})
    assert positions_key(s.with_marks({BTC: 50_000.0}, 1.0)) == positions_key(s)
    assert positions_key(s.with_account(Balance(10_000.0), {BTC: Position(BTC, 0.2, 60_000.0)})) \
        != positions_key(s)
    assert positions_key(s.with_account(Balance(9_000.0), s.positions)) != positions_key(s)
    hash(positions_key(s))


# --- properties ----------------------------------------------------------------------------------

longs = st.lists(
    st.tuples(st.sampled_from([BTC, ETH]), st.floats(0.01, 5.0), st.booleans(), st.floats(0.05, 1.0)),
    min_size=1, max_size=2, unique_by=lambda leg: leg[0],
)


def long_book(wallet, legs):
    positions = []
    for symbol, size, isolated, margin_share in legs:
        price = 60_000.0 if symbol == BTC else 3_000.0
        quantity = size if symbol == BTC else size * 20
        margin = margin_share * quantity * price if isolated else 0.0
        positions.append(Position(symbol, quantity, price * 1.01, "isolated" if isolated else "cross",
                                  margin))
    return state(wallet, positions, {BTC: 60_000.0, ETH: 3_000.0})


@settings(max_examples=150, deadline=None)
@given(wallet=st.floats(5_000.0, 500_000.0), legs=longs,
       shocks=st.lists(st.floats(0.0, 0.99), min_size=2, max_size=6))
def test_for_longs_a_bigger_fall_never_loses_less(wallet, legs, shocks):
    s = long_book(wallet, legs)
    losses = [apply_scenario(s, uniform(-size)).loss for size in sorted(shocks)]
    liquidated = [set(apply_scenario(s, uniform(-size)).liquidated) for size in sorted(shocks)]
    assert all(a <= b + 1e-6 * wallet for a, b in zip(losses, losses[1:]))
    assert all(a <= b for a, b in zip(liquidated, liquidated[1:]))


@settings(max_examples=150, deadline=None)
@given(wallet=st.floats(5_000.0, 500_000.0), legs=longs, short=st.booleans())
def test_a_scenario_that_moves_nothing_loses_nothing(wallet, legs, short):
    s = long_book(wallet, legs)
    if short:
        s = s.with_account(s.balance, {k: Position(p.symbol, -p.quantity, p.entry_price,
                                                   p.margin_mode, p.isolated_margin)
                                       for k, p in s.positions.items()})
    assume(assess(s).nearest_liquidation_distance > 0 and account_liquidation_move(s) > 0)
    result = apply_scenario(s, uniform(0.0))
    assert result.liquidated == ()
    assert result.loss == pytest.approx(0.0, abs=1e-9 * wallet)


@settings(max_examples=300, deadline=None)
@given(
    side=st.sampled_from([1.0, -1.0]),
    isolated=st.booleans(),
    leverage=st.floats(1.1, 50.0),
    notional=st.floats(1_000.0, 20_000_000.0),
    price=st.floats(100.0, 200_000.0),
    move=st.floats(0.001, 0.95),
)
def test_alone_a_position_is_liquidated_exactly_when_the_move_reaches_its_distance(
        side, isolated, leverage, notional, price, move):
    margin = notional / leverage
    position = Position(BTC, side * notional / price, price,
                        "isolated" if isolated else "cross", margin if isolated else 0.0)
    s = state(margin if not isolated else margin * 2, [position], {BTC: price})
    distance = assess(s).positions[0].liquidation_distance
    assume(abs(distance - move) > 1e-9)
    against = apply_scenario(s, uniform(-side * move))
    assert (BTC in against.liquidated) == (distance <= move)
    if distance > 0:  # one already under maintenance is liquidated whichever way prices go
        assert BTC not in apply_scenario(s, uniform(side * move)).liquidated


# --- the embedded historical windows, recomputed from the real data -----------------------------

def _worst_24h(btc, eth, month):
    """Over the month's 4h bars: from bar i's close, the lowest low of bars i+1..i+6 (24h)."""
    import pandas as pd

    b, e = btc.loc[month], eth.loc[month]
    assert (b.index == e.index).all()
    assert (b.index[6:] - b.index[:-6] == pd.Timedelta(hours=24)).all(), "a gap in the bars"
    lows_b = b["low"][::-1].rolling(6).min()[::-1].shift(-1)  # min of the next 6 lows
    lows_e = e["low"][::-1].rolling(6).min()[::-1].shift(-1)
    btc_return = (lows_b / b["close"] - 1).dropna()
    anchor = btc_return.idxmin()
    start = anchor + pd.Timedelta(hours=4)  # the anchor bar's close
    end = start + pd.Timedelta(hours=24)
    window = f"{start:%Y-%m-%dT%H:%M:%SZ}/{end:%Y-%m-%dT%H:%M:%SZ}"
    return window, btc_return[anchor], lows_e[anchor] / e["close"][anchor] - 1


def test_the_historical_constants_match_the_binance_data():
    spot = MARKET / "binance_spot"
    files = [spot / "BTCUSDT_4h.csv.gz", spot / "ETHUSDT_4h.csv.gz"]
    if not all(f.exists() for f in files):
        pytest.skip(f"real market data not found at {spot} (../shared beside the checkout)")
    import pandas as pd

    btc, eth = (pd.read_csv(f, parse_dates=["timestamp"]).set_index("timestamp") for f in files)
    for scenario, month in zip(HISTORICAL, ("2020-03", "2021-05", "2022-11")):
        window, btc_return, eth_return = _worst_24h(btc, eth, month)
        assert scenario.window == window, scenario.name
        assert scenario.returns["BTC"] == pytest.approx(btc_return, abs=1e-4), scenario.name
        assert scenario.returns["ETH"] == pytest.approx(eth_return, abs=1e-4), scenario.name
        assert scenario.default_return == scenario.returns["BTC"]
    # README: BTC closed 4,800 on 2020-03-12 with a -20.5 % 4h bar; the 24h low went further.
    march = HISTORICAL[0]
    assert march.returns["BTC"] < -0.40
    assert march.window_start == "2020-03-12T04:00:00Z"
    assert march.window_end == "2020-03-13T04:00:00Z"
