"""Number formatting for the screen: fixed widths, explicit signs, units a trader expects."""

from __future__ import annotations

import math


def money(value: float, *, signed: bool = False, cents: bool = True) -> str:
    """Returns USDT with thousands separators and 2 decimals, e.g. "12,345.67" or "+12.30"
    (whole units, "12,346", with `cents` False)."""
    if not math.isfinite(value):
        return "—"
    decimals = 2 if cents else 0
    return f"{value:+,.{decimals}f}" if signed else f"{value:,.{decimals}f}"


def price(value: float) -> str:
    """Returns a price with precision that suits its size (BTC 2 decimals, small coins more)."""
    if not math.isfinite(value) or value <= 0:
        return "—"
    if value >= 10_000:
        return f"{value:,.0f}"
    if value >= 1000:
        return f"{value:,.1f}"
    if value >= 1:
        return f"{value:,.2f}"
    return f"{value:.5f}"


def percent(fraction: float, *, signed: bool = False) -> str:
    """Returns a fraction as a percentage with 1 decimal ("33.2%"); "—" when not finite."""
    if not math.isfinite(fraction):
        return "—"
    return f"{fraction * 100:+.1f}%" if signed else f"{fraction * 100:.1f}%"


def leverage(value: float) -> str:
    """Returns leverage as "1.60x"; "∞" when equity is gone."""
    return f"{value:.2f}x" if math.isfinite(value) else "∞"


def duration(seconds: float) -> str:
    """Returns a short countdown: "3h59m", "4m05s", "12s"."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def distance_band(distance: float, *, watch: float, danger: float) -> str:
    """Returns "danger", "watch" or "safe" for a liquidation distance (fraction of mark)."""
    if distance < danger:
        return "danger"
    if distance < watch:
        return "watch"
    return "safe"


# Each band also said in text, two columns wide so figures stay aligned: the colour alone fails a
# colour-blind trader, a monochrome terminal and a pipe. Plain ASCII renders in every font.
BAND_MARKS = {"safe": "ok", "watch": " !", "danger": "!!"}


def band_mark(band: str) -> str:
    """Returns the two-character mark of a distance band: "ok" (safe), " !" (watch), "!!" (danger)."""
    return BAND_MARKS[band]


def with_band_mark(figure: str, band: str) -> str:
    """Returns a distance figure followed by its band's mark, e.g. "8.2% !!" or "64.0% ok"."""
    return f"{figure} {band_mark(band)}"


def reason_number(name: str, value: float) -> str:
    """Returns a proposal's reason figure as a trader reads it: drift and band in weight points
    ("-50.0 pts"), leverage as "1.60x", money with separators, anything else to 4 digits."""
    if name.startswith("drift") or name == "band":
        return f"{value * 100:+.1f} pts" if name.startswith("drift") else f"{value * 100:.1f} pts"
    if "leverage" in name:
        return leverage(value)
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"
