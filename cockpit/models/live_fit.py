"""The fits the running cockpit makes, as pure functions a process pool can run, and the cheap
per-bar steps between them.

- `fit_volatility` refits the GARCH family (warm-started) on the last `window` 4h returns; with
  `learn=True` it also refits the gradient-boosting forecasters and re-evaluates every model
  out of sample on the recent past, which picks the model in use and gives the history the
  volatility score is a percentile of. The schedule (daily / weekly) is the caller's.
- `forecasts_now` turns the current states into per-model variance forecasts for 4h and 24h.
- `fit_regime` trains the regime classifier on every labelled day so far and reads the regime of
  the last close, or falls back to the rules and says why.

Everything in and out is plain, picklable data; nothing here reads a clock or a file.

Choices where the issue is silent:
- The model in use is the one with the lowest mean 24h QLIKE over the last `select_bars` (90
  days) of an out-of-sample walk-forward on the asset's own history (fitted once, before those
  days, then run forward by each model's recursion), unless the trader names one in config.
  Until an evaluation has run (it needs `EVALUATION_MIN_BARS`), GJR-GARCH is used: it is the
  GARCH-family model that handles the leverage effect and it needs no loss history.
- The 4h ensemble uses the weights its 24h losses earned: the 1-bar QLIKE of a single squared
  return is too noisy to rank models on.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from cockpit.models.vol_features import BARS_PER_DAY_4H, HGBForecaster, fit_hgb, har_features, hgb_variance
from cockpit.models.volatility import (
    ENSEMBLE, GARCH_MODELS, ML_MODEL, REALIZED_WINDOW_BARS, GarchFit, VarianceState, ensemble_weights,
    ewma_state, fit_garch, horizon_variance, qlike, rolling_state, update, volatility_score,
)

HORIZON_4H, HORIZON_24H = 1, 6
LIVE_HORIZONS = (HORIZON_4H, HORIZON_24H)
RECURSION_MODELS = GARCH_MODELS + ("ewma", "realized")
DEFAULT_MODEL = "gjr"
EVALUATION_TRAIN_BARS = 1000  # the walk-forward's single fit sees this many returns
EVALUATION_MIN_BARS = EVALUATION_TRAIN_BARS + HORIZON_24H + 120  # + a few weeks to score
SELECT_BARS = 540  # the model in use is picked on the last 90 days of 4h forecasts
SCORE_BARS = 2190  # the volatility score ranks against up to a year of forecasts
ML_WINDOW_BARS = 6000
HAR_ROWS = 181  # returns the HAR features of the newest bar need (30 days + 1)
LOSS_MEMORY = 120  # scored 24h forecasts kept per model (20 days)
UNDECIDED_MARGIN = 0.05  # the top regime probability must beat the runner-up by this much


@dataclass(frozen=True)
class VolatilityFit:
    """One asset's fitted volatility models, ready for the bar after return number `n_returns`
    (counted from the first return the caller keeps)."""

    symbol: str
    n_returns: int
    garch: dict[str, GarchFit]
    states: dict[str, VarianceState]  # per recursion model, for the next bar
    hgb: dict[int, HGBForecaster] = field(default_factory=dict)  # per horizon (bars); {} = none yet
    model: str = DEFAULT_MODEL  # the model in use
    model_reason: str = "not evaluated yet"
    recent_qlike: dict[str, float] = field(default_factory=dict)  # mean 24h QLIKE on recent days
    recent_losses: dict[str, tuple[float, ...]] = field(default_factory=dict)  # last scored 24h QLIKEs
    # 24h sigma forecasts (fraction) of the model in use, out of sample, one per bar; the last
    # was made 6 bars before the evaluating fit's last return (its outcome had to be known).
    score_history: tuple[float, ...] = ()
    evaluated: bool = False  # this fit ran the evaluation (else it carries an older one's)
    seconds: float = 0.0  # wall time of the fit
    problems: tuple[str, ...] = ()  # models that fell back, and why

    @property
    def fell_back(self) -> bool:
        """Returns True when any model's last fit fell back to older parameters or EWMA."""
        return bool(self.problems)


def fit_volatility(
    symbol: str,
    returns: np.ndarray,
    *,
    previous: VolatilityFit | None = None,
    learn: bool = False,
    configured: str = "auto",
    window: int = 2000,
    seed: int = 0,
) -> VolatilityFit:
    """Returns the refitted models for `returns` (4h log returns, fractions, oldest first).

    GARCH-family fits are warm-started from `previous`; with `learn` the HGB forecasters are
    retrained and the models re-evaluated (otherwise `previous`'s are kept). `configured` is the
    trader's model choice, or "auto" for the best recent QLIKE."""
    tic = time.perf_counter()
    r = np.asarray(returns, dtype=np.float64)
    recent = r[-window:]
    garch = {m: fit_garch(recent, m, previous=previous.garch.get(m) if previous else None) for m in GARCH_MODELS}
    states: dict[str, VarianceState] = {m: fit.state for m, fit in garch.items()}
    states["ewma"] = ewma_state(recent)
    states["realized"] = rolling_state(r, REALIZED_WINDOW_BARS)
    problems = tuple(f"{m}: {fit.reason}" for m, fit in garch.items() if fit.status != "ok")
    hgb = dict(previous.hgb) if previous else {}
    chosen = dict(model=previous.model, model_reason=previous.model_reason, recent_qlike=previous.recent_qlike,
                  recent_losses=previous.recent_losses, score_history=previous.score_history) if previous else {}
    if learn:
        ml = r[-ML_WINDOW_BARS:]
        hgb = {h: fit_hgb(ml, horizon_bars=h, seed=seed) for h in LIVE_HORIZONS}
        problems += tuple(f"hgb {h * 4}h: {f.reason}" for h, f in hgb.items() if f.model is None)
        chosen = _evaluate(r, configured, window, seed)
    fit = VolatilityFit(symbol, r.size, garch, states, hgb, problems=problems, **chosen)
    if configured != "auto" and fit.model != configured:
        fit = replace(fit, model=configured, model_reason="set in config ([models] volatility_model)")
    return replace(fit, seconds=time.perf_counter() - tic)


def _evaluate(r: np.ndarray, configured: str, window: int, seed: int) -> dict:
    """Picks the model in use from a one-fit walk-forward over the recent past."""
    from cockpit.models.vol_evaluation import best_model, walk_forward

    if r.size < EVALUATION_MIN_BARS:
        return dict(model=DEFAULT_MODEL, model_reason=f"not evaluated: {r.size} bars, the evaluation needs {EVALUATION_MIN_BARS}")
    span = r[-(EVALUATION_TRAIN_BARS + SCORE_BARS + HORIZON_24H):]
    result = walk_forward(span, horizon_bars=HORIZON_24H, refit_every=span.size, min_train=EVALUATION_TRAIN_BARS,
                          window=window, seed=seed)
    best, means = best_model(result, recent_bars=SELECT_BARS)
    model = best if configured == "auto" else configured
    days = min(SELECT_BARS, result.origins.size) / BARS_PER_DAY_4H
    losses = {m: tuple(float(x) for x in qlike(result.realized, f)[-LOSS_MEMORY:]) for m, f in result.forecasts.items()}
    return dict(
        model=model,
        model_reason=f"best 24h QLIKE over the last {days:.0f} days ({means[best]:.3f})",
        recent_qlike=means,
        recent_losses=losses,
        score_history=tuple(float(s) for s in result.sigma(model)),
        evaluated=True,
    )


def advance(states: dict[str, VarianceState], new_return: float) -> dict[str, VarianceState]:
    """Returns every recursion state after one more 4h return (fraction): no refit."""
    return {m: update(s, new_return) for m, s in states.items()}


def forecasts_now(
    fit: VolatilityFit,
    states: dict[str, VarianceState],
    returns: np.ndarray,
    losses: dict[str, np.ndarray],
) -> dict[str, tuple[float, float]]:
    """Returns per model the variance forecast (fraction^2) over the next 4h and 24h, from the
    current `states`, the HGB models on the features of `returns` (the newest last; only the last
    HAR_ROWS are read) and the ensemble weighted by `losses` (recent 24h QLIKE per model)."""
    out = {m: (horizon_variance(s, HORIZON_4H), horizon_variance(s, HORIZON_24H)) for m, s in states.items()}
    if fit.hgb and all(f.model is not None for f in fit.hgb.values()) and returns.size >= HAR_ROWS:
        x, base = har_features(returns[-HAR_ROWS:])
        pair = tuple(float(hgb_variance(fit.hgb[h], x[-1:], base[-1:])[0]) for h in LIVE_HORIZONS)
        if all(math.isfinite(v) and v > 0 for v in pair):
            out[ML_MODEL] = pair
    weights = ensemble_weights({m: losses.get(m, np.array([])) for m in out})
    out[ENSEMBLE] = tuple(sum(weights[m] * out[m][k] for m in weights) for k in range(2))
    return out


def score(fit: VolatilityFit, sigma_24h: float, since_fit: list[float] | tuple[float, ...] = ()) -> float:
    """Returns the 0-100 volatility score of `sigma_24h` (fraction) within the asset's own
    recent forecasts: the fit's out-of-sample history plus those made since (NaN if none)."""
    history = (fit.score_history + tuple(since_fit))[-SCORE_BARS:]
    return volatility_score(history, sigma_24h)


# ---- regime --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegimeFit:
    """The regime at the last close: `source` "model" (with the class `probability`, 0..1) or
    "rules" (probability NaN, `reason` says why the model did not decide)."""

    symbol: str
    regime: str
    probability: float
    source: str
    reason: str = ""
    seconds: float = 0.0


def fit_regime(symbol: str, closes: pd.DataFrame, *, seed: int = 7) -> RegimeFit:
    """Returns the regime of `symbol`'s last close in `closes` (one column per asset, 4h bars,
    DatetimeIndex): a classifier trained on every day whose forward label is already known, or
    the rule-based regime when there is too little labelled history or the fit fails."""
    from cockpit.models import regime as learned
    from cockpit.models.regime_features import CORE_FEATURES, bars, infer_bars_per_day, regime_features

    tic = time.perf_counter()
    settings = learned.DEFAULT_SETTINGS
    per_day = infer_bars_per_day(closes.index)
    rules = learned.rule_regimes(closes[symbol], per_day)

    def by_rules(reason: str) -> RegimeFit:
        return RegimeFit(symbol, str(rules.iloc[-1]), math.nan, "rules", reason, time.perf_counter() - tic)

    features = regime_features(closes, target=symbol, bars_per_day=per_day)
    truth = learned.regime_labels(closes[symbol], bars_per_day=per_day)
    ready = features[list(CORE_FEATURES)].notna().all(axis=1).to_numpy()
    if not ready[-1]:
        return by_rules(f"{len(closes) / per_day:.0f} days do not fill the 90-day feature window")
    x = features.to_numpy(dtype=float)
    y = truth.to_numpy(dtype=object)
    # Labels look 14 days ahead, so the newest labelled day is 14 days old: nothing the last
    # close's own future decides is trained on. One sample a day, anchored at the first bar.
    train = ready & pd.notna(truth).to_numpy() & ((np.arange(len(closes)) % bars(settings.sample_every_days, per_day)) == 0)
    rows = np.flatnonzero(train)
    if rows.size < settings.min_train_samples:
        return by_rules(f"{rows.size} labelled days, the classifier needs {settings.min_train_samples}")
    if len(set(y[rows])) < 2:
        return by_rules(f"one regime only in training: every day is {y[rows][0]}")
    try:
        proba = learned.class_probabilities(x[rows], y[rows].astype(str), x[-1:], replace(settings, random_state=seed))[0]
    except Exception as error:  # noqa: BLE001 - a failed fit means "use the rules", never a crash
        return by_rules(f"training failed: {type(error).__name__}: {error}")
    best = int(np.argmax(proba))
    runner_up = float(np.sort(proba)[-2])
    if proba[best] - runner_up < UNDECIDED_MARGIN:
        # Near-equal probabilities: the classifier has found nothing, and its argmax would be
        # whichever regime comes first ("bull", full size). Say so and let the rules decide.
        return by_rules(f"the classifier is undecided ({proba[best]:.0%} vs {runner_up:.0%})")
    return RegimeFit(symbol, learned.REGIMES[best], float(proba[best]), "model", "", time.perf_counter() - tic)
