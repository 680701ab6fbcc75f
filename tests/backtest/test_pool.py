"""Many specs at once: the process pool and the Ray hand-off give the results of a plain loop."""

from __future__ import annotations

import sys
import types

import numpy as np

from cockpit.backtest.pool import run_many
from cockpit.backtest.runner import StrategySpec
from cockpit.config import Config
from tests.backtest.test_backtest_cli import _bars


def _specs(tmp_path):
    data = (str(_bars(tmp_path / "BTCUSDT_4h.csv")),)
    return [StrategySpec(name, data, config=Config().model_dump()) for name in ("hold_1x", "static_3x", "static_10x")]


def _curves(results):
    return [(r.name, r.equity.tolist()) for r in results]


def test_a_process_pool_gives_the_same_results_in_the_same_order(tmp_path):
    specs = _specs(tmp_path)
    seen = []
    pooled = run_many(specs, workers=2, progress=lambda name, done, total: seen.append((name, done, total)))
    assert _curves(pooled) == _curves(run_many(specs, workers=1))
    assert {name for name, _, _ in seen} == {"hold_1x", "static_3x", "static_10x"}
    assert all(done <= total for _, done, total in seen)


def test_the_specs_can_be_handed_to_ray(tmp_path, monkeypatch):
    calls = []
    fake = types.ModuleType("ray")
    fake.is_initialized = lambda: False
    fake.init = lambda **kwargs: calls.append(("init", kwargs))

    def remote(function):
        calls.append(("remote", function.__name__))
        return types.SimpleNamespace(remote=lambda spec: function(spec))

    fake.remote = remote
    fake.get = lambda handles: list(handles)
    monkeypatch.setitem(sys.modules, "ray", fake)
    specs = _specs(tmp_path)
    on_ray = run_many(specs, use_ray=True)
    assert _curves(on_ray) == _curves(run_many(specs))
    assert ("remote", "run_strategy") in calls and calls[0][0] == "init"
    assert np.isfinite(on_ray[0].equity).all()
