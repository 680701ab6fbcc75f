"""Folding quiet bars in at once (`observe_quiet_bars`, the signal strategy's fast path) lands on
exactly what observing every bar does: the same wallet and equity at every bar, to the bit, the
same funding, stop fills and liquidations, the same ledger. On the real BTC 4h history with real
funding, and on random paths with crashes, leverage both ways, stops and a second position."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit.backtest.market import History, load_history
from cockpit.backtest.runner import MarketClock, StrategySpec, run_signal, sma_signal
from cockpit.backtest.venue import BacktestVenue, Ledger
from cockpit.config import Config
from cockpit.domain.types import Balance, Order, Position, Tick
from cockpit.venues.base import Liquidation
from cockpit.venues.funding import FundingSchedule
from cockpit.venues.instruments import DEFAULT_INSTRUMENTS
from cockpit.venues.paper import PaperVenue

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
HOUR = 3600.0
BTC_4H = "binance_spot/BTCUSDT_4h.csv.gz"
BTC_FUNDING = "binance_usdm_funding/BTCUSDT_funding_8h_2019-09-10_2026-04-22.csv.gz"


def _equity(venue: PaperVenue, price: float) -> float:
    balance, positions = venue.account()
    held = positions.get(BTC)
    return balance.wallet + (held.quantity * (price - held.entry_price) if held is not None else 0.0)


def bar_by_bar(venue: PaperVenue, times, closes, highs, lows) -> tuple[np.ndarray, list]:
    """Returns the equity (USDT) after each bar and the events, observing every bar."""
    equity, events = [], []
    for now, price, high, low in zip(times.tolist(), closes.tolist(), highs.tolist(), lows.tolist()):
        events += venue.observe(Tick(BTC, now, price, high, low))
        equity.append(_equity(venue, price))
    return np.array(equity), events


def folded(venue: PaperVenue, times, closes, highs, lows) -> tuple[np.ndarray, list]:
    """The same, folding quiet bars in at once and observing only the bars handed back."""
    equity, events, k = [], [], 0
    while k < times.size:
        _, positions = venue.account()
        held = positions.get(BTC)
        wallets, payments = venue.observe_quiet_bars(BTC, times[k:], closes[k:], highs[k:], lows[k:])
        part = closes[k:k + wallets.size]
        equity += (wallets + (held.quantity * (part - held.entry_price) if held is not None else 0.0)).tolist()
        events += payments
        k += wallets.size
        if k < times.size:
            events += venue.observe(Tick(BTC, float(times[k]), float(closes[k]), float(highs[k]), float(lows[k])))
            equity.append(_equity(venue, float(closes[k])))
            k += 1
    return np.array(equity), events


def same_ledger(one: Ledger, other: Ledger) -> bool:
    """True when two ledgers hold the same figures to the bit (repr is exact for floats, NaN too)."""
    return repr(vars(one)) == repr(vars(other))


def assert_same(one: PaperVenue, other: PaperVenue, runs: tuple, again: tuple) -> None:
    (equity, events), (equity_again, events_again) = runs, again
    assert equity.tobytes() == equity_again.tobytes()  # bitwise, NaN-safe
    assert events == events_again
    assert one.account() == other.account()
    assert one.marks() == other.marks()
    assert one._last_tick == other._last_tick
    assert asyncio.run(one.open_orders()) == asyncio.run(other.open_orders())
    if isinstance(one, BacktestVenue):
        assert same_ledger(one.ledger, other.ledger)
        assert one._ranges == other._ranges  # what the next order's latency cost is made of


# -- the real BTC 4h history with real funding ------------------------------------------------


def _real_venue(history: History) -> BacktestVenue:
    return BacktestVenue(history.instruments, Balance(10_000.0), bar_seconds=history.bar_seconds, seed=3,
                         taker_fee=0.0005, slippage=0.0005, funding=history.funding, clock=lambda: 0.0,
                         max_leverage=50.0)


@pytest.mark.parametrize("side, leverage, stop", [
    ("buy", 1.0, None),
    ("buy", 10.0, None),  # liquidated in March 2020 at the latest
    ("sell", 5.0, None),  # a short: liquidated on a rally
    ("buy", 3.0, 0.7),  # a stop 30% under the entry fills first
])
def test_real_btc_history_with_funding(market_data, side, leverage, stop):
    history = load_history([market_data / BTC_4H], [market_data / BTC_FUNDING], start="2019-09-10")
    times, closes, highs, lows = history.times, history.close[BTC], history.high[BTC], history.low[BTC]
    venues = (_real_venue(history), _real_venue(history))
    for venue in venues:
        venue.observe(Tick(BTC, float(times[0]), float(closes[0]), float(highs[0]), float(lows[0])))
        quantity = round(leverage * 10_000.0 / float(closes[0]), 3)  # the step is 0.001
        assert asyncio.run(venue.submit(Order(BTC, side, quantity))).status == "filled"
        if stop is not None:
            order = Order(BTC, "sell", quantity, reduce_only=True, order_type="stop_market",
                          stop_price=float(closes[0]) * stop)
            assert asyncio.run(venue.submit(order)).status == "open"
    plain = bar_by_bar(venues[0], times[1:], closes[1:], highs[1:], lows[1:])
    fast = folded(venues[1], times[1:], closes[1:], highs[1:], lows[1:])
    assert_same(*venues, plain, fast)
    ledger = venues[0].ledger
    assert ledger.funding != 0.0  # real funding was paid and received
    if leverage >= 5:
        assert ledger.liquidations == 1
    if stop is not None:
        assert ledger.fills == 2 and ledger.liquidations == 0


def reference_signal(history: History, config: Config, fast: int, slow: int, seed: int):
    """The signal strategy as it ran before the fast path: observe and decide at every bar.
    Returns (equity per bar in USDT, ledger)."""
    symbol = history.symbols[0]
    first = int(np.flatnonzero(np.isfinite(history.close[symbol]))[0])
    clock = MarketClock(float(history.times[first]))
    paper = config.paper
    venue = BacktestVenue(history.instruments, Balance(config.account.starting_balance), bar_seconds=history.bar_seconds,
                          seed=seed, taker_fee=paper.taker_fee, slippage=paper.slippage, funding=history.funding,
                          clock=clock)
    closes = np.nan_to_num(history.close[symbol][first:], nan=0.0)
    signal = sma_signal(closes, fast, slow).tolist()
    step = history.instruments[symbol].step_size
    times = history.times[first:]
    equity = np.empty(times.size)
    rows = zip(times.tolist(), closes.tolist(), history.high[symbol][first:].tolist(), history.low[symbol][first:].tolist())
    for k, (now, price, high, low) in enumerate(rows):
        clock.now = now
        venue.observe(Tick(symbol, now, price, high, low))
        balance, positions = venue.account()
        held = positions.get(symbol)
        value = balance.wallet + (held.quantity * (price - held.entry_price) if held is not None else 0.0)
        order = None
        if signal[k] and held is None and value > 0:
            size = math.floor(value / (price * (1 + paper.slippage + paper.taker_fee)) / step) * step
            order = Order(symbol, "buy", size) if size > 0 else None
        elif not signal[k] and held is not None and held.quantity > 0:
            order = Order(symbol, "sell", held.quantity, reduce_only=True)
        if order is not None:
            asyncio.run(venue.submit(order))
            balance, positions = venue.account()
            held = positions.get(symbol)
            value = balance.wallet + (held.quantity * (price - held.entry_price) if held is not None else 0.0)
        equity[k] = value
    return equity, venue.ledger


@pytest.mark.parametrize("funding", [False, True])
def test_sma_cross_on_real_btc_is_the_bar_by_bar_run(market_data, funding):
    files = (str(market_data / BTC_FUNDING),) if funding else ()
    spec = StrategySpec("sma_cross", (str(market_data / BTC_4H),), funding=files)
    config = Config()
    history = load_history(spec.data, spec.funding, base_funding_rate=config.paper.funding_rate)
    result = asyncio.run(run_signal(spec, config, history, 20, 50))
    equity, ledger = reference_signal(history, config, 20, 50, spec.seed)
    assert result.equity.tobytes() == equity.tobytes()
    assert same_ledger(result.ledger, ledger)
    assert ledger.fills > 400 and (ledger.funding != 0.0) == funding


def _fresh() -> PaperVenue:
    """Returns a paper account of 10,000 USDT long 3 BTC from 30,000 (9x)."""
    venue = PaperVenue(DEFAULT_INSTRUMENTS, Balance(10_000.0), {BTC: Position(BTC, 3.0, 30_000.0)},
                       funding=FundingSchedule.constant(0.0))
    venue.set_marks({BTC: 30_000.0})
    return venue


def _as_float(bits: int) -> float:
    return float(np.array(bits, dtype=np.int64).view(np.float64))


def test_a_low_on_the_last_float_that_liquidates_is_handed_to_observe():
    """The quiet path's margin test leans towards handing a bar to `observe`: a low on the highest
    float that liquidates is liquidated there, one float above it is folded in as safe."""
    def liquidates(low: float) -> bool:
        return any(isinstance(e, Liquidation) for e in _fresh().observe(Tick(BTC, 0.0, 30_000.0, 30_000.0, low)))

    # Positive floats order like their bit patterns: bisect those to the exact edge.
    below, above = int(np.float64(1.0).view(np.int64)), int(np.float64(30_000.0).view(np.int64))
    assert liquidates(_as_float(below)) and not liquidates(_as_float(above))
    while above - below > 1:
        middle = (below + above) // 2
        below, above = (middle, above) if liquidates(_as_float(middle)) else (below, middle)
    for low, liquidated in ((_as_float(below), True), (_as_float(above), False)):
        times = np.array([HOUR, 2 * HOUR, 3 * HOUR])
        closes = np.full(3, 30_000.0)
        lows = np.full(3, low)  # one notional throughout: the margin test is at its tightest
        one, other = _fresh(), _fresh()
        plain = bar_by_bar(one, times, closes, closes.copy(), lows)
        assert_same(one, other, plain, folded(other, times, closes, closes.copy(), lows))
        assert any(isinstance(e, Liquidation) for e in plain[1]) == liquidated


# -- random paths ------------------------------------------------------------------------------


def random_bars(seed: int, count: int, bar_hours: float, crash: float, bad_bars: bool):
    """Returns (close times in epoch s, closes, highs, lows in USDT): a random walk around 30,000
    with gaps, a bar that crashes by `crash` intrabar and a rally, and (when `bad_bars`) missing
    highs/lows, a repeated time and an unusable close."""
    rng = np.random.default_rng(seed)
    start = 1.6e9 + float(rng.integers(0, 8 * 3600))  # not on the funding grid
    times = start + np.cumsum(bar_hours * HOUR * rng.integers(1, 3, count))
    closes = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, count)))
    highs = closes * (1 + rng.uniform(0, 0.03, count))
    lows = closes * (1 - rng.uniform(0, 0.03, count))
    at = int(rng.integers(0, count))
    lows[at] = closes[at] * (1 - crash)
    rally = int(rng.integers(0, count))
    highs[rally] = closes[rally] * (1 + crash)
    if bad_bars:
        picks = rng.integers(0, count, 4)
        highs[picks[0]], lows[picks[1]] = np.nan, np.nan
        times[picks[2]] = times[max(picks[2] - 1, 0)]
        closes[picks[3]] = np.nan
    return times, closes, highs, lows


@st.composite
def scenarios(draw):
    return {
        "seed": draw(st.integers(0, 2**31)),
        "count": draw(st.integers(1, 240)),
        "bar_hours": draw(st.sampled_from([1.0, 4.0, 24.0])),
        "crash": draw(st.floats(0.0, 0.6)),
        "bad_bars": draw(st.booleans()),
        "quantity": draw(st.sampled_from([0.0, 0.3, 1.0, 3.0, 8.0, -0.3, -3.0, -8.0])),  # BTC, at ~30,000
        "stop": draw(st.one_of(st.none(), st.floats(0.02, 0.4))),  # distance from the entry
        "other": draw(st.sampled_from([None, "cross", "isolated"])),  # an ETH position
        "rates": draw(st.lists(st.floats(-0.003, 0.003), min_size=0, max_size=200)),
        "default_rate": draw(st.sampled_from([0.0, 0.0001, -0.0002])),
    }


def _random_venue(case, times) -> PaperVenue:
    positions = {}
    if case["quantity"]:
        positions[BTC] = Position(BTC, case["quantity"], 30_000.0)
    if case["other"]:
        margin = 2_000.0 if case["other"] == "isolated" else 0.0
        positions[ETH] = Position(ETH, -4.0, 2_000.0, margin_mode=case["other"], isolated_margin=margin)
    grid = (math.floor(times[0] / (8 * HOUR)) + np.arange(len(case["rates"]))) * 8 * HOUR
    funding = FundingSchedule({BTC: list(zip(grid.tolist(), case["rates"]))}, case["default_rate"])
    venue = PaperVenue(DEFAULT_INSTRUMENTS, Balance(10_000.0), positions, funding=funding, max_leverage=50.0)
    venue.set_marks({BTC: 30_000.0, ETH: 2_100.0})
    if case["stop"] is not None and case["quantity"]:
        side = "sell" if case["quantity"] > 0 else "buy"
        trigger = 30_000.0 * (1 - case["stop"] if side == "sell" else 1 + case["stop"])
        order = Order(BTC, side, abs(case["quantity"]) / 2, reduce_only=True, order_type="stop_market",
                      stop_price=trigger)
        assert asyncio.run(venue.submit(order)).status == "open"
    return venue


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_random_paths_fold_to_the_same_account(case):
    times, closes, highs, lows = random_bars(case["seed"], case["count"], case["bar_hours"], case["crash"],
                                             case["bad_bars"])
    one, other = _random_venue(case, times), _random_venue(case, times)
    plain = bar_by_bar(one, times, closes, highs, lows)
    fast = folded(other, times, closes, highs, lows)
    assert_same(one, other, plain, fast)


def test_random_paths_do_liquidate_and_stop():
    """The random cases above reach what they are meant to check: liquidations and stop fills."""
    kinds = set()
    for seed in range(40):
        case = {"seed": seed, "count": 200, "bar_hours": 4.0, "crash": 0.5, "bad_bars": seed % 2 == 0,
                "quantity": (8.0, -8.0, 1.0, -1.0)[seed % 4], "stop": 0.1 if seed % 3 == 0 else None,
                "other": (None, "cross", "isolated")[seed % 3], "rates": [0.001] * 100, "default_rate": 0.0001}
        times, closes, highs, lows = random_bars(seed, 200, 4.0, 0.5, case["bad_bars"])
        one, other = _random_venue(case, times), _random_venue(case, times)
        plain = bar_by_bar(one, times, closes, highs, lows)
        assert_same(one, other, plain, folded(other, times, closes, highs, lows))
        kinds |= {type(event).__name__ for event in plain[1]}
    assert {"FundingPayment", "Fill", "Liquidation"} <= kinds


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31), st.integers(60, 400), st.booleans())
def test_sma_cross_on_random_history_is_the_bar_by_bar_run(seed, count, bad_bars):
    times, closes, highs, lows = random_bars(seed, count, 4.0, 0.3, bad_bars)
    closes[0] = 30_000.0  # the strategy starts at the first usable close
    rates = np.random.default_rng(seed).uniform(-0.002, 0.002, count).tolist()
    grid = (math.floor(times[0] / (8 * HOUR)) + np.arange(count)) * 8 * HOUR
    history = History({BTC: DEFAULT_INSTRUMENTS[BTC]}, 4 * HOUR, times, {BTC: closes}, {BTC: highs}, {BTC: lows},
                      FundingSchedule({BTC: list(zip(grid.tolist(), rates))}, 0.0001))
    spec = StrategySpec("sma_cross", ())
    config = Config()
    result = asyncio.run(run_signal(spec, config, history, 5, 12))
    equity, ledger = reference_signal(history, config, 5, 12, spec.seed)
    assert result.equity.tobytes() == equity.tobytes()
    assert same_ledger(result.ledger, ledger)
