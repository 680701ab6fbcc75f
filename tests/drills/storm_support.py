"""The exchange side of the storm drill (test_storm.py): the fake Binance of tests/live, whose REST
endpoints can all fail at once for as long as a test says, in a seeded mix of rate limits
(429, 418 bans), server errors (500, 502, 503) and timeouts.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any

from tests.live.fake_binance import FakeBinance

STORM_FAULTS = ("429", "418", "500", "502", "503", "timeout")


class StormBinance(FakeBinance):
    """FakeBinance with `storm()` / `calm()`: while storming every REST request gets one of
    STORM_FAULTS (chosen by a seeded generator) and is never processed."""

    def __init__(self, *args: Any, storm_seed: int = 7, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._storm_rng = random.Random(storm_seed)
        self.storming = False
        self.storm_faults: Counter[str] = Counter()  # fault -> requests answered with it
        self.stormed_at: float | None = None
        self.calmed_at: float | None = None

    def storm(self) -> None:
        """From now on every REST request fails (see the class doc)."""
        self.storming, self.stormed_at = True, time.monotonic()

    def calm(self) -> None:
        """Ends the storm: requests are answered normally again."""
        self.storming, self.calmed_at = False, time.monotonic()

    def _take_fault(self, method: str, path: str) -> str | None:
        if self.storming:
            fault = self._storm_rng.choice(STORM_FAULTS)
            self.storm_faults[fault] += 1
            return fault
        return super()._take_fault(method, path)

    def order_sends(self) -> Counter[str]:
        """Returns how many times each client order id was sent (POST), faults included."""
        sends: Counter[str] = Counter()
        for request in self.requests:
            if request["method"] == "POST" and request["path"] in ("/fapi/v1/order", "/fapi/v1/algoOrder"):
                sends[request["params"].get("newClientOrderId") or request["params"].get("clientAlgoId") or "?"] += 1
        return sends
