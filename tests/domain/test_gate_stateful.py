"""The risk gate under thousands of random steps (hypothesis stateful testing).

The machine plays what the engine does with the pure pieces it is built from: prices move, orders
are approved through `pretrade_denial`, breakers read random figures and move the gate through
`gate_after_trip`, flatten closes everything, and a person resets. After every step:
- in HALTED no order passes (only cancels and flatten, which do not go through the checks);
- in REDUCING no approved order grows or flips a position;
- no approved order leaves leverage above the ceiling, unless it lowered leverage (an account
  pushed over the ceiling by prices must still be able to de-lever);
- a breaker that tripped stays engaged until a reset, and the gate is at least as strict as
  its trip asked.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from cockpit.domain import breakers as b
from cockpit.domain.cuts import cut_orders
from cockpit.domain.pretrade import OrderRateLimiter, PretradeLimits, pretrade_denial
from cockpit.domain.risk import assess, simulate_fills
from cockpit.domain.types import Balance, Gate, Order, Position, State
from cockpit.venues.instruments import DEFAULT_INSTRUMENTS

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
LIMITS = PretradeLimits(leverage_ceiling=3.0, max_order_notional=60_000, max_exposure_fraction=2.5)
STRICT = {Gate.ACTIVE: 0, Gate.REDUCING: 1, Gate.HALTED: 2}
BREAKERS = st.sampled_from(b.ALL_BREAKERS)
SEEN: Counter = Counter()  # (gate, outcome) counts, to see the machine reaches every corner


class GateMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.state = State(0.0, Balance(10_000.0), instruments=dict(DEFAULT_INSTRUMENTS)).with_marks(
            {BTC: 60_000.0, ETH: 3_000.0}, 0.0
        )
        self.gate = Gate.ACTIVE
        self.latches: dict = {}
        self.tripped_since_reset: dict[tuple[str, str], Gate] = {}
        self.limiter = OrderRateLimiter(lambda: self.now, LIMITS.max_orders_per_second)
        self.approved = 0

    @initialize(btc=st.floats(-0.4, 0.4), eth=st.floats(-6.0, 6.0), gate=st.sampled_from(list(Gate)))
    def open_book(self, btc, eth, gate):
        # Start from a held book in any gate, so every gate meets real positions early.
        positions = {BTC: Position(BTC, round(btc, 3), 60_000.0), ETH: Position(ETH, round(eth, 2), 3_000.0)}
        self.state = self.state.with_account(self.state.balance, positions)
        self.gate = gate

    @rule(symbol=st.sampled_from([BTC, ETH]), factor=st.floats(0.7, 1.3))
    def price_moves(self, symbol, factor):
        self.now += 1.0
        self.state = self.state.with_marks({symbol: self.state.marks[symbol] * factor}, self.now)

    @rule(symbol=st.sampled_from([BTC, ETH]), side=st.sampled_from(["buy", "sell"]),
          notional=st.floats(10, 40_000), reduce_only=st.booleans())
    def submit(self, symbol, side, notional, reduce_only):
        self.now += 0.3
        step = DEFAULT_INSTRUMENTS[symbol].step_size
        quantity = round(notional / self.state.marks[symbol] / step) * step
        if quantity <= 0:
            return
        self._try(Order(symbol, side, quantity, reduce_only=reduce_only))

    @precondition(lambda self: bool(self.state.positions))
    @rule(pick=st.integers(0, 1), fraction=st.floats(0.05, 1.6))
    def trade_against_a_position(self, pick, fraction):
        # Cuts, exact closes and flips: the orders REDUCING must sort out.
        self.now += 0.3
        symbol = sorted(self.state.positions)[pick % len(self.state.positions)]
        held = self.state.positions[symbol].quantity
        step = DEFAULT_INSTRUMENTS[symbol].step_size
        quantity = round(abs(held) * fraction / step) * step
        if quantity > 0:
            self._try(Order(symbol, "sell" if held > 0 else "buy", quantity))

    @precondition(lambda self: self.gate is Gate.REDUCING and bool(self.state.positions))
    @rule(pick=st.integers(0, 1), fraction=st.floats(0.05, 1.6))
    def trade_against_a_position_while_reducing(self, pick, fraction):
        self.trade_against_a_position(pick, fraction)

    def _try(self, order: Order) -> None:
        symbol = order.symbol
        before = assess(self.state)
        held_before = self.state.positions.get(symbol)
        denial = pretrade_denial(self.state, [order], gate=self.gate, limits=LIMITS, rate_limiter=self.limiter)
        SEEN[(self.gate.value, "denied" if denial else "approved")] += 1
        if denial is not None:
            assert denial.startswith("DENIED ")
            return
        assert self.gate is not Gate.HALTED, "an order passed a HALTED gate"
        self.limiter.record()
        self.state = simulate_fills(self.state, [order], slippage=LIMITS.slippage, fee_rate=LIMITS.fee_rate)
        self.approved += 1
        held_after = self.state.positions.get(symbol)
        q0 = held_before.quantity if held_before else 0.0
        q1 = held_after.quantity if held_after else 0.0
        if self.gate is Gate.REDUCING:
            assert abs(q1) <= abs(q0) + 1e-12 and q0 * q1 >= 0, (q0, q1)
        after = assess(self.state)
        assert (after.effective_leverage <= LIMITS.leverage_ceiling + 1e-9
                or after.effective_leverage < before.effective_leverage), (before.effective_leverage, after.effective_leverage)

    @rule()
    def portfolio_day_loss_trips(self):
        self.breaker_reads(b.PORTFOLIO_DAY_LOSS, b.PORTFOLIO, 0.5)

    @rule(breaker=BREAKERS, subject=st.sampled_from([b.PORTFOLIO, BTC]), value=st.floats(-0.2, 0.25))
    def breaker_reads(self, breaker, subject, value):
        self.now += 1.0
        threshold = 30.0 if breaker == b.STALE_DATA else 0.1
        reading = b.Reading(breaker, subject, value * (150 if breaker == b.STALE_DATA else 1), threshold)
        before = {key: latch.engaged for key, latch in self.latches.items()}
        self.latches, trips = b.advance(self.latches, [reading], self.now)
        for trip in trips:
            assert not before.get(trip.key, False), "an engaged breaker tripped twice"
            self.gate = b.gate_after_trip(self.gate, trip.breaker)
            self.tripped_since_reset[trip.key] = b.gate_after_trip(Gate.ACTIVE, trip.breaker)

    @rule()
    def flatten(self):
        orders = cut_orders(self.state, 1.0)
        self.state = simulate_fills(self.state, orders, slippage=LIMITS.slippage, fee_rate=LIMITS.fee_rate)
        assert not self.state.positions
        self.gate = Gate.HALTED

    @precondition(lambda self: self.gate is not Gate.ACTIVE or self.tripped_since_reset)
    @rule()
    def person_resets(self):
        self.latches = b.reset(self.latches)
        self.tripped_since_reset.clear()
        self.gate = Gate.ACTIVE

    @invariant()
    def breakers_latch_and_hold_the_gate(self):
        for key, demanded in self.tripped_since_reset.items():
            assert self.latches[key].engaged, f"{key} let go without a reset"
            assert STRICT[self.gate] >= STRICT[demanded]


TestGate = GateMachine.TestCase
TestGate.settings = settings(max_examples=100, stateful_step_count=80, deadline=None)
