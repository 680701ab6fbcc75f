"""Fuzz drill: bad config files, bad kline CSVs and garbage exchange answers.

Every generated case is bad by construction. What the trader must get: one clear line (exit 2 on
the command line, HistoryError/ReplayDataError in the loaders, a mapped ExchangeFailure or a safe
"unknown" from the exchange adapter), never a traceback, and a journal left byte for byte as it
was. The cases run per family are printed at the end (`-m drills -s`, or in the summary).

Run: .venv/bin/pytest -m drills tests/drills/test_fuzz_inputs.py
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import subprocess
from collections import Counter, defaultdict
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cockpit.backtest.market import HistoryError, load_history
from cockpit.cli import main
from cockpit.journal.store import Journal
from cockpit.venues.replay import ReplayDataError, ReplaySource, load_bars
from tests.drills.fuzz_inputs_support import (
    CASES,
    HEADER,
    CONFIG_FAMILIES,
    CSV_FAULTS,
    BadConfig,
    BadCsv,
    Fingerprint,
    bad_configs,
    bad_csvs,
    count,
    csv_text,
    env_cases,
    gzipped,
    kline_rows,
    one_clear_line,
)
from tests.drills.fuzz_inputs_exchange import finite_positive, garbage, stated_numbers

pytestmark = pytest.mark.drills

REPO = Path(__file__).resolve().parents[2]
COCKPIT = REPO / ".venv" / "bin" / "cockpit"

# Each example runs the real command line in this process: no deadline, and the function-scoped
# fixtures (a folder, a journal) are shared by the examples on purpose: none may change them.
# COCKPIT_DRILL_SCALE=10 runs ten times the cases (with HYPOTHESIS_PROFILE=explore: fresh ones).
SCALE = float(os.environ.get("COCKPIT_DRILL_SCALE", "1"))


def drill(examples: int) -> settings:
    """Returns the hypothesis settings of a drill test running `examples` cases (times SCALE)."""
    return settings(max_examples=max(1, round(examples * SCALE)), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def journal(tmp_path_factory) -> Path:
    """A real journal with a few rows: the file every bad input is pointed at."""
    path = tmp_path_factory.mktemp("journal") / "journal.sqlite"

    async def write() -> None:
        async with await Journal.open(path) as opened:
            await opened.append("deposit", {"amount": 10_000.0}, account="paper-drill")
            await opened.append("note", {"text": "the fuzz drill's journal: nothing may change it"}, account="paper-drill")

    asyncio.run(write())
    return path


@pytest.fixture(scope="module", autouse=True)
def report_counts(request):
    """Prints the cases run per family when the module is done."""
    yield
    lines = [f"  {family}: {n}" for family, n in sorted(CASES.items())]
    text = f"\nfuzz drill cases ({sum(CASES.values())} in all):\n" + "\n".join(lines)
    if EXCHANGE_OUTCOMES:
        text += "\nexchange outcomes:\n" + "\n".join(
            f"  {operation}: " + ", ".join(f"{outcome} {n}" for outcome, n in outcomes.most_common())
            for operation, outcomes in EXCHANGE_OUTCOMES.items())
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(text)


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Returns (exit status, stdout, stderr) of the real command line run in this process."""
    capsys.readouterr()
    try:
        status = main(argv)
    except SystemExit as leaving:  # argparse's own exit
        status = leaving.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def config_file(folder: Path, data: bytes) -> Path:
    """Writes a private config file (a live [exchange] file must be 600; here every file is)."""
    path = folder / "bad.toml"
    path.write_bytes(data)
    path.chmod(0o600)
    return path


# ---- config files ----------------------------------------------------------------------------------

# Commands that refuse a bad config before anything else; none of them writes when the config is good.
CONFIG_COMMANDS = [["check"], ["status"], ["journal"], ["journal", "verify"], ["status", "--json"]]


@pytest.mark.parametrize("family", CONFIG_FAMILIES)
@drill(52)
@given(data=st.data(), command=st.sampled_from(CONFIG_COMMANDS), existing=st.booleans())
def test_a_bad_config_file_is_one_line_and_exit_2_and_the_journal_is_untouched(family, data, command, existing,
                                                                               tmp_path, journal, capsys):
    case: BadConfig = data.draw(bad_configs(family))
    count(f"config file: {case.family}")
    if case.names == ("ui.theme",):
        command = ["check"]  # an unknown theme matters to the screen (and check); status draws without it
    if not existing:  # a journal that does not exist yet must not be created by a refused command
        journal = tmp_path / "not-yet" / "journal.sqlite"
    before = Fingerprint.of(journal)
    path = config_file(tmp_path, case.data)
    status, out, err = run_cli([*command[:1], "--config", str(path), "--journal", str(journal), *command[1:]], capsys)
    line = one_clear_line(err, out)
    assert status == 2, (status, line)
    assert out == ""
    if case.names:
        assert any(name in line for name in case.names) or "must not hold API keys" in line, (case, line)
    else:
        assert path.name in line and ("not valid TOML" in line or "not a text file" in line), line
    assert Fingerprint.of(journal) == before
    assert existing or not journal.parent.exists()


@drill(60)
@given(case=env_cases())
def test_a_bad_environment_value_is_one_line_naming_the_key(case, tmp_path, journal, capsys):
    variable, raw, name = case
    count("config: COCKPIT_* environment value")
    before = Fingerprint.of(journal)
    with mock.patch.dict(os.environ, {variable: raw}):
        status, out, err = run_cli(["check", "--journal", str(journal)], capsys)
    line = one_clear_line(err, out)
    assert status == 2 and name in line, (case, line)
    assert Fingerprint.of(journal) == before


@drill(8)
@given(case=bad_configs(), command=st.sampled_from([["check"], ["--demo"]]))
def test_a_bad_config_through_the_installed_command(case: BadConfig, command, tmp_path, journal):
    # The real executable in a process of its own: its excepthook, its stderr, its exit status.
    # `cockpit --demo` with a bad config must refuse before the screen opens.
    count(f"config file: {case.family} (subprocess)")
    before = Fingerprint.of(journal)
    path = config_file(tmp_path, case.data)
    result = subprocess.run([str(COCKPIT), "--config", str(path), "--journal", str(journal), *command],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path, errors="replace",
                            env={**os.environ, "COCKPIT_DEBUG": ""})
    one_clear_line(result.stderr, result.stdout)
    assert result.returncode == 2
    assert Fingerprint.of(journal) == before


# ---- kline CSVs ------------------------------------------------------------------------------------


def data_file(folder: Path, case: BadCsv) -> Path:
    path = folder / f"BTCUSDT_4h{case.suffix}"
    path.write_bytes(case.data)
    return path


@pytest.mark.parametrize("how", CSV_FAULTS)
@drill(16)
@given(data=st.data())
def test_a_bad_kline_file_is_one_line_in_the_loaders(how, data, tmp_path):
    case: BadCsv = data.draw(bad_csvs(how))
    count(f"kline CSV: {case.how}")
    path = data_file(tmp_path, case)
    with pytest.raises(ReplayDataError) as replay:
        load_bars(path)
    assert str(replay.value).startswith(f"{path.name}: ") and "\n" not in str(replay.value)
    with pytest.raises(ReplayDataError):
        ReplaySource([path])
    with pytest.raises(HistoryError) as history:
        load_history([path])
    assert str(history.value).startswith(f"{path.name}: ") and "\n" not in str(history.value)


def _backtest(path: Path, tmp_path: Path) -> list[str]:
    return ["backtest", "--data", str(path), "--strategies", "cockpit", "--workers", "1",
            "--journal-dir", str(tmp_path / "runs")]


CSV_COMMANDS = {
    "backtest": _backtest,
    "replay": lambda path, tmp: ["--replay", str(path)],
    "models evaluate": lambda path, tmp: ["models", "evaluate", "--data", str(path)],
    "targets": lambda path, tmp: ["targets", str(path), str(path.with_name("ETHUSDT_4h.csv"))],
}


@drill(80)
@given(case=bad_csvs(), command=st.sampled_from(sorted(CSV_COMMANDS)))
def test_a_bad_kline_file_on_the_command_line_is_one_line_and_exit_2(case: BadCsv, command, tmp_path, journal, capsys):
    count(f"kline CSV on the command line: {command}")
    before = Fingerprint.of(journal)
    path = data_file(tmp_path, case)
    if command == "targets":  # targets needs two assets: the other one is good
        path.with_name("ETHUSDT_4h.csv").write_text(csv_text(HEADER, _good_rows()))
    status, out, err = run_cli([*CSV_COMMANDS[command](path, tmp_path), "--journal", str(journal)]
                               if command == "replay" else CSV_COMMANDS[command](path, tmp_path), capsys)
    line = one_clear_line(err, out)
    assert status == 2 and path.name in line, (case.how, line)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    assert Fingerprint.of(journal) == before


def _good_rows() -> list[list[str]]:
    return [[str(1_583_971_200_000 + i * 14_400_000), "x", "100", "110", "90", "105", "1"] for i in range(40)]


@drill(30)
@given(rows=kline_rows(min_rows=2, max_rows=30),
       endings=st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=1, max_size=4), packed=st.booleans())
def test_line_endings_and_gzip_do_not_change_the_bars(rows, endings, packed, tmp_path):
    # Mixed line endings are not an error: the same rows give the same bars.
    count("kline CSV: mixed line endings (valid)")
    plain = tmp_path / "plain" / "BTCUSDT_4h.csv"
    plain.parent.mkdir(exist_ok=True)
    plain.write_text(csv_text(HEADER, rows))
    mixed = tmp_path / ("BTCUSDT_4h.csv.gz" if packed else "BTCUSDT_4h.csv")
    text = csv_text(HEADER, rows, endings).encode()
    mixed.write_bytes(gzipped(text) if packed else text)
    assert load_bars(mixed).equals(load_bars(plain))


@st.composite
def extreme_but_readable(draw) -> list[list[str]]:
    """Kline rows the loader accepts but no market prints: prices from 1e-300 to 1e300, a close
    outside its bar's range, gaps of years."""
    rows = [list(r) for r in draw(kline_rows(min_rows=3, max_rows=25))]
    scale = draw(st.sampled_from(["1e-300", "1e-12", "1e-6", "1e12", "1e100", "1e300"]))
    for row in rows:
        for column in (2, 3, 4, 5):
            row[column] = repr(float(row[column]) * float(scale))
    if draw(st.booleans()):
        k = draw(st.integers(0, len(rows) - 1))
        rows[k][5] = repr(float(rows[k][3]) * 3)  # close above the bar's high
    if draw(st.booleans()):
        k = draw(st.integers(1, len(rows) - 1))
        for row in rows[k:]:
            row[0] = str(int(row[0]) + 3 * 365 * 86_400_000)  # a three-year hole
    return rows


@drill(14)
@given(rows=extreme_but_readable())
def test_absurd_but_readable_prices_run_through_the_engine_without_a_traceback(rows, tmp_path, capsys):
    # Not malformed, so no refusal is owed; what is owed: the real engine runs over them without
    # an exception escaping (a crash used to come out of the stop arithmetic at 1e-12).
    count("kline CSV: absurd prices through the backtest engine")
    path = tmp_path / "BTCUSDT_4h.csv"
    path.write_text(csv_text(HEADER, rows))
    status, out, err = run_cli(_backtest(path, tmp_path), capsys)
    assert "Traceback" not in out + err
    if status != 0:
        # A three-year hole over a crash month of the claims ends the backtest with one line
        # (its crash run has no bars): a refusal, not a crash (README, Reliability drills).
        one_clear_line(err)
        assert status == 2 and "fewer than two bars" in err, err


# ---- exchange answers ------------------------------------------------------------------------------
#
# The real ccxt client, through cockpit's adapter (cockpit/venues/exchange.py, exchange_venue.py,
# exchange_source.py), against the fake Binance of tests/live with one endpoint answering garbage
# once (a blip the retries must ride out) or on every try (the failure must come out mapped).

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
TRADED = {BTC: "BTCUSDT", ETH: "ETHUSDT"}
ORDER, ALGO = "/fapi/v1/order", "/fapi/v1/algoOrder"
CLIENT_TIMEOUT = 0.8  # seconds; the fake's "timeout" answers after 1.2 (a busy machine answers well within 0.8)


@pytest.fixture(scope="module")
def exchange_loop():
    """One event loop for the exchange examples and a GarbageBinance serving in it, holding a
    BTC long and an ETH short (so position reports have rows to spoil)."""
    from tests.drills.fuzz_inputs_exchange import GarbageBinance
    from tests.live.conftest import KEY, SECRET

    runner = asyncio.Runner()
    server = GarbageBinance(key=KEY, secret=SECRET, timeout_sleep=1.5 * CLIENT_TIMEOUT, push_interval=0.5, wallet=1_000_000)
    runner.run(server.start())
    server.fill_while_away("BTCUSDT", "BUY", "0.5", price="60000")
    server.fill_while_away("ETHUSDT", "SELL", "2", price="3000")
    yield runner, server
    runner.run(server.stop())
    runner.close()


def _exchange(url: str):
    from cockpit.secrets import Credentials
    from cockpit.venues.exchange import Exchange
    from tests.drills.fuzz_inputs_exchange import no_wait
    from tests.live.conftest import KEY, SECRET

    def unthrottled(config):
        import ccxt.pro

        return ccxt.pro.binanceusdm({**config, "enableRateLimit": False, "timeout_on_exit": 0})

    return Exchange("binanceusdm", credentials=Credentials(KEY, SECRET, source="environment"), factory=unthrottled,
                    api_url=url, timeout_seconds=CLIENT_TIMEOUT, sleep=no_wait)


def _mapped(failure: BaseException) -> str:
    """Checks a failure is ours and one line; returns its label."""
    from cockpit.venues.exchange_errors import ExchangeFailure

    assert isinstance(failure, ExchangeFailure), f"not mapped: {type(failure).__name__}: {failure}"
    text = str(failure)
    assert text and "\n" not in text and "Traceback" not in text, text
    return failure.label


def _last_json(server, method: str, path: str, since: int):
    answers = [s for s in server.sent[since:] if s.method == method and s.path == path]
    return answers[-1].json() if answers else None


def _stated_positions(body) -> dict[str, tuple[float, float]]:
    """{market id: (signed quantity, entry price)} of the rows a position report stated."""
    out = {}
    for row in body if isinstance(body, list) else []:
        if not isinstance(row, dict) or row.get("symbol") not in TRADED.values():
            continue
        try:
            quantity, entry = float(row.get("positionAmt")), float(row.get("entryPrice"))
        except (TypeError, ValueError):
            continue
        if quantity:
            out[row["symbol"]] = (quantity, entry)
    return out


def _check_positions(positions, body) -> None:
    """No position the report did not state; none stated (well-formed) left out as flat."""
    stated = _stated_positions(body)
    for symbol, position in positions.items():
        market = TRADED[symbol]
        assert market in stated, f"{symbol} believed held, the answer states no such position: {body!r}"[:800]
        assert position.quantity == pytest.approx(stated[market][0]), (position, stated[market])
        assert finite_positive(position.entry_price), f"{symbol} believed held at entry {position.entry_price}"
        assert position.entry_price == pytest.approx(stated[market][1])
    for market, (quantity, entry) in stated.items():
        symbol = next(s for s, m in TRADED.items() if m == market)
        if math.isfinite(quantity) and finite_positive(entry):
            assert symbol in positions, f"{market} {quantity} stated but believed flat"


async def _op_instruments(server, ex, g, times, draw) -> str:
    # Every op draws first and talks to the exchange after: the draws must not depend on the network.
    path = draw(st.sampled_from(["/fapi/v1/exchangeInfo", "/fapi/v1/leverageBracket"]))
    server.spoil("GET", path, g, times)
    try:
        got = await ex.instruments([BTC, ETH])
    except Exception as failure:  # noqa: BLE001 - judged right here
        return _mapped(failure)
    assert set(got) <= {BTC, ETH}
    for instrument in got.values():
        for figure in (instrument.step_size, instrument.tick_size, instrument.min_notional):
            assert finite_positive(figure), instrument
        assert instrument.tiers and all(0 <= t.maintenance_margin_rate < 1 for t in instrument.tiers), instrument
    return "answered"


async def _op_marks(server, ex, g, times, draw) -> str:
    await ex.instruments([BTC, ETH])
    since = len(server.sent)
    server.spoil("GET", "/fapi/v1/premiumIndex", g, times)
    try:
        got = await ex.marks([BTC, ETH])
    except Exception as failure:  # noqa: BLE001
        return _mapped(failure)
    body = _last_json(server, "GET", "/fapi/v1/premiumIndex", since)
    rows = body if isinstance(body, list) else [body]
    for symbol, (mark, rate) in got.items():
        assert finite_positive(mark) and (rate is None or math.isfinite(rate))
        stated = {float(r["markPrice"]) for r in rows if isinstance(r, dict) and r.get("symbol") == TRADED[symbol]
                  and _float_or_nan(r.get("markPrice")) == _float_or_nan(r.get("markPrice"))}
        assert mark in stated, f"{symbol} mark {mark} is not in the answer {body!r}"[:800]
    return "answered"


def _float_or_nan(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


async def _op_account(server, ex, g, times, draw) -> str:
    path = draw(st.sampled_from(["/fapi/v3/account", "/fapi/v3/positionRisk", "/fapi/v3/positionRisk",
                                 "/fapi/v1/leverageBracket"]))
    await ex.instruments([BTC, ETH])
    since = len(server.sent)
    server.spoil("GET", path, g, times)
    try:
        balance, positions = await ex.account([BTC, ETH])
    except Exception as failure:  # noqa: BLE001
        return _mapped(failure)
    assert math.isfinite(balance.wallet)
    account = _last_json(server, "GET", "/fapi/v3/account", since)
    assert balance.wallet in stated_numbers(account, "totalWalletBalance") | stated_numbers(account, "walletBalance") \
        | stated_numbers(account, "marginBalance"), f"wallet {balance.wallet} not in {account!r}"[:800]
    _check_positions(positions, _last_json(server, "GET", "/fapi/v3/positionRisk", since))
    return "answered"


async def _venue(ex):
    from cockpit.venues.exchange_venue import ExchangeVenue
    from tests.drills.fuzz_inputs_exchange import no_wait

    instruments = await ex.instruments([BTC, ETH])
    balance, positions = await ex.account([BTC, ETH])
    return ExchangeVenue(ex, instruments, balance, positions, await ex.open_orders([BTC, ETH]), sleep=no_wait,
                         not_found_grace_seconds=60.0)


SUBMITTED = Counter()


async def _op_submit(server, ex, g, times, draw) -> str:
    from cockpit.domain.types import Order

    SUBMITTED["n"] += 1
    cid = f"ckfuzz-{SUBMITTED['n']}-0"
    stop = draw(st.booleans())
    if stop:  # a protective stop under the BTC long, as a rebalance sends it
        order = Order(BTC, "sell", 0.002, reduce_only=True, order_type="stop_market", stop_price=40_000, client_order_id=cid)
        paths = [("POST", ALGO), ("GET", ALGO)]
    else:
        order = Order(BTC, draw(st.sampled_from(["buy", "sell"])), 0.002, client_order_id=cid)
        paths = [("POST", ORDER), ("POST", ORDER), ("GET", ORDER), ("GET", "/fapi/v3/account"), ("GET", "/fapi/v3/positionRisk")]
    method, path = draw(st.sampled_from(paths))
    venue = await _venue(ex)
    since = len(server.sent)
    server.spoil(method, path, g, times)
    result = await venue.submit(order)
    create = ALGO if stop else ORDER
    sends = [s for s in server.sent[since:] if s.method == "POST" and s.path == create]
    assert len(sends) == 1, f"the order went out {len(sends)} times"
    assert result.status in ("filled", "rejected", "unknown", "open") and "\n" not in result.reason
    placed = server.orders_by_client_id(cid)
    if not placed:
        assert result.status in ("rejected", "unknown"), f"{result} but the exchange never placed {cid}"
    assert (result.status == "unknown") == (venue.unresolved == 1)
    if result.fill is not None:
        answers = [s.json() for s in server.sent[since:] if s.path in (create, ORDER)]
        stated = set().union(*(stated_numbers(a, "executedQty") for a in answers))
        assert result.fill.quantity in stated, f"fill {result.fill.quantity} not stated in {answers!r}"[:800]
        assert 0 < result.fill.quantity <= order.quantity * (1 + 1e-9), f"filled {result.fill.quantity} of {order.quantity}"
        assert finite_positive(result.fill.price) and math.isfinite(result.fill.fee)
    return result.status


async def _op_lookup(server, ex, g, times, draw) -> str:
    from cockpit.domain.types import Order

    await ex.instruments([BTC, ETH])
    SUBMITTED["n"] += 1
    order = Order(BTC, "buy", 0.002, client_order_id=f"ckfuzz-{SUBMITTED['n']}-0")
    assert (await ex.submit(order)).status == "filled"
    server.spoil("GET", ORDER, g, times)
    try:
        result = await ex.lookup(order)
    except Exception as failure:  # noqa: BLE001
        return _mapped(failure)
    assert result.status in ("filled", "rejected", "open")
    if result.fill is not None:
        assert 0 < result.fill.quantity <= order.quantity * (1 + 1e-9) and finite_positive(result.fill.price)
    return result.status


async def _resting_stop(server, ex):
    from cockpit.domain.types import Order

    await ex.instruments([BTC, ETH])
    SUBMITTED["n"] += 1
    stop = Order(BTC, "sell", 0.002, reduce_only=True, order_type="stop_market", stop_price=40_000,
                 client_order_id=f"ckfuzz-{SUBMITTED['n']}-1")
    assert (await ex.submit(stop)).status == "open"
    return stop


async def _op_cancel(server, ex, g, times, draw) -> str:
    stop = await _resting_stop(server, ex)
    server.spoil("DELETE", ALGO, g, times)
    try:
        cancelled = await ex.cancel(BTC, stop.client_order_id, stop=True)
    except Exception as failure:  # noqa: BLE001
        return _mapped(failure)
    assert cancelled in (True, False)
    if cancelled:  # it said done: it must be gone
        assert not [o for o in server.open_orders("BTCUSDT", "algo") if o.client_id == stop.client_order_id]
    return f"cancelled={cancelled}"


async def _op_open_orders(server, ex, g, times, draw) -> str:
    path = draw(st.sampled_from(["/fapi/v1/openOrders", "/fapi/v1/openAlgoOrders"]))
    await _resting_stop(server, ex)
    since = len(server.sent)
    server.spoil("GET", path, g, times)
    try:
        orders = await ex.open_orders([BTC, ETH])
    except Exception as failure:  # noqa: BLE001
        return _mapped(failure)
    stated = [s.json() for s in server.sent[since:] if s.path in ("/fapi/v1/openOrders", "/fapi/v1/openAlgoOrders")]
    ids = {str(v) for body in stated for row in (body if isinstance(body, list) else []) if isinstance(row, dict)
           for v in (row.get("clientAlgoId"), row.get("clientOrderId"), row.get("algoId"), row.get("orderId")) if v}
    for order in orders:
        assert finite_positive(order.quantity), order
        assert order.client_order_id in ids, f"{order.client_order_id} is in no answer"
    return "answered"


async def _op_sync(server, ex, g, times, draw) -> str:
    path = draw(st.sampled_from(["/fapi/v1/openOrders", "/fapi/v1/openAlgoOrders", "/fapi/v1/premiumIndex",
                                 "/fapi/v1/income", "/fapi/v1/forceOrders", "/fapi/v3/account", "/fapi/v3/positionRisk"]))
    venue = await _venue(ex)
    await _resting_stop(server, ex)
    venue._resting.update({o.client_order_id: o for o in await ex.open_orders([BTC, ETH])})  # noqa: SLF001 - as after a submit
    since = len(server.sent)
    server.spoil("GET", path, g, times)
    try:
        await venue.sync()
    except Exception as failure:  # noqa: BLE001
        return _mapped(failure)
    _check_positions(venue.account()[1], _last_json(server, "GET", "/fapi/v3/positionRisk", since))
    for event in venue.observe(_tick(BTC, 60_000.0)):
        quantity = getattr(getattr(event, "fill", event), "quantity", None)
        assert quantity is None or finite_positive(quantity), event
    return "answered"


def _tick(symbol: str, price: float):
    from cockpit.domain.types import Tick

    return Tick(symbol, 0.0, price, price, price)


async def _op_rest_ticks(server, ex, g, times, draw) -> str:
    from cockpit.venues.exchange_source import ExchangeSource
    from tests.drills.fuzz_inputs_exchange import no_wait

    instruments = await ex.instruments([BTC, ETH])
    since = len(server.sent)
    server.spoil("GET", "/fapi/v1/premiumIndex", g, min(times, 3))  # then it answers again
    source = ExchangeSource(ex, instruments, stream=False, poll_seconds=0.0, sleep=no_wait)
    stream = source.ticks()
    try:
        ticks = [await asyncio.wait_for(anext(stream), 10) for _ in range(4)]
    finally:
        await stream.aclose()
    stated = set()
    for s in server.sent[since:]:
        if s.path == "/fapi/v1/premiumIndex":
            stated |= stated_numbers(s.json(), "markPrice")
    for tick in ticks:
        assert tick.symbol in instruments and finite_positive(tick.price) and tick.price in stated, tick
    return "ticks"


async def _op_closes(server, ex, g, times, draw) -> str:
    await ex.instruments([BTC, ETH])
    server.spoil("GET", "/fapi/v1/klines", g, times)
    try:
        times_, closes = await ex.closes(BTC, bars=50)
    except Exception as failure:  # noqa: BLE001
        return _mapped(failure)
    assert len(times_) == len(closes) and times_ == sorted(times_) and all(map(finite_positive, closes))
    return "answered"


async def _op_heartbeat(server, ex, g, times, draw) -> str:
    await ex.instruments([BTC, ETH])
    server.spoil("POST", "/fapi/v1/countdownCancelAll", g, times)
    try:
        armed = await ex.heartbeat([BTC, ETH], 60.0)
    except Exception as failure:  # noqa: BLE001
        return _mapped(failure)
    assert armed is True
    return "answered"


EXCHANGE_OPS = {
    "markets (exchangeInfo, leverage brackets)": _op_instruments,
    "mark prices (premiumIndex)": _op_marks,
    "account (balance, positionRisk)": _op_account,
    "order create": _op_submit,
    "order query": _op_lookup,
    "order cancel": _op_cancel,
    "open orders": _op_open_orders,
    "account poll (sync)": _op_sync,
    "price feed over REST": _op_rest_ticks,
    "4h history (klines)": _op_closes,
    "dead-man's switch": _op_heartbeat,
}


@pytest.mark.parametrize("operation", list(EXCHANGE_OPS))
@drill(24)
@given(data=st.data(), g=garbage(), persistent=st.booleans())
def test_a_garbage_exchange_answer_ends_mapped_or_unknown_never_a_traceback(operation, data, g, persistent, exchange_loop):
    runner, server = exchange_loop
    count(f"exchange answer: {operation}")
    times = 9 if persistent else 1  # every try, or a blip

    async def example() -> str:
        server.calm()
        ex = _exchange(server.url)
        try:
            return await EXCHANGE_OPS[operation](server, ex, g, times, data.draw)
        finally:
            server.calm()
            await ex.close()

    outcome = runner.run(example())
    EXCHANGE_OUTCOMES[operation][outcome] += 1
    assert not server.errors, server.errors[-1]  # a bug of the fake would hide one of ours


EXCHANGE_OUTCOMES: dict[str, Counter] = defaultdict(Counter)


# ---- garbage while the whole engine runs ----------------------------------------------------------

class StuckFits:
    """A fit pool whose fits never finish: the engine must trade on without its models (and the
    drill spends no CPU on GARCH fits that are beside its point)."""

    async def run(self, task):
        await asyncio.Event().wait()

    def close(self) -> None:
        """Nothing runs."""


ENGINE_ENDPOINTS = [("GET", "/fapi/v1/premiumIndex"), ("GET", "/fapi/v3/account"), ("GET", "/fapi/v3/positionRisk"),
                    ("GET", "/fapi/v1/openOrders"), ("GET", "/fapi/v1/openAlgoOrders"), ("GET", "/fapi/v1/income"),
                    ("POST", ORDER), ("POST", ALGO), ("GET", ORDER), ("WS", "mark price stream")]
LIVE_SETTINGS = """[market]
stale_after_seconds = 3
[exchange]
id = "binanceusdm"
testnet = false
account_poll_seconds = 1
timeout_seconds = 1
not_found_grace_seconds = 2
[rebalance]
mode = "continuous"
"""


@drill(12)
@given(spoilers=st.lists(st.tuples(st.sampled_from(ENGINE_ENDPOINTS), garbage(timeouts=False), st.sampled_from([1, 3, 50])),
                         min_size=1, max_size=3))
def test_garbage_answers_while_the_engine_runs_never_stop_it(spoilers, exchange_loop, tmp_path, caplog):
    # The real session on a real account: reconciled start, price stream, account polls, and the
    # trader approving what is proposed, while some endpoints answer garbage.
    from cockpit.config import load_config
    from cockpit.domain.types import Gate
    from cockpit.engine.session import Session
    from cockpit.journal.verify import verify_journal
    from tests.live.conftest import KEY, SECRET

    runner, server = exchange_loop
    count("exchange answer: while the engine runs")
    SUBMITTED["n"] += 1
    folder = tmp_path / f"run{SUBMITTED['n']}"
    folder.mkdir()
    settings = folder / "live.toml"
    settings.write_text(LIVE_SETTINGS.replace("[exchange]\n", f'[exchange]\napi_url = "{server.url}"\n'))
    settings.chmod(0o600)
    journal = folder / "journal.sqlite"
    errors_before = len([r for r in caplog.records if r.levelno >= logging.ERROR])

    async def example() -> str:
        server.calm()
        requests_before = len(server.requests)
        with mock.patch.dict(os.environ, {"COCKPIT_API_KEY": KEY, "COCKPIT_API_SECRET": SECRET}):
            session = Session(load_config(settings), journal, fit_pool=StuckFits())
            engine = await session.open()
        try:
            if engine.gate is not Gate.ACTIVE:
                await engine.resume(key="R")  # the start adopted the fake's positions
            run = asyncio.create_task(engine.run())
            for (method, path), g, times in spoilers:
                server.spoil(method, path, g, times)
            decided = 0
            for _ in range(30):  # 3 s: proposals come, the trader approves each
                await asyncio.sleep(0.1)
                for proposal in engine.pending_proposals():
                    outcome = await engine.approve(proposal.id, key="a")
                    assert "\n" not in outcome
                    decided += 1
            assert not run.done(), f"the engine stopped: {run.exception()!r}"
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run
        finally:
            server.calm()
            await session.close("drill")
        sends = Counter(r["params"].get("newClientOrderId") or r["params"].get("clientAlgoId")
                        for r in server.requests[requests_before:] if r["method"] == "POST" and r["path"] in (ORDER, ALGO))
        assert all(n == 1 for n in sends.values()), f"sent more than once: {sends}"
        assert (await verify_journal(journal)).intact
        return f"{decided} approvals"

    with caplog.at_level(logging.ERROR):
        outcome = runner.run(example())
    EXCHANGE_OUTCOMES["while the engine runs"][outcome] += 1
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR][errors_before:]
    assert not errors, [f"{r.name}: {r.getMessage()}" for r in errors]
