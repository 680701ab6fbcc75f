"""Where the exchange reports a liquidation price, the positions table shows it beside ours and a
gap beyond 0.5 % is flagged and journaled once. The paper venue reports none; here it is wrapped
to report what an exchange would (the only stand-in: the exchange itself)."""

from __future__ import annotations

from dataclasses import replace

from textual.widgets import DataTable

from tests.support import BTC, T0, config, tick
from tests.tui.test_app import journal_rows, make_app, until

# One BTC position at ~2.9x, so it has a liquidation price of its own.
LEVERED = config(portfolio={"targets": {"BTC": 1.0}, "target_leverage": 2.9}, limits={"max_asset_exposure": 3.0},
                 sizing={"regime_aware": False, "target_volatility": 10.0})


def report_liquidation_prices(venue, reported: dict[str, float]) -> None:
    """Makes `venue.account()` carry `reported` (USDT) as the exchange's liquidation prices."""
    original = venue.account

    def account():
        balance, positions = original()
        return balance, {s: replace(p, exchange_liquidation_price=reported.get(s)) for s, p in positions.items()}

    venue.account = account


def liquidation_cell(app, base: str) -> str:
    table = app.query_one("PositionsTable", DataTable)
    rows = [table.get_row_at(row) for row in range(table.row_count)]
    return next(str(values[7]) for values in rows if str(values[0]) == base)


async def test_both_liquidation_prices_are_shown_and_a_gap_is_flagged_once(tmp_path):
    app, source = make_app(tmp_path, cfg=LEVERED)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.engine is not None)
        source.push(tick(BTC, 60_000.0))
        await until(pilot, lambda: app.engine.snapshot.proposals)
        await pilot.pause(0.3)  # one refresh of the screen, so the proposal is on it to approve
        await pilot.press("a")
        await until(pilot, lambda: BTC in app.engine.snapshot.state.positions)
        ours = app.engine.snapshot.risk.position(BTC).liquidation_price
        assert ours > 0

        report_liquidation_prices(app.engine._venue, {BTC: ours * 1.002})  # within 0.5 %: they agree
        source.push(tick(BTC, 60_000.0, T0 + 1))
        await until(pilot, lambda: app.engine.snapshot.state.positions[BTC].exchange_liquidation_price is not None)
        await pilot.pause(0.4)
        assert liquidation_cell(app, "BTC") == f"{ours:,.0f} = {ours * 1.002:,.0f}"

        report_liquidation_prices(app.engine._venue, {BTC: ours * 1.02})  # 2 % apart: flagged
        for second in (2, 3, 4):
            source.push(tick(BTC, 60_000.0, T0 + second))
        await until(pilot, lambda: "≠" in liquidation_cell(app, "BTC"))
        assert liquidation_cell(app, "BTC") == f"{ours:,.0f} ≠ {ours * 1.02:,.0f}!"
        assert "liquidation price: ours" in app.engine.snapshot.notice
    notes = [row.payload["text"] for row in await journal_rows(tmp_path, "note") if "liquidation price" in row.payload["text"]]
    assert len(notes) == 1 and "apart > 0.50%" in notes[0]  # once, not on every tick
