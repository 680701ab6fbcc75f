"""The per-update risk recompute, vectorized: one price in, the whole book's risk out.

`assess` (cockpit.domain.risk) walks the positions in Python; that is clear but costs ~8 µs per
position per tick. A `RiskBook` is built once from a `State` (and the target weights) into numpy
arrays, one row per open position in symbol order, and each tick only writes one mark and reruns
a fixed sequence of array operations. It reproduces, field by field:

- `assess`: notional, unrealized PnL, equity, gross / net notional, effective leverage (0.0 flat,
  inf when equity <= 0 with positions), tiered maintenance margin, margin ratio, and each
  position's liquidation price with the exact rules of `liquidation_price_tiered` (cross
  positions backed by the cross wallet with the other cross positions' maintenance and PnL,
  isolated ones by their own margin; the self-consistent bracket, else the nearest one; the same
  clamping) and liquidation distance;
- `weight_drift` (cockpit.domain.rebalance): current weight - target weight per symbol;
- the day return per position against a reference mark (the price 24h ago), the input of the
  position day-loss breaker.

Rebuild the book (`RiskBook.from_state`) whenever positions, the wallet, instruments, targets or
the target leverage change; `matches(state)` tells whether the account is still the one it was
built from. Marks missing or not positive fall back to the entry price, as in `assess`.

Units: money in USDT, quantities in base units, leverage as a multiple of equity, distances,
returns, weights and drift as fractions.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from cockpit.domain.liquidation import SHORT_LIQUIDATED_AT_ANY_PRICE, normalize_tiers
from cockpit.domain.risk import PositionRisk, RiskSnapshot, tiers_for
from cockpit.domain.types import MaintenanceTier, State

_INF = math.inf
_TINY_EQUITY = 1e-200  # USDT; below it, notional / equity may overflow a float


def _padded_tiers(tables: list[tuple[MaintenanceTier, ...]], sizes: np.ndarray, directions: np.ndarray):
    """Per-position bracket tables as (rows x widest table) arrays.

    Returns (lows, highs, rates, cums, real, denominators). A bracket holds notional in
    [low, high): the first bracket's low is -inf (so "no positive root" is found there, and a
    notional below the first floor still uses it) and the last real bracket's high is +inf.
    Padding brackets get low = +inf and a NaN denominator, so they are never chosen.
    """
    rows, width = len(tables), max((len(t) for t in tables), default=1)
    lows = np.full((rows, width), _INF)
    highs = np.full((rows, width), _INF)
    rates = np.zeros((rows, width))
    cums = np.zeros((rows, width))
    real = np.zeros((rows, width), dtype=bool)
    for row, table in enumerate(tables):
        count = len(table)
        floors = [tier.min_notional for tier in table]
        lows[row, :count] = [-_INF] + floors[1:]
        highs[row, : count - 1] = floors[1:]
        rates[row, :count] = [tier.maintenance_margin_rate for tier in table]
        cums[row, :count] = [tier.maintenance_amount for tier in table]
        real[row, :count] = True
    # The same operation order as liquidation._raw_price, so every bracket's root is bit-identical.
    denominators = sizes[:, None] * rates - (directions * sizes)[:, None]
    denominators = np.where(real & (denominators != 0), denominators, np.nan)
    return lows, highs, rates, cums, real, denominators


class RiskBook:
    """The account's risk as arrays, kept current one price at a time. Build with `from_state`.

    Per-position arrays (one row per open position, in the order of `symbols`): `marks`,
    `notionals`, `unrealized_pnls`, `maintenance_margins`, `liquidation_prices`,
    `liquidation_distances`, `day_returns`. Account figures: `equity`, `unrealized_pnl`,
    `gross_notional`, `net_notional`, `effective_leverage`, `maintenance_margin`, `margin_ratio`,
    `nearest_liquidation_distance`. Treat the arrays as read-only: `marks` is written in place by
    `update`, the others are replaced by each recompute, so a reference kept across ticks goes stale.
    """

    @classmethod
    def from_state(
        cls,
        state: State,
        targets: Mapping[str, float] | None = None,
        target_leverage: float = 1.0,
        reference_marks: Mapping[str, float] | None = None,
    ) -> "RiskBook":
        """Returns a book for `state`'s account at its marks. `targets` are target weights as
        fractions of levered capital (target_leverage * equity); `reference_marks` are the prices
        24h ago (USDT) the day returns are measured from. Raises ValueError for a target leverage
        that is not a positive number."""
        if not (target_leverage > 0 and math.isfinite(target_leverage)):
            raise ValueError(f"target leverage must be a positive number, not {target_leverage!r}")
        return cls(state, dict(targets or {}), float(target_leverage), reference_marks or {})

    def __init__(self, state: State, targets: dict[str, float], target_leverage: float,
                 reference_marks: Mapping[str, float]) -> None:
        held = [s for s in sorted(state.positions) if state.positions[s].quantity != 0]
        positions = [state.positions[s] for s in held]
        self.symbols: tuple[str, ...] = tuple(held)
        self._row = {symbol: row for row, symbol in enumerate(held)}
        self._source = (state.balance, dict(state.positions), state.instruments)
        self._tiers = [tiers_for(state, s) for s in held]

        self.quantities = np.array([p.quantity for p in positions], dtype=float)
        self._sizes = np.abs(self.quantities)
        self._directions = np.where(self.quantities > 0, 1.0, -1.0)
        self.entry_prices = np.array([p.entry_price for p in positions], dtype=float)
        self._signed_costs = self._directions * self._sizes * self.entry_prices
        self._isolated = np.array([p.margin_mode == "isolated" for p in positions], dtype=bool)
        self._isolated_margins = np.array([p.isolated_margin for p in positions], dtype=float)
        self._cross_weight = np.where(self._isolated, 0.0, 1.0)
        self._any_isolated = bool(self._isolated.any())
        self._short = self._directions < 0
        # Below a zero or negative raw root a long cannot be liquidated (0.0); a short is
        # liquidated at any price (the smallest positive price, so its distance reads 0).
        self._no_root_price = np.where(self._short, SHORT_LIQUIDATED_AT_ANY_PRICE, 0.0)

        self.wallet = float(state.balance.wallet)
        locked = 0.0
        for position in positions:  # summed in assess's order, so the cross wallet is bit-identical
            if position.margin_mode == "isolated":
                locked += position.isolated_margin
        self._cross_wallet = self.wallet - locked

        (self._lows, self._highs, self._rates, self._cums, self._real,
         self._denominators) = _padded_tiers([normalize_tiers(t) for t in self._tiers],
                                             self._sizes, self._directions)
        width = self._lows.shape[1]
        self._row_starts = np.arange(len(held)) * width
        self._rates_flat = self._rates.ravel()
        self._cums_flat = self._cums.ravel()
        self._entry_unusable = not bool(np.all(self.entry_prices > 0))

        # Drift rows: held symbols first (their weight moves), then target-only or flat symbols.
        rest = sorted((set(targets) | set(state.positions)) - set(held))
        self.drift_symbols: tuple[str, ...] = tuple(held) + tuple(rest)
        self._drift_order = np.argsort(np.array(self.drift_symbols, dtype=object), kind="stable")
        self._target_leverage = target_leverage
        self._held_targets = np.array([float(targets.get(s, 0.0)) for s in held], dtype=float)
        self._rest_drift = np.array([0.0 - float(targets.get(s, 0.0)) for s in rest], dtype=float)
        self._drift_undefined_when_bust = bool(state.positions)  # as weight_drift: NaN iff any entry

        self.marks = np.array([_usable(state.marks.get(s), p.entry_price) for s, p in zip(held, positions)],
                              dtype=float)
        self._set_reference(reference_marks, recompute=False)
        self._recompute()

    # ---- feeding it -------------------------------------------------------------------------

    def matches(self, state: State) -> bool:
        """Returns True when `state` holds the same wallet, positions and tiers the book was built
        from (marks may differ), i.e. no rebuild is needed. O(positions), identity first."""
        balance, positions, instruments = self._source
        if state.balance is not balance and state.balance != balance:
            return False
        if len(state.positions) != len(positions):
            return False
        for symbol, position in positions.items():
            other = state.positions.get(symbol)
            if other is not position and other != position:
                return False
        if state.instruments is instruments:
            return True
        return all(tiers_for(state, s) == t for s, t in zip(self.symbols, self._tiers))

    def update(self, symbol: str, price: float) -> bool:
        """Marks `symbol` at `price` (USDT) and recomputes the whole book. Returns False (and does
        nothing) when the book holds no position in `symbol`. A price that is not positive values
        the position at its entry price, as `assess` does."""
        row = self._row.get(symbol)
        if row is None:
            return False
        self.marks[row] = price if price > 0 else self.entry_prices[row]
        self._recompute()
        return True

    def set_marks(self, marks: Mapping[str, float]) -> None:
        """Marks every held symbol found in `marks` (USDT), then recomputes once."""
        for symbol, price in marks.items():
            row = self._row.get(symbol)
            if row is not None:
                self.marks[row] = price if price > 0 else self.entry_prices[row]
        self._recompute()

    def set_reference_marks(self, reference_marks: Mapping[str, float]) -> None:
        """Replaces the prices 24h ago (USDT) the day returns are measured from; a symbol without
        a positive one gets a NaN day return."""
        self._set_reference(reference_marks, recompute=True)

    def _set_reference(self, reference_marks: Mapping[str, float], recompute: bool) -> None:
        self._reference = np.array([_usable(reference_marks.get(s), math.nan) for s in self.symbols],
                                   dtype=float)
        if recompute:
            self.day_returns = self._directions * (self.marks - self._reference) / self._reference

    # ---- the hot path -----------------------------------------------------------------------

    def _recompute(self) -> None:
        marks, sizes = self.marks, self._sizes
        if not len(marks):
            self._recompute_flat()
            return
        notionals = sizes * marks
        signed_notionals = self.quantities * marks
        upnls = self.quantities * (marks - self.entry_prices)
        # Current bracket: the last one whose floor is <= notional (the first one's floor is -inf).
        bracket = (self._lows <= notionals[:, None]).sum(axis=1) + (self._row_starts - 1)
        maintenance = notionals * self._rates_flat.take(bracket) - self._cums_flat.take(bracket)

        total_upnl = float(upnls.sum())
        equity = self.wallet + total_upnl
        # assess sums the cross figures one position at a time; accumulating the same way keeps
        # every liquidation price bit-identical instead of merely close.
        if self._any_isolated:
            cross_mm = np.cumsum(maintenance * self._cross_weight)[-1]
            cross_upnl = np.cumsum(upnls * self._cross_weight)[-1]
        else:
            cross_mm = np.cumsum(maintenance)[-1]
            cross_upnl = np.cumsum(upnls)[-1]
        backing = (self._cross_wallet - (cross_mm - maintenance)) + (cross_upnl - upnls)
        if self._any_isolated:
            backing = np.where(self._isolated, self._isolated_margins, backing)

        liquidation = self._liquidation_prices(backing)
        if self._entry_unusable:
            with np.errstate(divide="ignore", invalid="ignore"):
                distances = self._directions * (marks - liquidation) / marks
        else:
            distances = self._directions * (marks - liquidation) / marks
        np.maximum(distances, 0.0, out=distances)
        if self._some_without_root:  # only then can a short's price be 0.0: it cannot be liquidated
            distances[self._short & (liquidation == 0.0)] = _INF
        if self._entry_unusable:
            distances[~(marks > 0)] = 0.0  # no usable price at all: report the worst case

        self.notionals, self.unrealized_pnls = notionals, upnls
        self.maintenance_margins, self.liquidation_prices = maintenance, liquidation
        self.liquidation_distances = distances
        self.unrealized_pnl, self.equity = total_upnl, equity
        self.gross_notional = float(notionals.sum())
        self.net_notional = float(signed_notionals.sum())
        self.maintenance_margin = float(maintenance.sum())
        self.nearest_liquidation_distance = float(distances.min())
        if equity > 0:
            self.effective_leverage = self.gross_notional / equity
            self.margin_ratio = self.maintenance_margin / equity
            levered_capital = self._target_leverage * equity
            if equity > _TINY_EQUITY:
                self._held_drift = signed_notionals / levered_capital - self._held_targets
            else:  # weights overflow to inf; Python floats do that silently, so numpy should too
                with np.errstate(over="ignore"):
                    self._held_drift = signed_notionals / levered_capital - self._held_targets
        else:
            self.effective_leverage = _INF
            self.margin_ratio = _INF if self.maintenance_margin > 0 else 0.0
            self._held_drift = np.full(len(marks), math.nan)
        self.day_returns = self._directions * (marks - self._reference) / self._reference

    def _liquidation_prices(self, backing: np.ndarray) -> np.ndarray:
        """Every position's liquidation price (USDT), as liquidation_price_tiered would give it."""
        roots = ((backing[:, None] + self._cums) - self._signed_costs[:, None]) / self._denominators
        at_root = self._sizes[:, None] * roots  # notional at each bracket's root
        consistent = (self._lows <= at_root) & (at_root < self._highs)
        pick = consistent.argmax(axis=1) + self._row_starts  # the first self-consistent bracket
        chosen = roots.take(pick)
        found = consistent.take(pick)
        if not found.all():
            chosen = self._nearest_bracket(roots, at_root, found, chosen)
        prices = np.where(chosen > 0, chosen, self._no_root_price)
        finite = np.isfinite(chosen)
        self._some_without_root = not finite.all()
        if self._some_without_root:  # no usable root at all: "cannot be liquidated", 0.0
            prices[~finite] = 0.0
        return prices

    def _nearest_bracket(self, roots, at_root, found, chosen) -> np.ndarray:
        # Float rounding at a bracket edge left a row with no self-consistent bracket: take the
        # root landing nearest its own range, first one on a tie, as liquidation_price_tiered does.
        with np.errstate(invalid="ignore"):
            gaps = np.where(at_root < self._lows, self._lows - at_root, at_root - self._highs)
            candidate = self._real & ~np.isnan(roots) & (gaps < _INF)
        gaps = np.where(candidate, gaps, _INF)
        nearest = gaps.argmin(axis=1) + self._row_starts
        fallback = np.where(candidate.any(axis=1), roots.take(nearest), math.nan)
        return np.where(found, chosen, fallback)

    def _recompute_flat(self) -> None:
        empty = np.zeros(0)
        self.notionals = self.unrealized_pnls = self.maintenance_margins = empty
        self.liquidation_prices = self.liquidation_distances = self.day_returns = empty
        self._held_drift = empty
        self.unrealized_pnl = self.gross_notional = self.net_notional = 0.0
        self.maintenance_margin = self.effective_leverage = 0.0
        self.equity = self.wallet
        self.margin_ratio = 0.0
        self.nearest_liquidation_distance = _INF
        self._some_without_root = False

    # ---- what it says -----------------------------------------------------------------------

    @property
    def leverages(self) -> np.ndarray:
        """Returns each position's notional / equity (multiples of equity); inf when equity <= 0."""
        if self.equity > 0:
            with np.errstate(over="ignore"):
                return self.notionals / self.equity
        return np.full(len(self.symbols), _INF)

    @property
    def drifts(self) -> np.ndarray:
        """Returns current weight - target weight (weight points) per `drift_symbols` row: held
        symbols first, then target-only and flat ones. All NaN when equity <= 0 with positions."""
        if self.equity <= 0 and self._drift_undefined_when_bust:
            return np.full(len(self.drift_symbols), math.nan)
        return np.concatenate((self._held_drift, self._rest_drift))

    def drift(self) -> dict[str, float]:
        """Returns the drift per symbol in weight points, sorted by symbol: the same mapping
        `weight_drift(state, targets, target_leverage)` returns."""
        values = self.drifts[self._drift_order].tolist()
        return dict(zip((self.drift_symbols[i] for i in self._drift_order), values))

    def day_return(self) -> dict[str, float]:
        """Returns each position's return since its reference mark as a fraction of the position's
        value then, signed so a loss is negative (NaN without a reference), by symbol."""
        return dict(zip(self.symbols, self.day_returns.tolist()))

    # ---- breaker comparisons (the latching lives in cockpit.domain.breakers) ----------------

    def leverage_above(self, ceiling: float) -> bool:
        """Returns True when effective leverage (multiple of equity) is strictly above `ceiling`."""
        return self.effective_leverage > ceiling

    def liquidation_within(self, distance: float) -> bool:
        """Returns True when some position is strictly nearer than `distance` (fraction of its
        mark) to liquidation."""
        return self.nearest_liquidation_distance < distance

    def margin_ratio_above(self, limit: float) -> bool:
        """Returns True when maintenance margin / equity is strictly above `limit` (a fraction)."""
        return self.margin_ratio > limit

    def drift_breaches_band(self, band: float) -> bool:
        """Returns True when some |drift| is strictly above `band` (weight points), as
        `breaches_band`; NaN drift never breaches."""
        return bool((np.abs(self.drifts) > band).any())

    def positions_over_day_loss(self, threshold: float) -> tuple[str, ...]:
        """Returns the symbols whose day loss (a fraction of the position's value 24h ago, the
        `position_day_loss` breaker's value) is strictly above `threshold`; never one without a
        reference mark."""
        losing = np.flatnonzero(self.day_returns < -threshold)  # loss > t  <=>  return < -t
        return tuple(self.symbols[i] for i in losing)

    # ---- for the screen ---------------------------------------------------------------------

    def snapshot(self) -> RiskSnapshot:
        """Returns the same RiskSnapshot `assess` gives for the current marks (money in USDT)."""
        rows = zip(self.symbols, self.quantities.tolist(), self.entry_prices.tolist(),
                   self.marks.tolist(), self.notionals.tolist(), self.unrealized_pnls.tolist(),
                   self.leverages.tolist(), self.maintenance_margins.tolist(),
                   self.liquidation_prices.tolist(), self.liquidation_distances.tolist())
        positions = tuple(
            PositionRisk(symbol, "long" if quantity >= 0 else "short", quantity, entry, mark, notional,
                         upnl, leverage, maintenance, liquidation, distance)
            for symbol, quantity, entry, mark, notional, upnl, leverage, maintenance, liquidation, distance
            in rows
        )
        return RiskSnapshot(
            equity=self.equity,
            wallet=self.wallet,
            unrealized_pnl=self.unrealized_pnl,
            gross_notional=self.gross_notional,
            net_notional=self.net_notional,
            effective_leverage=self.effective_leverage,
            maintenance_margin=self.maintenance_margin,
            margin_ratio=self.margin_ratio,
            nearest_liquidation_distance=self.nearest_liquidation_distance,
            positions=positions,
        )


def _usable(price: float | None, fallback: float) -> float:
    """Returns `price` when it is a positive number, else `fallback`."""
    return float(price) if price is not None and price > 0 else float(fallback)
