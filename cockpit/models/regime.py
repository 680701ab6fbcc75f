"""The learned market regime: bull, consolidation, bear or crisis for the next two weeks.

**Labels** (training and scoring only; they look *forward* and are never a feature). At close t,
with N = `horizon_days` (14 days, 84 bars of 4h) and the path of closes t, t+1, ..., t+N:

1. **crisis** - the forward max drawdown (the largest fall from a running high along the path,
   the close at t included) is at least 25 %, *or* the forward realized volatility (standard
   deviation of the N bar log returns in (t, t+N], annualized) is at least 150 %;
2. **bull** - else, the forward return close[t+N] / close[t] - 1 is at least +7 %;
3. **bear** - else, the forward return is at most -7 %;
4. **consolidation** - everything else.

The last N closes have no label (their window is not complete). Why these numbers, for BTC/ETH on
4h bars: two weeks is long enough for a regime to matter to sizing and short enough to act on (a
"regime" that flips within a day is noise). 25 % is the fall that takes a 3x long most of the way
to liquidation (~33 % at 3x; DESIGN.md section 5) and 150 % the volatility the rule-based crisis
also uses, so "crisis" means the same in both. +-7 % in 14 days sits near the quartiles of BTC's
two-week return (25th percentile -5.6 %, 75th +8.5 %), about two-thirds of its standard deviation
at median volatility: a move a trader would call a trend. Class balance of the labelled Binance
4h closes 2017-08..2026-03 (18,625 each): BTC bull 27.7 %, consolidation 49.2 %, bear 15.6 %,
crisis 7.5 %; ETH bull 31.4 %, consolidation 36.4 %, bear 16.8 %, crisis 15.4 % (ETH is the more
violent asset and spends more time in "crisis" by the same absolute yardstick - deliberately: a
25 % fall costs the same on either). Crisis is front-loaded (69 % of BTC's 2017 closes, under 10 %
in every full year since 2019), which is why `class_weight="balanced"` matters.

**Model**: scikit-learn's HistGradientBoostingClassifier with shallow trees (depth 2, 50 rounds,
200 samples a leaf; see WalkForwardSettings), fixed `random_state`, class_weight "balanced" and no
early stopping (so no random validation split), on `regime_features` (momentum, volatility,
volatility of volatility, drawdown, cross-asset correlation, funding when given). It handles the
NaN of optional features (funding before 2019, an asset not yet listed) natively. One training
sample a day: neighbouring 4h labels share 83 of their 84 bars and add nothing but weight.

How well it does against a majority-class and a rule-based baseline: see `regime_evaluation`.

**Walk-forward, purged, embargoed**: test blocks of `test_block_days` tile the history from the
first point that has `min_train_days` of usable history; the blocks are anchored at the *start*,
so the block a close falls in never depends on how much data follows. Each block's model trains
only on earlier closes whose label window (i, i+N] ends before the block starts (the purge: no
training label has seen a price of the test block). The embargo drops the samples within
`embargo_days` *after* a test block from its training set; in walk-forward mode nothing after the
block trains anyway, so it bites only with `walk_forward=False` (purged k-fold, e.g. for model
selection), but the splitter guarantees it in both modes.

**Fallback**: when a block's model cannot be trained (too little labelled history, one class
only, an exception in fitting) that block's regimes come from `cockpit.domain.regime_rules`
(`source` "rules", probabilities NaN: the rules give no probability). With too little data for
any block, every close gets the rules' regime and the status is "fallback_rules" with the reason.

Pure functions on pandas/numpy; results are frozen dataclasses that pickle, so a process pool can
run the fits. Fitting is CPU-bound (~5 s for the whole 2017-2026 4h history, 30 blocks, on one
core): never call it on the event loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from cockpit.domain.regime_rules import BEAR, BULL, CONSOLIDATION, CRISIS, regime_series
from cockpit.models.regime_features import (
    CORE_FEATURES,
    bars,
    check_closes,
    infer_bars_per_day,
    purged_splits,
    regime_features,
)

# Fixed order for probability columns and the confusion matrix: from the most to the least
# exposure the sizing rules allow (bull 1.0, consolidation 0.5, bear 0.25, crisis 0.1).
REGIMES: tuple[str, ...] = (BULL, CONSOLIDATION, BEAR, CRISIS)
MODEL, FALLBACK_RULES, MIXED = "model", "fallback_rules", "mixed"


# ---- labels ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegimeLabelSpec:
    """The forward-looking label definition (see the module docstring). Fractions, days.
    Raises ValueError for a value that is not a positive number."""

    horizon_days: float = 14
    bull_return: float = 0.07  # forward return at or above which it is a bull
    bear_return: float = 0.07  # forward fall (positive number) at or beyond which it is a bear
    crisis_drawdown: float = 0.25  # forward max drawdown at or beyond which it is a crisis
    crisis_volatility: float = 1.5  # forward annualized volatility at or above -> crisis

    def __post_init__(self) -> None:
        for name in ("horizon_days", "bull_return", "bear_return", "crisis_drawdown",
                     "crisis_volatility"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"label setting {name} must be a positive number, not {value!r}")


DEFAULT_LABELS = RegimeLabelSpec()
OUTCOMES: tuple[str, ...] = ("forward_return", "forward_drawdown", "forward_volatility")


def forward_outcomes(closes: pd.Series, *, bars_per_day: float | None = None,
                     horizon_days: float = DEFAULT_LABELS.horizon_days) -> pd.DataFrame:
    """Returns, per close t, what happened over the next `horizon_days`: `forward_return`
    (close[t+N] / close[t] - 1), `forward_drawdown` (largest fall from a running high along
    closes t..t+N, >= 0) and `forward_volatility` (annualized std of the N log returns), all
    fractions; NaN for the last N closes. Uses the future by design: labels only, never features.
    """
    per_day = infer_bars_per_day(closes.index) if bars_per_day is None else float(bars_per_day)
    horizon = bars(horizon_days, per_day)
    prices = closes.to_numpy(dtype=float)
    n = prices.size
    outcome = {k: np.full(n, np.nan) for k in OUTCOMES}
    if n > horizon:
        paths = np.lib.stride_tricks.sliding_window_view(prices, horizon + 1)  # row t: t..t+N
        outcome["forward_return"][: n - horizon] = paths[:, -1] / paths[:, 0] - 1.0
        running_high = np.maximum.accumulate(paths, axis=1)
        outcome["forward_drawdown"][: n - horizon] = (1.0 - paths / running_high).max(axis=1)
        steps = np.diff(np.log(prices))
        spread = (np.lib.stride_tricks.sliding_window_view(steps, horizon).std(axis=1, ddof=1)
                  if horizon > 1 else np.zeros(n - 1))
        outcome["forward_volatility"][: n - horizon] = spread * math.sqrt(365.0 * per_day)
    return pd.DataFrame(outcome, index=closes.index)


def regime_labels(closes: pd.Series, *, bars_per_day: float | None = None,
                  spec: RegimeLabelSpec = DEFAULT_LABELS) -> pd.Series:
    """Returns the regime label per close ("bull", "consolidation", "bear", "crisis"; None for
    the last `horizon_days`, whose window is incomplete), by the rules in the module docstring.
    `closes` is one asset's prices with a DatetimeIndex; `bars_per_day` inferred when None."""
    out = forward_outcomes(closes, bars_per_day=bars_per_day, horizon_days=spec.horizon_days)
    ret, drawdown, vol = (out[c].to_numpy() for c in OUTCOMES)
    crisis = (drawdown >= spec.crisis_drawdown) | (vol >= spec.crisis_volatility)
    labels = np.select(
        [np.isnan(ret), crisis, ret >= spec.bull_return, ret <= -spec.bear_return],
        [None, CRISIS, BULL, BEAR], default=CONSOLIDATION,
    )
    return pd.Series(labels, index=closes.index, dtype=object, name="regime")


# ---- the walk-forward classifier ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WalkForwardSettings:
    """How the walk-forward fits are laid out and regularized. Days are calendar days."""

    min_train_days: float = 365  # usable history (after the feature warm-up) before the 1st block
    test_block_days: float = 90  # each block gets a model refitted on everything before it
    embargo_days: float = 14  # samples dropped after a test block (bites in purged k-fold mode)
    sample_every_days: float = 1  # one training sample a day: 4h labels 84 bars long overlap anyway
    min_train_samples: int = 200  # fewer labelled training samples than this: the rules decide
    random_state: int = 7
    # Shallow, slow-learning trees: two weeks of overlapping labels make ~25 independent
    # observations a year, so anything deeper memorizes the past few crises.
    max_iter: int = 50
    learning_rate: float = 0.05
    max_depth: int = 2
    min_samples_leaf: int = 200
    l2_regularization: float = 0.0
    # Coarse bins: plenty for depth-2 splits, and binning with class weights computes one
    # weighted percentile per bin edge, which dominated the fit time at the default 255.
    max_bins: int = 32

    def __post_init__(self) -> None:
        for name in ("min_train_days", "test_block_days", "sample_every_days", "learning_rate"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ValueError(f"{name} must be a positive number")
        if not (math.isfinite(self.embargo_days) and self.embargo_days >= 0):
            raise ValueError("embargo_days must be a number of days >= 0")
        for name in ("min_train_samples", "max_iter", "max_depth", "min_samples_leaf", "max_bins"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")


DEFAULT_SETTINGS = WalkForwardSettings()


@dataclass(frozen=True, slots=True)
class FoldReport:
    """One test block: its first and last timestamps, what trained its model, and whether it
    fell back to the rules (`status` "model" or "fallback_rules", with the `reason`)."""

    test_start: pd.Timestamp
    test_end: pd.Timestamp
    n_train: int
    train_counts: Mapping[str, int]  # labelled training samples per regime
    status: str
    reason: str = ""

    @property
    def majority(self) -> str:
        """Returns the most frequent training regime (ties: REGIMES order; "consolidation",
        the rules' "no trend", when there was no training sample)."""
        if not any(self.train_counts.values()):
            return CONSOLIDATION
        return max(REGIMES, key=lambda r: (self.train_counts.get(r, 0), -REGIMES.index(r)))


@dataclass(frozen=True, slots=True)
class RegimeForecast:
    """Out-of-sample regimes per close. `table` (index = time) has `regime`, `probability` (the
    predicted regime's class probability, the largest, 0..1), one probability column per regime
    in REGIMES order (summing to 1), `source` ("model" or "rules"; rules rows have NaN
    probabilities) and `fold` (the test block, -1 outside every block). `status` is "model"
    (every block trained), "fallback_rules" (none did: every close gets the rules' regime) or
    "mixed"; `reason` says why anything fell back. `horizon_bars` is the label horizon N."""

    status: str
    reason: str
    target: str
    table: pd.DataFrame
    folds: tuple[FoldReport, ...] = ()
    feature_names: tuple[str, ...] = ()
    horizon_bars: int = 0

    @property
    def regimes(self) -> pd.Series:
        """Returns the predicted regime name per close."""
        return self.table["regime"]

    @property
    def probabilities(self) -> pd.DataFrame:
        """Returns the class probabilities per close, columns in REGIMES order (0..1)."""
        return self.table[list(REGIMES)]


def rule_regimes(closes: pd.Series, bars_per_day: float) -> pd.Series:
    """Returns the rule-based regime (`cockpit.domain.regime_rules`) per close, same index."""
    return pd.Series(regime_series(closes.to_numpy(dtype=float), bars_per_day=bars_per_day),
                     index=closes.index, dtype=object)


def _rules_table(rules: pd.Series, fold: int = -1) -> pd.DataFrame:
    table = pd.DataFrame({"regime": rules.astype(object), "probability": np.nan}, index=rules.index)
    for regime in REGIMES:
        table[regime] = np.nan
    table["source"] = "rules"
    table["fold"] = fold
    return table


def _tidy(table: pd.DataFrame) -> pd.DataFrame:
    # One dtype for the name columns whichever path built the rows (pandas infers "str" for some).
    return table.astype({"regime": object, "source": object, "fold": int})


def class_probabilities(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                        settings: WalkForwardSettings) -> np.ndarray:
    """Returns the class probabilities (0..1) of a classifier trained on (x_train, y_train) for
    each row of x_test, columns in REGIMES order (0 for a class never trained on)."""
    from sklearn.ensemble import HistGradientBoostingClassifier  # heavy import, only when fitting
    from cockpit.models.vol_features import one_openmp_thread

    model = HistGradientBoostingClassifier(
        learning_rate=settings.learning_rate, max_iter=settings.max_iter,
        max_depth=settings.max_depth, min_samples_leaf=settings.min_samples_leaf,
        l2_regularization=settings.l2_regularization, max_bins=settings.max_bins,
        class_weight="balanced",
        early_stopping=False, random_state=settings.random_state,
    )
    # A feature with no value in the whole training set (funding before 2019) carries nothing,
    # and scikit-learn's binning fails on an all-NaN column: leave it out of this block's model.
    known = ~np.all(np.isnan(x_train), axis=0)
    # One OpenMP thread: these fits are small, several threads on a busy box are 3-5x slower,
    # and a process pool runs the blocks side by side anyway.
    with one_openmp_thread():
        model.fit(x_train[:, known], y_train)
        raw = model.predict_proba(x_test[:, known])
    columns = {name: k for k, name in enumerate(model.classes_)}
    absent = np.zeros(len(x_test))
    return np.column_stack([raw[:, columns[r]] if r in columns else absent for r in REGIMES])


def walk_forward_regimes(
    closes: pd.DataFrame,
    *,
    target: str | None = None,
    funding: pd.Series | pd.DataFrame | None = None,
    bars_per_day: float | None = None,
    labels: RegimeLabelSpec = DEFAULT_LABELS,
    settings: WalkForwardSettings = DEFAULT_SETTINGS,
) -> RegimeForecast:
    """Returns the RegimeForecast of the `target` column (default: the first) of `closes`
    (DatetimeIndex, one column of prices per asset; other columns feed the correlation feature),
    predicted walk-forward: each test block by a model trained only on purged earlier data.

    The table covers the test blocks (the closes after the first `min_train_days` of usable
    history), or every close when it falls back to the rules entirely. `funding` is optional
    (rate per 8h by settlement time). Raises ValueError for malformed closes or funding.
    """
    name = check_closes(closes, target)
    per_day = infer_bars_per_day(closes.index) if bars_per_day is None else float(bars_per_day)
    features = regime_features(closes, target=name, funding=funding, bars_per_day=per_day)
    truth = regime_labels(closes[name], bars_per_day=per_day, spec=labels)
    rules = rule_regimes(closes[name], per_day)
    horizon = bars(labels.horizon_days, per_day)
    feature_names = tuple(features.columns)

    ready = features[list(CORE_FEATURES)].notna().all(axis=1).to_numpy()
    n = len(closes)
    if not ready.any():
        return RegimeForecast(FALLBACK_RULES, f"too little data: {n} bars do not fill the 90-day "
                              "feature window", name, _tidy(_rules_table(rules)), (), feature_names,
                              horizon)
    first_ready = int(np.argmax(ready))
    first_test = first_ready + bars(settings.min_train_days, per_day)
    if first_test >= n:
        have = (n - first_ready) / per_day
        return RegimeForecast(FALLBACK_RULES, f"too little data: {have:.0f} days of usable "
                              f"history, the first model needs {settings.min_train_days:g}", name,
                              _tidy(_rules_table(rules)), (), feature_names, horizon)

    x = features.to_numpy(dtype=float)
    y = truth.to_numpy(dtype=object)
    trainable = ready & pd.notna(truth).to_numpy()
    # Subsampling is anchored at bar 0 so a sample's membership never depends on later data.
    trainable &= (np.arange(n) % bars(settings.sample_every_days, per_day)) == 0

    blocks, folds = [], []
    splits = purged_splits(n, first_test=first_test, block=bars(settings.test_block_days, per_day),
                           horizon=horizon, embargo=bars(settings.embargo_days, per_day))
    for k, (train, test) in enumerate(splits):
        train = train[trainable[train]]
        counts = {r: int(np.sum(y[train] == r)) for r in REGIMES}
        status, reason = MODEL, ""
        if train.size < settings.min_train_samples:
            status, reason = FALLBACK_RULES, (f"too little data: {train.size} labelled training "
                                              f"samples, need {settings.min_train_samples}")
        elif sum(1 for c in counts.values() if c) < 2:
            only = next(r for r, c in counts.items() if c)
            status, reason = FALLBACK_RULES, f"one class only in training: every sample is {only}"
        if status == MODEL:
            try:
                proba = class_probabilities(x[train], y[train].astype(str), x[test], settings)
            except Exception as error:  # any failure to fit means "use the rules", never a crash
                status, reason = FALLBACK_RULES, f"training failed: {type(error).__name__}: {error}"
        if status == MODEL:
            block = pd.DataFrame(proba, index=closes.index[test], columns=list(REGIMES))
            block.insert(0, "probability", proba.max(axis=1))
            block.insert(0, "regime", np.asarray(REGIMES, dtype=object)[proba.argmax(axis=1)])
            block["source"] = "model"
            block["fold"] = k
        else:
            block = _rules_table(rules.iloc[test], fold=k)
        blocks.append(block)
        folds.append(FoldReport(closes.index[test[0]], closes.index[test[-1]], int(train.size),
                                counts, status, reason))

    fell_back = [f"block {k} ({f.test_start:%Y-%m-%d}): {f.reason}"
                 for k, f in enumerate(folds) if f.status != MODEL]
    if not fell_back:
        status, reason, table = MODEL, "", pd.concat(blocks)
    elif len(fell_back) == len(folds):
        status, reason, table = FALLBACK_RULES, fell_back[0], _rules_table(rules)
        tested = pd.concat(blocks)
        table.loc[tested.index, "fold"] = tested["fold"]  # so each point keeps its block's majority
    else:
        status, reason, table = MIXED, "; ".join(fell_back), pd.concat(blocks)
    return RegimeForecast(status, reason, name, _tidy(table), tuple(folds), feature_names, horizon)
