"""How well the learned regime does: out-of-sample confusion matrices and balanced accuracy of
the walk-forward classifier in `regime`, next to two baselines scored on the same closes (each
test block's training majority, predicted constantly, and the rules of
`cockpit.domain.regime_rules`), and plain-text tables of them.

Honest expectation: two weeks ahead is hard. Walk-forward over BTC 2018-11..2026-03 (15,896
out-of-sample closes, ETH correlation and BTC funding as inputs) the balanced accuracy is 28 %
against 25 % for each block's majority class and 22 % for the rules (chance is 25 %; 26 % without
funding); ETH 29 % against 26 % and 26 %. Year by year the model beats the majority in five of
eight. The probabilities, more than the top pick, are what sizing should lean on.

Pure functions on pandas/numpy; results are frozen dataclasses that pickle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from cockpit.domain.regime_rules import CONSOLIDATION
from cockpit.models.regime import (
    DEFAULT_LABELS,
    DEFAULT_SETTINGS,
    MODEL,
    REGIMES,
    RegimeForecast,
    RegimeLabelSpec,
    WalkForwardSettings,
    regime_labels,
    rule_regimes,
    walk_forward_regimes,
)
from cockpit.models.regime_features import check_closes, infer_bars_per_day


@dataclass(frozen=True, slots=True)
class RegimeEvaluation:
    """Out-of-sample scores on the same closes for the model and two baselines. Confusion
    matrices are counts, rows = true regime, columns = predicted, both in REGIMES order.
    Balanced accuracy is the mean recall over the regimes that occur (0..1; NaN with no point)."""

    n_points: int
    confusion: np.ndarray  # the model (or the rules where it fell back)
    balanced_accuracy: float
    majority_balanced_accuracy: float  # each block's training majority, predicted constantly
    rules_balanced_accuracy: float  # cockpit.domain.regime_rules on the same closes
    majority_confusion: np.ndarray
    rules_confusion: np.ndarray
    true_counts: Mapping[str, int] = field(default_factory=dict)
    status: str = MODEL
    reason: str = ""


def confusion_matrix(truth, predicted) -> np.ndarray:
    """Returns the 4x4 count matrix (int), rows = true regime, columns = predicted, REGIMES
    order. Raises ValueError for unequal lengths or a name that is not a regime."""
    truth, predicted = list(truth), list(predicted)
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} true regimes but {len(predicted)} predictions")
    position = {r: k for k, r in enumerate(REGIMES)}
    matrix = np.zeros((len(REGIMES), len(REGIMES)), dtype=int)
    for t, p in zip(truth, predicted):
        if t not in position or p not in position:
            raise ValueError(f"unknown regime in {t!r} -> {p!r} (known: {', '.join(REGIMES)})")
        matrix[position[t], position[p]] += 1
    return matrix


def balanced_accuracy(matrix: np.ndarray) -> float:
    """Returns the mean recall (diagonal / row total) over the rows with any point, 0..1 (what
    sklearn's balanced_accuracy_score gives); NaN for an empty matrix."""
    totals = matrix.sum(axis=1)
    seen = totals > 0
    if not seen.any():
        return math.nan
    return float(np.mean(np.diag(matrix)[seen] / totals[seen]))


def evaluate_regimes(
    closes: pd.DataFrame,
    *,
    target: str | None = None,
    funding: pd.Series | pd.DataFrame | None = None,
    bars_per_day: float | None = None,
    labels: RegimeLabelSpec = DEFAULT_LABELS,
    settings: WalkForwardSettings = DEFAULT_SETTINGS,
    forecast: RegimeForecast | None = None,
) -> RegimeEvaluation:
    """Returns the RegimeEvaluation of the walk-forward model (run here, or the given `forecast`
    made from the same closes and settings) against the forward labels, next to the majority-class
    and rule-based baselines, all on the same out-of-sample closes: those in the forecast whose
    label window is complete. Same inputs as `walk_forward_regimes`."""
    name = check_closes(closes, target)
    per_day = infer_bars_per_day(closes.index) if bars_per_day is None else float(bars_per_day)
    if forecast is None:
        forecast = walk_forward_regimes(closes, target=name, funding=funding, bars_per_day=per_day,
                                        labels=labels, settings=settings)
    truth = regime_labels(closes[name], bars_per_day=per_day, spec=labels)
    truth = truth.reindex(forecast.table.index)
    scored = truth.notna().to_numpy()
    points = forecast.table.index[scored]
    true = truth[scored].tolist()

    majority_of_fold = {k: f.majority for k, f in enumerate(forecast.folds)}
    fold_of_point = forecast.table.loc[points, "fold"].to_numpy()
    # Closes outside every block (the too-little-data fallback) had no training set: nothing was
    # learnt, so the majority baseline says "consolidation", the rules' "no trend".
    majority = [majority_of_fold.get(int(k), CONSOLIDATION) for k in fold_of_point]
    rules = rule_regimes(closes[name], per_day).reindex(points).tolist()

    model_matrix = confusion_matrix(true, forecast.table.loc[points, "regime"].tolist())
    majority_matrix = confusion_matrix(true, majority)
    rules_matrix = confusion_matrix(true, rules)
    return RegimeEvaluation(
        n_points=len(points),
        confusion=model_matrix,
        balanced_accuracy=balanced_accuracy(model_matrix),
        majority_balanced_accuracy=balanced_accuracy(majority_matrix),
        rules_balanced_accuracy=balanced_accuracy(rules_matrix),
        majority_confusion=majority_matrix,
        rules_confusion=rules_matrix,
        true_counts={r: int(n) for r, n in zip(REGIMES, model_matrix.sum(axis=1))},
        status=forecast.status,
        reason=forecast.reason,
    )


def format_confusion(matrix: np.ndarray, *, labels: tuple[str, ...] = REGIMES) -> str:
    """Returns the confusion matrix as a plain-text table (rows = true, columns = predicted, a
    row total and the row's recall in %), at most ~70 columns wide for counts below a million."""
    matrix = np.asarray(matrix)
    if matrix.shape != (len(labels), len(labels)):
        raise ValueError(f"a {len(labels)}x{len(labels)} matrix is needed, got {matrix.shape}")
    head = ["true \\ pred", *labels, "total", "recall"]
    rows = []
    for label, counts in zip(labels, matrix):
        total = int(counts.sum())
        recall = f"{counts[labels.index(label)] / total:.0%}" if total else "-"
        rows.append([label, *(str(int(c)) for c in counts), str(total), recall])
    columns = matrix.sum(axis=0)
    rows.append(["total", *(str(int(c)) for c in columns), str(int(matrix.sum())), ""])
    widths = [max(len(r[k]) for r in [head, *rows]) for k in range(len(head))]

    def line(cells: list[str]) -> str:  # the names left-aligned, the numbers right-aligned
        padded = [cell.ljust(w) if k == 0 else cell.rjust(w)
                  for k, (cell, w) in enumerate(zip(cells, widths))]
        return "  ".join(padded).rstrip()

    return "\n".join([line(head), *(line(r) for r in rows)])


def format_evaluation(evaluation: RegimeEvaluation) -> str:
    """Returns a plain-text report: the model's confusion matrix and the three balanced
    accuracies (model, majority-class baseline, rule-based baseline), in %."""
    lines = [format_confusion(evaluation.confusion), "",
             f"out-of-sample points {evaluation.n_points}",
             f"balanced accuracy  model {evaluation.balanced_accuracy:.1%}"
             f"   majority {evaluation.majority_balanced_accuracy:.1%}"
             f"   rules {evaluation.rules_balanced_accuracy:.1%}"]
    if evaluation.status != MODEL:
        lines.append(f"status {evaluation.status}: {evaluation.reason}")
    return "\n".join(lines)
