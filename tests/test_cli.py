"""The command line as a trader uses it: bad input is one line and status 2; the journal prints
and exports."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import pytest

from tests.support import BTC, ETH, start_engine, tick


def cockpit(*args: str, stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cockpit.cli", *args], capture_output=True, text=True, timeout=60, stdin=stdin
    )


def refused(result: subprocess.CompletedProcess, *expected: str) -> None:
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for text in expected:
        assert text in lines[0]


def test_a_malformed_replay_file_is_refused_before_the_screen(tmp_path):
    bad = tmp_path / "BTCUSDT_4h.csv"
    bad.write_text("open_time_ms,timestamp,open,high,low,close,volume\n1,2020-01-01T00:00:00Z,1,0.5,2,1,1\n")
    refused(cockpit("--replay", str(bad), "--journal", str(tmp_path / "j.sqlite")), "BTCUSDT_4h.csv", "high < low")
    assert not (tmp_path / "j.sqlite").exists()


def test_a_missing_replay_file_is_refused(tmp_path):
    refused(cockpit("--replay", str(tmp_path / "BTCUSDT_4h.csv")), "BTCUSDT_4h.csv")


def test_replay_speed_must_be_positive(market_data, tmp_path):
    refused(cockpit("--replay", str(market_data / "binance_spot/BTCUSDT_4h.csv.gz"), "--speed", "0"), "--speed")


def test_unknown_option_is_one_line(tmp_path):
    refused(cockpit("--demoo"), "unrecognized arguments")


def test_a_journal_path_that_is_a_directory_is_refused(tmp_path):
    refused(cockpit("--demo", "--journal", str(tmp_path)), "is a directory")


def test_a_file_that_is_not_a_journal_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "notes.sqlite"
    path.write_text("my notes")
    refused(cockpit("journal", "--journal", str(path)), "not a SQLite database")
    assert path.read_text() == "my notes"


def test_journal_of_a_missing_file_is_refused(tmp_path):
    refused(cockpit("journal", "--journal", str(tmp_path / "absent.sqlite")), "no journal at")


@pytest.fixture
async def journal_with_a_decision(tmp_path):
    path = tmp_path / "j.sqlite"
    engine, journal, _ = await start_engine(path)
    await engine.on_tick(tick(BTC, 60_000.0))
    await engine.on_tick(tick(ETH, 3_000.0))
    await engine.approve(engine.snapshot.proposals[0].id, key="a")
    await engine.stop("test")
    count = len(await journal.entries())
    await journal.close()
    return path, count


def test_journal_prints_the_newest_entries_oldest_first(journal_with_a_decision):
    path, count = journal_with_a_decision
    result = cockpit("journal", "--journal", str(path), "--limit", "0")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == count
    assert lines[0].split()[4] == "deposit" and lines[-1].split()[4] == "stop"  # "#seq date time UTC kind"
    assert any(" decision " in line and "approve key=a" in line for line in lines)
    two = cockpit("journal", "--journal", str(path), "--limit", "2").stdout.splitlines()
    assert two == lines[-2:]


def test_journal_exports_csv_that_parses_back(journal_with_a_decision):
    path, count = journal_with_a_decision
    result = cockpit("journal", "--journal", str(path), "--limit", "0", "--export", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == count
    orders = [r for r in rows if r["kind"] == "order"]
    # Two buys and the protective stop of each new position.
    assert [r["client_order_id"] for r in orders] == ["ck-5-0", "ck-5-1", "ck-5-2", "ck-5-3"]
