"""The PnL history the position screen charts: bounded, evenly thinned, the newest kept."""

from __future__ import annotations

import math

import pytest

from cockpit.domain.risk import assess
from cockpit.domain.types import Balance, Position, State
from cockpit.engine.pnl_history import PnlHistory

BTC = "BTC/USDT:USDT"


def risk(mark: float, held: bool = True):
    positions = {BTC: Position(BTC, 0.5, 50_000.0)} if held else {}
    return assess(State(0.0, Balance(10_000.0), positions, {BTC: mark}))


def test_samples_once_per_interval_and_reads_nan_where_flat():
    history = PnlHistory(first_interval=10.0)
    for second, mark in [(0, 50_000.0), (5, 50_100.0), (10, 50_200.0)]:
        history.observe(float(second), risk(mark))
    history.observe(20.0, risk(50_300.0, held=False))
    series = history.series(BTC)
    assert series.times == (0.0, 10.0, 20.0)
    assert series.unrealized_pnl[:2] == (0.0, pytest.approx(100.0))
    assert math.isnan(series.unrealized_pnl[2]) and math.isnan(series.marks[2])
    assert series.equity[1] == pytest.approx(10_100.0)


def test_a_long_run_stays_bounded_and_spans_from_start_to_now():
    history = PnlHistory(max_samples=8, first_interval=1.0)
    for second in range(1_000):
        history.observe(float(second), risk(50_000.0 + second))
    series = history.series(BTC)
    assert len(series) < 8
    assert series.times[0] == 0.0 and series.times[-1] >= 1_000 - 2 * 128
    gaps = {b - a for a, b in zip(series.times, series.times[1:])}
    assert max(gaps) <= 2 * min(gaps) + 1  # spread over the run, no hole


def test_a_clock_stepping_back_or_nan_is_ignored():
    history = PnlHistory(first_interval=1.0)
    history.observe(10.0, risk(50_000.0))
    history.observe(5.0, risk(50_000.0))
    history.observe(math.nan, risk(50_000.0))
    assert history.series(BTC).times == (10.0,)
