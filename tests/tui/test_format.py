"""Screen number formats: what a trader reads must be exact and fit its column."""

from __future__ import annotations

import math

from cockpit.tui import format as fmt


def test_money_and_signs():
    assert fmt.money(12345.678) == "12,345.68"
    assert fmt.money(-3.2, signed=True) == "-3.20"
    assert fmt.money(math.inf) == "—"


def test_prices_shrink_their_decimals_as_they_grow():
    assert fmt.price(60_030.4) == "60,030"
    assert fmt.price(3_001.54) == "3,001.5"
    assert fmt.price(1.23456) == "1.23"
    assert fmt.price(0.000123456) == "0.00012"
    assert fmt.price(0.0) == "—"


def test_distance_bands():
    assert fmt.distance_band(0.05, watch=0.25, danger=0.10) == "danger"
    assert fmt.distance_band(0.10, watch=0.25, danger=0.10) == "watch"
    assert fmt.distance_band(0.30, watch=0.25, danger=0.10) == "safe"


def test_countdown():
    assert fmt.duration(4 * 3600 - 1) == "3h59m"
    assert fmt.duration(245) == "4m05s"
    assert fmt.duration(-3) == "0s"


def test_reason_numbers():
    assert fmt.reason_number("drift_BTC", -0.5) == "-50.0 pts"
    assert fmt.reason_number("band", 0.05) == "5.0 pts"
    assert fmt.reason_number("equity", 10_000.0) == "10,000"
    assert fmt.reason_number("leverage_before", 1.6) == "1.60x"
