"""The kinds of journal row and what each payload holds.

Every row also has the columns `ts` (seconds since the epoch, UTC), `account`, and where they apply
`symbol` (ccxt unified symbol), `proposal_id` and `client_order_id`; those are not repeated in the
payload. Money is USDT, quantities are base units and positive (`side` gives the direction),
rates are fractions (0.0001 = 0.01 %), timestamps are epoch seconds.

Non-finite floats are stored as the strings "inf", "-inf" and "nan" (never null, so "no value"
and "infinitely far" stay distinct); `float(payload[key])` turns them back into floats.

START         start         {version, source, config_hash, pid}
              The process started on this account. `source` is LIVE | PAPER | REPLAY | SYNTHETIC.
STOP          stop          {reason}
MODE          mode          {mode, interval_hours, key}
              Rebalancing switched to `mode` (continuous | interval) by keystroke `key`;
              `interval_hours` is null for continuous.
GATE          gate          {from, to, reason, key}
              Risk gate moved (ACTIVE | REDUCING | HALTED); `key` is null when a breaker moved it.
DEPOSIT       deposit       {amount}
              Cash added to the wallet (negative for a withdrawal), USDT.
PROPOSAL      proposal      {kind, orders: [{symbol, side, quantity, reduce_only}], reason,
                             reason_numbers, estimated_cost, leverage_after,
                             liquidation_distance_after, created_at, expires_at,
                             reference_prices}
              Row column proposal_id holds the proposal's id. `kind` is rebalance | breaker |
              volatility | reserve | manual (an order the trader typed: it waits for an
              approval like any other).
DECISION      decision      {decision: approve | veto | expire | edit, key, note
                             [, scale, original, edited]}
              A person's (or the clock's, for expire: key null) answer to proposal_id.
              edit: the trader resized the pending proposal (it stays pending; its approval
              is a later row): `scale` is the factor of the proposal as the cockpit made it,
              `original` and `edited` its orders before and after, each
              [{symbol, side, quantity, reduce_only, order_type[, stop_price]}], and `note`
              says it in one line ("x0.5: buy 0.166→0.083 BTC"). A bulk approve or veto writes
              one row per proposal with key A or V.
DENIED        denied        {reason}
              The pre-trade check refused an approved proposal or manual order, e.g.
              "DENIED: leverage 3.4 > 3.0 after fill".
ORDER         order         {side, quantity, reduce_only, order_type[, limit_price][, stop_price]}
              order_type is market | limit | stop_market (a protective stop, reduce-only).
              The intent, written and committed BEFORE the order is sent; client_order_id set.
              All intents of one decision are committed before its first order leaves.
ORDER_RESULT  order_result  {status: filled | rejected | unknown | open | cancelled, reason}
              What the venue answered; "unknown" is resolved later by querying, never re-sending.
              "not_sent": the exchange never received it (not found after the grace period);
              "lapsed": not sent, and its approval was too old to send after a restart.
              "open": a stop now rests on the venue; "cancelled": a resting stop was taken off
              (replaced by a new stop for the same position); its later FILL, if any, carries
              the same client_order_id.
FILL          fill          {side, quantity, price, fee, realized_pnl, liquidation, timestamp}
              An execution. `fee` >= 0 is paid; `realized_pnl` is before fees and informational
              (the rebuild recomputes it). A liquidation close is a fill with liquidation=true;
              its `fee` must include the clearance fee, because the rebuild folds fills only.
FUNDING       funding       {rate, amount, timestamp}
              Funding settled on `symbol`: amount > 0 received, < 0 paid.
LIQUIDATION   liquidation   {quantity, price, realized_pnl, clearance_fee}
              Informational record of a forced close; the money moves in its FILL row.
FLATTEN       flatten       {step: request | remote_request | cancel | gate | close | verify
                             | done, ...}
              Flatten-all progress; extra keys per step (e.g. cancelled, positions_left, key).
              remote_request is `cockpit flatten` from another process asking the running one.
BREAKER       breaker       {breaker, subject, status: tripped | reset, value, threshold, action[, key]}
              A circuit breaker tripped (with the reading that tripped it and what the engine
              did: gate move, proposal id) or a person re-armed it (`key` pressed). `subject` is
              a symbol or "portfolio"; units per breaker in cockpit/domain/breakers.py.
RESERVE       reserve       {amount, moved, baseline, key}
              The USDT reserve was set to `amount` (`moved` added by this step) after the
              trader approved proposal_id with `key`; a veto writes moved 0 and a new baseline. The reserve stays in the account (in cross
              margin it still backs positions) but is ring-fenced from sizing: the policy levers
              equity - reserve only. `baseline` is the equity the next profit trigger counts from.
MODEL         model         {event: fit | regime_override | drift, ...}
              fit: {text} what a refit did (models, bars, seconds, model in use, fallbacks).
              regime_override: {regime (null = cleared), key}: the trader's regime, used by
              sizing instead of the learned one until cleared.
              drift: {status: raised | cleared, text}: a drift monitor warning.
RECONCILE     reconcile     {agreed, differences: [text], found: [text], positions: {symbol: [quantity,
                             entry_price]}, orders: [{client_order_id, symbol, side, quantity,
                             order_type, reduce_only[, stop_price][, limit_price]}]}
              A real account compared with its exchange at start (cockpit/engine/reconcile.py):
              what was found and journaled while away, what still differed, and the exchange's
              positions and open orders, which are the journal's baseline from this row on.
MARKS         marks         {prices: {symbol: price}}
              Mark prices at a point in time, so a restart shows the last known marks.
NOTE          note          {text}
"""

from __future__ import annotations

from cockpit.domain.types import Fill, FundingPayment, Order, Proposal

START = "start"
STOP = "stop"
MODE = "mode"
GATE = "gate"
DEPOSIT = "deposit"
PROPOSAL = "proposal"
DECISION = "decision"
DENIED = "denied"
ORDER = "order"
ORDER_RESULT = "order_result"
FILL = "fill"
FUNDING = "funding"
LIQUIDATION = "liquidation"
FLATTEN = "flatten"
MARKS = "marks"
NOTE = "note"
BREAKER = "breaker"
RESERVE = "reserve"
MODEL = "model"
RECONCILE = "reconcile"

# Appending any other kind is refused, so a typo cannot create rows nothing will ever read.
ALL_KINDS: frozenset[str] = frozenset(
    {
        START, STOP, MODE, GATE, DEPOSIT, PROPOSAL, DECISION, DENIED, ORDER, ORDER_RESULT,
        FILL, FUNDING, LIQUIDATION, FLATTEN, MARKS, NOTE, BREAKER, RESERVE, MODEL, RECONCILE,
    }
)


def order_payload(order: Order) -> dict:
    """Returns the ORDER payload for `order` (quantity in base units, limit price in USDT)."""
    payload: dict = {
        "side": order.side,
        "quantity": order.quantity,
        "reduce_only": order.reduce_only,
        "order_type": order.order_type,
    }
    if order.limit_price is not None:
        payload["limit_price"] = order.limit_price
    if order.stop_price is not None:
        payload["stop_price"] = order.stop_price
    return payload


def proposal_payload(proposal: Proposal) -> dict:
    """Returns the PROPOSAL payload for `proposal` (its id goes in the proposal_id column)."""
    return {
        "kind": proposal.kind,
        "orders": [
            {
                "symbol": order.symbol,
                "side": order.side,
                "quantity": order.quantity,
                "reduce_only": order.reduce_only,
                "order_type": order.order_type,
                **({"stop_price": order.stop_price} if order.stop_price is not None else {}),
            }
            for order in proposal.orders
        ],
        "reason": proposal.reason,
        "reason_numbers": dict(proposal.reason_numbers),
        "estimated_cost": proposal.estimated_cost,
        "leverage_after": proposal.leverage_after,
        "liquidation_distance_after": proposal.liquidation_distance_after,
        "created_at": proposal.created_at,
        "expires_at": proposal.expires_at,
        "reference_prices": dict(proposal.reference_prices),
    }


def fill_payload(fill: Fill, realized_pnl: float) -> dict:
    """Returns the FILL payload for `fill` (symbol and client_order_id go in their columns)."""
    return {
        "side": fill.side,
        "quantity": fill.quantity,
        "price": fill.price,
        "fee": fill.fee,
        "realized_pnl": realized_pnl,
        "liquidation": fill.liquidation,
        "timestamp": fill.timestamp,
    }


def funding_payload(payment: FundingPayment) -> dict:
    """Returns the FUNDING payload for `payment` (symbol goes in its column)."""
    return {"rate": payment.rate, "amount": payment.amount, "timestamp": payment.timestamp}
