"""PaperVenue: fills, fees, slippage, rejections, liquidation — including March 2020 for real."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from cockpit.domain.types import Balance, Fill, Order, Position, Tick
from cockpit.venues.base import Liquidation, Venue
from cockpit.venues.funding import FundingSchedule
from cockpit.venues.instruments import DEFAULT_INSTRUMENTS
from cockpit.venues.paper import PaperVenue
from cockpit.venues.replay import ReplaySource

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
NOW = 1_700_000_000.0


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def venue(wallet: float = 10_000.0, positions=None, **kwargs) -> PaperVenue:
    paper = PaperVenue(DEFAULT_INSTRUMENTS, Balance(wallet), positions, clock=lambda: NOW, **kwargs)
    paper.set_marks({BTC: 60_000.0, ETH: 3_000.0})
    return paper


def test_is_a_venue():
    assert isinstance(venue(), Venue)
    assert venue().name == "paper"


async def test_market_buy_then_sell_fees_and_slippage():
    paper = venue()
    result = await paper.submit(Order(BTC, "buy", 0.01, client_order_id="c1"))
    # Buy at 60000 * 1.0005 = 60030; notional 600.30; taker fee 0.0005 * 600.30 = 0.30015.
    assert result.status == "filled"
    assert result.fill == Fill(BTC, "buy", 0.01, pytest.approx(60_030.0), pytest.approx(0.30015), NOW, "c1")
    balance, positions = paper.account()
    assert balance.wallet == pytest.approx(9_999.69985)
    assert positions[BTC].quantity == pytest.approx(0.01)
    assert positions[BTC].entry_price == pytest.approx(60_030.0)

    paper.observe(Tick(BTC, NOW, 61_000.0, 61_000.0, 61_000.0))
    result = await paper.submit(Order(BTC, "sell", 0.01, reduce_only=True, client_order_id="c2"))
    # Sell at 61000 * 0.9995 = 60969.5; PnL 0.01 * (60969.5 - 60030) = 9.395;
    # fee 0.0005 * 609.695 = 0.3048475; wallet 9999.69985 + 9.395 - 0.3048475 = 10008.7900025.
    assert result.fill.price == pytest.approx(60_969.5)
    assert result.fill.fee == pytest.approx(0.3048475)
    balance, positions = paper.account()
    assert balance.wallet == pytest.approx(10_008.7900025)
    assert positions == {}


async def test_reduce_only_may_go_below_min_notional():
    paper = venue(positions={BTC: Position(BTC, 0.01, 60_000.0)})
    # 0.001 BTC is 60 USDT < 100 minimum, but closing dust must always be possible.
    result = await paper.submit(Order(BTC, "sell", 0.001, reduce_only=True))
    assert result.status == "filled"
    assert paper.account()[1][BTC].quantity == pytest.approx(0.009)


async def test_flip_without_reduce_only_is_allowed():
    paper = venue(positions={BTC: Position(BTC, 0.01, 60_000.0)})
    result = await paper.submit(Order(BTC, "sell", 0.03))
    assert result.status == "filled"
    assert paper.account()[1][BTC].quantity == pytest.approx(-0.02)
    assert paper.account()[1][BTC].entry_price == pytest.approx(59_970.0)


@pytest.mark.parametrize(
    ("order", "reason"),
    [
        (Order("DOGE/USDT:USDT", "buy", 1.0), "unknown symbol"),
        (Order(BTC, "buy", 0.0), "quantity must be > 0"),
        (Order(BTC, "buy", -0.01), "quantity must be > 0"),
        (Order(BTC, "buy", float("nan")), "quantity must be > 0"),
        (Order(BTC, "buy", 0.0105), "not a multiple of the step 0.001"),
        (Order(BTC, "buy", 0.001), "notional 60.00 USDT is below the minimum 100"),
        (Order(BTC, "buy", 0.01, reduce_only=True), "reduce-only order would open, increase or flip"),
        (Order(BTC, "sell", 0.03, reduce_only=True), "reduce-only order would open, increase or flip"),
        (Order(BTC, "buy", 0.01, order_type="limit", limit_price=59_000.0), "limit orders are not supported"),
        # Wallet 1000, long 0.01 BTC; 0.334 more: gross 0.344 * 60000 = 20640, equity
        # 1000 - fee 0.334 * 60030 * 0.0005 (10.025) - slippage 0.334 * 30 (10.02) = 979.955.
        (Order(BTC, "buy", 0.334), "insufficient margin: leverage 21.06x after the fill exceeds the venue's 20x"),
    ],
)
async def test_rejections_leave_the_account_unchanged(order, reason):
    paper = venue(1_000.0, {BTC: Position(BTC, 0.01, 60_000.0)})
    before = paper.account()
    result = await paper.submit(order)
    assert result.status == "rejected"
    assert reason in result.reason
    assert result.fill is None
    assert paper.account() == before


async def test_rejected_without_a_mark():
    paper = PaperVenue(DEFAULT_INSTRUMENTS, Balance(10_000.0))
    result = await paper.submit(Order(BTC, "buy", 0.01))
    assert (result.status, result.reason) == ("rejected", f"no price yet for {BTC}")
    assert paper.account() == (Balance(10_000.0), {})


async def test_margin_limit_boundary():
    paper = venue(1_000.0)
    # 0.32 BTC: fee 0.32 * 60030 * 0.0005 = 9.6048, slippage loss at mark 0.32 * 30 = 9.6,
    # equity 980.7952, gross 19200 -> 19.58x <= 20x: accepted.
    assert (await paper.submit(Order(BTC, "buy", 0.32))).status == "filled"
    # Another 0.01 BTC: gross 19800 / equity ~980.2 = 20.2x: refused.
    result = await paper.submit(Order(BTC, "buy", 0.01))
    assert result.status == "rejected" and "leverage" in result.reason


async def test_no_resting_orders():
    paper = venue()
    assert await paper.cancel_all() == 0
    assert await paper.open_orders() == []


def test_deposit_and_marks():
    paper = venue()
    assert paper.deposit(500.0) == Balance(10_500.0)
    with pytest.raises(ValueError):
        paper.deposit(-1.0)
    paper.set_marks({BTC: float("nan"), "XYZ": 5.0})  # ignored: bad price, unknown symbol
    assert paper.marks() == {BTC: 60_000.0, ETH: 3_000.0}


def test_cross_liquidation_closes_everything():
    # Wallet 1000; long 0.1 BTC @ 60000 and long 1 ETH @ 3000. Maintenance 0.4 % of notional.
    paper = venue(1_000.0, {BTC: Position(BTC, 0.1, 60_000.0), ETH: Position(ETH, 1.0, 3_000.0)})
    # BTC low 51000: PnL -900, ETH at mark 3000: 0; equity 100 >= MM 0.004*(5100+3000) = 32.4: safe.
    assert paper.observe(Tick(BTC, NOW, 52_000.0, 52_500.0, 51_000.0)) == []
    # BTC low 50000: PnL -1000, equity 0 < MM 0.004*(5000+3000) = 32: liquidated, both legs.
    events = paper.observe(Tick(BTC, NOW + 1, 50_500.0, 52_000.0, 50_000.0))
    assert [type(e) for e in events] == [Liquidation, Liquidation]
    btc, eth = events
    assert (btc.fill.side, btc.fill.quantity, btc.fill.price, btc.fill.liquidation) == ("sell", 0.1, 50_000.0, True)
    assert btc.realized_pnl == pytest.approx(-1_000.0)
    assert btc.clearance_fee == pytest.approx(20.0)  # 0.004 * 5000
    assert (eth.fill.price, eth.realized_pnl, eth.clearance_fee) == (3_000.0, 0.0, pytest.approx(12.0))
    # 1000 - 1000 - 20 - 12 = -32: the insurance fund takes the deficit, the wallet stops at 0.
    assert paper.account() == (Balance(0.0), {})


def test_short_is_checked_on_the_high():
    paper = venue(1_000.0, {BTC: Position(BTC, -0.1, 60_000.0)})
    # High 69700: PnL -970, equity 30 >= MM 27.88; high 69800: equity 20 < 27.92.
    assert paper.observe(Tick(BTC, NOW, 60_000.0, 69_700.0, 59_000.0)) == []
    events = paper.observe(Tick(BTC, NOW + 1, 60_000.0, 69_800.0, 59_000.0))
    assert events[0].fill.side == "buy" and events[0].fill.price == 69_800.0


def test_isolated_position_is_liquidated_alone():
    isolated = Position(ETH, 1.0, 3_000.0, margin_mode="isolated", isolated_margin=300.0)
    paper = venue(5_000.0, {BTC: Position(BTC, 0.01, 60_000.0), ETH: isolated})
    # ETH low 2711: margin 300 - 289 = 11 >= MM 10.844: alive. Low 2710: 10 < 10.84: liquidated.
    assert paper.observe(Tick(ETH, NOW, 2_800.0, 3_000.0, 2_711.0)) == []
    events = paper.observe(Tick(ETH, NOW + 1, 2_800.0, 3_000.0, 2_710.0))
    assert len(events) == 1
    assert events[0].fill.symbol == ETH and events[0].fill.price == 2_710.0
    assert events[0].realized_pnl == pytest.approx(-290.0)
    assert events[0].clearance_fee == pytest.approx(10.0)  # what was left of the margin
    balance, positions = paper.account()
    assert balance.wallet == pytest.approx(4_700.0)  # lost exactly its 300 margin
    assert set(positions) == {BTC}


def _march_2020_ticks(market_data) -> list[Tick]:
    # Bars opening 2020-03-12 00:00 .. 2020-03-13 20:00; each tick is stamped at its bar's close.
    source = ReplaySource(
        [market_data / "binance_spot" / "BTCUSDT_4h.csv.gz"],
        speed=0, start="2020-03-12T00:00", end="2020-03-14T00:00",
    )
    bars = source.bars[BTC]
    return [
        Tick(BTC, t + 14_400.0, c, h, low)
        for t, c, h, low in zip(bars["open_time"], bars["close"], bars["high"], bars["low"])
    ]


def _hold_long(market_data, leverage: float) -> tuple[PaperVenue, list]:
    entry = 7_934.52  # close of the 2020-03-11 20:00 bar, i.e. the price at 2020-03-12 00:00
    funding = FundingSchedule.from_csv(
        market_data / "binance_usdm_funding" / "BTCUSDT_funding_8h_2019-09-10_2026-04-22.csv.gz", BTC
    )
    paper = PaperVenue(
        DEFAULT_INSTRUMENTS, Balance(entry / leverage), {BTC: Position(BTC, 1.0, entry)},
        funding=funding,
    )
    # The venue's first look is the entry itself, so the entry bar's earlier low does not count.
    paper.observe(Tick(BTC, ts("2020-03-12T00:00"), entry, entry, entry))
    timeline = []
    for tick in _march_2020_ticks(market_data):
        timeline.append((tick, paper.observe(tick)))
    return paper, timeline


def _liquidation(timeline) -> tuple[Tick, Liquidation] | None:
    for tick, events in timeline:
        for event in events:
            if isinstance(event, Liquidation):
                return tick, event
    return None


def test_march_2020_10x_long_liquidated_in_the_0800_bar(market_data):
    # 10x: wallet 793.452. Liquidated when 793.452 + (p - 7934.52) < 0.004 p, p < ~7169.7.
    # The 04:00 bar's low 7342.43 is above it; the 08:00 bar's low 5550 is far below.
    paper, timeline = _hold_long(market_data, 10.0)
    tick, liquidation = _liquidation(timeline)
    assert tick.timestamp == ts("2020-03-12T12:00")  # close of the 08:00 bar
    assert tick.low == 5_550.0
    assert liquidation.fill.price == 5_550.0
    assert liquidation.realized_pnl == pytest.approx(5_550.0 - 7_934.52)
    assert liquidation.clearance_fee == pytest.approx(0.004 * 5_550.0)
    assert paper.account() == (Balance(0.0), {})


def test_march_2020_3x_long_survives_that_bar_but_not_the_day(market_data):
    # 3x: wallet 2644.84; LP ~ (7934.52 - 2644.84) / 0.996 ~ 5310.9 (funding moves it < 1 USDT).
    # The 08:00 bar's low 5550 is above it. The 20:00 bar (close 4800, low 4410) is not.
    paper, timeline = _hold_long(market_data, 3.0)
    survived = [tick for tick, events in timeline if tick.timestamp <= ts("2020-03-12T20:00")]
    assert any(t.low == 5_550.0 for t in survived)
    tick, liquidation = _liquidation(timeline)
    assert tick.timestamp == ts("2020-03-13T00:00")  # the bar 2020-03-12 20:00-24:00
    assert liquidation.fill.price == 4_410.0
    assert paper.account()[1] == {}


def test_march_2020_1_5x_long_survives_through_march_13(market_data):
    # 1.5x: wallet 5289.68; LP ~ (7934.52 - 5289.68) / 0.996 ~ 2655; the lowest low is 3782.13.
    paper, timeline = _hold_long(market_data, 1.5)
    assert _liquidation(timeline) is None
    assert timeline[-1][0].timestamp == ts("2020-03-14T00:00")
    assert min(tick.low for tick, _ in timeline) == 3_782.13
    balance, positions = paper.account()
    assert positions[BTC].quantity == 1.0
    # Funding settled along the way includes +16.15761 received at the -0.3 % cap (3/13 08:00).
    payments = [e.amount for _, events in timeline for e in events]
    assert 16.15761 == pytest.approx(max(payments), abs=1e-6)
    assert balance.wallet == pytest.approx(7_934.52 / 1.5 + sum(payments))
