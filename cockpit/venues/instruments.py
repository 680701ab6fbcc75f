"""The instruments the paper, synthetic and replay markets trade, and how to name them.

Real accounts get their instruments from the exchange; these defaults mirror Binance USDT-M's
BTCUSDT and ETHUSDT perpetuals so a paper account behaves like the real one.
"""

from __future__ import annotations

import re
from pathlib import PurePath

from cockpit.domain.tiers import DEFAULT_TIERS
from cockpit.domain.types import QUOTE, Instrument

DEFAULT_INSTRUMENTS: dict[str, Instrument] = {
    "BTC/USDT:USDT": Instrument("BTC/USDT:USDT", "BTC", 0.001, 100.0, 0.1, DEFAULT_TIERS),
    "ETH/USDT:USDT": Instrument("ETH/USDT:USDT", "ETH", 0.001, 20.0, 0.01, DEFAULT_TIERS),
}

# A file stem like "BTCUSDT_4h", "ethusdt-1d" or "BTC-USDT_perp": the base is what precedes USDT.
_FILENAME = re.compile(r"^([A-Za-z0-9]+?)[-_/]?USDT(?:$|[-_.])", re.IGNORECASE)


def symbol_for_base(base: str) -> str:
    """Returns the ccxt unified symbol of the USDT-margined perpetual on `base` ("BTC" -> "BTC/USDT:USDT")."""
    base = base.strip().upper()
    if not base:
        raise ValueError("empty base currency")
    return f"{base}/{QUOTE}:{QUOTE}"


def base_from_filename(path: str | PurePath) -> str:
    """Returns the base currency named by a market-data file name ("BTCUSDT_4h.csv.gz" -> "BTC").

    Raises ValueError when the name does not start with <BASE>USDT.
    """
    name = PurePath(path).name
    match = _FILENAME.match(name)
    if not match:
        raise ValueError(
            f"cannot tell the symbol from file name {name!r}: expected a name like BTCUSDT_4h.csv.gz"
        )
    return match.group(1).upper()


def instrument_for_base(base: str) -> Instrument:
    """Returns the default instrument for `base`; for bases without one, a generic USDT perpetual
    (step 0.001, min notional 5 USDT, tick 0.0001) with the default tiers, so any replay file
    can be traded on paper."""
    symbol = symbol_for_base(base)
    known = DEFAULT_INSTRUMENTS.get(symbol)
    if known is not None:
        return known
    return Instrument(symbol, base.strip().upper(), 0.001, 5.0, 0.0001, DEFAULT_TIERS)
