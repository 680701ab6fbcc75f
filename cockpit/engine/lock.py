"""Who owns the paper account right now: a running cockpit holds an exclusive lock beside its
journal, so `cockpit flatten` in another shell knows whether to ask it or act itself."""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: never claim to know
    fcntl = None  # type: ignore[assignment]


class OwnerLock:
    """An advisory lock on `<journal>.lock`, held for the life of a running engine."""

    def __init__(self, journal_path: Path) -> None:
        self.path = Path(f"{journal_path}.lock")
        self._handle: int | None = None

    def acquire(self) -> bool:
        """Returns True if this process now owns the account, False if another process does."""
        if fcntl is None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(handle)
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        """Gives up ownership. Idempotent."""
        if self._handle is not None and fcntl is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            os.close(self._handle)
            self._handle = None
