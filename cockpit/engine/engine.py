"""The orchestrator: folds prices and venue events into State, recomputes risk, proposes, and
carries out the trader's decisions. It knows no screen: the TUI reads `snapshot` and calls the
command methods (`approve`, `veto`, `toggle_mode`, `flatten`, `resume`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import replace
from typing import Awaitable, Callable, Iterable, Sequence

from cockpit.config import Config
from cockpit.domain.account import realized_pnl
from cockpit.domain.pretrade import OrderRateLimiter, PretradeLimits, check_gate, pretrade_denial, trading_orders
from cockpit.domain.risk import RiskSnapshot, account_equity
from cockpit.domain.riskbook import RiskBook
from cockpit.domain.scenarios import StressReport, positions_key, scenarios_for, stress_report
from cockpit.domain.types import Fill, FundingPayment, Gate, Order, Proposal, RebalanceMode, State, Tick
from cockpit.domain import breakers as b
from cockpit.domain.cuts import cut_orders
from cockpit.domain.hedging import profit_to_reserve
from cockpit.domain.liquidation import liquidation_price_mismatch
from cockpit.domain.order_size import OrderSizeError
from cockpit.domain.preview import TradePreview, preview_orders
from cockpit.domain.rebalance import rebalance_orders
from cockpit.engine.breaker_watch import BreakerWatch
from cockpit.engine.drift_watch import DriftWatch
from cockpit.engine.executor import Executor
from cockpit.engine.fit_pool import FitPool
from cockpit.engine.flatten import FlattenReport, flatten_all
from cockpit.domain.regime_rules import REGIMES
from cockpit.engine.forecast_watch import ForecastWatch
from cockpit.engine.hedge_watch import HedgeWatch
from cockpit.engine.order_desk import describe_edit, edited_orders, manual_orders, order_rows
from cockpit.engine.pnl_history import PnlHistory, PnlSeries
from cockpit.engine.policy import RebalancePolicy, target_symbols
from cockpit.engine.proposals import ProposalQueue, expiry_reason
from cockpit.engine.sizing_watch import Sizing, SizingWatch
from cockpit.journal.kinds import fill_payload, funding_payload, proposal_payload
from cockpit.engine.snapshot import EngineSnapshot
from cockpit.journal.store import Journal
from cockpit.venues.base import Liquidation, OrderResolved, PriceSource, Venue

log = logging.getLogger(__name__)

HOUSEKEEPING_SECONDS = 1.0
# The stress report is redone when positions or the wallet change, or when a held price has moved
# this much since: a crash updates it a few times, a quiet tick stream never does.
STRESS_REFRESH_MOVE = 0.01
MARKS_EVERY_SECONDS = 60.0  # last prices for restarts and `cockpit flatten`; fills carry theirs
FORECAST_CHECK_SECONDS = 1.0  # how often the refit schedule is looked at (it is in market time)


class Engine:
    """One paper (or later live) account driven by one price source."""

    def __init__(
        self,
        *,
        config: Config,
        source: PriceSource,
        venue: Venue,
        journal: Journal,
        account: str,
        marks: dict[str, float] | None = None,
        gate: Gate = Gate.ACTIVE,
        mode: RebalanceMode | None = None,
        source_note: str = "",
        proposal_counter: int = 0,
        breakers: Iterable[b.BreakerState] = (),
        reserve: float = 0.0,
        reserve_baseline: float | None = None,
        peak_equity: float = 0.0,
        regime_override: str | None = None,
        fit_pool: FitPool | None = None,
        order_id_tag: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.account = account
        self.journal = journal
        self._source = source
        self._venue = venue
        self._clock = clock
        self._source_note = source_note
        priced = source.instruments()
        hedge = {f"{config.hedge.asset}/USDT:USDT"} if config.hedge.asset else set()
        unpriced = sorted((set(target_symbols(config)) | hedge) - set(priced))
        self._queue = ProposalQueue(veto_memory=config.proposals.veto_memory)
        self._executor = Executor(venue, journal, account, id_tag=order_id_tag)
        self._decisions = asyncio.Lock()  # one decision (approve, veto, flatten) at a time
        self._gate = gate
        self._limits = PretradeLimits(
            leverage_ceiling=config.portfolio.leverage_ceiling,
            max_order_notional=config.limits.max_order_notional,
            max_exposure_fraction=config.limits.max_asset_exposure,
            max_orders_per_second=config.limits.max_orders_per_second,
            slippage=config.paper.slippage,
            fee_rate=config.paper.taker_fee,
        )
        self._rate_limiter = OrderRateLimiter.from_limits(clock, self._limits)
        self._policy = RebalancePolicy(
            config,
            {s: w for s, w in target_symbols(config).items() if s in priced},
            mode=mode or RebalanceMode(config.rebalance.mode),
            proposal_counter=proposal_counter,
            clock=clock,
        )
        self._breakers = BreakerWatch(config)
        self._breakers.restore(breakers)  # latches no person has reset, from the journal
        self._sizing_watch = SizingWatch(config, self._policy.targets, peak_equity=peak_equity)
        self._hedge = HedgeWatch(config, self._policy.targets, priced=priced)
        forecast = sorted(self._policy.targets, key=lambda s: (-abs(self._policy.targets[s]), s))
        self._forecasts = ForecastWatch(config, forecast + sorted(hedge & set(priced)), regime_override=regime_override)
        history = getattr(source, "history", None)  # optional: past prices, so forecasts start at once
        if callable(history):
            self._forecasts.seed(history())
        self._fit_pool = fit_pool or FitPool(config.models.workers)
        self._drift = DriftWatch(config)
        self._pnl_history = PnlHistory()  # what the position screen charts, since this start
        self._as_proposed: dict[str, Proposal] = {}  # edited proposals as the cockpit made them
        self._score_cuts: dict[str, str] = {}  # symbol -> its pending volatility-cut proposal id
        self._score_vetoed: set[str] = set()  # no new cut until the score falls back
        self._sizing: Sizing | None = None
        self._reserve = reserve  # USDT ring-fenced from sizing (see journal kind RESERVE)
        self._reserve_baseline = reserve_baseline  # equity the profit trigger counts from
        self._liquidation_gaps: set[str] = set()  # symbols whose exchange liquidation price disagrees
        # The aim drift is measured at, fixed between sizings: with a reserve the live aim moves
        # with equity, and following it per tick would rebuild the RiskBook on every price.
        self._sized_aim = config.portfolio.target_leverage
        self._book_aim: float | None = None  # the aim the current RiskBook was built at
        self._stress: StressReport | None = None
        self._book: RiskBook | None = None  # the vectorized per-tick risk, rebuilt when positions change
        self._risk_cache: RiskSnapshot | None = None
        self._breaker_proposals: dict[tuple[str, str], str] = {}  # latch -> its pending proposal id
        self._breaker_vetoed: set[tuple[str, str]] = set()  # no new proposal until a reset
        self._last_tick_wall: float | None = None
        self._market_time: float | None = None
        self._marks_journaled_at = 0.0
        self._remote_seen_seq = 0
        self._notice = f"no prices for {', '.join(unpriced)}: their targets are ignored" if unpriced else ""
        self._version = 0
        balance, positions = venue.account()
        self._state = State(clock(), balance, instruments=source.instruments()).with_marks(
            marks or {}, clock()
        ).with_account(balance, positions)
        if self._reserve_baseline is None:
            self._reserve_baseline = self._risk().equity
        self._resize()
        self._snapshot: EngineSnapshot | None = None

    # ---- reading -------------------------------------------------------------------------

    @property
    def snapshot(self) -> EngineSnapshot:
        """Returns the state as of the newest change, for the screen (built on first read after a
        change: a backtest that never looks at it does not pay for it on every tick)."""
        if self._snapshot is None or self._snapshot.version != self._version:
            self._snapshot = self._build_snapshot()
        return self._snapshot

    def equity(self) -> float:
        """Returns the account's equity at the latest marks, in USDT."""
        return self._risk().equity

    def pending_proposals(self) -> tuple[Proposal, ...]:
        """Returns the proposals waiting for a decision, oldest first."""
        return self._queue.pending()

    def breakers_engaged(self) -> bool:
        """Returns True while any circuit breaker is tripped or latched."""
        return any(latch.engaged for latch in self._breakers.board())

    @property
    def gate(self) -> Gate:
        """Returns the current risk gate."""
        return self._gate

    @property
    def mode(self) -> RebalanceMode:
        """Returns the current rebalancing mode."""
        return self._policy.mode

    @property
    def in_flight(self) -> int:
        """Returns how many orders are sent and not yet answered."""
        return self._executor.in_flight

    def _stale(self) -> bool:
        if self._last_tick_wall is None:
            return False
        return self._clock() - self._last_tick_wall > self.config.market.stale_after_seconds

    def _current_stress(self) -> StressReport:
        report = self._stress
        if report is None or report.key != positions_key(self._state) or any(
            abs(self._state.marks.get(symbol, mark) / mark - 1.0) > STRESS_REFRESH_MOVE
            for symbol, mark in report.marks.items()
        ):
            report = self._stress = stress_report(self._state, scenarios_for(self._state))
        return report

    def _risk(self) -> RiskSnapshot:
        """The current RiskSnapshot (what `assess` returns), from the vectorized book."""
        aim = self._sized_aim
        if self._book is None or not self._book.matches(self._state) or aim != self._book_aim:
            self._book = RiskBook.from_state(self._state, self._targets(aim), aim)
            self._book_aim = aim
            self._risk_cache = None
        if self._risk_cache is None:
            self._risk_cache = self._book.snapshot()
        return self._risk_cache

    def _aim(self, reserve: float | None = None) -> float:
        """The target leverage (levered capital / equity) the rebalancer aims at now: the sized
        one on the equity left after the reserve; the configured one before sizing has run."""
        sizing = self._sizing
        if sizing is None:
            return self.config.portfolio.target_leverage
        equity = self._risk_cache.equity if self._risk_cache is not None else account_equity(self._state)
        reserve = self._reserve if reserve is None else reserve
        share = (equity - reserve) / equity if equity > 0 else 1.0
        return max(sizing.multiplier * min(1.0, max(0.0, share)), 1e-9)

    def _targets(self, aim: float) -> dict[str, float]:
        """The weights the rebalancer aims for: the configured core, and the hedge leg."""
        targets = dict(self._policy.targets)
        hedge = self._hedge.symbol
        held = self._state.positions.get(hedge) if hedge else None
        current, equity = None, account_equity(self._state)
        if held is not None and hedge in self._state.marks and equity > 0:
            current = held.quantity * self._state.marks[hedge] / (aim * equity)
        cap = self.config.limits.max_asset_exposure * 0.99 / aim  # the pre-trade cap, as a weight
        targets.update({s: max(-cap, min(cap, w)) for s, w in self._hedge.targets(current).items()})
        return targets

    def _resize(self) -> Sizing | None:
        """Recomputes sizing and the aim drift is measured at; returns the new sizing."""
        self._sizing = self._size()
        self._sized_aim = self._aim()
        return self._sizing

    def _sigmas(self) -> dict[str, float | None]:
        """Returns the 4h sigma per target (fraction): the forecast of the model in use, or the
        realized one from the breakers' memory before the first fit (None = not known yet)."""
        return {symbol: self._forecasts.sigma_4h(symbol) or self._breakers.sigma_4h(symbol)
                for symbol in self._policy.targets}

    def _size(self) -> Sizing | None:
        risk = self._risk()
        return self._sizing_watch.decide(
            equity=risk.equity, trading_equity=risk.equity - self._reserve,
            gross_notional=risk.gross_notional, sigmas=self._sigmas(), regime=self._forecasts.regime(),
        )

    def _mark(self, tick: Tick) -> None:
        # One price into the book; positions changed (a fill, funding) mean a rebuild in _risk.
        if self._book is not None and self._book.matches(self._state):
            if self._book.update(tick.symbol, tick.price):
                self._risk_cache = None

    def _build_snapshot(self) -> EngineSnapshot:
        risk = self._risk()
        stress = self._current_stress()
        drift = self._book.drift() if risk.equity > 0 and self._book is not None else {}
        return EngineSnapshot(
            version=self._version,
            taken_at=self._clock(),
            state=self._state,
            risk=risk,
            account_liquidation_move=stress.portfolio_move,
            stress=stress,
            gate=self._gate,
            mode=self._policy.mode,
            interval_hours=self.config.rebalance.interval_hours,
            next_check_at=self._policy.next_check_at,
            source_label=self._source.label,
            source_note=self._source_note,
            account=self.account,
            proposals=self._queue.pending(),
            leverage_ceiling=self.config.portfolio.leverage_ceiling,
            target_leverage=self._sized_aim,
            in_flight=self._executor.in_flight,
            last_tick_at=self._last_tick_wall,
            market_time=self._market_time,
            stale=self._stale(),
            notice=self._notice,
            drift=drift,
            breakers=self._breakers.board(),
            sizing=self._sizing,
            hedge=self._hedge.reading,
            reserve=self._reserve,
            forecasts=self._forecasts.board(warnings=self._drift.warnings, sharpe=self._drift.sharpe()),
        )

    def _publish(self, notice: str | None = None) -> None:
        if notice is not None:
            self._notice = notice
        self._version += 1

    # ---- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        """Consumes the price source until it ends or the task is cancelled."""
        tasks = [asyncio.create_task(self._housekeeping(), name="engine-housekeeping"),
                 asyncio.create_task(self._refit_models(), name="engine-forecasts")]
        venue_task = getattr(self._venue, "run", None)  # a real account's own polling (optional)
        if callable(venue_task):
            tasks.append(asyncio.create_task(venue_task(), name="engine-venue"))
        try:
            async for tick in self._source.ticks():
                await self.on_tick(tick)
            self._publish("price source ended")
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._fit_pool.close()

    async def _refit_models(self) -> None:
        # Fits run in the process pool; this task only waits for them, so prices, keys and
        # housekeeping carry on meanwhile.
        while True:
            await asyncio.sleep(FORECAST_CHECK_SECONDS)
            try:
                await self.refit_if_due()
            except Exception:  # noqa: BLE001 - a broken refit must not stop the next one
                log.exception("model refit failed")

    async def refit_if_due(self, run: Callable[[Callable[[], object]], Awaitable[object]] | None = None) -> bool:
        """Runs the model refit due at the current market time, if any, through `run` (default:
        the process pool), journals it and resizes; returns True when one ran. The fits see only
        the bars folded in so far."""
        job = self._forecasts.due(self._market_time)
        if job is None:
            return False
        self._publish()  # show "running" at once
        for line in await self._forecasts.refit(job, run or self._fit_pool.run):
            await self.journal.append("model", {"event": "fit", "text": line}, account=self.account)
        self._resize()
        self._publish()
        return True

    async def _housekeeping(self) -> None:
        # Expiry, staleness and remote flatten requests must work even when no price arrives.
        while True:
            await asyncio.sleep(HOUSEKEEPING_SECONDS)
            try:
                await self._expire_proposals()
                await self._check_breakers(self._risk())
                await self._check_drift()
                self._resize()
                await self._serve_remote_flatten()
                await self._beat()
                self._publish()
            except Exception:  # noqa: BLE001 - one bad round must not stop expiry for good
                log.exception("housekeeping failed")

    async def _beat(self) -> None:
        # The exchange's dead-man's switch stays armed while automation may act (a real account).
        heartbeat = getattr(self._venue, "heartbeat", None)
        if callable(heartbeat):
            await heartbeat(armed=self._gate is not Gate.HALTED)

    async def on_tick(self, tick: Tick) -> None:
        """Folds one price into the state, settles venue events, and maybe proposes."""
        positions_before = self._venue.account()[1]
        events = self._venue.observe(tick)
        for event in events:
            await self._journal_venue_event(event, positions_before)
        self._last_tick_wall = self._clock()
        self._market_time = tick.timestamp
        balance, positions = self._venue.account()
        self._state = self._state.with_marks({tick.symbol: tick.price}, tick.timestamp).with_account(
            balance, positions
        )
        await self._journal_marks()
        self._mark(tick)
        risk = self._risk()
        self._breakers.observe(tick.timestamp, self._state.marks, risk.equity)
        await self._compare_liquidation_prices(risk)
        self._sizing_watch.observe(tick.timestamp, self._state.marks, risk.equity)
        self._forecasts.observe(tick.timestamp, {tick.symbol: tick.price})
        self._drift.observe(tick.timestamp, risk.equity)
        self._pnl_history.observe(tick.timestamp, risk)
        warning = self._hedge.observe(tick.timestamp, self._state.marks)
        if warning is not None:
            self._notice = f"HEDGE {warning.message}"
            await self.journal.append("note", {"text": f"hedge {self._hedge.symbol}: {warning.message}"}, account=self.account)
        await self._check_breakers(risk)
        await self._expire_proposals()
        await self._propose_volatility_cuts()
        await self._maybe_propose()
        self._publish()

    async def _compare_liquidation_prices(self, risk: RiskSnapshot) -> None:
        # A live exchange reports its own liquidation price: a gap beyond 0.5 % means our tier
        # table or margin figures are wrong for this position. Said once per gap, not per tick.
        for row in risk.positions:
            reported = self._state.positions[row.symbol].exchange_liquidation_price if row.symbol in self._state.positions else None
            warning = None if reported is None else liquidation_price_mismatch(row.liquidation_price, reported)
            if warning is None:
                self._liquidation_gaps.discard(row.symbol)
            elif row.symbol not in self._liquidation_gaps:
                self._liquidation_gaps.add(row.symbol)
                self._notice = f"{row.symbol.split('/')[0]} {warning}"
                await self.journal.append("note", {"text": warning}, account=self.account, symbol=row.symbol)

    async def _journal_venue_event(self, event: object, positions_before: dict) -> None:
        if isinstance(event, FundingPayment):
            self._breakers.observe_funding(event.symbol, event.rate)
            await self.journal.append("funding", funding_payload(event), account=self.account, symbol=event.symbol)
        elif isinstance(event, Liquidation):
            fill = event.fill
            await self.journal.append("fill", fill_payload(fill, event.realized_pnl), account=self.account, symbol=fill.symbol)
            await self.journal.append(
                "liquidation",
                {
                    "quantity": fill.quantity,
                    "price": fill.price,
                    "realized_pnl": event.realized_pnl,
                    "clearance_fee": event.clearance_fee,
                    "insurance_cover": event.insurance_cover,
                },
                account=self.account,
                symbol=fill.symbol,
            )
            self._notice = f"LIQUIDATED {fill.symbol} {fill.quantity:g} @ {fill.price:,.2f}"
        elif isinstance(event, OrderResolved):
            order, result = event.order, event.result
            await self.journal.append("order_result", {"status": result.status, "reason": result.reason},
                                      account=self.account, symbol=order.symbol, client_order_id=order.client_order_id)
            if result.fill is not None:
                pnl = realized_pnl(positions_before.get(order.symbol), result.fill)
                await self.journal.append("fill", fill_payload(result.fill, pnl), account=self.account,
                                          symbol=order.symbol, client_order_id=order.client_order_id)
            self._notice = f"{order.client_order_id} resolved: {result.status}" + (f" ({result.reason})" if result.reason else "")
        elif isinstance(event, Fill):
            # A resting stop that triggered: its fill carries the stop's client order id.
            pnl = realized_pnl(positions_before.get(event.symbol), event)
            await self.journal.append("fill", fill_payload(event, pnl), account=self.account, symbol=event.symbol,
                                      client_order_id=event.client_order_id or None)
            self._notice = f"STOP filled {event.symbol} {event.side} {event.quantity:g} @ {event.price:,.2f}"

    async def _journal_marks(self) -> None:
        now = self._clock()
        if now - self._marks_journaled_at >= MARKS_EVERY_SECONDS:
            self._marks_journaled_at = now
            await self.journal.append("marks", {"prices": dict(self._state.marks)}, account=self.account)

    async def _expire_proposals(self) -> None:
        expired = self._queue.expire(
            now=self._clock(), marks=self._state.marks, max_price_move=self.config.proposals.max_price_move
        )
        for item in expired:
            await self.journal.append(
                "decision", {"decision": "expire", "key": "", "note": item.reason}, account=self.account, proposal_id=item.proposal.id
            )
            self._notice = f"{item.proposal.id} expired unexecuted ({item.reason})"
            # Nobody decided, so the need is still there: look again at the next price instead
            # of waiting a whole interval.
            self._policy.check_soon()

    async def _maybe_propose(self) -> None:
        if not self._policy.ready(self._state) or not self._policy.due(self._market_time):
            return
        if self._gate is not Gate.ACTIVE or self._stale() or self._queue.has_kind("rebalance"):
            return
        if any(latch.engaged for latch in self._breakers.latches.values()):
            return  # a breaker wants risk cut: proposing to add some back would fight it
        if self._decisions.locked():
            return  # a decision's orders are in flight: the state is about to change
        sizing = self._resize()
        risk = self._risk()
        if sizing is None or await self._maybe_propose_reserve(risk, sizing):
            return
        aim = self._sized_aim
        plan = self._policy.plan(self._state, aim, self._targets(aim))
        if plan is None or self._queue.suppressed("rebalance", plan.drift):
            return
        sigmas = self._sigmas()
        hedge = self._hedge.reading
        extra = {"hedge_ratio": hedge.ratio, "hedge_correlation": hedge.correlation} if hedge else {}
        # The warning that takes the hedge off must be read where the trader decides on it.
        trades_hedge = hedge is not None and any(o.symbol == hedge.symbol for o in plan.orders)
        note = f"hedge off: {hedge.warning.message}" if trades_hedge and hedge.warning else ""
        proposal = self._policy.proposal(plan, self._state, risk, sigmas, sizing, extra, note)
        await self._queue_proposal(proposal)

    async def _queue_proposal(self, proposal: Proposal) -> None:
        await self.journal.append("proposal", proposal_payload(proposal), account=self.account, proposal_id=proposal.id)
        self._queue.add(proposal)
        self._notice = f"{proposal.id}: {proposal.reason}"

    async def _maybe_propose_reserve(self, risk: RiskSnapshot, sizing: Sizing) -> bool:
        """Proposes moving profit into the reserve when equity is up the trigger since the
        baseline; the proposal trims the book to the smaller trading equity (reduce-only orders
        only: moving money aside never adds exposure). Returns True when one is pending."""
        if self._queue.has_kind("reserve"):
            return True
        limits = self.config.reserve
        baseline = self._reserve_baseline or 0.0
        if risk.equity <= 0 or baseline <= 0:
            return False
        move = profit_to_reserve(risk.equity, baseline, self._reserve, trigger_gain=limits.profit_trigger,
                                 band=(limits.band_low, limits.band_high))
        if move <= 0:
            return False
        after = self._reserve + move
        aim = self._aim(reserve=after)
        paper = self.config.paper
        orders = tuple(
            order for order in rebalance_orders(
                self._state, self._targets(aim), target_leverage=aim,
                ceiling=self.config.portfolio.leverage_ceiling, slippage=paper.slippage, fee_rate=paper.taker_fee,
            ) if order.reduce_only
        )
        gain = risk.equity / baseline - 1.0
        numbers = {"equity": risk.equity, "baseline": baseline, "gain": gain, "reserve_before": self._reserve,
                   "moved": move, "reserve_after": after, "reserve_share_after": after / risk.equity}
        reason = (f"equity {gain:+.1%} since {baseline:,.0f}: ring-fence {move:,.0f} USDT of profit as reserve "
                  f"({after / risk.equity:.0%} of equity)")
        await self._queue_proposal(self._policy.risk_proposal("reserve", orders, reason, numbers, self._state))
        return True

    async def _move_to_reserve(self, proposal: Proposal, key: str) -> None:
        moved = float(proposal.reason_numbers.get("moved", 0.0))
        self._reserve += moved
        self._reserve_baseline = self._risk().equity
        self._resize()  # the ring-fence lowers the aim at once, not at the next sizing round
        await self.journal.append(
            "reserve", {"amount": self._reserve, "moved": moved, "baseline": self._reserve_baseline, "key": key},
            account=self.account, proposal_id=proposal.id,
        )

    # ---- circuit breakers ----------------------------------------------------------------

    async def _check_breakers(self, risk) -> None:
        age = None if self._last_tick_wall is None else self._clock() - self._last_tick_wall
        account_age = getattr(self._venue, "account_age", None)  # a real account's reads (optional)
        trips = self._breakers.check(risk, now=self._clock(), market_time=self._market_time, price_age=age,
                                     account_age=account_age() if callable(account_age) else None)
        for trip in trips:
            await self._on_trip(trip)
        await self._propose_for_breakers()

    async def _on_trip(self, trip: b.BreakerState) -> None:
        gate = b.gate_after_trip(self._gate, trip.breaker)
        actions = [] if gate is self._gate else [f"gate {gate.value}"]
        if trip.breaker != b.STALE_DATA:
            actions.append("proposal")
        action = ", ".join(actions) or "none"
        await self.journal.append(
            "breaker",
            {"breaker": trip.breaker, "subject": trip.subject, "status": "tripped",
             "value": trip.value, "threshold": trip.threshold, "action": action},
            account=self.account,
            symbol=trip.subject if trip.subject in self._state.marks else None,
        )
        if gate is not self._gate:
            await self._set_gate(gate, b.describe(trip), key=None)
        for proposal in [p for p in self._queue.pending() if p.kind == "rebalance"]:
            self._queue.take(proposal.id)
            await self._decide(proposal, "expire", "", f"withdrawn: breaker {trip.breaker} tripped")
        self._notice = f"BREAKER {b.describe(trip)}: {action}"

    def _breaker_orders(self, latch: b.BreakerState) -> tuple[tuple[Order, ...], str]:
        limits = self.config.breakers
        asset = latch.subject.split("/")[0]
        if latch.breaker == b.POSITION_DAY_LOSS:
            return cut_orders(self._state, limits.position_cut, [latch.subject]), f"cut {asset} {limits.position_cut:.0%}"
        if latch.breaker == b.FUNDING_EXTREME:
            return cut_orders(self._state, 1.0, [latch.subject]), f"exit {asset}"
        if latch.breaker == b.PORTFOLIO_DAY_LOSS:
            return cut_orders(self._state, limits.portfolio_cut), f"cut risk {limits.portfolio_cut:.0%}"
        if latch.breaker == b.CORRELATION_SPIKE:
            return cut_orders(self._state, limits.correlation_cut), f"de-leverage {limits.correlation_cut:.0%}"
        return (), ""  # stale data halts; it has nothing to propose

    async def _propose_for_breakers(self) -> None:
        # One pending proposal per tripped breaker. An expired one is made again at fresh prices
        # while the breaker still holds; a vetoed one is not, until a person re-arms the breakers.
        if self._gate is Gate.HALTED or self._decisions.locked():
            return
        for key, latch in self._breakers.latches.items():
            if latch.status is not b.BreakerStatus.TRIPPED or key in self._breaker_vetoed:
                continue
            if self._queue.get(self._breaker_proposals.get(key, "")) is not None:
                continue
            orders, what = self._breaker_orders(latch)
            if not orders:
                continue
            numbers = {"value": latch.value or 0.0, "threshold": latch.threshold}
            proposal = self._policy.risk_proposal(
                "breaker", orders, f"{what}: {b.describe(latch)}", numbers, self._state
            )
            await self.journal.append("proposal", proposal_payload(proposal), account=self.account, proposal_id=proposal.id)
            self._queue.add(proposal)
            self._breaker_proposals[key] = proposal.id

    # ---- forecasts -----------------------------------------------------------------------

    async def _propose_volatility_cuts(self) -> None:
        # A held asset whose volatility score reaches the cut level gets one proposal to cut it.
        # Vetoed, it is not asked again until the score falls 10 points below the level.
        limits = self.config.models
        if self._gate is Gate.HALTED or self._decisions.locked():
            return
        for symbol, position in self._state.positions.items():
            score = self._forecasts.score(symbol)
            if not score >= limits.score_cut - 10.0:
                self._score_vetoed.discard(symbol)
            if not score >= limits.score_cut or position.quantity == 0 or symbol in self._score_vetoed:
                continue
            if self._queue.get(self._score_cuts.get(symbol, "")) is not None:
                continue
            orders = cut_orders(self._state, limits.score_cut_fraction, [symbol])
            if not orders:
                continue
            sigma = self._forecasts.sigma_4h(symbol) or math.nan
            reason = (f"cut {symbol.split('/')[0]} {limits.score_cut_fraction:.0%}: volatility score "
                      f"{score:.0f} >= {limits.score_cut:.0f} (4h sigma {sigma:.2%})")
            numbers = {"volatility_score": score, "score_cut": limits.score_cut, "sigma_4h": sigma}
            proposal = self._policy.risk_proposal("volatility", orders, reason, numbers, self._state)
            await self._queue_proposal(proposal)
            self._score_cuts[symbol] = proposal.id

    async def _check_drift(self) -> None:
        raised, cleared = self._drift.check(self._forecasts.model_drift())
        for text in raised:
            await self.journal.append("model", {"event": "drift", "status": "raised", "text": text}, account=self.account)
            self._notice = f"DRIFT {text}"
        for text in cleared:
            await self.journal.append("model", {"event": "drift", "status": "cleared", "text": text}, account=self.account)

    async def override_regime(self, regime: str | None, *, key: str) -> str:
        """Sets (or with None clears) the trader's regime, which sizing uses instead of the
        learned one until cleared; journals it and resizes at once. Returns a one-line outcome."""
        if regime is not None and regime not in REGIMES:
            return self._say(f"unknown regime {regime!r}: choose {', '.join(REGIMES)}")
        async with self._decisions:
            if regime == self._forecasts.override:
                return self._say(f"regime override already {regime or 'clear'}")
            self._forecasts.override = regime
            await self.journal.append("model", {"event": "regime_override", "regime": regime, "key": key},
                                      account=self.account)
            self._resize()
            self._policy.check_soon()
            if regime is None:
                return self._say("regime override cleared: the models decide again")
            return self._say(f"regime override: {regime} until cleared (sizing x{self._sizing.decision.regime_multiplier:.2f})"
                             if self._sizing else f"regime override: {regime} until cleared")

    # ---- commands ------------------------------------------------------------------------

    def _pretrade_denial(self, orders: tuple[Order, ...]) -> str | None:
        if self._stale():
            age = self._clock() - (self._last_tick_wall or 0.0)
            return f"DENIED stale_data age={age:.0f}s > {self.config.market.stale_after_seconds:.0f}s"
        # An order whose outcome is unknown may have filled: the book this proposal was sized on
        # may already hold it, and adding to it could double the exposure. Reductions still go.
        unknown = getattr(self._venue, "unresolved", 0)
        if unknown and not all(order.reduce_only for order in orders):
            return f"DENIED unresolved_orders={unknown}: an earlier order's outcome is unknown; approve again once it is known"
        return pretrade_denial(
            self._state, orders, gate=self._gate, limits=self._limits, rate_limiter=self._rate_limiter
        )

    async def _decide(self, proposal: Proposal, decision: str, key: str, note: str = "") -> int:
        return await self.journal.append(
            "decision", {"decision": decision, "key": key, "note": note}, account=self.account, proposal_id=proposal.id
        )

    async def approve(self, proposal_id: str, *, key: str = "a") -> str:
        """Re-checks and executes a pending proposal; returns a one-line outcome for the screen."""
        async with self._decisions:
            proposal = self._queue.take(proposal_id)
            if proposal is None:
                return self._say(f"{proposal_id} is no longer pending")
            expired = expiry_reason(
                proposal, now=self._clock(), marks=self._state.marks, max_price_move=self.config.proposals.max_price_move
            )
            if expired:
                await self._decide(proposal, "expire", "", expired)
                return self._say(f"{proposal.id} expired before approval ({expired})")
            decision_seq = await self._decide(proposal, "approve", key)
            if not proposal.orders and proposal.kind == "reserve":
                await self._move_to_reserve(proposal, key)
                return self._say(f"{proposal.id} approved: reserve now {self._reserve:,.0f} USDT")
            denial = self._pretrade_denial(proposal.orders)
            if denial:
                await self.journal.append("denied", {"reason": denial}, account=self.account, proposal_id=proposal.id)
                return self._say(f"{proposal.id} {denial}")
            self._publish()
            self._rate_limiter.record(trading_orders(proposal.orders))
            execution = await self._executor.execute(proposal.orders, decision_seq=decision_seq, proposal_id=proposal.id,
                                                     may_send=self._gate_still_allows)
            self._refresh_account()
            if proposal.kind == "reserve":
                # The ring-fence holds even if a trim failed: the next rebalance sizes on it.
                await self._move_to_reserve(proposal, key)
            return self._say(f"{proposal.id} approved: {execution.summary()}")

    # ---- sizes a person types (cockpit/engine/order_desk.py) -------------------------------

    def preview(self, orders: Sequence[Order]) -> TradePreview:
        """Returns what `orders` would do at the current marks: risk before and after, weights,
        cost, and the first pre-trade denial now (stale prices and the gate included; the order
        rate is checked on approval). Pure arithmetic: nothing is journaled or sent."""
        preview = preview_orders(self._state, orders, limits=self._limits, gate=self._gate,
                                 target_leverage=self._sized_aim)
        if orders and self._stale():
            age = self._clock() - (self._last_tick_wall or 0.0)
            preview = replace(preview, denial=f"DENIED stale_data age={age:.0f}s > {self.config.market.stale_after_seconds:.0f}s")
        return preview

    def target_weights(self) -> dict[str, float]:
        """Returns the weights the rebalancer aims for now (fractions of levered capital, signed;
        the hedge leg included), the ones TradePreview's weights compare with."""
        return self._targets(self._sized_aim)

    def proposal(self, proposal_id: str) -> Proposal | None:
        """Returns the pending proposal with that id (edited, if it was), or None."""
        return self._queue.get(proposal_id)

    def as_proposed(self, proposal_id: str) -> Proposal | None:
        """Returns a pending proposal as the cockpit made it, before any edit, or None."""
        pending = self._queue.get(proposal_id)
        return None if pending is None else self._as_proposed.get(proposal_id, pending)

    def edited_orders(self, proposal_id: str, scale: float) -> tuple[Order, ...]:
        """Returns the orders of the pending proposal as proposed, x `scale` (a factor > 0 of the
        proposal as the cockpit made it, so x1 restores it), with fresh protective stops. Raises
        OrderSizeError (one line) for a bad scale, a proposal gone, or orders that round to nothing."""
        proposal = self.as_proposed(proposal_id)
        if proposal is None:
            raise OrderSizeError(f"{proposal_id} is no longer pending")
        if not any(order.order_type != "stop_market" for order in proposal.orders):
            raise OrderSizeError(f"{proposal_id} has no orders to size")
        return edited_orders(self._state, proposal, scale, self._stop_sigmas(proposal.orders), self.config)

    def _stop_sigmas(self, orders: Sequence[Order]) -> dict[str, float | None]:
        return {order.symbol: self.sigma_4h(order.symbol) for order in orders}

    def sigma_4h(self, symbol: str) -> float | None:
        """Returns the 4h volatility (fraction) stops are sized with: the forecast in use, else the
        realized one the breakers remember, else None."""
        return self._forecasts.sigma_4h(symbol) or self._breakers.sigma_4h(symbol)

    async def edit(self, proposal_id: str, scale: float, *, key: str = "e") -> str:
        """Resizes a pending proposal to `scale` x its orders as proposed, after the same
        pre-trade checks as an approval (a size they refuse changes nothing and journals nothing);
        journals the edit as a DECISION row (decision "edit", original and edited orders) and
        leaves the edited proposal pending: it still needs an approval. Returns a one-line outcome."""
        async with self._decisions:
            original = self.as_proposed(proposal_id)
            if original is None:
                return self._say(f"{proposal_id} is no longer pending")
            try:
                orders = self.edited_orders(proposal_id, scale)
            except OrderSizeError as problem:
                return self._say(f"{proposal_id} edit refused: {problem}; the proposal is unchanged")
            preview = self.preview(orders)
            if preview.denial:
                return self._say(f"{proposal_id} edit refused: {preview.denial}; the proposal is unchanged")
            note = describe_edit(original.orders, orders, scale)
            await self.journal.append(
                "decision",
                {"decision": "edit", "key": key, "note": note, "scale": scale,
                 "original": order_rows(original.orders), "edited": order_rows(orders)},
                account=self.account, proposal_id=proposal_id,
            )
            self._as_proposed = {pid: p for pid, p in self._as_proposed.items() if self._queue.get(pid) is not None}
            self._as_proposed.setdefault(proposal_id, original)
            self._queue.add(replace(
                self._queue.get(proposal_id) or original, orders=orders, estimated_cost=preview.estimated_cost,
                leverage_after=preview.leverage_after, liquidation_distance_after=preview.liquidation_distance_after,
                reason=f"{original.reason}; size edited x{scale:g} by the trader",
                reason_numbers={**original.reason_numbers, "edit_scale": scale},
            ))
            return self._say(f"{proposal_id} edited {note} · lev→ {preview.leverage_after:.2f}x · a approves")

    def manual_orders(self, symbol: str, side: str, *, quantity: float | None = None, notional: float | None = None,
                      reduce_only: bool = False) -> tuple[Order, ...]:
        """Returns the market order a person typed (quantity in base units or notional in USDT,
        rounded down to the step) and, unless reduce-only, its protective stop. Raises
        OrderSizeError (one line) for an unknown symbol, a bad side or size, or no mark yet."""
        return manual_orders(self._state, symbol, side, quantity=quantity, notional=notional,  # type: ignore[arg-type]
                             reduce_only=reduce_only, sigmas={symbol: self.sigma_4h(symbol)}, config=self.config)

    async def propose_manual(self, symbol: str, side: str, *, quantity: float | None = None,
                             notional: float | None = None, reduce_only: bool = False) -> str:
        """Queues a manual order as a proposal of kind "manual" (journaled like any proposal),
        after the same pre-trade checks as an approval: a refused one is not queued and journals
        nothing. Nothing is sent: it waits for an approval like every proposal. Returns a
        one-line outcome."""
        async with self._decisions:
            try:
                orders = self.manual_orders(symbol, side, quantity=quantity, notional=notional, reduce_only=reduce_only)
            except OrderSizeError as problem:
                return self._say(f"manual order refused: {problem}; nothing was proposed")
            preview = self.preview(orders)
            if preview.denial:
                return self._say(f"manual order refused: {preview.denial}; nothing was proposed")
            order = orders[0]
            mark = self._state.marks[order.symbol]
            numbers = {"notional": order.quantity * mark, "mark": mark,
                       "leverage_before": preview.leverage_before, "leverage_after": preview.leverage_after}
            what = f"{order.side} {order.quantity:g} {order.symbol.split('/')[0]}" + (" reduce-only" if order.reduce_only else "")
            proposal = self._policy.risk_proposal("manual", orders, f"typed by the trader: {what}", numbers, self._state)
            await self._queue_proposal(proposal)
            return self._say(f"{proposal.id} manual {what} queued: a approves it, v drops it")

    async def resting_stops(self) -> dict[str, Order]:
        """Returns the protective stop resting on each symbol, asked of the venue now (a live
        exchange: one request). Raises what the venue raises when it cannot answer."""
        return {order.symbol: order for order in await self._venue.open_orders() if order.order_type == "stop_market"}

    def pnl_history(self, symbol: str) -> PnlSeries:
        """Returns the unrealized PnL, mark and equity samples of `symbol` since this start."""
        return self._pnl_history.series(symbol)

    def _gate_still_allows(self, order: Order) -> str | None:
        """Returns why `order` may not leave now, or None. The gate can move while the earlier
        orders of an approved decision wait on the exchange (a timeout, a storm): HALTED lets only
        reduce-only orders go (a protective stop still protects what was bought), REDUCING only
        orders that shrink a position."""
        if self._gate is Gate.HALTED and not order.reduce_only:
            return "not sent: the gate went HALTED while this decision's orders were going out"
        if self._gate is Gate.REDUCING:
            denial = check_gate(self._gate, self._state, (order,))
            return f"not sent: the gate went REDUCING meanwhile ({denial})" if denial else None
        return None

    async def veto(self, proposal_id: str, *, key: str = "v") -> str:
        """Drops a pending proposal and remembers it; returns a one-line outcome."""
        async with self._decisions:
            proposal = self._queue.take(proposal_id)
            if proposal is None:
                return self._say(f"{proposal_id} is no longer pending")
            await self._decide(proposal, "veto", key)
            self._queue.remember_veto(proposal, self.snapshot.drift)
            if proposal.kind == "reserve":
                self._reserve_baseline = self._risk().equity  # ask again only after another full trigger
                await self.journal.append(
                    "reserve", {"amount": self._reserve, "moved": 0.0, "baseline": self._reserve_baseline, "key": key},
                    account=self.account, proposal_id=proposal.id,
                )
            self._breaker_vetoed.update(k for k, pid in self._breaker_proposals.items() if pid == proposal.id)
            self._score_vetoed.update(s for s, pid in self._score_cuts.items() if pid == proposal.id)
            return self._say(f"{proposal.id} vetoed; nothing identical until drift moves")

    async def toggle_mode(self, *, key: str = "m") -> str:
        """Switches continuous <-> interval rebalancing; returns a one-line outcome."""
        async with self._decisions:
            mode = self._policy.toggle(self._market_time)
            await self.journal.append(
                "mode",
                {"mode": mode.value, "interval_hours": self.config.rebalance.interval_hours, "key": key},
                account=self.account,
            )
            return self._say(f"rebalancing: {mode.value}")

    async def _set_gate(self, gate: Gate, reason: str, key: str | None) -> None:
        previous, self._gate = self._gate, gate
        await self.journal.append(
            "gate", {"from": previous.value, "to": gate.value, "reason": reason, "key": key}, account=self.account
        )

    async def flatten(self, *, key: str = "F", origin: str = "tui") -> FlattenReport:
        """Cancels, halts, closes every position reduce-only and verifies; returns the report."""
        async with self._decisions:
            for proposal in self._queue.clear():
                await self._decide(proposal, "expire", "", "withdrawn by flatten")
            report = await flatten_all(
                venue=self._venue,
                journal=self.journal,
                executor=self._executor,
                account=self.account,
                key=key,
                origin=origin,
                halt=lambda reason: self._set_gate(Gate.HALTED, reason, key),
            )
            self._refresh_account()
            self._say(report.summary())
            return report

    async def resume(self, *, key: str) -> str:
        """Re-arms every breaker and moves the gate back to ACTIVE after a person confirmed it;
        returns a one-line outcome."""
        async with self._decisions:
            engaged = self._breakers.reset()
            self._breaker_vetoed.clear()
            for latch in engaged:
                await self.journal.append(
                    "breaker",
                    {"breaker": latch.breaker, "subject": latch.subject, "status": "reset",
                     "value": latch.value, "threshold": latch.threshold, "action": "re-armed", "key": key},
                    account=self.account,
                )
            if self._gate is Gate.ACTIVE and not engaged:
                return self._say("gate already ACTIVE, no breaker to re-arm")
            if self._gate is not Gate.ACTIVE:
                await self._set_gate(Gate.ACTIVE, "resumed by trader", key)
            self._policy.check_soon()
            rearmed = f", {len(engaged)} breaker(s) re-armed" if engaged else ""
            return self._say(f"gate ACTIVE{rearmed}: proposals resume")

    async def _serve_remote_flatten(self) -> None:
        # `cockpit flatten` in another shell writes a remote request; this engine owns the account.
        requests = await self.journal.entries(kinds=["flatten"], account=self.account, after_seq=self._remote_seen_seq)
        for entry in requests:
            self._remote_seen_seq = max(self._remote_seen_seq, entry.seq)
            if entry.payload.get("step") == "remote_request":
                await self.flatten(key="cockpit flatten", origin=f"cli:{entry.seq}")

    async def stop(self, reason: str) -> None:
        """Journals the stop and closes the price source. Pending proposals simply lapse."""
        try:
            # The last prices, so a restart (or `cockpit flatten`) values the account exactly.
            await self.journal.append("marks", {"prices": dict(self._state.marks)}, account=self.account)
            await self.journal.append("stop", {"reason": reason}, account=self.account)
        finally:
            await self._source.close()
            close_venue = getattr(self._venue, "close", None)  # a real account's client (optional)
            if callable(close_venue):
                await close_venue()

    def ignore_remote_requests_before(self, seq: int) -> None:
        """Marks journal rows up to `seq` as seen, so old remote flatten requests are not replayed."""
        self._remote_seen_seq = seq

    def _refresh_account(self) -> None:
        balance, positions = self._venue.account()
        self._state = self._state.with_account(balance, positions)
        self._publish()

    def announce(self, text: str) -> None:
        """Shows `text` on the screen's notice line."""
        self._publish(text)

    def _say(self, text: str) -> str:
        self._publish(text)
        return text
