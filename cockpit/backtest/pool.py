"""Running many strategy specs at once: in this process, in a process pool, or on Ray.

Every backend calls the same `run_strategy(spec)`, a plain function of a picklable spec, so a
run's result does not depend on where it ran. Ray is optional: `pip install 'cockpit[ray]'`,
start or join a cluster (`ray start --head`, or set RAY_ADDRESS), and pass `--ray` to
`cockpit backtest`; each spec becomes one Ray task reading the data files from the same paths.
"""

from __future__ import annotations

import multiprocessing
import queue
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import replace
from typing import Callable, Sequence

from cockpit.backtest.runner import StrategyResult, StrategySpec, run_strategy

Progress = Callable[[str, int, int], None]


def _run_reporting(spec: StrategySpec, updates) -> StrategyResult:
    return run_strategy(spec, lambda name, done, total: updates.put((name, done, total)))


def _drain(updates, progress: Progress | None) -> None:
    while True:
        try:
            name, done, total = updates.get_nowait()
        except queue.Empty:
            return
        if progress is not None:
            progress(name, done, total)


def run_many(specs: Sequence[StrategySpec], *, workers: int = 1, progress: Progress | None = None,
             use_ray: bool = False) -> list[StrategyResult]:
    """Returns the results of `specs`, in their order. `workers` > 1 runs them in that many
    processes; `use_ray` hands them to Ray instead (ImportError when Ray is not installed)."""
    if use_ray:
        return _run_on_ray(specs, progress)
    # Cores the strategies leave idle go to their model fits (the assets' fits run side by side).
    fit_workers = max(1, workers // max(1, len(specs)))
    specs = [replace(spec, fit_workers=fit_workers) if spec.fit_workers == 1 else spec for spec in specs]
    if workers <= 1 or len(specs) <= 1:
        return [run_strategy(spec, progress) for spec in specs]
    results: dict[int, StrategyResult] = {}
    context = multiprocessing.get_context("spawn")  # no forked asyncio loop or sqlite handle
    with context.Manager() as manager:
        updates = manager.Queue()
        with ProcessPoolExecutor(max_workers=min(workers, len(specs)), mp_context=context) as pool:
            futures = {pool.submit(_run_reporting, spec, updates): k for k, spec in enumerate(specs)}
            pending = set(futures)
            while pending:
                done = {f for f in pending if f.done()}
                for future in done:
                    results[futures[future]] = future.result()
                pending -= done
                _drain(updates, progress)
                if pending:
                    wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            _drain(updates, progress)
    return [results[k] for k in range(len(specs))]


def _run_on_ray(specs: Sequence[StrategySpec], progress: Progress | None) -> list[StrategyResult]:
    import ray  # optional extra: pip install 'cockpit[ray]'

    if not ray.is_initialized():
        ray.init(ignore_reinit_error=True, log_to_driver=False)
    remote = ray.remote(run_strategy)
    handles = [remote.remote(spec) for spec in specs]
    results = ray.get(handles)
    if progress is not None:
        for result in results:
            progress(result.name, result.bars, result.bars)
    return results
