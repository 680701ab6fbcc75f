"""Running one strategy over history.

The cockpit strategies are the real Engine, bar by bar: each bar's ticks go through
`Engine.on_tick` (prices, venue events, breakers, sizing, proposals), the models refit when their
live schedule says so (in market time, on the bars seen so far, in this process so the run
repeats exactly), and the scripted approver decides through `Engine.approve`/`veto`. The engine's
clock is the bar's close time. Every run writes its own journal.

The baselines (hold and static leverage) have no risk layer and no approval step, but trade on
the same venue with the same fees, slippage, latency, funding and intrabar liquidation.

`run_strategy(spec)` is a plain function of a picklable spec, so a process pool (or Ray) can run
many of them.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from cockpit.backtest.approver import ScriptedApprover
from cockpit.backtest.market import History, load_history
from cockpit.backtest.venue import BacktestVenue, Ledger
from cockpit.config import Config
from cockpit.domain.performance import Performance, performance
from cockpit.domain.rebalance import plan_rebalance, rebalance_orders
from cockpit.domain.risk import account_equity
from cockpit.domain.types import Balance, Instrument, Order, State, Tick
from cockpit.engine.engine import Engine
from cockpit.engine.fit_pool import FitPool
from cockpit.engine.policy import target_symbols
from cockpit.journal.store import Journal

Progress = Callable[[str, int, int], None]  # (strategy, bars done, bars in all)

# What each named strategy is: a baseline (gross leverage, and whether it rebalances), a signal
# strategy (its moving-average lengths in bars), or a cockpit variant (overrides on the config).
STRATEGIES: dict[str, dict[str, Any]] = {
    "hold_1x": {"baseline": 1.0, "rebalance": False},
    "static_3x": {"baseline": 3.0, "rebalance": True},
    "static_10x": {"baseline": 10.0, "rebalance": True},
    "cockpit": {"overrides": {}},
    # Not in the comparison: the simple signal strategy the engine's throughput is measured on.
    "sma_cross": {"signal": (20, 50)},
    "cockpit_no_breakers": {"overrides": {"breakers": {"enabled": False}}},
    "cockpit_continuous": {"overrides": {"rebalance": {"mode": "continuous"}}},
    "cockpit_interval_4h": {"overrides": {"rebalance": {"mode": "interval", "interval_hours": 4.0}}},
    "cockpit_fixed_kelly": {"overrides": {"sizing": {"regime_aware": False}}},
}


@dataclass(frozen=True)
class StrategySpec:
    """Everything one run needs, picklable: which strategy, on which files, with what config."""

    name: str  # a key of STRATEGIES
    data: tuple[str, ...]
    funding: tuple[str, ...] = ()
    start: str | None = None
    end: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)  # the config document (model_dump)
    overrides: Mapping[str, Any] = field(default_factory=dict)  # on top of it (a sweep's point)
    journal: str | None = None  # journal file; None = a fresh one in the temp directory
    delay_bars: int = 1
    veto_probability: float = 0.0
    resume_after_hours: float = 24.0
    seed: int = 7
    label: str = ""  # how the result is named (default: the strategy's name)
    fit_workers: int = 1  # processes for the model fits (1 = in this process)

    @property
    def title(self) -> str:
        """Returns the label, or the strategy's name."""
        return self.label or self.name


@dataclass
class StrategyResult:
    """One run: the equity curve at each bar close, what it paid, and its decisions."""

    name: str
    times: np.ndarray
    equity: np.ndarray
    ledger: Ledger
    proposals: int = 0
    approvals: int = 0
    vetoes: int = 0
    expired: int = 0
    resumes: int = 0
    seconds: float = 0.0
    bars: int = 0
    journal: str = ""

    def performance(self) -> Performance:
        """Returns the figures of this run's curve and ledger."""
        ledger = self.ledger
        return performance(self.times, self.equity, liquidations=ledger.liquidations, fees=ledger.fees,
                           funding=ledger.funding, traded_notional=ledger.traded_notional)


class MarketClock:
    """The engine's clock in a backtest: the current bar's close time (epoch s)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class HistoryPrices:
    """The engine's price source in a backtest: instruments only; the loop feeds the ticks."""

    label = "REPLAY"

    def __init__(self, instruments: dict[str, Instrument]) -> None:
        self._instruments = instruments

    def instruments(self) -> dict[str, Instrument]:
        """Returns the instruments of the history."""
        return dict(self._instruments)

    async def ticks(self):  # pragma: no cover - the backtest loop calls on_tick itself
        return
        yield

    async def close(self) -> None:
        """Nothing to close."""


def merge(document: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Returns `document` with `overrides` merged in, section by section."""
    out = {key: dict(value) if isinstance(value, Mapping) else value for key, value in document.items()}
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def backtest_config(config: Config, bar_seconds: float, delay_bars: int) -> Config:
    """Returns `config` as a backtest runs it: a proposal lives long enough for the scripted
    approval `delay_bars` later, whatever the price did meanwhile (the approver stands for a
    person who said yes), and prices a bar apart are not stale."""
    document = merge(config.model_dump(), {
        "proposals": {"ttl_seconds": (delay_bars + 1) * bar_seconds, "max_price_move": 0.99},
        "market": {"stale_after_seconds": max(config.market.stale_after_seconds, 2 * bar_seconds)},
    })
    return Config.model_validate(document)


async def _inline(task: Callable[[], Any]) -> Any:
    return task()


async def _decision_counts(journal: Journal, account: str) -> dict[str, int]:
    decisions = [row.payload.get("decision") for row in await journal.entries(kinds=["decision"], account=account)]
    return {
        "proposals": len(await journal.entries(kinds=["proposal"], account=account)),
        "approvals": decisions.count("approve"),
        "vetoes": decisions.count("veto"),
        "expired": decisions.count("expire"),
    }


async def run_cockpit(spec: StrategySpec, config: Config, history: History, journal_path: Path,
                      progress: Progress | None = None) -> StrategyResult:
    """Runs the Engine with `config` over `history`; returns its result."""
    started = time.perf_counter()
    config = backtest_config(config, history.bar_seconds, spec.delay_bars)
    first = history.first_index_with_all()
    clock = MarketClock(float(history.times[first]))
    account = f"backtest-{spec.name}"
    journal = await Journal.open(journal_path, clock=clock, durable=False)
    try:
        amount = config.account.starting_balance
        await journal.append("deposit", {"amount": amount}, account=account)
        venue = BacktestVenue(history.instruments, Balance(amount), bar_seconds=history.bar_seconds, seed=spec.seed,
                              taker_fee=config.paper.taker_fee, slippage=config.paper.slippage,
                              funding=history.funding, clock=clock)
        marks = history.last_prices(first)
        venue.set_marks(marks)
        engine = Engine(config=config, source=HistoryPrices(history.instruments), venue=venue, journal=journal,
                        account=account, marks=marks, source_note="backtest", clock=clock)
        approver = ScriptedApprover(engine, delay_bars=spec.delay_bars, veto_probability=spec.veto_probability,
                                    resume_after_seconds=spec.resume_after_hours * 3600, seed=spec.seed)
        times = history.times[first:]
        equity = np.empty(times.size)
        pool = FitPool(spec.fit_workers) if spec.fit_workers > 1 else None
        try:
            await _loop(engine, approver, history, first, clock, equity, spec, pool.run if pool else _inline, progress)
        finally:
            if pool is not None:
                pool.close()
        await journal.append("stop", {"reason": "backtest finished"}, account=account)
        counts = await _decision_counts(journal, account)
    finally:
        await journal.close()
    return StrategyResult(spec.title, times, equity, venue.ledger, resumes=approver.resumes,
                          seconds=time.perf_counter() - started, bars=int(times.size), journal=str(journal_path), **counts)


async def _loop(engine: Engine, approver: ScriptedApprover, history: History, first: int, clock: MarketClock,
                equity: np.ndarray, spec: StrategySpec, run_fit, progress: Progress | None) -> None:
    """Feeds the bars from `first` on: ticks, due refits, the approver; records equity. Each fit
    is awaited at the bar it is due, through `run_fit` (in this process, or a pool where the
    assets' fits run side by side): either way the run repeats exactly."""
    for k, index in enumerate(range(first, history.times.size)):
        clock.now = float(history.times[index])
        for tick in history.ticks_at(index):
            await engine.on_tick(tick)
        await engine.refit_if_due(run_fit)
        await approver.step(index, clock.now)
        equity[k] = engine.equity()
        if progress is not None and (k % 50 == 0 or k == equity.size - 1):
            progress(spec.title, k + 1, equity.size)


def baseline_weights(config: Config, symbols) -> dict[str, float]:
    """Returns the configured target weights of `symbols` scaled to sum to 1 in absolute value,
    so a baseline at N x holds gross exposure N x equity."""
    targets = {s: w for s, w in target_symbols(config).items() if s in symbols}
    total = sum(abs(w) for w in targets.values())
    return {symbol: weight / total for symbol, weight in targets.items()} if total > 0 else targets


async def run_baseline(spec: StrategySpec, config: Config, history: History, leverage: float, rebalance: bool,
                       progress: Progress | None = None) -> StrategyResult:
    """Runs a constant-leverage book of the target weights: bought at the first bar, then (when
    `rebalance`) brought back to `leverage` on the cockpit's interval whenever a weight leaves the
    drift band. No breakers, sizing or approval."""
    started = time.perf_counter()
    first = history.first_index_with_all()
    clock = MarketClock(float(history.times[first]))
    paper = config.paper
    venue = BacktestVenue(history.instruments, Balance(config.account.starting_balance), bar_seconds=history.bar_seconds,
                          seed=spec.seed, taker_fee=paper.taker_fee, slippage=paper.slippage, funding=history.funding,
                          clock=clock, max_leverage=max(20.0, leverage * 1.5))
    venue.set_marks(history.last_prices(first))
    weights = baseline_weights(config, history.instruments)
    interval = config.rebalance.interval_hours * 3600
    next_check = -math.inf
    times = history.times[first:]
    equity = np.empty(times.size)
    for k, index in enumerate(range(first, history.times.size)):
        clock.now = float(history.times[index])
        for tick in history.ticks_at(index):
            venue.observe(tick)
        balance, positions = venue.account()
        state = State(clock.now, balance, instruments=history.instruments).with_marks(venue.marks(), clock.now).with_account(balance, positions)
        value = account_equity(state)
        if value > 0 and (k == 0 or (rebalance and clock.now >= next_check)):
            next_check = clock.now + interval
            orders = _baseline_orders(state, weights, leverage, config, opening=k == 0)
            for order in orders:
                await venue.submit(order)
            balance, positions = venue.account()
            value = account_equity(state.with_account(balance, positions))
        equity[k] = max(value, 0.0)
        if progress is not None and (k % 500 == 0 or k == times.size - 1):
            progress(spec.title, k + 1, times.size)
    return StrategyResult(spec.title, times, equity, venue.ledger, seconds=time.perf_counter() - started,
                          bars=int(times.size))


def _baseline_orders(state: State, weights: Mapping[str, float], leverage: float, config: Config, *, opening: bool):
    paper, ceiling = config.paper, leverage * 1.02
    if opening:
        return rebalance_orders(state, weights, target_leverage=leverage, ceiling=ceiling,
                                slippage=paper.slippage, fee_rate=paper.taker_fee)
    plan = plan_rebalance(state, weights, target_leverage=leverage, band=config.portfolio.drift_band, ceiling=ceiling,
                          slippage=paper.slippage, fee_rate=paper.taker_fee)
    return plan.orders if plan is not None else ()


def sma_signal(closes: np.ndarray, fast: int, slow: int) -> np.ndarray:
    """Returns True where the `fast`-bar mean of `closes` is above the `slow`-bar mean (both
    known at that bar's close), False before `slow` bars exist."""
    sums = np.concatenate(([0.0], np.cumsum(closes)))
    above = np.zeros(closes.size, dtype=bool)
    if closes.size >= slow:
        fast_mean = (sums[slow:] - sums[slow - fast:-fast]) / fast
        slow_mean = (sums[slow:] - sums[:-slow]) / slow
        above[slow - 1:] = fast_mean > slow_mean
    return above


async def run_signal(spec: StrategySpec, config: Config, history: History, fast: int, slow: int,
                     progress: Progress | None = None) -> StrategyResult:
    """Runs a moving-average cross on the first symbol: all in at 1x while the fast mean is above
    the slow one, flat otherwise, trading at the bar close on the same venue as every strategy."""
    started = time.perf_counter()
    symbol = history.symbols[0]
    first = int(np.flatnonzero(np.isfinite(history.close[symbol]))[0])
    clock = MarketClock(float(history.times[first]))
    paper = config.paper
    venue = BacktestVenue(history.instruments, Balance(config.account.starting_balance), bar_seconds=history.bar_seconds,
                          seed=spec.seed, taker_fee=paper.taker_fee, slippage=paper.slippage, funding=history.funding,
                          clock=clock)
    closes = np.nan_to_num(history.close[symbol][first:], nan=0.0)
    highs, lows = history.high[symbol][first:], history.low[symbol][first:]
    signal = sma_signal(closes, fast, slow)
    turns = (np.flatnonzero(signal[1:] != signal[:-1]) + 1).tolist() + [closes.size]  # where the signal flips
    step = history.instruments[symbol].step_size
    times = history.times[first:]
    equity = np.empty(times.size)
    k, reported = 0, 0
    while k < times.size:
        now, price, wants_long = float(times[k]), float(closes[k]), bool(signal[k])
        clock.now = now
        venue.observe(Tick(symbol, now, price, float(highs[k]), float(lows[k])))
        balance, positions = venue.account()
        held = positions.get(symbol)
        value = balance.wallet + (held.quantity * (price - held.entry_price) if held is not None else 0.0)
        order = None
        if wants_long and held is None and value > 0:
            size = math.floor(value / (price * (1 + paper.slippage + paper.taker_fee)) / step) * step
            order = Order(symbol, "buy", size) if size > 0 else None
        elif not wants_long and held is not None and held.quantity > 0:
            order = Order(symbol, "sell", held.quantity, reduce_only=True)
        if order is not None:
            await venue.submit(order)
            balance, positions = venue.account()
            held = positions.get(symbol)
            value = balance.wallet + (held.quantity * (price - held.entry_price) if held is not None else 0.0)
        equity[k] = value
        k += 1
        if (held is not None) == wants_long:
            # Until the signal flips no bar asks for an order unless the venue changes the position,
            # so the venue folds those bars in at once and hands back the first where it might.
            end = turns[bisect.bisect_left(turns, k)]
            wallets, _ = venue.observe_quiet_bars(symbol, times[k:end], closes[k:end], highs[k:end], lows[k:end])
            folded = slice(k, k + wallets.size)
            equity[folded] = wallets + (held.quantity * (closes[folded] - held.entry_price) if held is not None else 0.0)
            k += wallets.size
            clock.now = float(times[k - 1])
        if progress is not None and (k >= reported + 2000 or k == times.size):
            reported = k
            progress(spec.title, k, times.size)
    return StrategyResult(spec.title, times, equity, venue.ledger, seconds=time.perf_counter() - started,
                          bars=int(times.size))


def run_strategy(spec: StrategySpec, progress: Progress | None = None) -> StrategyResult:
    """Runs `spec` start to end in this process (its own event loop); returns its result."""
    import tempfile

    if spec.name not in STRATEGIES:
        raise ValueError(f"unknown strategy {spec.name!r}: one of {', '.join(STRATEGIES)}")
    kind = STRATEGIES[spec.name]
    config = Config.model_validate(merge(merge(spec.config, kind.get("overrides", {})), spec.overrides))
    history = load_history(spec.data, spec.funding, start=spec.start, end=spec.end,
                           base_funding_rate=config.paper.funding_rate)
    if "baseline" in kind:
        return asyncio.run(run_baseline(spec, config, history, kind["baseline"], kind["rebalance"], progress))
    if "signal" in kind:
        return asyncio.run(run_signal(spec, config, history, *kind["signal"], progress=progress))
    journal = Path(spec.journal) if spec.journal else Path(tempfile.mkdtemp(prefix="cockpit-backtest-")) / f"{spec.title}.sqlite"
    return asyncio.run(run_cockpit(spec, config, history, journal, progress))
