"""The demo market's pace and a frozen market, as the config (and so the environment) sets them:
what benchmarks/terminal_bytes uses to measure a quiet screen and a fast one."""

from __future__ import annotations

import pytest

from cockpit.config import ConfigError, load_config
from cockpit.engine.bootstrap import MarketChoice, make_source
from tests.support import BTC, ETH

DEMO = MarketChoice("demo", "paper-demo", "demo", grant_demo_book=True)


def test_the_demo_market_steps_once_a_second_and_moves_by_default():
    source = make_source(DEMO, load_config(environ={}), {})
    prices = source.generate(50)
    assert source.interval == 1.0
    assert len(set(prices[BTC])) == 50 and len(set(prices[ETH])) == 50


def test_the_environment_sets_a_faster_pace_and_a_frozen_market():
    environ = {"COCKPIT_MARKET_SYNTHETIC_INTERVAL_SECONDS": "0.05", "COCKPIT_MARKET_SYNTHETIC_FROZEN": "true"}
    source = make_source(DEMO, load_config(environ=environ), {BTC: 61_000.0})
    prices = source.generate(3000)  # long enough that a crash (1 in 2,000 steps) would have come
    assert source.interval == 0.05
    assert set(prices[BTC]) == {61_000.0} and set(prices[ETH]) == {3_000.0}


@pytest.mark.parametrize("value", ["0", "-1", "nan", "soon"])
def test_a_bad_pace_names_the_key(value):
    with pytest.raises(ConfigError, match="market.synthetic_interval_seconds"):
        load_config(environ={"COCKPIT_MARKET_SYNTHETIC_INTERVAL_SECONDS": value})
