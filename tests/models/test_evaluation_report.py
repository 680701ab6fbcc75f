"""The `cockpit models evaluate` report without the command line: input checks on synthetic bars,
the volatility table's numbers against the walk-forward's own, the default-model line, and a
daily-bar run where the 4h horizon does not exist."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cockpit.models import evaluation_report as er
from cockpit.models import vol_evaluation as ve
from cockpit.models import volatility as vol
from cockpit.models.regime_evaluation import evaluate_regimes, format_evaluation


def bars(n: int, *, freq: str = "4h", start: str = "2020-01-01", seed: int = 0) -> pd.DataFrame:
    """Bars like `load_bars` returns (only what the report reads): closes of a random walk with
    GARCH-like volatility clusters, indexed by open time (UTC)."""
    rng = np.random.default_rng(seed)
    v, r = 1e-4, np.empty(n)
    for i in range(n):
        r[i] = math.sqrt(v) * rng.standard_t(6) / math.sqrt(1.5)
        v = 2e-6 + 0.08 * r[i] ** 2 + 0.9 * v
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="timestamp")
    return pd.DataFrame({"close": 100.0 * np.exp(np.cumsum(r))}, index=index)


def kline(name: str, frame: pd.DataFrame) -> er.KlineFile:
    return er.KlineFile(name, frame)


# --- input ----------------------------------------------------------------------------------------


def test_asset_names_come_from_the_file_name():
    assert kline("BTCUSDT_4h.csv.gz", bars(3)).asset == "BTC"
    assert kline("ETHUSDT_perp_1h_with_mark.csv.gz", bars(3)).asset == "ETH"
    assert kline("prices.csv", bars(3)).asset == "prices"


def test_bar_length_is_the_most_common_spacing():
    frame = bars(50)
    gappy = frame.drop(frame.index[[10, 11, 30]])  # outages leave 8h and 12h steps
    assert er.bar_seconds(gappy.index) == 14_400
    assert er.bar_seconds(frame.index[:1]) == 0


def test_the_window_and_its_inclusive_dates():
    frame = bars(1_100, start="2020-01-01")  # 4h bars to 2020-07-03 20:00
    plan = er.plan_evaluation([kline("BTCUSDT_4h.csv", frame)], start="2020-01-02",
                              end="2020-06-30")
    close = plan.closes["BTC"]
    assert close.index[0] == pd.Timestamp("2020-01-02", tz="UTC")
    assert close.index[-1] == pd.Timestamp("2020-06-30 20:00", tz="UTC")  # the whole last day
    assert plan.bars_per_day == 6 and plan.bar_length == 14_400
    assert list(plan.common.columns) == ["BTC"] and len(plan.common) == len(close)


def test_common_closes_are_the_times_every_file_has():
    btc, eth = bars(1_100, seed=1), bars(1_100, seed=2).iloc[5:]
    plan = er.plan_evaluation([kline("BTCUSDT_4h.csv", btc), kline("ETHUSDT_4h.csv", eth)])
    assert list(plan.common.columns) == ["BTC", "ETH"]
    assert plan.common.index.equals(eth.index)
    assert len(plan.closes["BTC"]) == 1_100  # each asset's volatility uses all its own bars


@pytest.mark.parametrize(
    ("files", "options", "expected"),
    [
        ([], {}, "at least one --data"),
        (["BTCUSDT_1d.csv"], {}, "BTCUSDT_1d.csv: has 1d bars, not 4h"),
        (["BTCUSDT_4h.csv"], {"timeframe": "1h"}, "not resampled"),
        (["BTCUSDT_4h.csv"], {"timeframe": "4H"}, "'4H' is not a kline interval"),
        (["BTCUSDT_4h.csv"], {"timeframe": "15m"}, "96 bars"),
        (["BTCUSDT_4h.csv"], {"start": "2020-06-01"}, "needs at least 1,007"),
        (["BTCUSDT_4h.csv"], {"start": "soon"}, "--from: expected a date like 2024-01-31"),
        (["BTCUSDT_4h.csv"], {"end": "2020-02-30"}, "--to: expected a date"),
        (["BTCUSDT_4h.csv"], {"start": "2020-03-01", "end": "2020-02-01"}, "is after --to"),
        (["BTCUSDT_4h.csv"], {"recent_days": 0}, "--recent-days"),
        (["BTCUSDT_4h.csv", "BTCUSDT_4h.csv.gz"], {}, "a second file for BTC"),
        (["BTCUSDT_one.csv"], {}, "BTCUSDT_one.csv: one bar is not a history"),
    ],
)
def test_bad_input_is_one_clear_line(files, options, expected):
    frames = {"1d": bars(1_100, freq="1D"), "4h": bars(1_100), "one": bars(1)}
    given = [kline(name, frames[next((k for k in frames if f"_{k}" in name), "4h")])
             for name in files]
    with pytest.raises(er.EvaluationInputError) as caught:
        er.plan_evaluation(given, **options)
    message = str(caught.value)
    assert expected in message and "\n" not in message


def test_too_little_data_says_how_many_bars_are_needed():
    with pytest.raises(er.EvaluationInputError, match=r"1,006 4h bars; .* at least 1,007"):
        er.plan_evaluation([kline("BTCUSDT_4h.csv", bars(1_006))])
    er.plan_evaluation([kline("BTCUSDT_4h.csv", bars(1_007))])  # exactly enough
    assert er.bars_needed(86_400) == 1_000 + 1 + 1  # daily bars: only the 24h horizon, 1 bar


def test_files_that_share_no_time_are_refused():
    early, late = bars(1_100, start="2019-01-01"), bars(1_100, start="2021-01-01")
    with pytest.raises(er.EvaluationInputError, match="share 0 bar times"):
        er.plan_evaluation([kline("BTCUSDT_4h.csv", early), kline("ETHUSDT_4h.csv", late)])


# --- the tables -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def result() -> ve.WalkForwardResult:
    returns = np.log(bars(1_300, seed=4)["close"]).diff().iloc[1:]
    return ve.walk_forward(returns, horizon_bars=6, refit_every=60)


def test_volatility_table_numbers_are_the_walk_forwards(result):
    table = er.volatility_table(result, 24)
    losses = result.mean_losses()
    assert [row.model for row in table.rows] == list(vol.ALL_MODELS)
    assert table.origins == result.origins.size and table.horizon_bars == 6
    assert table.first == result.timestamps[0] and table.last == result.timestamps[-1]
    ewma_loss = vol.qlike(result.realized, result.forecasts["ewma"])
    for row in table.rows:
        assert row.qlike == losses[row.model]["qlike"]
        assert row.mse == pytest.approx(losses[row.model]["mse"] * 1e8)  # (fraction^2)^2 -> (%^2)^2
        assert row.refits == result.refits[row.model]
        assert row.fallbacks == len(result.notes[row.model])
        if row.model == "ewma":
            assert row.dm_statistic is None and row.dm_p_value is None
        else:
            dm = ve.diebold_mariano(vol.qlike(result.realized, result.forecasts[row.model]),
                                    ewma_loss, horizon_bars=6)
            assert (row.dm_statistic, row.dm_p_value) == pytest.approx((dm.statistic, dm.p_value))
    assert table.best == ve.best_model(result)[0]


def test_volatility_table_text(result):
    lines = er.volatility_table(result, 24).lines()
    head = f"volatility 24h ahead (6 bars): {result.origins.size:,} out-of-sample forecasts"
    assert lines[0].startswith(head)
    assert lines[1].split() == ["model", "QLIKE", "MSE", "(%²)²", "DM", "vs", "EWMA", "p-value",
                                "fit", "s", "refits", "fallbacks"]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert list(rows) == list(vol.ALL_MODELS)
    assert rows["ewma"].split()[3:5] == ["—", "—"]
    best = ve.best_model(result)[0]
    assert [m for m, line in rows.items() if "*" in line] == [best]
    assert max(len(line) for line in lines[1:]) <= 80


def test_default_model_line(result):
    lines = er.default_model_lines(result, recent_days=30, bars_per_day=6)
    model, means = ve.best_model(result, recent_bars=180)
    assert lines[0] == f"default model: {model} (best 24h QLIKE over the last 30 days)"
    assert lines[1].split()[3:5] == [model, f"{means[model]:.4f}"]  # "over those days: best"
    # A window longer than the out-of-sample history is all of it, and says how long that is.
    everything = er.default_model_lines(result, recent_days=10_000, bars_per_day=6)
    assert everything[0] == (f"default model: {ve.best_model(result)[0]} (best 24h QLIKE over "
                             f"the last {result.origins.size // 6} days)")


def test_regime_lines_are_the_regime_evaluation():
    btc, eth = bars(1_100, seed=1), bars(1_100, seed=2)
    plan = er.plan_evaluation([kline("BTCUSDT_4h.csv", btc), kline("ETHUSDT_4h.csv", eth)])
    lines = er.regime_lines(plan, "ETH")
    assert lines[0].startswith("regime 14 days ahead: ETH with BTC for correlation, 1,100 common")
    expected = evaluate_regimes(plan.common, target="ETH", bars_per_day=6)
    assert lines[1] == format_evaluation(expected)


def test_daily_bars_have_no_4h_horizon():
    plan = er.plan_evaluation([kline("BTCUSDT_1d.csv", bars(1_050, freq="1D", seed=5))],
                              timeframe="1d", recent_days=20)
    report = next(plan.reports())
    assert "volatility 24h ahead (1 bar):" in report
    assert "volatility 4h ahead: not a whole number of 1d bars, not evaluated" in report
    assert "(best 24h QLIKE over the last 20 days)" in report
    assert "regime 14 days ahead: BTC alone (no correlation), 1,050 1d closes" in report
