"""Kelly sizing: the formula, fractions, regimes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit.domain.sizing import (
    REGIME_KELLY_MULTIPLIER,
    fractional_kelly,
    kelly_fraction,
    regime_kelly,
)


@pytest.mark.parametrize(
    "p, b, expected",
    [
        (0.55, 1.0, 0.10),  # (1*0.55 - 0.45) / 1 = 0.10
        (0.6, 2.0, 0.4),  # (2*0.6 - 0.4) / 2 = 0.8 / 2 = 0.4
        (0.5, 1.0, 0.0),  # (0.5 - 0.5) / 1 = 0
        (0.4, 1.0, -0.2),  # (0.4 - 0.6) / 1 = -0.2: negative edge stays negative
        (0.5, 3.0, 1 / 3),  # (1.5 - 0.5) / 3 = 0.3333
    ],
)
def test_kelly_fraction_hand_worked(p, b, expected):
    assert kelly_fraction(p, b) == pytest.approx(expected, abs=1e-12)


def test_fractional_and_regime_kelly():
    # half Kelly of 0.4 = 0.2; negative edge -> 0
    assert fractional_kelly(0.6, 2.0, 0.5) == pytest.approx(0.2)
    assert fractional_kelly(0.4, 1.0, 0.5) == 0.0
    # 0.2 * bear 0.25 = 0.05; * crisis 0.1 = 0.02; * consolidation 0.5 = 0.1
    assert regime_kelly(0.6, 2.0, 0.5, "bear") == pytest.approx(0.05)
    assert regime_kelly(0.6, 2.0, 0.5, "crisis") == pytest.approx(0.02)
    assert regime_kelly(0.6, 2.0, 0.5, "consolidation") == pytest.approx(0.1)
    assert regime_kelly(0.6, 2.0, 0.5, "bull") == pytest.approx(0.2)
    assert dict(REGIME_KELLY_MULTIPLIER) == {
        "bull": 1.0, "consolidation": 0.5, "bear": 0.25, "crisis": 0.1
    }


@pytest.mark.parametrize("p, b", [(-0.1, 1.0), (1.1, 1.0), (0.5, 0.0), (0.5, -1.0),
                                  (float("nan"), 1.0)])
def test_kelly_rejects_bad_inputs(p, b):
    with pytest.raises(ValueError):
        kelly_fraction(p, b)


def test_bad_fraction_and_regime_rejected():
    with pytest.raises(ValueError):
        fractional_kelly(0.6, 2.0, -0.5)
    with pytest.raises(ValueError, match="unknown regime"):
        regime_kelly(0.6, 2.0, 0.5, "moon")


@settings(max_examples=300, deadline=None)
@given(p1=st.floats(0.0, 1.0), p2=st.floats(0.0, 1.0), b=st.floats(0.01, 100.0))
def test_kelly_is_monotone_in_win_probability(p1, p2, b):
    low, high = sorted((p1, p2))
    assert kelly_fraction(low, b) <= kelly_fraction(high, b)
