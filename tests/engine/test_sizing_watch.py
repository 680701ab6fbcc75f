"""The sized aim: volatility target, regime multiplier, Kelly and the drawdown guard, fed the way
the engine feeds them. Expected figures are worked out here from the formulas in the issue."""

from __future__ import annotations

import math

import pytest

from cockpit.config import ConfigError, load_config
from cockpit.engine.sizing_watch import DAY_SECONDS, KEPT_DAYS, SizingWatch
from tests.support import BTC, ETH, T0, config, start_engine, tick

ANNUAL = math.sqrt(6 * 365)  # 4h periods in a year
TARGETS = {BTC: 0.5, ETH: 0.3}


def regime_config(**sizing):
    return config(sizing={"regime_aware": True, **sizing})


def feed_days(watch: SizingWatch, closes, start: float = T0) -> float:
    for day, price in enumerate(closes):
        watch.observe(start + day * DAY_SECONDS, {BTC: price, ETH: price / 20}, equity=10_000.0)
    return start + len(closes) * DAY_SECONDS


def decide(watch: SizingWatch, sigma: float | None = 0.02, *, equity=10_000.0, notional=0.0):
    return watch.decide(equity=equity, trading_equity=equity, gross_notional=notional,
                        sigmas={BTC: sigma, ETH: sigma})


def test_without_history_the_regime_is_consolidation_and_halves_the_volatility_target():
    watch = SizingWatch(regime_config(), TARGETS)
    sizing = decide(watch, sigma=None)  # unknown sigma: the cautious default 2 % per 4h
    expected = 2.0 / (0.02 * ANNUAL) * 0.5  # target vol / forecast, x0.5
    assert sizing.decision.regime == "consolidation"
    assert sizing.decision.leverage == pytest.approx(expected)
    assert sizing.decision.binding_cap == "volatility"
    assert sizing.multiplier == pytest.approx(expected / 0.8)
    assert "regime consolidation x0.50" in sizing.describe()


def test_a_long_rising_market_is_bull_and_the_traders_target_binds():
    watch = SizingWatch(regime_config(), TARGETS)
    feed_days(watch, [20_000 * 1.003 ** day for day in range(260)])
    sizing = decide(watch)
    assert sizing.regime.regime == "bull"
    assert sizing.decision.leverage == pytest.approx(2.0 * 0.8)  # target_leverage x gross weight
    assert sizing.decision.binding_cap == "ceiling"
    assert sizing.multiplier == pytest.approx(2.0)


def test_a_crash_is_crisis_and_keeps_a_tenth():
    watch = SizingWatch(regime_config(), TARGETS)
    feed_days(watch, [60_000] * 30 + [60_000 * 0.97 ** day for day in range(1, 11)])  # -26 % in 10 days
    sizing = decide(watch)
    assert sizing.regime.regime == "crisis"
    assert sizing.decision.leverage == pytest.approx(2.0 / (0.02 * ANNUAL) * 0.1)


def test_fixed_sizing_reports_the_regime_without_applying_it():
    watch = SizingWatch(config(), TARGETS)  # tests/support: regime_aware = False
    sizing = decide(watch)
    assert sizing.decision.regime_multiplier == 1.0
    assert sizing.decision.leverage == pytest.approx(min(1.6, 2.0 / (0.02 * ANNUAL)))
    assert "not applied" in sizing.describe()


@pytest.mark.parametrize("sigma", [0.01, 0.03, 0.05, 0.08])
def test_exposure_scales_with_target_over_forecast_volatility(sigma):
    watch = SizingWatch(config(), TARGETS)
    sizing = decide(watch, sigma)
    assert sizing.decision.leverage == pytest.approx(min(1.6, 2.0 / (sigma * ANNUAL)))
    assert sizing.book_sigma_4h == pytest.approx(sigma)


def test_book_volatility_weights_each_asset_by_its_target():
    watch = SizingWatch(config(), TARGETS)
    sizing = watch.decide(equity=10_000, trading_equity=10_000, gross_notional=0, sigmas={BTC: 0.02, ETH: 0.06})
    assert sizing.book_sigma_4h == pytest.approx((0.5 * 0.02 + 0.3 * 0.06) / 0.8)


def test_in_a_deep_drawdown_leverage_may_not_rise():
    watch = SizingWatch(config(), TARGETS, peak_equity=10_000.0)
    # 15 % below the peak (limit 10 %), holding 0.5x: the aim stays at 0.5x instead of 1.6x.
    sizing = decide(watch, equity=8_500.0, notional=4_250.0)
    assert sizing.decision.drawdown == pytest.approx(0.15)
    assert sizing.decision.leverage == pytest.approx(0.5)
    assert sizing.decision.binding_cap == "anti_martingale"
    # Within the limit the same book may grow back to the target.
    shallow = decide(watch, equity=9_500.0, notional=4_750.0)
    assert shallow.decision.leverage == pytest.approx(1.6)


def test_the_peak_is_the_highest_equity_observed():
    watch = SizingWatch(config(), TARGETS, peak_equity=10_000.0)
    for equity in (10_500.0, 12_000.0, 9_000.0):
        watch.observe(T0, {BTC: 60_000.0}, equity)
    assert watch.peak_equity == 12_000.0


def test_kelly_caps_the_aim_when_configured():
    watch = SizingWatch(config(sizing={"regime_aware": False, "kelly_win_probability": 0.55,
                                       "kelly_win_loss_ratio": 1.2, "kelly_fraction": 0.5}), TARGETS)
    sizing = decide(watch, 0.02)
    full = (1.2 * 0.55 - 0.45) / 1.2
    stop = 0.038 + 1.4 * 0.02  # the stop distance at 2 % 4h sigma
    assert sizing.decision.kelly_fraction == pytest.approx(full * 0.5)
    assert sizing.decision.leverage == pytest.approx(full * 0.5 / stop)
    assert sizing.decision.binding_cap == "kelly"


def test_kelly_needs_both_figures():
    with pytest.raises(ConfigError, match="kelly"):
        load_config(environ={}, overrides={"sizing": {"kelly_win_probability": 0.55}})


def test_daily_closes_keep_a_bounded_history_and_ignore_the_past():
    watch = SizingWatch(regime_config(), TARGETS)
    end = feed_days(watch, [30_000.0 + day for day in range(KEPT_DAYS + 40)])
    assert len(watch._closes) == KEPT_DAYS
    watch.observe(T0, {BTC: 1.0}, 10_000.0)  # a late tick of a long-gone day changes nothing
    assert min(watch._closes.values()) > 1.0
    watch.observe(end, {BTC: 31_000.0}, 10_000.0)
    assert watch._closes[int(end // DAY_SECONDS)] == 31_000.0


async def test_the_engine_aims_at_the_sized_leverage_with_the_product_defaults(tmp_path):
    engine, journal, _ = await start_engine(tmp_path / "j.sqlite", load_config(environ={}))
    try:
        await engine.on_tick(tick(BTC, 60_000.0))
        await engine.on_tick(tick(ETH, 3_000.0))
        (proposal,) = engine.snapshot.proposals
        gross = 2.0 / (0.02 * ANNUAL) * 0.5  # consolidation, default sigma: ~1.07x of 10,000
        assert engine.snapshot.aim_leverage == pytest.approx(gross)
        buys = {o.symbol: o.quantity for o in proposal.orders if o.order_type == "market"}
        assert buys[BTC] == pytest.approx(math.floor(0.5 / 0.8 * gross * 10_000 / 60_000 * 1000) / 1000)
        assert buys[ETH] == pytest.approx(math.floor(0.3 / 0.8 * gross * 10_000 / 3_000 * 1000) / 1000)
        assert proposal.reason_numbers["regime_multiplier"] == 0.5
        assert "regime consolidation" in proposal.reason
    finally:
        await journal.close()


def test_a_peak_older_than_the_window_no_longer_holds_a_flat_book_back():
    # Stopped out flat 15 % below the peak: the guard keeps the aim at 0x (the current leverage)...
    watch = SizingWatch(config(sizing={"drawdown_window_days": 30}), TARGETS, peak_equity=10_000.0)
    watch.observe(T0, {BTC: 60_000.0}, 8_500.0)
    assert decide(watch, equity=8_500.0, notional=0.0).decision.leverage == 0.0
    # ...for 30 days; then the peak is the best equity of the last 30 days, and it may re-enter.
    watch.observe(T0 + 29 * 86_400, {BTC: 60_000.0}, 8_500.0)
    assert watch.peak_equity == 10_000.0
    watch.observe(T0 + 31 * 86_400, {BTC: 60_000.0}, 8_500.0)
    assert watch.peak_equity == 8_500.0
    free = decide(watch, equity=8_500.0, notional=0.0).decision
    assert free.leverage > 1.0 and free.binding_cap != "anti_martingale"
