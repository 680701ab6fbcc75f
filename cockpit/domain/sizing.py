"""Position sizing: Kelly, regime multipliers, volatility targeting and the anti-martingale guard.

Units: Kelly results are fractions of equity to risk (0.1 = 10 %); leverage is gross notional as a
multiple of equity (3.0 = 3x); volatilities and drawdowns are plain fractions (0.6 = 60 %).

`target_leverage` combines the pieces in a fixed order, and returns every number behind the
answer (a `SizingDecision`) so a proposal can show why it asks for that much:

    raw       = target_vol / forecast_vol                     volatility targeting
    raw       = min(raw, kelly_fraction / stop_distance)      when a Kelly fraction is given
    scaled    = raw * REGIME_KELLY_MULTIPLIER[regime]          bull 1.0 ... crisis 0.1
    capped    = min(scaled, ceiling)                           the hard leverage ceiling
    leverage  = min(capped, current) if drawdown > max_dd      anti-martingale: no catching up
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, Mapping

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
    multiplier = regime_multiplier(regime)
    return fractional_kelly(win_probability, win_loss_ratio, fraction) * multiplier


# Beyond this fraction below the equity peak the account may not raise its leverage: a losing
# account that sizes up to "win it back" is the martingale that ends in liquidation.
DEFAULT_MAX_DRAWDOWN = 0.10

BindingCap = Literal["volatility", "kelly", "ceiling", "anti_martingale"]


def regime_multiplier(regime: str) -> float:
    """Returns the regime's bet multiplier (bull 1.0, consolidation 0.5, bear 0.25, crisis 0.1),
    a plain factor. Raises ValueError for an unknown regime."""
    try:
        return REGIME_KELLY_MULTIPLIER[regime]
    except KeyError:
        known = ", ".join(REGIME_KELLY_MULTIPLIER)
        raise ValueError(f"unknown regime {regime!r} (known: {known})") from None


def _non_negative(name: str, value: float, *, allow_inf: bool = False) -> float:
    if not (value >= 0 and (allow_inf or math.isfinite(value))):
        raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
    return float(value)


def drawdown(equity: float, peak_equity: float) -> float:
    """Returns how far `equity` is below `peak_equity`, as a fraction of the peak (0.2 = 20 %
    below), floored at 0.0 when at or above the peak. Exceeds 1.0 only for negative equity.

    Both in USDT. Raises ValueError unless the peak is a positive finite number and equity finite.
    """
    if not (peak_equity > 0 and math.isfinite(peak_equity)):
        raise ValueError(f"peak equity must be a positive number of USDT, not {peak_equity!r}")
    if not math.isfinite(equity):
        raise ValueError(f"equity must be a finite number of USDT, not {equity!r}")
    return max(0.0, (peak_equity - equity) / peak_equity)


def volatility_target_leverage(
    target_volatility: float, forecast_volatility: float, *, ceiling: float
) -> float:
    """Returns the leverage (multiple of equity) at which the position's volatility equals the
    target: target_volatility / forecast_volatility, capped at `ceiling`.

    Both volatilities are standard deviations of returns as fractions over the *same* horizon
    (both annualized, or both 4h sigma): 40 % target over an 80 % forecast gives 0.5x. A zero
    forecast returns the ceiling. Raises ValueError for negative or non-finite inputs.
    """
    target = _non_negative("target volatility", target_volatility)
    forecast = _non_negative("forecast volatility", forecast_volatility)
    cap = _non_negative("leverage ceiling", ceiling)
    if forecast == 0:
        return cap
    return min(target / forecast, cap)


def anti_martingale_cap(
    proposed_leverage: float, current_leverage: float, drawdown: float, *, max_drawdown: float
) -> float:
    """Returns the leverage (multiple of equity) the account may move to: `proposed_leverage`,
    except that while `drawdown` (fraction below the equity peak, >= 0) is strictly beyond
    `max_drawdown` it may not rise above `current_leverage`. Reductions always pass.

    `current_leverage` may be inf (equity <= 0). Raises ValueError for negative or NaN inputs.
    """
    proposed = _non_negative("proposed leverage", proposed_leverage)
    current = _non_negative("current leverage", current_leverage, allow_inf=True)
    depth = _non_negative("drawdown", drawdown, allow_inf=True)
    limit = _non_negative("max drawdown", max_drawdown)
    if depth > limit:
        return min(proposed, current)
    return proposed


@dataclass(frozen=True, slots=True)
class SizingDecision:
    """A target leverage and the numbers behind it, for a proposal's "why".

    Leverage figures are multiples of equity; volatilities, drawdowns and Kelly fractions plain
    fractions. `binding_cap` names the step that set `leverage`: "volatility" (the vol target,
    scaled by the regime), "kelly", "ceiling" or "anti_martingale".
    """

    leverage: float  # the allowed target gross leverage
    volatility_ratio: float  # target / forecast volatility (inf for a zero forecast)
    kelly_fraction: float | None  # fraction of equity risked per stop-out, as given
    kelly_leverage: float | None  # kelly_fraction / stop_distance
    regime: str
    regime_multiplier: float
    uncapped_leverage: float  # min(volatility ratio, Kelly leverage) * regime multiplier
    ceiling: float
    current_leverage: float
    drawdown: float
    max_drawdown: float
    binding_cap: BindingCap

    def numbers(self) -> dict[str, float]:
        """Returns the figures as a flat name -> number mapping (for Proposal.reason_numbers)."""
        numbers = {
            "target_leverage": self.leverage,
            "vol_ratio": self.volatility_ratio,
            "regime_multiplier": self.regime_multiplier,
            "uncapped_leverage": self.uncapped_leverage,
            "ceiling": self.ceiling,
            "current_leverage": self.current_leverage,
            "drawdown": self.drawdown,
            "max_drawdown": self.max_drawdown,
        }
        if self.kelly_fraction is not None and self.kelly_leverage is not None:
            numbers["kelly_fraction"] = self.kelly_fraction
            numbers["kelly_leverage"] = self.kelly_leverage
        return numbers


def target_leverage(
    *,
    target_volatility: float,
    forecast_volatility: float,
    regime: str,
    ceiling: float,
    current_leverage: float,
    drawdown: float = 0.0,
    max_drawdown: float = DEFAULT_MAX_DRAWDOWN,
    kelly_fraction: float | None = None,
    stop_distance: float | None = None,
    regime_aware: bool = True,
) -> SizingDecision:
    """Returns the SizingDecision: the gross leverage (multiple of equity) to aim for, never above
    `ceiling`, and never above `current_leverage` while `drawdown` is beyond `max_drawdown`.

    Volatilities as in `volatility_target_leverage` (same horizon). `kelly_fraction` is the
    fraction of equity Kelly would risk (e.g. `fractional_kelly(...)`, *before* the regime, which
    is applied here); it needs `stop_distance` (fraction of entry to the protective stop), since a
    position of leverage L stopped out at distance d loses L*d of equity, so Kelly allows
    L = kelly_fraction / stop_distance. With `regime_aware` False the regime is reported but its
    multiplier is 1.0 (fixed fractional sizing). Raises ValueError for an unknown regime or bad
    numbers.
    """
    known = regime_multiplier(regime)  # an unknown name is an error either way
    multiplier = known if regime_aware else 1.0
    target = _non_negative("target volatility", target_volatility)
    forecast = _non_negative("forecast volatility", forecast_volatility)
    cap = _non_negative("leverage ceiling", ceiling)
    current = _non_negative("current leverage", current_leverage, allow_inf=True)
    depth = _non_negative("drawdown", drawdown, allow_inf=True)
    limit = _non_negative("max drawdown", max_drawdown)

    ratio = target / forecast if forecast > 0 else math.inf
    raw = ratio
    binding: BindingCap = "volatility"
    kelly_leverage = None
    if kelly_fraction is not None:
        kelly = _non_negative("Kelly fraction", kelly_fraction)
        if stop_distance is None or not (0 < stop_distance <= 1):
            raise ValueError(
                f"a Kelly fraction needs a stop distance in (0, 1], not {stop_distance!r}"
            )
        kelly_leverage = kelly / stop_distance
        if kelly_leverage < raw:
            raw, binding = kelly_leverage, "kelly"
    uncapped = raw * multiplier
    leverage = uncapped
    if leverage > cap:
        leverage, binding = cap, "ceiling"
    guarded = anti_martingale_cap(leverage, current, depth, max_drawdown=limit)
    if guarded < leverage:
        leverage, binding = guarded, "anti_martingale"
    return SizingDecision(
        leverage=leverage,
        volatility_ratio=ratio,
        kelly_fraction=kelly_fraction,
        kelly_leverage=kelly_leverage,
        regime=regime,
        regime_multiplier=multiplier,
        uncapped_leverage=uncapped,
        ceiling=cap,
        current_leverage=current,
        drawdown=depth,
        max_drawdown=limit,
        binding_cap=binding,
    )
