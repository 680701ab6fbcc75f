"""A fitted scikit-learn `HistGradientBoostingRegressor` as flat numpy arrays, for fast
prediction of one row or a few.

Why: the cockpit predicts one feature row per asset and horizon on every bar. Through sklearn's
`predict` one row costs ~1.4 ms (input validation, then a Python call per tree: 150 of them);
here all trees are walked at once, a level per numpy step, in ~30 us.

Same numbers, not just close ones: the walk follows sklearn's `_predict_one_from_raw_data`
(NaN goes where the node's `missing_go_to_left` says; otherwise `x <= num_threshold` goes left),
the leaf values are added to the baseline one tree at a time in sklearn's order (a cumulative
sum, not numpy's pairwise sum, which would round differently), and the model's own inverse link
(`exp` for the gamma loss) is applied last. Models this walk does not cover (categorical
features, more than one tree per iteration) are not flattened: `FlatTrees.from_model` returns
None and the caller keeps sklearn's `predict`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor

# Rows walked per numpy step: bounds the (rows x trees) temporaries (~2.5 MB each for 150 trees).
_ROWS_PER_CHUNK = 2048


@dataclass(frozen=True, eq=False)
class FlatTrees:
    """Every node of every tree in one set of arrays; child indices point into the same arrays.
    `roots[k]` is tree k's first node, trees in the order sklearn adds them."""

    n_features: int  # columns the model was fitted on
    link: object  # the model's sklearn link; `link.inverse` maps raw scores to predictions
    roots: np.ndarray  # intp, one per tree
    feature: np.ndarray  # intp, column of the split (unused at leaves)
    threshold: np.ndarray  # float64, go left when x <= threshold
    missing_left: np.ndarray  # bool, where a NaN goes
    left: np.ndarray  # intp
    right: np.ndarray  # intp
    is_leaf: np.ndarray  # bool
    value: np.ndarray  # float64, leaf value on the raw (link) scale, already shrunk
    baseline: float  # raw-scale starting value every prediction adds the leaves to
    depth: int  # deepest leaf: how many levels a walk can take

    @classmethod
    def from_model(cls, model: HistGradientBoostingRegressor) -> FlatTrees | None:
        """Returns the fitted `model` flattened, or None when it has something the flat walk does
        not handle (categorical features, several trees per iteration, no trees)."""
        predictors = getattr(model, "_predictors", None)
        if (
            not predictors
            or model.n_trees_per_iteration_ != 1
            or getattr(model, "_preprocessor", None) is not None
            or getattr(model, "is_categorical_", None) is not None
        ):
            return None
        trees = [iteration[0].nodes for iteration in predictors]
        if any(nodes["is_categorical"].any() for nodes in trees):
            return None
        sizes = np.array([nodes.size for nodes in trees], dtype=np.intp)
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.intp)
        nodes = np.concatenate(trees)
        offset = np.repeat(starts, sizes)
        baseline = np.asarray(model._baseline_prediction, dtype=np.float64).reshape(-1)
        return cls(
            n_features=int(model.n_features_in_),
            link=model._loss.link,
            roots=starts,
            feature=nodes["feature_idx"].astype(np.intp),
            threshold=nodes["num_threshold"].astype(np.float64),
            missing_left=nodes["missing_go_to_left"].astype(bool),
            left=nodes["left"].astype(np.intp) + offset,
            right=nodes["right"].astype(np.intp) + offset,
            is_leaf=nodes["is_leaf"].astype(bool),
            value=nodes["value"].astype(np.float64),
            # sklearn starts from zeros and adds the baseline: 0.0 + b is b exactly.
            baseline=float(baseline[0]),
            depth=int(nodes["depth"][nodes["is_leaf"].astype(bool)].max()),
        )

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Returns the model's prediction per row of `features` (n_rows x n_features, float64;
        NaN allowed), equal to `model.predict(features)`: the same unit as the target it was
        fitted on."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(
                f"features have shape {x.shape}; the model was fitted on {self.n_features} columns"
            )
        raw = np.empty(x.shape[0])
        for start in range(0, x.shape[0], _ROWS_PER_CHUNK):
            rows = slice(start, start + _ROWS_PER_CHUNK)
            raw[rows] = self._raw(x[rows])
        return self.link.inverse(raw)

    def _raw(self, x: np.ndarray) -> np.ndarray:
        """Returns the raw (link-scale) score per row: baseline plus each tree's leaf value."""
        n = x.shape[0]
        node = np.broadcast_to(self.roots, (n, self.roots.size))
        for _ in range(self.depth):
            seen = np.take_along_axis(x, self.feature[node], axis=1)
            go_left = np.where(np.isnan(seen), self.missing_left[node], seen <= self.threshold[node])
            child = np.where(go_left, self.left[node], self.right[node])
            node = np.where(self.is_leaf[node], node, child)
        terms = np.empty((n, self.roots.size + 1))
        terms[:, 0] = self.baseline
        terms[:, 1:] = self.value[node]
        # sklearn adds tree after tree into the running total; a cumulative sum keeps that order.
        return np.cumsum(terms, axis=1)[:, -1]
