"""The process pool the model fits run in, so the screen's event loop never waits on arch or
scikit-learn.

Processes are started with "spawn": the cockpit process has threads (aiosqlite's, Textual's),
and forking a process with threads can copy a held lock into the child and hang it.
The pool starts on the first fit, not at start-up (a spawned worker imports numpy, arch and
scikit-learn: a second or two of CPU the first screen should not compete with).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable


@contextlib.contextmanager
def _real_standard_streams():
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


class FitPool:
    """A lazily started process pool of `workers` processes."""

    def __init__(self, workers: int = 1) -> None:
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None

    async def run(self, task: Callable[[], Any]) -> Any:
        """Returns `task()` computed in a worker process (the task and its result are pickled)."""
        loop = asyncio.get_running_loop()
        if self._pool is not None:
            return await loop.run_in_executor(self._pool, task)
        # multiprocessing's resource tracker (started with the pool's first lock) and the workers
        # (started on the first submit) are handed sys.stderr's file descriptor; under Textual
        # sys.stderr is a capture object without one, so give them the real streams meanwhile.
        with _real_standard_streams():
            self._pool = ProcessPoolExecutor(self._workers, mp_context=multiprocessing.get_context("spawn"))
            future = loop.run_in_executor(self._pool, task)
        return await future

    def close(self) -> None:
        """Stops the workers now, abandoning a fit in progress (its result is not needed)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # Waiting for a running fit would hold the quit for seconds: stop the workers instead.
        # Python 3.14 has terminate_workers(); before it, the processes are reachable only here.
        for process in list(getattr(pool, "_processes", {}).values()):
            if process.is_alive():
                process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
