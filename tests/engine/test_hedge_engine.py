"""The hedge leg through the engine: a core of ETH hedged with a BTC short sized by the
minimum-variance ratio, on real Binance hourly closes (../shared) and on constructed paths (a
hedge that stops tracking, a steep ratio); and the config refusing a hedge on one of the targets.

HedgeWatch samples a period's close when the first update of the next period arrives, so the
bars here are fed as a live feed would: each symbol's tick at the bar's own timestamp, in either
order, and bar i's close is in the window once bar i + 1 begins."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cockpit.config import ConfigError, load_config
from tests.support import BTC, ETH, T0, FakeClock, config, start_engine, tick

PERP = "binance_usdm_perp"
HOUR = 3600.0
WINDOW = 10


def hourly_closes(market_data, start: str, end: str) -> tuple[list[float], np.ndarray, np.ndarray]:
    """Returns (epoch seconds, BTC closes, ETH closes) of the perpetuals' hourly bars, start..end inclusive."""
    frames = [
        pd.read_csv(market_data / PERP / f"{name}_perp_1h_with_mark.csv.gz", parse_dates=["timestamp"])
        .set_index("timestamp")["close"]
        for name in ("BTCUSDT", "ETHUSDT")
    ]
    btc, eth = (frame.loc[pd.Timestamp(start, tz="UTC"):pd.Timestamp(end, tz="UTC")] for frame in frames)
    assert (btc.index == eth.index).all()
    return [stamp.timestamp() for stamp in btc.index], btc.to_numpy(dtype=float), eth.to_numpy(dtype=float)


def numpy_hedge(core_prices, hedge_prices) -> tuple[float, float]:
    """The reference: (Cov(core, hedge) / Var(hedge), Pearson rho) of the log returns, by numpy."""
    core, hedge = np.diff(np.log(core_prices)), np.diff(np.log(hedge_prices))
    covariance = np.cov(core, hedge)
    return covariance[0, 1] / covariance[1, 1], np.corrcoef(core, hedge)[0, 1]


def hedged_config(**extra):
    return config(
        portfolio={"targets": {"ETH": 0.6}},
        hedge={"asset": "BTC", "window": WINDOW, "sample_hours": 1.0},
        rebalance={"mode": "continuous"},
        **extra,
    )


async def bar(engine, at: float, prices: dict) -> None:
    """Feeds one bar: a tick per symbol, all at the bar's timestamp, in the dict's order."""
    for symbol, price in prices.items():
        await engine.on_tick(tick(symbol, float(price), at))


def market(proposal, symbol):
    (order,) = [o for o in proposal.orders if o.symbol == symbol and o.order_type == "market"]
    return order


@pytest.fixture
async def hedged(tmp_path):
    clock = FakeClock()
    engine, journal, _ = await start_engine(tmp_path / "j.sqlite", hedged_config(), clock=clock)
    try:
        yield engine, journal, clock
    finally:
        await journal.close()


async def test_once_the_window_fills_the_rebalance_shorts_btc_by_the_hedge_ratio(hedged, market_data):
    engine, journal, clock = hedged
    seconds, btc, eth = hourly_closes(market_data, "2025-06-02 00:00", "2025-06-04 00:00")
    found = None
    for i, t in enumerate(seconds):
        clock.advance(60.0)  # an hour of market per minute of wall clock: old proposals lapse (ttl 120 s)
        # Both closes of bar i at the bar's time, in an order that alternates (it must not matter).
        # Bar i's first tick samples bar i - 1's close; bar i's own waits for bar i + 1.
        sampled = i - 1  # index of the newest bar HedgeWatch has sampled
        order = ((BTC, btc[i]), (ETH, eth[i])) if i % 2 else ((ETH, eth[i]), (BTC, btc[i]))
        for symbol, price in order:
            await engine.on_tick(tick(symbol, float(price), t))
            pending = [p for p in engine.snapshot.proposals if p.kind == "rebalance"]
            if engine.snapshot.hedge is None:
                # Warming up: the hedge leg is left alone (not held, so no order in it).
                assert all(o.symbol != BTC for p in pending for o in p.orders)
                assert all("hedge_ratio" not in p.reason_numbers for p in pending)
            hedged_now = [p for p in pending if "hedge_ratio" in p.reason_numbers]
            if hedged_now:
                found, reading, marks = hedged_now[0], engine.snapshot.hedge, dict(engine.snapshot.state.marks)
                break
        if found is not None:
            break
    assert found is not None, "no hedged rebalance proposal"
    assert sampled >= WINDOW  # WINDOW returns need WINDOW + 1 hourly samples: bars 0..WINDOW

    numbers = found.reason_numbers
    ratio, rho = numpy_hedge(eth[sampled - WINDOW:sampled + 1], btc[sampled - WINDOW:sampled + 1])
    assert numbers["hedge_ratio"] == reading.ratio == pytest.approx(ratio, rel=1e-9)
    assert numbers["hedge_correlation"] == reading.correlation == pytest.approx(rho, rel=1e-9)
    assert numbers["hedge_correlation"] > 0.5 and numbers["hedge_ratio"] > 0

    eth_order, btc_order = market(found, ETH), market(found, BTC)
    assert eth_order.side == "buy" and not eth_order.reduce_only
    assert btc_order.side == "sell" and not btc_order.reduce_only  # opens the short
    eth_notional = eth_order.quantity * marks[ETH]
    btc_notional = btc_order.quantity * marks[BTC]
    # Both legs come from flat, so their notionals stand in the hedge ratio (up to one 0.001 BTC step).
    assert btc_notional / eth_notional == pytest.approx(numbers["hedge_ratio"], abs=0.001 * marks[BTC] / eth_notional)

    message = await engine.approve(found.id)
    assert "filled" in message, message
    positions = engine.snapshot.state.positions
    assert positions[BTC].quantity < 0 < positions[ETH].quantity
    held_ratio = -positions[BTC].quantity * marks[BTC] / (positions[ETH].quantity * marks[ETH])
    assert held_ratio == pytest.approx(numbers["hedge_ratio"], rel=0.02)
    rows = await journal.entries(kinds=["proposal"])
    assert rows[-1].payload["reason_numbers"]["hedge_ratio"] == pytest.approx(numbers["hedge_ratio"])


@pytest.mark.parametrize("btc_first", [True, False], ids=["btc_first", "eth_first"])
async def test_bars_fed_at_the_same_timestamp_are_sampled_together(hedged, market_data, btc_first):
    engine, journal, clock = hedged
    seconds, btc, eth = hourly_closes(market_data, "2025-06-02 00:00", "2025-06-02 12:00")
    last = len(seconds) - 1
    assert last == WINDOW + 2
    for i, t in enumerate(seconds):
        clock.advance(1.0)
        prices = {BTC: btc[i], ETH: eth[i]} if btc_first else {ETH: eth[i], BTC: btc[i]}
        await bar(engine, t, prices)
        if i == WINDOW:  # bars 0..WINDOW are in, but WINDOW's close waits for the next bar
            assert engine.snapshot.hedge is None
    reading = engine.snapshot.hedge
    assert reading is not None and reading.samples == WINDOW
    # The newest sample is the close of the bar before the last, and it pairs the two closes of
    # the same bars, whichever symbol's tick came first.
    ratio, rho = numpy_hedge(eth[last - 1 - WINDOW:last], btc[last - 1 - WINDOW:last])
    assert rho > 0.5
    assert reading.correlation == pytest.approx(rho, rel=1e-9)
    assert reading.ratio == pytest.approx(ratio, rel=1e-9)


async def test_a_steep_hedge_ratio_still_gives_an_approvable_proposal(hedged):
    # ETH moving 2.5x BTC's hourly returns, tightly: hedge ratio ~2.5, correlation ~1. Unclamped,
    # the short would be 2.5 x 0.6 x 2 = 3x equity in BTC, past limits.max_asset_exposure (2x):
    # the engine caps the hedge weight below the pre-trade limit, so the proposal still passes.
    engine, journal, clock = hedged
    rng = np.random.default_rng(11)
    btc_returns = rng.normal(0.0, 0.003, 24)
    eth_returns = 2.5 * btc_returns + rng.normal(0.0, 0.0005, 24)
    btc = 100_000.0 * np.exp(np.cumsum(np.r_[0.0, btc_returns]))
    eth = 2_500.0 * np.exp(np.cumsum(np.r_[0.0, eth_returns]))
    found = None
    for i in range(len(btc)):
        clock.advance(60.0)
        t = T0 + HOUR * i
        for symbol, price in ((ETH, eth[i]), (BTC, btc[i])):  # both closes of bar i at the bar's time
            await engine.on_tick(tick(symbol, float(price), t))
            found = next((p for p in engine.snapshot.proposals if "hedge_ratio" in p.reason_numbers), None)
            if found is not None:
                break
        if found is not None:
            break
    assert found is not None
    cap = engine.config.limits.max_asset_exposure
    equity, aim, marks = engine.snapshot.risk.equity, engine.snapshot.target_leverage, dict(engine.snapshot.state.marks)
    ratio = found.reason_numbers["hedge_ratio"]
    assert ratio == pytest.approx(2.5, abs=0.1) and found.reason_numbers["hedge_correlation"] > 0.99
    assert ratio * 0.6 * aim > 1.4 * cap  # the unclamped short would be far past the cap
    btc_order = market(found, BTC)
    assert btc_order.side == "sell"
    assert btc_order.quantity * marks[BTC] <= 0.99 * cap * equity  # the clamped short fits under it

    message = await engine.approve(found.id)
    assert "filled" in message and "DENIED" not in message, message
    assert await journal.entries(kinds=["denied"]) == []
    after = engine.snapshot
    short = -after.state.positions[BTC].quantity * after.state.marks[BTC]
    assert 0 < short <= cap * after.risk.equity
    assert after.state.positions[ETH].quantity > 0


async def test_a_hedge_that_stops_tracking_is_noted_once_and_closed(hedged):
    # ETH follows BTC (beta 1.2) for 20 hours, then goes its own way. Every rebalance is approved.
    engine, journal, clock = hedged
    rng = np.random.default_rng(1)
    btc_returns = rng.normal(0.0, 0.003, 40)
    eth_returns = 1.2 * btc_returns + rng.normal(0.0, 0.001, 40)
    eth_returns[20:] = rng.normal(0.0, 0.004, 20)
    btc = 100_000.0 * np.exp(np.cumsum(np.r_[0.0, btc_returns]))
    eth = 2_500.0 * np.exp(np.cumsum(np.r_[0.0, eth_returns]))
    shorted = False
    for i in range(len(btc)):
        clock.advance(60.0)
        t = T0 + HOUR * i
        for symbol, price in ((BTC, btc[i]), (ETH, eth[i])):  # both closes of bar i at the bar's time
            await engine.on_tick(tick(symbol, float(price), t))
            for proposal in [p for p in engine.snapshot.proposals if p.kind == "rebalance"]:
                assert "filled" in await engine.approve(proposal.id)
            held = engine.snapshot.state.positions.get(BTC)
            shorted = shorted or (held is not None and held.quantity < 0)
    assert shorted  # the hedge was on while ETH followed BTC
    notes = [r.payload["text"] for r in await journal.entries(kinds=["note"]) if r.payload["text"].startswith("hedge ")]
    assert len(notes) == 1, notes
    assert notes[0].startswith(f"hedge {BTC}: hedge correlation ")
    reading = engine.snapshot.hedge
    assert reading is not None and not reading.hedges
    assert BTC not in engine.snapshot.state.positions  # the short was bought back
    assert engine.snapshot.state.positions[ETH].quantity > 0


def hedge_refusal(tmp_path, text: str) -> str:
    path = tmp_path / "cockpit.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_hedge_on_one_of_the_targets_is_refused(tmp_path):
    message = hedge_refusal(tmp_path, '[portfolio]\ntargets = {ETH = 0.6}\n[hedge]\nasset = "ETH"\n')
    assert "hedge.asset" in message and "also a target" in message
    # The default targets are BTC 0.5 and ETH 0.3.
    assert "also a target" in hedge_refusal(tmp_path, '[hedge]\nasset = "BTC"\n')
    with pytest.raises(ConfigError, match="also a target"):
        load_config(environ={}, overrides={"portfolio": {"targets": {"ETH": 0.6}}, "hedge": {"asset": "ETH"}})
    # A hedge asset that is not a target is fine.
    cfg = load_config(environ={}, overrides={"portfolio": {"targets": {"ETH": 0.6}}, "hedge": {"asset": "BTC"}})
    assert cfg.hedge.asset == "BTC"


def test_the_refusal_names_the_asset_as_written(tmp_path):
    message = hedge_refusal(tmp_path, '[portfolio]\ntargets = {ETH = 0.6}\n[hedge]\nasset = "ETH"\n')
    expected = "hedge.asset: ETH is also a target; one-way mode holds one position per asset"
    assert message == f"{tmp_path / 'cockpit.toml'}: {expected}"
