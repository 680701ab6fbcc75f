"""RiskBook, the vectorized per-update risk recompute: it must say exactly what `assess`,
`weight_drift` and the position day-loss breaker say, for any book and after any ticks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit.domain import breakers
from cockpit.domain.liquidation import SHORT_LIQUIDATED_AT_ANY_PRICE
from cockpit.domain.rebalance import breaches_band, weight_drift
from cockpit.domain.risk import assess
from cockpit.domain.riskbook import RiskBook
from cockpit.domain.tiers import DEFAULT_TIERS, tiers_from_ccxt
from cockpit.domain.types import Balance, Instrument, MaintenanceTier, Position, State

TIERS_FILE = Path(__file__).resolve().parents[2].parent / "shared/data/market/binance_usdm_leverage_tiers.json"
BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
SYMBOLS = (BTC, ETH, "LINK/USDT:USDT", "SOL/USDT:USDT", "UNI/USDT:USDT", "ZZZ/USDT:USDT")
REL = ABS = 1e-9


def _real_tables() -> dict:
    if not TIERS_FILE.exists():
        return {}
    raw = json.loads(TIERS_FILE.read_text())
    return {symbol: tiers_from_ccxt(entries) for symbol, entries in raw.items() if not symbol.startswith("_")}


REAL_TIERS = _real_tables()
# Tables no exchange publishes, to reach the odd corners: maintenance that jumps up at a floor
# (cum left at 0: two brackets can be self-consistent, the first must win), maintenance that drops
# at a floor (cum too big: none may be, and the nearest one must win), a first floor above zero,
# and a single bracket.
JUMPING = (MaintenanceTier(0.0, 50_000.0, 0.004, 0.0, 125.0), MaintenanceTier(50_000.0, 1e6, 0.05, 0.0, 20.0),
           MaintenanceTier(1e6, 1e9, 0.2, 0.0, 4.0))
DROPPING = (MaintenanceTier(0.0, 50_000.0, 0.004, 0.0, 125.0),
            MaintenanceTier(50_000.0, 1e9, 0.05, 40_000.0, 20.0))
LATE_START = (MaintenanceTier(10_000.0, 1e6, 0.01, 0.0, 50.0), MaintenanceTier(1e6, 1e9, 0.02, 10_000.0, 20.0))
SINGLE = (MaintenanceTier(0.0, 1e12, 0.004, 0.0, 125.0),)
# None: no instrument at all (the book must fall back to DEFAULT_TIERS as assess does).
TIER_CHOICES = [None, DEFAULT_TIERS, JUMPING, DROPPING, LATE_START, SINGLE, *REAL_TIERS.values()]


def close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=REL, abs_tol=ABS)


def equity_is_rounding_noise(state: State) -> bool:
    """True when equity is so near zero, next to the amounts summed into it, that the order of
    summation alone decides its size and sign. Everything divided by it (leverage, margin ratio,
    weights) is then noise in assess too: assess and weight_drift do not even agree there."""
    snap = assess(state)
    scale = abs(snap.wallet) + sum(abs(p.unrealized_pnl) for p in snap.positions)
    return abs(snap.equity) <= 1e-9 * scale


def assert_same(book: RiskBook, state: State) -> None:
    """Field by field: book.snapshot() against assess(state)."""
    ours, theirs = book.snapshot(), assess(state)
    noise = equity_is_rounding_noise(state)
    for name in ("equity", "wallet", "unrealized_pnl", "gross_notional", "net_notional",
                 "effective_leverage", "maintenance_margin", "margin_ratio", "nearest_liquidation_distance"):
        if noise and name in ("effective_leverage", "margin_ratio"):
            continue
        assert close(getattr(ours, name), getattr(theirs, name)), (name, getattr(ours, name), getattr(theirs, name))
    assert [p.symbol for p in ours.positions] == [p.symbol for p in theirs.positions]
    for mine, want in zip(ours.positions, theirs.positions):
        assert mine.side == want.side and mine.quantity == want.quantity
        for name in ("entry_price", "mark_price", "notional", "unrealized_pnl", "leverage",
                     "maintenance_margin", "liquidation_price", "liquidation_distance"):
            if noise and name == "leverage":
                continue
            assert close(getattr(mine, name), getattr(want, name)), (mine.symbol, name, mine, want)


def assert_same_drift(book: RiskBook, state: State, targets, target_leverage: float) -> None:
    if equity_is_rounding_noise(state):
        return
    want = weight_drift(state, targets, target_leverage)
    got = book.drift()
    assert list(got) == list(want)
    for symbol in want:
        assert close(got[symbol], want[symbol]), (symbol, got[symbol], want[symbol])
    for band in (0.01, 0.05, 0.2):
        assert book.drift_breaches_band(band) == breaches_band(want, band)


# ---- random books -------------------------------------------------------------------------------

@st.composite
def books(draw):
    symbols = draw(st.lists(st.sampled_from(SYMBOLS), min_size=0, max_size=len(SYMBOLS), unique=True))
    positions, marks, instruments = {}, {}, {}
    for symbol in symbols:
        entry = draw(st.floats(0.05, 100_000.0))
        notional = draw(st.floats(1.0, 30_000_000.0))
        quantity = notional / entry * draw(st.sampled_from([1.0, -1.0]))
        isolated = draw(st.booleans())
        margin = notional * draw(st.floats(0.01, 1.5)) if isolated else 0.0
        positions[symbol] = Position(symbol, quantity, entry, "isolated" if isolated else "cross", margin)
        mark = draw(st.one_of(st.floats(0.2, 3.0).map(lambda f: entry * f), st.sampled_from([None, 0.0, -5.0])))
        if mark is not None:
            marks[symbol] = mark
        tiers = draw(st.sampled_from(TIER_CHOICES))
        if tiers is not None:
            instruments[symbol] = Instrument(symbol, symbol[:3], 0.001, 5.0, 0.01, tiers)
    gross = sum(abs(p.quantity) * p.entry_price for p in positions.values())
    wallet = draw(st.floats(-0.2, 3.0)) * gross + draw(st.floats(0.0, 10_000.0))
    state = State(0.0, Balance(wallet), positions, marks, instruments)
    target_symbols = draw(st.lists(st.sampled_from(SYMBOLS + ("DOGE/USDT:USDT",)), max_size=4, unique=True))
    targets = {s: draw(st.floats(-0.6, 0.8)) for s in target_symbols}
    return state, targets


ticks = st.lists(st.tuples(st.sampled_from(SYMBOLS), st.floats(0.5, 1.6), st.booleans()), min_size=1, max_size=6)


@settings(max_examples=250, deadline=None)
@given(books(), st.sampled_from([1.0, 2.0, 3.0]))
def test_book_equals_assess_and_weight_drift(book_and_targets, target_leverage):
    state, targets = book_and_targets
    book = RiskBook.from_state(state, targets, target_leverage)
    assert_same(book, state)
    assert_same_drift(book, state, targets, target_leverage)


@settings(max_examples=120, deadline=None)
@given(books(), ticks)
def test_book_stays_equal_to_assess_tick_after_tick(book_and_targets, moves):
    state, targets = book_and_targets
    book = RiskBook.from_state(state, targets, 2.0)
    for symbol, factor, one_at_a_time in moves:
        position = state.positions.get(symbol)
        base = state.marks.get(symbol) or (position.entry_price if position else 100.0)
        price = abs(base) * factor
        state = state.with_marks({symbol: price}, 1.0)
        if one_at_a_time:
            assert book.update(symbol, price) == (position is not None and position.quantity != 0)
        else:
            book.set_marks({symbol: price, "NOT/HELD:USDT": 1.0})
        assert_same(book, state)
        assert_same_drift(book, state, targets, 2.0)


@settings(max_examples=100, deadline=None)
@given(books(), st.data())
def test_day_return_is_the_position_day_loss_breaker_negated(book_and_targets, data):
    state, _ = book_and_targets
    reference = {s: data.draw(st.sampled_from([None, 0.0, 50.0, 100.0, 1_000.0])) for s in state.positions}
    book = RiskBook.from_state(state, reference_marks={s: p for s, p in reference.items() if p is not None})
    snap = assess(state)
    returns = book.day_return()
    for row in snap.positions:
        loss = breakers.position_day_loss(row.quantity, row.mark_price, reference[row.symbol])
        if loss is None:
            assert math.isnan(returns[row.symbol])
        else:
            assert close(returns[row.symbol], -loss)
    for threshold in (0.0, 0.15, 0.5):
        want = tuple(r.symbol for r in snap.positions
                     if breakers.Reading("x", r.symbol, breakers.position_day_loss(
                         r.quantity, r.mark_price, reference[r.symbol]), threshold).breached)
        assert book.positions_over_day_loss(threshold) == want


# ---- hand-checked -------------------------------------------------------------------------------

def _state(wallet, positions, marks):
    return State(0.0, Balance(wallet), {p.symbol: p for p in positions}, marks)


def test_cross_long_and_short_by_hand():
    # Wallet 5000. Long 1 BTC @ 30000 marked 30000 (PnL 0, MM 120); short 10 ETH @ 2000 marked
    # 1800 (PnL +2000, MM 72). BTC: (5000 - 72 + 2000 - 30000) / (0.004 - 1) = 23072 / 0.996;
    # ETH: (5000 - 120 + 0 + 20000) / (0.04 + 10) = 24880 / 10.04. Equity 7000, gross 48000.
    state = _state(5_000.0, [Position(BTC, 1.0, 30_000.0), Position(ETH, -10.0, 2_000.0)],
                   {BTC: 30_000.0, ETH: 1_800.0})
    book = RiskBook.from_state(state)
    assert book.symbols == (BTC, ETH)
    assert book.liquidation_prices.tolist() == pytest.approx([23_072 / 0.996, 24_880 / 10.04], rel=1e-12)
    assert book.liquidation_distances.tolist() == pytest.approx(
        [(30_000 - 23_072 / 0.996) / 30_000, (24_880 / 10.04 - 1_800) / 1_800], rel=1e-12)
    assert book.equity == 7_000.0 and book.gross_notional == 48_000.0 and book.net_notional == 12_000.0
    assert book.effective_leverage == pytest.approx(48_000 / 7_000)
    assert book.maintenance_margin == pytest.approx(192.0)
    # BTC to 25000: PnL -5000, equity 2000; ETH's LP: (5000 - 100 - 5000 + 20000) / 10.04
    assert book.update(BTC, 25_000.0)
    assert book.liquidation_prices[1] == pytest.approx(19_900 / 10.04, rel=1e-12)
    assert book.equity == 2_000.0
    assert book.leverage_above(3.0) and not book.leverage_above(25.0)


def test_isolated_long_is_backed_by_its_own_margin_only():
    # 3x long 1 BTC @ 30000 with 10000 margin: (10000 - 30000) / (0.004 - 1) = 20000 / 0.996,
    # whatever the wallet and the other positions do.
    iso = Position(BTC, 1.0, 30_000.0, "isolated", 10_000.0)
    book = RiskBook.from_state(_state(1e6, [iso, Position(ETH, -50.0, 2_000.0)], {BTC: 31_000.0}))
    assert book.liquidation_prices[0] == pytest.approx(20_000 / 0.996, rel=1e-12)
    book.update(ETH, 2_500.0)
    assert book.liquidation_prices[0] == pytest.approx(20_000 / 0.996, rel=1e-12)


def test_the_bracket_is_the_one_holding_the_liquidation_notional():
    # Long 10 BTC @ 30000, wallet 100000: notional 300000 sits in the 0.5 % bracket (cum 50).
    # LP = (100000 + 50 - 300000) / (10*0.005 - 10) = 199950 / 9.95 = 20095.477..., and 10 * LP
    # = 200955 is inside [50000, 600000): self-consistent. MM = 300000*0.005 - 50 = 1450.
    book = RiskBook.from_state(_state(100_000.0, [Position(BTC, 10.0, 30_000.0)], {BTC: 30_000.0}))
    assert book.maintenance_margins[0] == pytest.approx(1_450.0)
    assert book.liquidation_prices[0] == pytest.approx(199_950 / 9.95, rel=1e-12)
    assert book.nearest_liquidation_distance == pytest.approx((30_000 - 199_950 / 9.95) / 30_000, rel=1e-12)


def test_clamping_a_safe_long_and_a_short_bust_at_any_price():
    # 1x long: its root is negative -> 0.0, distance 1.0. A short whose account is already under
    # maintenance at every price -> the smallest positive price, distance 0.0.
    safe = RiskBook.from_state(_state(31_000.0, [Position(BTC, 1.0, 30_000.0)], {BTC: 30_000.0}))
    assert safe.liquidation_prices[0] == 0.0 and safe.liquidation_distances[0] == 1.0
    bust = RiskBook.from_state(_state(-50_000.0, [Position(ETH, -1.0, 2_000.0)], {ETH: 2_000.0}))
    assert bust.liquidation_prices[0] == SHORT_LIQUIDATED_AT_ANY_PRICE
    assert bust.liquidation_distances[0] == 0.0 and bust.liquidation_within(1e-12)
    assert bust.effective_leverage == math.inf and bust.margin_ratio == math.inf


def test_missing_or_bad_mark_values_the_position_at_entry():
    book = RiskBook.from_state(_state(10_000.0, [Position(BTC, 1.0, 30_000.0)], {}))
    assert book.marks[0] == 30_000.0 and book.unrealized_pnl == 0.0
    book.update(BTC, 33_000.0)
    assert book.unrealized_pnl == 3_000.0
    book.update(BTC, -1.0)
    assert book.marks[0] == 30_000.0 and book.unrealized_pnl == 0.0
    assert not book.update(ETH, 2_000.0)


def test_drift_by_hand_and_flat_book():
    # 50 % BTC at 2x on equity 10000: target notional 10000. Held 0.4 BTC at 30000 = 12000 ->
    # weight 12000 / 20000 = 0.6, drift +0.10; ETH not held, target 0.3 -> drift -0.30.
    state = _state(10_000.0, [Position(BTC, 0.4, 30_000.0)], {BTC: 30_000.0})
    book = RiskBook.from_state(state, {BTC: 0.5, ETH: 0.3}, 2.0)
    assert book.drift() == pytest.approx({BTC: 0.1, ETH: -0.3})
    assert book.drift_breaches_band(0.25) and not book.drift_breaches_band(0.3)
    flat = RiskBook.from_state(_state(10_000.0, [], {}), {ETH: 0.3})
    assert flat.snapshot() == assess(_state(10_000.0, [], {}))
    assert flat.drift() == {ETH: -0.3} and flat.nearest_liquidation_distance == math.inf
    assert flat.update(BTC, 1.0) is False and flat.positions_over_day_loss(0.0) == ()
    # weight_drift calls drift unknown (NaN) only when some position has no defined weight.
    bust_flat = _state(-1.0, [], {})
    assert RiskBook.from_state(bust_flat, {ETH: 0.3}).drift() == weight_drift(bust_flat, {ETH: 0.3}, 1.0) == {ETH: -0.3}


def test_day_return_sign():
    # Price 100 -> 80: the long lost 20 % (return -0.2), the short gained 20 %.
    state = _state(10_000.0, [Position(BTC, 1.0, 100.0), Position(ETH, -1.0, 100.0)], {BTC: 80.0, ETH: 80.0})
    book = RiskBook.from_state(state, reference_marks={BTC: 100.0, ETH: 100.0})
    assert book.day_return() == pytest.approx({BTC: -0.2, ETH: 0.2})
    assert book.positions_over_day_loss(0.15) == (BTC,)
    book.set_reference_marks({BTC: 80.0})
    assert book.day_return()[BTC] == 0.0 and math.isnan(book.day_return()[ETH])
    book.update(ETH, 130.0)
    book.set_reference_marks({ETH: 100.0})
    assert book.positions_over_day_loss(0.15) == (ETH,)


def test_no_self_consistent_bracket_takes_the_nearest():
    # Long 1 @ 60000, wallet 9000, DROPPING tiers. First bracket: (9000 - 60000) / (0.004 - 1)
    # = 51204.8, notional above its 50000 cap by 1204.8; second: (9000 + 40000 - 60000) /
    # (0.05 - 1) = 11578.9, 38421 below its floor. The nearest, the first, wins.
    btc = Instrument(BTC, "BTC", 0.001, 5.0, 0.1, DROPPING)
    state = State(0.0, Balance(9_000.0), {BTC: Position(BTC, 1.0, 60_000.0)}, {BTC: 60_000.0}, {BTC: btc})
    book = RiskBook.from_state(state)
    assert book.liquidation_prices[0] == pytest.approx(51_000 / 0.996, rel=1e-12)
    assert_same(book, state)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([1.0, -1.0]), st.floats(-40_000.0, 60_000.0), st.floats(30_000.0, 90_000.0),
       st.floats(0.0, 5.0), st.booleans())
def test_bracket_edges_with_odd_tables(side, wallet, entry, other_size, isolated):
    # Positions sized so their liquidation notional lands near the 50000 floor, where DROPPING
    # and JUMPING leave no (or two) self-consistent brackets.
    tables = {BTC: DROPPING, ETH: JUMPING}
    instruments = {s: Instrument(s, s[:3], 0.001, 5.0, 0.1, t) for s, t in tables.items()}
    positions = {BTC: Position(BTC, side, entry, "isolated" if isolated else "cross", abs(wallet)),
                 ETH: Position(ETH, -side * other_size - 0.5, 50_000.0)}
    state = State(0.0, Balance(wallet), positions, {BTC: entry * 1.01}, instruments)
    book = RiskBook.from_state(state)
    assert_same(book, state)
    book.update(ETH, 48_000.0)
    assert_same(book, state.with_marks({ETH: 48_000.0}, 1.0))


def test_a_bracket_without_a_root():
    # Long at a 100 % rate: q*1 - q = 0, no root at all, so it cannot be liquidated (0.0,
    # distance 1.0). A short at -100 %: q*(-1) + q = 0, likewise 0.0, distance inf.
    long_only = (MaintenanceTier(0.0, 1e12, 1.0, 0.0, 1.0),)
    short_only = (MaintenanceTier(0.0, 1e12, -1.0, 0.0, 1.0),)
    instruments = {BTC: Instrument(BTC, "BTC", 0.001, 5.0, 0.1, long_only),
                   ETH: Instrument(ETH, "ETH", 0.001, 5.0, 0.1, short_only)}
    positions = {BTC: Position(BTC, 1.0, 100.0), ETH: Position(ETH, -1.0, 100.0)}
    state = State(0.0, Balance(1_000.0), positions, {BTC: 90.0, ETH: 90.0}, instruments)
    book = RiskBook.from_state(state)
    assert book.liquidation_prices.tolist() == [0.0, 0.0]
    assert book.liquidation_distances.tolist() == [1.0, math.inf]
    assert_same(book, state)


def test_bracket_edges_are_half_open():
    # Rates 0.5 / 0.75 without cum keep the arithmetic exact. Long 1 @ 60000, wallet 35000:
    # first bracket's root (35000 - 60000) / (0.5 - 1) = 50000 sits exactly on its cap, which
    # belongs to the next bracket; that one's root (35000 - 60000) / (0.75 - 1) = 100000 holds.
    # At mark 50000 the notional is on the floor: maintenance 50000 * 0.75 = 37500.
    exact = (MaintenanceTier(0.0, 50_000.0, 0.5, 0.0, 2.0), MaintenanceTier(50_000.0, 1e9, 0.75, 0.0, 1.0))
    btc = Instrument(BTC, "BTC", 0.001, 5.0, 0.1, exact)
    state = State(0.0, Balance(35_000.0), {BTC: Position(BTC, 1.0, 60_000.0)}, {BTC: 50_000.0}, {BTC: btc})
    book = RiskBook.from_state(state)
    assert book.liquidation_prices[0] == 100_000.0
    assert book.maintenance_margins[0] == 37_500.0
    assert_same(book, state)


def test_breaker_comparisons_are_strict():
    # Equity 1000, gross 3000 (exactly 3x), maintenance 12, no reference: nothing is *above*.
    state = _state(1_000.0, [Position(BTC, 0.1, 30_000.0)], {BTC: 30_000.0})
    book = RiskBook.from_state(state, {BTC: 1.5}, 2.0)
    assert book.effective_leverage == 3.0 and not book.leverage_above(3.0) and book.leverage_above(2.999)
    assert book.margin_ratio == 0.012 and not book.margin_ratio_above(0.012)
    distance = book.nearest_liquidation_distance
    assert not book.liquidation_within(distance) and book.liquidation_within(math.nextafter(distance, 1.0))
    assert book.drift() == {BTC: 0.0} and not book.drift_breaches_band(0.0)


def test_matches_tells_when_to_rebuild():
    state = _state(10_000.0, [Position(BTC, 1.0, 30_000.0)], {BTC: 30_000.0})
    book = RiskBook.from_state(state)
    assert book.matches(state) and book.matches(state.with_marks({BTC: 1.0}, 1.0))
    assert book.matches(state.with_account(Balance(10_000.0), {BTC: Position(BTC, 1.0, 30_000.0)}))
    assert not book.matches(state.with_account(Balance(9_000.0), dict(state.positions)))
    assert not book.matches(state.with_account(state.balance, {BTC: Position(BTC, 2.0, 30_000.0)}))


def test_real_binance_tiers_deep_bracket():
    if not REAL_TIERS:
        pytest.skip(f"tier data not found at {TIERS_FILE}")
    btc = Instrument(BTC, "BTC", 0.001, 5.0, 0.1, REAL_TIERS[BTC])
    positions = {BTC: Position(BTC, 2_000.0, 60_000.0), ETH: Position(ETH, -100.0, 3_000.0)}
    state = State(0.0, Balance(40_000_000.0), positions, {BTC: 61_000.0, ETH: 3_100.0}, {BTC: btc})
    book = RiskBook.from_state(state)
    assert_same(book, state)
    assert book.maintenance_margins[0] > 0.01 * book.notionals[0]  # a deep bracket, not the first


def test_rejects_a_bad_target_leverage():
    with pytest.raises(ValueError, match="target leverage"):
        RiskBook.from_state(_state(1.0, [], {}), target_leverage=0.0)
    assert np.isnan(RiskBook.from_state(_state(-1.0, [Position(BTC, 1.0, 1.0)], {})).drifts).all()
