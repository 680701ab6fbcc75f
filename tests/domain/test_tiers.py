"""Reading the exchange's leverage tiers: a tier whose figures cannot be right is refused (found by
the fuzz drill, tests/drills/test_fuzz_inputs.py: a negated rate was taken as is)."""

from __future__ import annotations

import math

import pytest

from cockpit.domain.tiers import tiers_from_ccxt


def entry(**changes):
    base = {"minNotional": 0.0, "maxNotional": 50_000.0, "maintenanceMarginRate": 0.004, "maxLeverage": 125.0,
            "info": {"cum": "0.0"}}
    base.update(changes)
    return base


def test_a_good_tier_reads():
    (tier,) = tiers_from_ccxt([entry()])
    assert (tier.min_notional, tier.max_notional, tier.maintenance_margin_rate, tier.max_leverage) == (0, 50_000, 0.004, 125)


@pytest.mark.parametrize("changes, problem", [
    ({"maintenanceMarginRate": -0.004}, "maintenance margin rate -0.004"),
    ({"maintenanceMarginRate": 1.5}, "maintenance margin rate 1.5"),
    ({"maintenanceMarginRate": math.nan}, "maintenance margin rate nan"),
    ({"minNotional": -50_000.0}, "notional range -50000 to 600000"),
    ({"maxNotional": 0.0}, "notional range 50000 to 0"),
    ({"info": {"cum": "-1e400"}}, "maintenance amount -inf"),
    ({"maxLeverage": -20}, "max leverage -20"),
    ({"info": ["cum"]}, "missing or bad field"),
])
def test_a_tier_that_cannot_be_right_is_refused_naming_it(changes, problem):
    with pytest.raises(ValueError, match=f"leverage tier 1: {problem}"):
        tiers_from_ccxt([entry(), entry(**{"minNotional": 50_000.0, "maxNotional": 600_000.0, **changes})])
