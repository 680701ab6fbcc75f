"""load_bars validation and ReplaySource on the real Binance 4h history."""

from __future__ import annotations

import gzip
import time
from datetime import datetime, timezone

import pytest

from cockpit.venues.instruments import DEFAULT_INSTRUMENTS, base_from_filename, symbol_for_base
from cockpit.venues.replay import ReplayDataError, ReplaySource, load_bars

HEADER = "open_time_ms,timestamp,open,high,low,close,volume\n"
ROW1 = "1583971200000,2020-03-12T00:00:00Z,7934.58,7966.17,7558.0,7662.73,18039.35\n"
ROW2 = "1583985600000,2020-03-12T04:00:00Z,7662.11,7662.8,7342.43,7392.13,23553.31\n"


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def test_names():
    assert symbol_for_base("btc") == "BTC/USDT:USDT"
    assert base_from_filename("/x/BTCUSDT_4h.csv.gz") == "BTC"
    assert base_from_filename("ETHUSDT_perp_1h_with_mark.csv.gz") == "ETH"
    with pytest.raises(ValueError, match="cannot tell the symbol from file name 'prices.csv'"):
        base_from_filename("prices.csv")


def test_load_real_file_fast(market_data):
    started = time.perf_counter()
    bars = load_bars(market_data / "binance_spot" / "BTCUSDT_4h.csv.gz")
    assert time.perf_counter() - started < 2.0
    assert len(bars) == 18_709
    assert list(bars.columns) == ["open_time", "open", "high", "low", "close", "volume"]
    # README checkpoint: close 4800.00 on 2020-03-12 (the 20:00 bar).
    assert bars.loc["2020-03-12 20:00", "close"] == 4_800.0
    assert bars["open_time"].iloc[0] == ts("2017-08-17T04:00")


def test_load_timestamp_only_and_plain_csv(tmp_path):
    path = tmp_path / "BTCUSDT_1h.csv"
    path.write_text("timestamp,open,high,low,close\n2020-03-12T00:00:00Z,1,2,0.5,1.5\n")
    bars = load_bars(path)
    assert bars["open_time"].tolist() == [ts("2020-03-12T00:00")]
    assert bars["volume"].tolist() == [0.0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (HEADER.replace(",low", "") + "1,2020-01-01T00:00:00Z,1,2,1.5,9\n", "missing column low"),
        (HEADER + ROW1.replace("7662.73", "n/a"), "non-numeric value 'n/a' in column close at row 1"),
        (HEADER + ROW1 + ROW2.replace("7342.43", ""), "empty value in column low at row 2"),
        (HEADER + ROW2 + ROW1, "non-increasing timestamps at row 2"),
        (HEADER + ROW1 + ROW1, "non-increasing timestamps at row 2"),
        (HEADER + ROW1 + ROW2.replace("7662.8,7342.43", "7342.43,7662.8"), "high < low at row 2"),
        (HEADER + ROW1.replace("7934.58", "-1"), "non-positive price in column open at row 1"),
        (HEADER, "empty file (a header but no rows)"),
        ("", "empty file"),
        (HEADER + ROW1 + ROW2.strip() + ",5,6\n", "malformed CSV: expected 7 fields in line 3, saw 9"),
        (HEADER + ROW1.replace("18039.35", "inf"), "non-numeric value 'inf' in column volume at row 1"),
        (HEADER + "x" + ROW1, "non-numeric value 'x1583971200000' in column open_time_ms at row 1"),
        ("timestamp,open,high,low,close\nyesterday,1,2,0.5,1\n", "unparseable time 'yesterday' in column timestamp at row 1"),
    ],
)
def test_malformed_csv(tmp_path, content, message):
    path = tmp_path / "BTCUSDT_4h.csv"
    path.write_text(content)
    with pytest.raises(ReplayDataError) as error:
        load_bars(path)
    text = str(error.value)
    assert text == f"BTCUSDT_4h.csv: {message}"


def test_not_gzip_and_not_csv(tmp_path):
    fake_gz = tmp_path / "BTCUSDT_4h.csv.gz"
    fake_gz.write_text(HEADER + ROW1)  # plain text behind a .gz name
    with pytest.raises(ReplayDataError, match=r"^BTCUSDT_4h.csv.gz: not a CSV or gzip file$"):
        load_bars(fake_gz)
    binary = tmp_path / "BTCUSDT_1d.csv"
    binary.write_bytes(gzip.compress(b"\x00\xff" * 100) + b"\xff\xfe\x00")
    with pytest.raises(ReplayDataError, match=r"^BTCUSDT_1d.csv: "):
        load_bars(binary)
    with pytest.raises(ReplayDataError, match="file not found"):
        load_bars(tmp_path / "ETHUSDT_4h.csv")


def test_truncated_gzip(tmp_path):
    path = tmp_path / "BTCUSDT_4h.csv.gz"
    path.write_bytes(gzip.compress((HEADER + ROW1 * 50).encode())[:60])
    with pytest.raises(ReplayDataError, match=r"^BTCUSDT_4h.csv.gz: "):
        load_bars(path)


def test_bad_filename_is_a_replay_error(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text(HEADER + ROW1)
    with pytest.raises(ReplayDataError, match="cannot tell the symbol"):
        ReplaySource([path])


async def test_merged_ticks_at_bar_close(market_data):
    spot = market_data / "binance_spot"
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    source = ReplaySource(
        [spot / "BTCUSDT_4h.csv.gz", spot / "ETHUSDT_4h.csv.gz"],
        speed=100.0, start="2020-03-12", end="2020-03-13", sleep=sleep,
    )
    assert source.label == "REPLAY"
    assert source.instruments() == DEFAULT_INSTRUMENTS
    ticks = [tick async for tick in source.ticks()]
    # 6 bars per day x 2 symbols; BTC then ETH at each bar close.
    assert len(ticks) == 12
    assert [t.symbol for t in ticks[:2]] == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    btc_0800 = ticks[4]
    assert (btc_0800.timestamp, btc_0800.price, btc_0800.high, btc_0800.low) == (
        ts("2020-03-12T12:00"), 6_067.01, 7_466.0, 5_550.0,
    )
    assert ticks[-1].timestamp == ts("2020-03-13T00:00")
    assert slept == [0.01] * 5  # between the 6 bar times, none after the last
    assert len(source.bars["BTC/USDT:USDT"]) == 6


async def test_full_history_streams_quickly_without_sleep(market_data):
    source = ReplaySource([market_data / "binance_spot" / "ETHUSDT_4h.csv.gz"], speed=float("inf"))
    count = 0
    previous = 0.0
    async for tick in source.ticks():
        assert tick.timestamp > previous
        previous = tick.timestamp
        count += 1
    assert count == 18_709


async def test_close_stops_the_replay(tmp_path):
    path = tmp_path / "BTCUSDT_4h.csv"
    path.write_text(HEADER + ROW1 + ROW2)
    source = ReplaySource([path], speed=0)
    seen = []
    async for tick in source.ticks():
        seen.append(tick)
        await source.close()
    assert len(seen) == 1


@pytest.mark.parametrize(
    "rows",
    [
        "1e300,x,1,2,1,1,0\n2e300,x,1,2,1,1,0\n",  # open_time_ms far beyond 2262
        "-1e15,x,1,2,1,1,0\n-9e14,x,1,2,1,1,0\n",  # year -29,700
    ],
)
def test_times_pandas_cannot_hold_are_one_line(tmp_path, rows):
    # Found by the fuzz drill: pandas' OutOfBoundsDatetime escaped load_bars, so `cockpit
    # --replay` printed its class name and `cockpit backtest` a message without the file.
    path = tmp_path / "BTCUSDT_4h.csv"
    path.write_text(HEADER + rows)
    with pytest.raises(ReplayDataError, match=r"^BTCUSDT_4h.csv: time out of range at row 1 \(expected a date"):
        load_bars(path)


def test_iso_times_before_1678_are_one_line_and_after_are_read(tmp_path):
    path = tmp_path / "BTCUSDT_4h.csv"
    path.write_text("timestamp,open,high,low,close\n0001-01-01,1,1,1,1\n9999-12-31,1,1,1,1\n")
    with pytest.raises(ReplayDataError, match="time out of range at row 1"):
        load_bars(path)
    path.write_text("timestamp,open,high,low,close\n2020-01-01T00:00:00+05:00,1,1,1,1\n2020-01-01T04:00:00Z,1,1,1,1\n")
    assert load_bars(path)["open_time"].tolist() == [ts("2019-12-31T19:00"), ts("2020-01-01T04:00")]
