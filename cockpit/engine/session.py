"""One run of cockpit: owns the account lock, the journal and the engine, from start to stop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Callable

from cockpit.config import Config
from cockpit.engine.bootstrap import MarketChoice, choose_market, open_engine
from cockpit.engine.fit_pool import FitPool
from cockpit.engine.engine import Engine
from cockpit.engine.lock import OwnerLock
from cockpit.journal.store import Journal
from cockpit.venues.base import PriceSource


class SessionError(RuntimeError):
    """Why a session could not start, phrased as one line."""


class Session:
    """Opens an engine on `journal_path` and closes everything it opened, once."""

    def __init__(
        self,
        config: Config,
        journal_path: Path,
        *,
        demo: bool = False,
        replay: list[Path] | None = None,
        speed: float = 200.0,
        choice: MarketChoice | None = None,
        source: PriceSource | None = None,
        fit_pool: FitPool | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.journal_path = journal_path
        self._demo = demo
        self._replay = replay or []
        self._speed = speed
        self._choice = choice
        self._source = source
        self._fit_pool = fit_pool
        self._clock = clock
        self._lock = OwnerLock(journal_path)
        self.engine: Engine | None = None
        self._journal: Journal | None = None
        self._closed = False

    def describe_start(self) -> str:
        """Returns what the session is doing while it starts, for the header."""
        if self._replay:
            return "loading replay…"
        if self.config.exchange.live and not (self._demo or self._replay or self._choice):
            return f"connecting to {self.config.exchange.account_name}: reconciling the journal with the exchange…"
        if self._demo or self._choice:
            return "starting the synthetic demo market…"
        return f"connecting to {self.config.market.exchange} (falls back to the demo in {self.config.market.connect_timeout_seconds:g}s)…"

    async def open(self) -> Engine:
        """Returns the started engine; raises SessionError with a one-line reason."""
        if not self._lock.acquire():
            raise SessionError(
                f"another cockpit is running on {self.journal_path}; use it, or `cockpit flatten` from here"
            )
        try:
            self._journal = await Journal.open(self.journal_path)
            if self.config.exchange.live and not (self._demo or self._replay or self._choice):
                self.engine = await self._open_live(self._journal)
                return self.engine
            choice = self._choice or await choose_market(
                self.config, demo=self._demo, replay=self._replay, speed=self._speed
            )
            try:
                self.engine = await open_engine(
                    self.config, choice, self._journal, source=self._source, fit_pool=self._fit_pool, clock=self._clock
                )
            except BaseException:
                if choice.source is not None and choice.source is not self._source:
                    await choice.source.close()
                raise
            return self.engine
        except Exception:
            await self.close("failed to start")
            raise

    async def _open_live(self, journal: Journal) -> Engine:
        from cockpit.config import PASSPHRASE_EXCHANGES
        from cockpit.engine.live_bootstrap import LiveStartError, open_live_engine
        from cockpit.secrets import SecretsError, load_credentials

        exchange_id = self.config.exchange.id
        try:
            credentials = load_credentials(exchange_id, needs_passphrase=exchange_id in PASSPHRASE_EXCHANGES)
        except SecretsError as error:
            raise SessionError(str(error)) from None
        if credentials is None:
            raise SessionError(
                f"no API key for {exchange_id}: set COCKPIT_API_KEY and COCKPIT_API_SECRET, or store them in the "
                "OS keyring (see README, Connecting a real account)"
            )
        try:
            return await open_live_engine(self.config, journal, credentials, fit_pool=self._fit_pool, clock=self._clock)
        except LiveStartError as error:
            raise SessionError(str(error)) from None

    async def close(self, reason: str) -> None:
        """Journals the stop, closes the source and the journal, releases the lock. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.engine is not None:
                await self.engine.stop(reason)
            if self._journal is not None:
                await asyncio.shield(self._journal.close())
        finally:
            self._lock.release()
