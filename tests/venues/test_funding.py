"""Funding settlement times, rate lookup, CSV validation, and paying/receiving on real rates."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from cockpit.domain.types import Balance, FundingPayment, Position, Tick
from cockpit.venues.funding import FundingSchedule, settlements_between
from cockpit.venues.instruments import DEFAULT_INSTRUMENTS
from cockpit.venues.paper import PaperVenue

BTC = "BTC/USDT:USDT"


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def test_settlements_are_at_00_08_16_utc_in_half_open_interval():
    # (t0, t1]: a settlement exactly at t0 is not repeated, one exactly at t1 is included.
    assert settlements_between(ts("2020-03-13T00:00"), ts("2020-03-13T08:00")) == [ts("2020-03-13T08:00")]
    assert settlements_between(ts("2020-03-12T23:59"), ts("2020-03-14T00:00")) == [
        ts("2020-03-13T00:00"), ts("2020-03-13T08:00"), ts("2020-03-13T16:00"), ts("2020-03-14T00:00"),
    ]
    assert settlements_between(ts("2020-03-13T01:00"), ts("2020-03-13T07:59")) == []
    assert settlements_between(ts("2020-03-13T09:00"), ts("2020-03-13T08:00")) == []  # backwards


def test_constant_schedule():
    schedule = FundingSchedule.constant(0.0002)
    assert schedule.rate(BTC, ts("2020-03-13T08:00")) == 0.0002
    assert FundingSchedule.constant().rate("ANY", 0.0) == 0.0001


def _real_schedule(market_data) -> FundingSchedule:
    path = market_data / "binance_usdm_funding" / "BTCUSDT_funding_8h_2019-09-10_2026-04-22.csv.gz"
    return FundingSchedule.from_csv(path, BTC)


def test_real_series_lookup(market_data):
    schedule = _real_schedule(market_data)
    assert schedule.rate(BTC, ts("2020-03-13T08:00")) == -0.003  # the -0.3 % cap
    # Binance stamped this one 1 ms late (1584000000001); it is still the 08:00 settlement.
    assert schedule.rate(BTC, ts("2020-03-12T08:00")) == 0.0001
    assert schedule.rate(BTC, ts("2020-03-13T07:59")) == -0.00016073  # the 00:00 one
    assert schedule.rate(BTC, ts("2019-01-01T00:00")) == 0.0001  # before the series: default
    assert schedule.rate(BTC, ts("2030-01-01T00:00")) == 0.0001  # after it: default
    assert schedule.rate("ETH/USDT:USDT", ts("2020-03-13T08:00")) == 0.0001  # not covered


def test_rates_are_rate_at_each_time(market_data):
    schedule = _real_schedule(market_data)
    first, last = schedule.series(BTC)[0][0], schedule.series(BTC)[-1][0]
    times = [first - 1, first, first + 1, first + 4 * 3600, last, last + 8 * 3600 - 1, last + 8 * 3600, last + 1e6]
    times += [first + k * 3600.0 * 3.7 for k in range(2000)]
    assert schedule.rates(BTC, times).tolist() == [schedule.rate(BTC, t) for t in times]
    assert schedule.rates("ETH/USDT:USDT", times).tolist() == [schedule.rate("ETH/USDT:USDT", t) for t in times]
    assert FundingSchedule.constant(0.0).rates(BTC, times[:3]).tolist() == [0.0, 0.0, 0.0]


def test_funding_time_only_format(market_data):
    schedule = FundingSchedule.from_csv(
        market_data / "binance_usdm_perp" / "ETHUSDT_funding_8h.csv.gz", "ETH/USDT:USDT"
    )
    assert schedule.rate("ETH/USDT:USDT", ts("2024-12-31T00:00")) == 0.0001


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("funding_time,rate\n2020-01-01T00:00:00Z,0.0001\n", "missing column funding_rate"),
        ("funding_time,funding_rate\n2020-01-01T00:00:00Z,abc\n", "non-numeric value in column funding_rate at row 1"),
        ("funding_time,funding_rate\n2020-01-01T08:00:00Z,0.0001\n2020-01-01T00:00:00Z,0.0001\n", "non-increasing funding times at row 2"),
        ("funding_time,funding_rate\nnot-a-time,0.0001\n", "unparseable time in column funding_time at row 1"),
        ("rate_only\n", "missing column funding_rate"),
        ("", "empty file"),
    ],
)
def test_bad_funding_files(tmp_path, content, message):
    path = tmp_path / "BTCUSDT_funding.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as error:
        FundingSchedule.from_csv(path, BTC)
    assert "BTCUSDT_funding.csv" in str(error.value)
    assert "\n" not in str(error.value)


def _run(venue: PaperVenue, ticks: list[Tick]) -> list[FundingPayment]:
    events = []
    for tick in ticks:
        events.extend(venue.observe(tick))
    return [e for e in events if isinstance(e, FundingPayment)]


def _tick(time_text: str, price: float) -> Tick:
    return Tick(BTC, ts(time_text), price, price, price)


def test_long_pays_short_receives_on_real_rates(market_data):
    schedule = _real_schedule(market_data)
    # 4h closes of BTCUSDT spot around settlements (binance_spot/BTCUSDT_4h): the ticks at 16:00
    # on 2020-03-11 and 08:00 on 2020-03-13 are the marks funding is settled at.
    ticks = [
        _tick("2020-03-11T12:00", 7778.76),
        _tick("2020-03-11T16:00", 7828.23),  # settlement 16:00, rate +0.00022898
        _tick("2020-03-13T04:00", 5167.26),  # crosses 3/12 00:00, 08:00, 16:00 and 3/13 00:00
        _tick("2020-03-13T08:00", 5385.87),  # settlement 08:00, rate -0.003
    ]
    results = {}
    for side, quantity in (("long", 1.0), ("short", -1.0)):
        venue = PaperVenue(
            DEFAULT_INSTRUMENTS, Balance(100_000.0), {BTC: Position(BTC, quantity, 7800.0)},
            funding=schedule,
        )
        results[side] = (_run(venue, ticks), venue.account()[0].wallet)
    long_payments, long_wallet = results["long"]
    short_payments, short_wallet = results["short"]
    assert [p.timestamp for p in long_payments] == [
        ts("2020-03-11T16:00"), ts("2020-03-12T00:00"), ts("2020-03-12T08:00"),
        ts("2020-03-12T16:00"), ts("2020-03-13T00:00"), ts("2020-03-13T08:00"),
    ]
    # Positive rate: the long pays 1 * 7828.23 * 0.00022898 = 1.792508 USDT, the short receives it.
    assert long_payments[0].rate == 0.00022898
    assert long_payments[0].amount == pytest.approx(-1.7925081, abs=1e-6)
    assert short_payments[0].amount == pytest.approx(+1.7925081, abs=1e-6)
    # The cap: shorts pay 0.3 %: 1 * 5385.87 * 0.003 = 16.15761 USDT; the long receives it.
    assert long_payments[-1].rate == -0.003
    assert short_payments[-1].amount == pytest.approx(-16.15761, abs=1e-6)
    assert long_payments[-1].amount == pytest.approx(+16.15761, abs=1e-6)
    # Settlements crossed in one gap are all settled at the tick's mark (5167.26).
    assert long_payments[1].amount == pytest.approx(-5167.26 * 0.00010572, abs=1e-9)
    # Every payment is mirrored, and lands in the wallet.
    assert long_wallet - 100_000.0 == pytest.approx(sum(p.amount for p in long_payments))
    assert long_wallet - 100_000.0 == pytest.approx(-(short_wallet - 100_000.0))


def test_no_funding_on_first_tick_or_when_flat():
    venue = PaperVenue(DEFAULT_INSTRUMENTS, Balance(10_000.0), {BTC: Position(BTC, 0.1, 60_000.0)})
    assert venue.observe(_tick("2024-01-01T07:00", 60_000.0)) == []  # first tick: no history
    events = venue.observe(_tick("2024-01-01T09:00", 60_000.0))
    # Constant 0.01 %: the long pays 0.1 * 60000 * 0.0001 = 0.6 USDT.
    assert events == [FundingPayment(BTC, ts("2024-01-01T08:00"), 0.0001, pytest.approx(-0.6))]
    assert venue.account()[0].wallet == pytest.approx(9_999.4)
    flat = PaperVenue(DEFAULT_INSTRUMENTS, Balance(10_000.0))
    flat.observe(_tick("2024-01-01T07:00", 60_000.0))
    assert flat.observe(_tick("2024-01-01T09:00", 60_000.0)) == []


def test_isolated_position_pays_funding_from_its_margin():
    position = Position(BTC, 0.1, 60_000.0, margin_mode="isolated", isolated_margin=600.0)
    venue = PaperVenue(DEFAULT_INSTRUMENTS, Balance(10_000.0), {BTC: position})
    venue.observe(_tick("2024-01-01T07:00", 60_000.0))
    venue.observe(_tick("2024-01-01T09:00", 60_000.0))
    balance, positions = venue.account()
    assert positions[BTC].isolated_margin == pytest.approx(599.4)
    assert balance.wallet == pytest.approx(9_999.4)
