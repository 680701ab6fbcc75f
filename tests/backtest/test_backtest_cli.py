"""`cockpit backtest` as a trader types it: bad input is one line and status 2 with nothing run;
a small run prints both tables and writes the JSON the issue specifies."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.test_cli import cockpit, refused

FIGURES = {"final_equity", "cagr", "max_drawdown", "max_drawdown_days", "sharpe", "sortino", "calmar", "win_rate",
           "recovery_factor", "liquidations", "fees", "funding", "turnover"}


def _bars(path, start="2021-01-01", periods=300, price=100.0):
    times = pd.date_range(start, periods=periods, freq="4h", tz="UTC")
    closes = price * (1 + 0.01 * pd.Series(range(periods)).map(lambda k: (k % 7) - 3)).to_numpy()
    frame = pd.DataFrame({"open_time_ms": (times.asi8 // 1_000_000), "timestamp": times.strftime("%Y-%m-%dT%H:%M:%SZ"),
                          "open": closes, "high": closes * 1.01, "low": closes * 0.99, "close": closes, "volume": 1.0})
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def btc(tmp_path):
    return _bars(tmp_path / "BTCUSDT_4h.csv")


def test_a_malformed_data_file_is_one_line(tmp_path):
    bad = tmp_path / "BTCUSDT_4h.csv"
    bad.write_text("open_time_ms,timestamp,open,high,low,close,volume\n1,2020-01-01T00:00:00Z,1,0.5,2,1,1\n")
    refused(cockpit("backtest", "--data", str(bad)), "BTCUSDT_4h.csv", "high < low")


def test_a_file_named_without_a_symbol_is_one_line(tmp_path):
    odd = _bars(tmp_path / "prices.csv")
    refused(cockpit("backtest", "--data", str(odd)), "prices.csv")


def test_a_malformed_funding_file_is_one_line(tmp_path, btc):
    funding = tmp_path / "BTCUSDT_funding_8h.csv"
    funding.write_text("funding_time,funding_rate\n2021-01-01T00:00:00Z,abc\n")
    refused(cockpit("backtest", "--data", str(btc), "--funding", str(funding)), "BTCUSDT_funding_8h.csv")


@pytest.mark.parametrize("args, expected", [
    (["--from", "yesterday-ish"], "--from"),
    (["--from", "2021-02-01", "--to", "2021-01-01"], "not before"),
    (["--from", "2030-01-01"], "fewer than two bars"),
    (["--strategies", "cockpit,moonshot"], "moonshot"),
    (["--veto", "1.5"], "--veto"),
    (["--delay-bars", "-1"], "--delay-bars"),
    (["--workers", "0"], "--workers"),
    (["--sweep", "portfolio.target_leverage"], "--sweep"),
    (["--sweep", "portfolio.nonsense=1,2"], "nonsense"),
    (["--sweep", "portfolio.target_leverage=-1,2"], "target_leverage"),
])
def test_bad_options_are_one_line_and_run_nothing(tmp_path, btc, args, expected):
    out = tmp_path / "out.json"
    refused(cockpit("backtest", "--data", str(btc), "--json", str(out), "--journal-dir", str(tmp_path / "j"), *args),
            expected)
    assert not out.exists()


def test_files_of_different_intervals_are_refused(tmp_path, btc):
    eth = tmp_path / "ETHUSDT_1h.csv"
    frame = pd.read_csv(_bars(tmp_path / "x.csv"))
    frame["open_time_ms"] = frame["open_time_ms"].iloc[0] + 3_600_000 * pd.Series(range(len(frame)))
    frame.to_csv(eth, index=False)
    refused(cockpit("backtest", "--data", str(btc), "--data", str(eth)), "different bar lengths")


def test_a_small_run_prints_the_tables_and_writes_the_json(tmp_path, btc):
    out = tmp_path / "out.json"
    result = cockpit("backtest", "--data", str(btc), "--strategies", "hold_1x,static_3x,static_10x", "--json", str(out),
                     "--workers", "1", "--plot")
    assert result.returncode == 0, result.stderr
    assert "| hold_1x" in result.stdout and "| static_10x" in result.stdout
    assert "3x survives what 10x does not" in result.stdout and "not measured" in result.stdout
    assert "equity (USDT, log10)" in result.stdout and "drawdown (%)" in result.stdout
    document = json.loads(out.read_text())
    assert set(document["strategies"]) == {"hold_1x", "static_3x", "static_10x"}
    for figures in document["strategies"].values():
        assert FIGURES <= set(figures)
    assert {c["verdict"] for c in document["claims"]} <= {"holds", "does not hold", "not measured"}
    assert len(document["claims"]) == 4


def test_a_sweep_prints_one_row_per_grid_point(tmp_path, btc):
    out = tmp_path / "sweep.json"
    result = cockpit("backtest", "--data", str(btc), "--sweep", "portfolio.target_leverage=1,2", "--sweep",
                     "portfolio.drift_band=0.05,0.1", "--json", str(out), "--workers", "2")
    assert result.returncode == 0, result.stderr
    names = list(json.loads(out.read_text())["strategies"])
    assert names == [f"portfolio.target_leverage={lev} portfolio.drift_band={band}"
                     for lev in (1, 2) for band in (0.05, 0.1)]
    assert all(name in result.stdout for name in names)
