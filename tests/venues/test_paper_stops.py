"""Resting reduce-only stops on the paper venue: rest, trigger, clip, cancel, flatten, March 2020."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from cockpit.domain.liquidation import liquidation_price
from cockpit.domain.stops import protective_stop, stop_price
from cockpit.domain.types import Balance, Fill, FundingPayment, Order, Position, Tick
from cockpit.engine.executor import Executor
from cockpit.engine.flatten import flatten_all
from cockpit.journal.store import Journal
from cockpit.venues.base import Liquidation
from cockpit.venues.instruments import DEFAULT_INSTRUMENTS
from cockpit.venues.paper import PaperVenue
from cockpit.venues.replay import ReplaySource

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
NOW = 1_700_000_000.0


def venue(wallet: float = 10_000.0, positions=None, **kwargs) -> PaperVenue:
    paper = PaperVenue(DEFAULT_INSTRUMENTS, Balance(wallet), positions, clock=lambda: NOW, **kwargs)
    paper.set_marks({BTC: 60_000.0, ETH: 3_000.0})
    return paper


def long_btc(quantity: float = 0.1) -> PaperVenue:
    return venue(positions={BTC: Position(BTC, quantity, 60_000.0)})


def stop(symbol=BTC, side="sell", quantity=0.1, price=55_200.0, cid="s1") -> Order:
    return Order(symbol, side, quantity, reduce_only=True, order_type="stop_market",
                 client_order_id=cid, stop_price=price)


async def test_stop_rests_then_triggers_on_the_low():
    paper = long_btc()
    result = await paper.submit(stop())
    assert (result.status, result.fill, result.reason) == ("open", None, "")
    assert await paper.open_orders() == [stop()]
    assert paper.account() == (Balance(10_000.0), {BTC: Position(BTC, 0.1, 60_000.0)})

    # Low 55300 stays above the 55200 stop: nothing happens.
    assert paper.observe(Tick(BTC, NOW + 60, 56_000.0, 60_500.0, 55_300.0)) == []
    assert len(await paper.open_orders()) == 1

    # Low 55000 crosses it; the tick closes at 57000, above the stop, so the fill is at the stop:
    # 55200 * (1 - 0.0005) = 55172.4; fee 0.0005 * 0.1 * 55172.4 = 2.75862;
    # wallet 10000 + 0.1 * (55172.4 - 60000) - 2.75862 = 9514.48138.
    events = paper.observe(Tick(BTC, NOW + 120, 57_000.0, 57_500.0, 55_000.0))
    assert events == [Fill(BTC, "sell", 0.1, pytest.approx(55_172.4), pytest.approx(2.75862), NOW + 120, "s1")]
    balance, positions = paper.account()
    assert positions == {}
    assert balance.wallet == pytest.approx(9_514.48138)
    assert await paper.open_orders() == []
    # It fired once: a later dip does nothing.
    assert paper.observe(Tick(BTC, NOW + 180, 50_000.0, 50_000.0, 50_000.0)) == []


async def test_a_gap_through_the_stop_fills_at_the_tick_price():
    paper = long_btc()
    await paper.submit(stop())
    # The tick closes at 54000, below the stop: 54000 * 0.9995 = 53973 (a live ticker jumping
    # past the stop fills at the price it jumped to, never at the better stop price).
    [fill] = paper.observe(Tick(BTC, NOW + 60, 54_000.0, 54_000.0, 54_000.0))
    assert fill.price == pytest.approx(53_973.0)


async def test_short_stop_triggers_on_the_high():
    paper = venue(positions={ETH: Position(ETH, -1.0, 3_000.0)})
    assert (await paper.submit(stop(ETH, "buy", 1.0, 3_240.0))).status == "open"
    assert paper.observe(Tick(ETH, NOW + 60, 3_100.0, 3_239.0, 3_050.0)) == []
    # The bar's range (3100..3300) traded through 3240: the stop fills there, 3240 * 1.0005.
    [fill] = paper.observe(Tick(ETH, NOW + 120, 3_250.0, 3_300.0, 3_100.0))
    assert (fill.side, fill.quantity, fill.price) == ("buy", 1.0, pytest.approx(3_241.62))
    assert paper.account()[1] == {}


async def test_other_symbols_do_not_trigger_a_stop():
    paper = long_btc()
    await paper.submit(stop())
    assert paper.observe(Tick(ETH, NOW + 60, 1.0, 1.0, 1.0)) == []
    assert len(await paper.open_orders()) == 1


@pytest.mark.parametrize(
    ("order", "reason"),
    [
        (Order(BTC, "sell", 0.1, order_type="stop_market", stop_price=55_000.0), "must be reduce-only"),
        (stop(price=None), "stop price must be a positive number"),
        (stop(price=float("nan")), "stop price must be a positive number"),
        (stop(price=60_000.0), "would trigger at once"),  # a sell stop at/above the mark
        (stop(ETH, "buy", 1.0, 2_900.0), "would trigger at once"),  # a buy stop below the mark
        (stop(quantity=0.2), "reduce-only order would open, increase or flip"),  # more than held
        (stop(side="buy", price=65_000.0), "reduce-only order would open, increase or flip"),
        (stop(ETH, "sell", 1.0, 2_800.0), "reduce-only order would open, increase or flip"),  # flat
        (stop(quantity=0.0105), "not a multiple of the step"),
        (stop(symbol="DOGE/USDT:USDT"), "unknown symbol"),
    ],
)
async def test_bad_stops_are_rejected_and_do_not_rest(order, reason):
    paper = long_btc()
    result = await paper.submit(order)
    assert result.status == "rejected"
    assert reason in result.reason
    assert await paper.open_orders() == []


async def test_stop_is_clipped_to_a_smaller_position_and_never_flips():
    paper = long_btc()
    await paper.submit(stop())  # protects 0.1
    await paper.submit(Order(BTC, "sell", 0.05, reduce_only=True))  # half closed by hand
    assert len(await paper.open_orders()) == 1
    [fill] = paper.observe(Tick(BTC, NOW + 60, 55_000.0, 55_000.0, 55_000.0))
    assert fill.quantity == pytest.approx(0.05)
    assert paper.account()[1] == {}


async def test_two_stops_on_one_position_fire_once_between_them():
    paper = long_btc()
    await paper.submit(stop(price=56_000.0, cid="a"))
    await paper.submit(stop(price=55_000.0, cid="b"))
    events = paper.observe(Tick(BTC, NOW + 60, 54_000.0, 54_000.0, 54_000.0))
    assert [e.client_order_id for e in events] == ["a"]
    assert paper.account()[1] == {}
    assert await paper.open_orders() == []


async def test_stops_are_cancelled_when_the_position_goes_or_flips():
    paper = long_btc()
    await paper.submit(stop())
    await paper.submit(Order(BTC, "sell", 0.1, reduce_only=True))  # closed by hand
    assert await paper.open_orders() == []

    paper = long_btc()
    await paper.submit(stop())
    await paper.submit(Order(BTC, "sell", 0.3))  # flipped to -0.2: the sell stop would add
    assert paper.account()[1][BTC].quantity == pytest.approx(-0.2)
    assert await paper.open_orders() == []
    assert paper.observe(Tick(BTC, NOW + 60, 50_000.0, 50_000.0, 50_000.0)) == []


async def test_cancel_all_and_cancel_one():
    paper = venue(positions={BTC: Position(BTC, 0.1, 60_000.0), ETH: Position(ETH, -1.0, 3_000.0)})
    await paper.submit(stop(cid="btc"))
    await paper.submit(stop(ETH, "buy", 1.0, 3_240.0, cid="eth"))
    assert await paper.cancel("nope") is False
    assert await paper.cancel("eth") is True
    assert [o.client_order_id for o in await paper.open_orders()] == ["btc"]
    assert await paper.cancel_all() == 1
    assert await paper.cancel_all() == 0  # idempotent
    assert paper.observe(Tick(BTC, NOW + 60, 50_000.0, 50_000.0, 50_000.0)) == []
    assert paper.account()[1][BTC].quantity == 0.1


async def test_stop_fires_before_liquidation_in_the_same_tick():
    # 10x long: wallet 600 for 0.1 BTC @ 60000; LP ~ (6000 - 600) / (0.1 * 0.996) ~ 54216.9.
    paper = venue(600.0, {BTC: Position(BTC, 0.1, 60_000.0)})
    lp = liquidation_price(side="long", quantity=0.1, entry_price=60_000.0, wallet_balance=600.0,
                           maintenance_margin_rate=0.004, maintenance_amount=0.0)
    level = stop_price("long", 60_000.0, 0.03, lp, tick_size=0.1)
    assert level.pulled_in and level.price >= lp + 0.02 * 60_000.0
    await paper.submit(protective_stop(BTC, 0.1, level.price, client_order_id="guard"))
    # A wick far through both the stop and the liquidation price, closing back above the stop.
    events = paper.observe(Tick(BTC, NOW + 60, 58_000.0, 60_000.0, 50_000.0))
    assert [type(e) for e in events] == [Fill]
    assert events[0].price == pytest.approx(level.price * 0.9995)
    assert paper.account()[1] == {}
    assert paper.account()[0].wallet > 0


async def test_restore_open_orders_after_restart():
    paper = long_btc()
    skipped = paper.restore_open_orders([
        stop(cid="kept"),
        stop(price=61_000.0, cid="passed"),  # the market went through it while down: kept
        stop(quantity=0.5, cid="too-big"),
        Order(BTC, "sell", 0.1, reduce_only=True, client_order_id="market"),
    ])
    assert [o.client_order_id for o in await paper.open_orders()] == ["kept", "passed"]
    assert len(skipped) == 2 and skipped[0].startswith("too-big:") and skipped[1].startswith("market:")
    [fill] = paper.observe(Tick(BTC, NOW + 60, 60_000.0, 60_000.0, 60_000.0))
    assert fill.client_order_id == "passed"


async def test_flatten_cancels_resting_stops_first(tmp_path):
    paper = venue(positions={BTC: Position(BTC, 0.1, 60_000.0), ETH: Position(ETH, -1.0, 3_000.0)})
    await paper.submit(stop(cid="btc"))
    await paper.submit(stop(ETH, "buy", 1.0, 3_240.0, cid="eth"))
    halted = []

    async def halt(reason: str) -> None:
        halted.append(reason)

    async with await Journal.open(tmp_path / "journal.sqlite") as journal:
        executor = Executor(paper, journal, "paper")
        report = await flatten_all(venue=paper, journal=journal, executor=executor, account="paper",
                                   key="F", origin="test", halt=halt)
        assert (report.cancelled, report.closed, report.flat) == (2, 2, True)
        assert await paper.open_orders() == []
        again = await flatten_all(venue=paper, journal=journal, executor=executor, account="paper",
                                  key="F", origin="test", halt=halt)
        assert (again.cancelled, again.closed, again.flat) == (0, 0, True)
    assert halted == ["flatten", "flatten"]


# -- real data -------------------------------------------------------------------------------


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


async def test_march_2020_3x_long_with_a_volatility_stop_is_stopped_not_liquidated(market_data):
    # The position of test_paper.py's 3x case, liquidated at 4410 on 2020-03-12 20:00 without a
    # stop. With a stop for a 3 % 4h sigma (8 % -> 7299.76), it is sold in the 08:00 bar instead.
    entry = 7_934.52
    paper = PaperVenue(DEFAULT_INSTRUMENTS, Balance(entry / 3.0), {BTC: Position(BTC, 1.0, entry)})
    paper.observe(Tick(BTC, ts("2020-03-12T00:00"), entry, entry, entry))
    lp = liquidation_price(side="long", quantity=1.0, entry_price=entry, wallet_balance=entry / 3.0,
                           maintenance_margin_rate=0.004, maintenance_amount=0.0)
    level = stop_price("long", entry, 0.03, lp, tick_size=0.01)
    assert level.pulled_in is False and level.price == pytest.approx(7_299.76)
    assert (await paper.submit(protective_stop(BTC, 1.0, level.price))).status == "open"

    source = ReplaySource([market_data / "binance_spot" / "BTCUSDT_4h.csv.gz"], speed=0,
                          start="2020-03-12T00:00", end="2020-03-14T00:00")
    bars = source.bars[BTC]
    events = []
    for t, close, high, low in zip(bars["open_time"], bars["close"], bars["high"], bars["low"]):
        tick = Tick(BTC, t + 14_400.0, close, high, low)
        events.extend((tick, e) for e in paper.observe(tick))
    fills = [(tick, e) for tick, e in events if isinstance(e, (Fill, Liquidation))]
    assert len(fills) == 1
    tick, fill = fills[0]
    assert isinstance(fill, Fill) and not fill.liquidation
    assert tick.timestamp == ts("2020-03-12T12:00")  # the 08:00 bar, low 5550
    # That bar opened at 7392.12, above the stop, and traded down through it to 5550: the stop
    # fills at its price less slippage, 7299.76 * 0.9995 = 7296.11012.
    assert fill.price == pytest.approx(7_296.11012)
    balance, positions = paper.account()
    assert positions == {}
    # 2644.84 margin + (7296.11012 - 7934.52) - fee 3.648 + funding (the default constant
    # rate at the 08:00 settlement, ~ -0.74) = ~2002: a loss, not a wipe-out.
    funding = sum(e.amount for _, e in events if isinstance(e, FundingPayment))
    assert funding == pytest.approx(-0.739, abs=0.001)
    assert balance.wallet == pytest.approx(
        entry / 3.0 + (7_296.11012 - entry) - 0.0005 * 7_296.11012 + funding
    )
    assert balance.wallet > 2_000.0
