"""Exact jacobians for arch's linear parameter constraints.

arch (8.x) hands SciPy's SLSQP its parameter constraints (`a @ params - b >= 0`: stationarity,
positivity, the Student-t's degrees of freedom) as plain functions, so SLSQP differentiates each
one numerically on every iteration. On a daily GARCH-family refit that is about 40% of the fit's
time, spent re-deriving a constant: the jacobian of `a @ params - b` is the row `a`.

`install()` replaces arch's constraint builder with one that returns the same functions plus
their exact jacobians. The optimum is the same problem's; only the finite-difference noise in
the constraint normals goes. If a future arch no longer builds its constraints this way,
nothing is replaced and fits run as arch ships them.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import numpy as np

_INSTALLED = False


def linear_constraints(a: np.ndarray, b: np.ndarray) -> list[dict[str, object]]:
    """Returns SLSQP inequality constraints `a[i] @ params - b[i] >= 0`, one per row of `a`,
    each with its exact jacobian (the row itself)."""

    def bound(row: np.ndarray, floor: float) -> tuple[Callable[..., float], Callable[..., np.ndarray]]:
        def value(params: np.ndarray, *args: Any) -> float:
            return np.dot(row, params) - floor

        def normal(params: np.ndarray, *args: Any) -> np.ndarray:
            return row

        return value, normal

    constraints = []
    for i in range(a.shape[0]):
        value, normal = bound(np.array(a[i], dtype=float), float(b[i]))
        constraints.append({"type": "ineq", "fun": value, "jac": normal})
    return constraints


def install() -> bool:
    """Gives arch's fits exact constraint jacobians (once per process); returns True when arch's
    constraint builder was found and replaced."""
    global _INSTALLED
    if _INSTALLED:
        return True
    from arch.univariate import base

    shipped = getattr(base, "constraint", None)
    if shipped is None or list(inspect.signature(shipped).parameters) != ["a", "b"]:
        return False
    base.constraint = linear_constraints
    _INSTALLED = True
    return True
