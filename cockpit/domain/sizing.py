"""Position sizing by the Kelly criterion, scaled down for the market regime.

All results are fractions of equity to risk (0.1 = 10 %).
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Mapping

# Bear and crisis markets break the win-rate and payoff estimates Kelly relies on, so the bet
# shrinks with the regime rather than trusting the estimate.
REGIME_KELLY_MULTIPLIER: Mapping[str, float] = MappingProxyType(
    {"bull": 1.0, "consolidation": 0.5, "bear": 0.25, "crisis": 0.1}
)


def kelly_fraction(win_probability: float, win_loss_ratio: float) -> float:
    """Returns the full Kelly fraction of equity f* = (b*p - q) / b, with b = average win /
    average loss and q = 1 - p. Negative means the bet has a negative edge (do not take it).

    Raises ValueError unless 0 <= p <= 1 and b > 0.
    """
    if not 0.0 <= win_probability <= 1.0:
        raise ValueError(f"win probability must be within [0, 1], not {win_probability!r}")
    if not (win_loss_ratio > 0 and math.isfinite(win_loss_ratio)):
        raise ValueError(f"win/loss ratio must be a positive number, not {win_loss_ratio!r}")
    loss_probability = 1.0 - win_probability
    return (win_loss_ratio * win_probability - loss_probability) / win_loss_ratio


def fractional_kelly(win_probability: float, win_loss_ratio: float, fraction: float) -> float:
    """Returns max(0, f*) * fraction, the fraction of equity to bet (0 for a negative edge).

    Raises ValueError for a negative or non-finite `fraction` and as `kelly_fraction` does.
    """
    if not (fraction >= 0 and math.isfinite(fraction)):
        raise ValueError(f"Kelly fraction multiplier must be >= 0, not {fraction!r}")
    return max(0.0, kelly_fraction(win_probability, win_loss_ratio)) * fraction


def regime_kelly(
    win_probability: float, win_loss_ratio: float, fraction: float, regime: str
) -> float:
    """Returns the fractional Kelly bet (fraction of equity) scaled by the regime's multiplier
    (bull 1.0, consolidation 0.5, bear 0.25, crisis 0.1). Raises ValueError for an unknown regime.
    """
    try:
        multiplier = REGIME_KELLY_MULTIPLIER[regime]
    except KeyError:
        known = ", ".join(REGIME_KELLY_MULTIPLIER)
        raise ValueError(f"unknown regime {regime!r} (known: {known})") from None
    return fractional_kelly(win_probability, win_loss_ratio, fraction) * multiplier
