"""`cockpit status` for a real account: the exchange's balance, positions and open orders read
now, our liquidation price beside the exchange's, and the gate as the journal last recorded it.

It only reads: nothing is sent, set or journaled (the journal is opened read-only, if it exists).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cockpit.config import PASSPHRASE_EXCHANGES, Config
from cockpit.domain.risk import RiskSnapshot, assess
from cockpit.domain.scenarios import StressReport, scenarios_for, stress_report
from cockpit.domain.types import Gate, Order, State
from cockpit.engine.public_market import exchange_for, traded_symbols
from cockpit.engine.status import EmptyJournal, _finite, open_read_only, position_json, risk_json
from cockpit.journal import kinds
from cockpit.journal.errors import JournalError
from cockpit.venues.exchange_errors import ExchangeFailure


class LiveStatusError(RuntimeError):
    """Why the account could not be read, as one line."""


@dataclass(frozen=True)
class LiveStatus:
    """A real account as the exchange reports it now. USDT, epoch seconds, leverage x equity."""

    account: str
    where: str  # "binanceusdm testnet"
    read_at: float
    gate: Gate
    gate_reason: str
    risk: RiskSnapshot
    stress: StressReport
    exchange_liquidation: dict[str, float | None]  # what the exchange says, per symbol
    open_orders: tuple[Order, ...]
    leverage_ceiling: float

    def summary_lines(self) -> list[str]:
        """Returns the lines above the liquidation table."""
        risk = self.risk
        lines = [
            f"account {self.account} · {self.where} · read {time.strftime('%H:%M:%S UTC', time.gmtime(self.read_at))}",
            f"gate {self.gate.value}" + (f": {self.gate_reason}" if self.gate_reason else ""),
            f"wallet {risk.wallet:,.2f} · equity {risk.equity:,.2f} USDT · leverage {_x(risk.effective_leverage)} "
            f"(ceiling {self.leverage_ceiling:.2f}x)",
        ]
        for row in risk.positions:
            theirs = self.exchange_liquidation.get(row.symbol)
            if theirs:
                lines.append(f"{row.symbol.split('/')[0]}: exchange liquidation price {theirs:,.2f} (ours {row.liquidation_price:,.2f})")
        return lines

    def order_lines(self) -> list[str]:
        """Returns the open orders, one line each (or one line saying there are none)."""
        if not self.open_orders:
            return ["open orders: none"]
        lines = [f"open orders: {len(self.open_orders)}"]
        for order in self.open_orders:
            price = order.stop_price or order.limit_price
            at = f" {'stop' if order.stop_price else 'at'} {price:,.2f}" if price else ""
            flags = " reduce-only" if order.reduce_only else ""
            lines.append(f"  {order.client_order_id} {order.symbol} {order.side} {order.quantity:g} {order.order_type}{at}{flags}")
        return lines

    def to_json(self) -> dict[str, Any]:
        """Returns the status as plain JSON types (non-finite numbers as null)."""
        return {
            "account": self.account,
            "source": "LIVE",
            "exchange": self.where,
            "read_at": self.read_at,
            "gate": {"state": self.gate.value, "reason": self.gate_reason},
            **risk_json(self.risk, self.leverage_ceiling),
            "positions": [
                {**position_json(row), "exchange_liquidation_price": _finite(self.exchange_liquidation.get(row.symbol))}
                for row in self.risk.positions
            ],
            "open_orders": [
                {"client_order_id": o.client_order_id, "symbol": o.symbol, "side": o.side, "quantity": o.quantity,
                 "type": o.order_type, "reduce_only": o.reduce_only, "stop_price": o.stop_price, "limit_price": o.limit_price}
                for o in self.open_orders
            ],
        }


def _x(value: float) -> str:
    return f"{value:.2f}x" if math.isfinite(value) else "∞"


async def _journal_gate(path: Path, account: str) -> tuple[Gate, str]:
    if not path.exists():
        return Gate.ACTIVE, "no journal yet"
    try:
        journal = await open_read_only(path)
    except EmptyJournal:
        return Gate.ACTIVE, "no journal yet"
    async with journal:
        rows = await journal.entries(kinds=[kinds.GATE], account=account, newest_first=True, limit=1)
    if not rows:
        return Gate.ACTIVE, ""
    try:
        return Gate(rows[0].payload.get("to")), str(rows[0].payload.get("reason") or "")
    except ValueError:
        raise JournalError(f"journal row {rows[0].seq}: gate payload is unusable") from None


async def read_live_status(config: Config, journal_path: Path) -> LiveStatus:
    """Returns the configured real account as the exchange reports it now; raises
    LiveStatusError (one line) when keys are missing or the exchange cannot be read."""
    from cockpit.secrets import SecretsError, load_credentials

    settings = config.exchange
    try:
        credentials = load_credentials(settings.id, needs_passphrase=settings.id in PASSPHRASE_EXCHANGES)
    except SecretsError as error:
        raise LiveStatusError(str(error)) from None
    if credentials is None:
        raise LiveStatusError(f"no API key for {settings.id}: set COCKPIT_API_KEY and COCKPIT_API_SECRET, or use the OS keyring")
    exchange = exchange_for(config, credentials)
    try:
        instruments = await exchange.instruments(traded_symbols(config))
        symbols = list(instruments)
        balance, positions = await exchange.account(symbols)
        marks = {symbol: mark for symbol, (mark, _) in (await exchange.marks(symbols)).items()}
        orders = await exchange.open_orders(symbols)
    except ExchangeFailure as failure:
        raise LiveStatusError(f"{settings.id}: {failure}") from None
    finally:
        await exchange.close()
    gate, reason = await _journal_gate(journal_path, settings.account_name)
    now = time.time()
    state = State(now, balance, instruments=instruments).with_marks(marks, now).with_account(balance, positions)
    return LiveStatus(
        account=settings.account_name,
        where=f"{settings.id}{' testnet' if settings.testnet else ''}",
        read_at=now,
        gate=gate,
        gate_reason=reason,
        risk=assess(state),
        stress=stress_report(state, scenarios_for(state)),
        exchange_liquidation={s: p.exchange_liquidation_price for s, p in positions.items()},
        open_orders=tuple(orders),
        leverage_ceiling=config.portfolio.leverage_ceiling,
    )
