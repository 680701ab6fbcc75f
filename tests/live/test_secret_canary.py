"""The canary: API keys never appear in logs, the journal, tracebacks, exports or screens.

One live run against the fake Binance USDT-M (tests/live/fake_binance.py), with a canary key and
secret nothing else could produce, through every output a trader or a log collector sees:

- `cockpit status` and `cockpit status --json` (subprocess, stdout and stderr), and `cockpit
  status` while the exchange echoes the key in its error (the one-line stderr);
- the cockpit screen driven by keys (Textual Pilot): the dashboard after an approval whose first
  order the exchange rejects with an error echoing the key, the risk, journal, models and help
  screens, and a start that fails with such an error;
- the journal file's bytes (.sqlite, -wal, -shm, during the run and after), `cockpit journal` and
  `cockpit journal --export csv`;
- DEBUG logs of the root and "ccxt" loggers (ccxt logs every request's headers, the key among
  them), for a handler present when the redaction is installed and for one added afterwards;
- a traceback printed by the excepthook `cockpit` installs, and Textual's crash report.

Each capture is checked for the values, their escaped forms (URL, repr, JSON) and the canary
prefixes (a truncated value still shows those), and positively for what it must contain, so a
capture that caught nothing cannot pass.
"""

from __future__ import annotations

import asyncio
import html
import io
import json
import logging
import os
import re
import secrets as random_tokens
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import quote, quote_plus

import pytest

from cockpit.secrets import ENV_KEY, ENV_PASSPHRASE, ENV_SECRET, forget_secrets, install_log_redaction
from tests.live.fake_binance import FakeBinance
from tests.live.fake_binance_data import BinanceError
from tests.live.fake_binance_rest import PUBLIC

KEY = "CANARYKEY" + random_tokens.token_hex(12)  # 24 random hex characters
SECRET = "CANARYSECRET" + random_tokens.token_hex(16)  # 32 random hex characters
ACCOUNT = "live-binanceusdm"
ORDER = ("POST", "/fapi/v1/order")
TIMEOUT = 25.0  # any single wait of the live run
SUBPROCESS_TIMEOUT = 60


def forms(value: str) -> set[str]:
    """The value, the forms it takes in URLs, reprs and JSON, and the canary prefix and the random
    part alone (a value cut short or partly masked still shows one of those)."""
    prefix = "CANARYSECRET" if value.startswith("CANARYSECRET") else "CANARYKEY"
    tail = value[len(prefix):]
    return {value, quote(value, safe=""), quote_plus(value), repr(value)[1:-1], json.dumps(value)[1:-1],
            prefix, tail, tail[:12], tail[-12:]}


CANARIES = sorted(forms(KEY) | forms(SECRET), key=len, reverse=True)


def leaks(text: str | bytes) -> list[str]:
    """Returns the canary forms found in `text` (case-insensitive; bytes are read as UTF-8)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    folded = text.lower()
    return [form for form in CANARIES if form.lower() in folded]


def where(text: str | bytes, form: str, width: int = 120) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    at = text.lower().find(form.lower())
    return text[max(0, at - width): at + len(form) + width]


def assert_clean(name: str, text: str | bytes) -> None:
    found = leaks(text)
    assert not found, f"{name} holds the API key or secret ({found[0]!r}): ...{where(text, found[0])}..."


def screen_text(svg: str) -> str:
    """The characters of an exported SVG screenshot, markup removed and entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


def echoes_the_key(*_: Any, **__: Any) -> Any:
    """A fake route answering like Binance does for a rejected key, quoting the key back."""
    raise BinanceError(-2015, f"Invalid API-key, IP, or permissions for action, request ip: 127.0.0.1, api key: {KEY}", 401)


class Routes:
    """Swaps handlers of the fake (running in its own thread) and puts them back."""

    def __init__(self, server: FakeBinance) -> None:
        self.server = server
        self.saved: dict[tuple[str, str], Any] = {}

    def swap(self, route: tuple[str, str], handler: Callable[[dict[str, Any]], Any]) -> None:
        self.saved.setdefault(route, self.server.routes[route])
        self.server.routes[route] = handler

    def private(self, handler: Callable[[dict[str, Any]], Any]) -> None:
        for route in list(self.server.routes):
            if route[1] not in PUBLIC:
                self.swap(route, handler)

    def restore(self) -> None:
        self.server.routes.update(self.saved)
        self.saved.clear()


def cockpit(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cockpit.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)


def finished(process: subprocess.Popen) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=SUBPROCESS_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"{process.args} did not finish in {SUBPROCESS_TIMEOUT}s: {out}{err}") from None
    return process.returncode, out, err


def journal_bytes(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.parent.glob(path.name + "*"))}


# ---- the live run ---------------------------------------------------------------------------


async def until(condition: Callable[[], Any], what: str, pilot: Any = None, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout:.0f}s: {what}")
        if pilot is not None:
            await pilot.pause(0.05)
        else:
            await asyncio.sleep(0.05)


async def run_the_cockpit(config: Any, journal: Path, routes: Routes, out: dict[str, Any]) -> None:
    """The cockpit on the live account: approve a proposal whose first order the exchange rejects
    with the key quoted, look at every screen, then crash with the key in the exception."""
    from rich.console import Console

    from cockpit.engine.session import Session
    from cockpit.tui.app import CockpitApp

    session = Session(config, journal)
    app = CockpitApp(session)
    crash_report = io.StringIO()
    app.error_console = Console(file=crash_report, width=200, color_system=None, markup=False, highlight=False)
    crashed: BaseException | None = None
    try:
        async with app.run_test(size=(220, 50)) as pilot:
            await until(lambda: app.engine is not None, "the live engine started", pilot)
            await until(lambda: app.engine.snapshot.proposals, "a proposal", pilot)
            await pilot.pause(0.3)  # one refresh: the proposal is in the panel and selected
            rejected: list[str] = []
            original = routes.server.routes[ORDER]

            def reject_the_first_market_order(params: dict[str, Any]) -> Any:
                if not rejected and params.get("type") == "MARKET":
                    rejected.append(params.get("symbol", ""))
                    echoes_the_key()
                return original(params)

            routes.swap(ORDER, reject_the_first_market_order)
            await pilot.press("a")
            await until(lambda: "approved" in str(app.query_one("#notice").render()), "the approval's outcome", pilot)
            routes.restore()
            out["rejected symbols"] = rejected
            out["notice (approval)"] = str(app.query_one("#notice").render())
            out["engine notice"] = app.engine.snapshot.notice
            out["screen: dashboard"] = screen_text(app.export_screenshot())  # the outcome on screen
            await pilot.pause(0.5)
            out["screen: dashboard later"] = screen_text(app.export_screenshot())
            for key, name in (("s", "risk"), ("j", "journal"), ("f", "models"), ("question_mark", "help")):
                dashboard = app.screen
                await pilot.press(key)
                await until(lambda: app.screen is not dashboard, f"the {name} screen", pilot)
                await pilot.pause(0.5)
                out[f"screen: {name}"] = screen_text(app.export_screenshot())
                if name == "journal":
                    from textual.widgets import Log

                    out["journal screen lines"] = "\n".join(app.screen.query_one(Log).lines)
                await pilot.press("escape")
                await until(lambda: app.screen is dashboard, f"back from the {name} screen", pilot)
            out["journal files (running)"] = journal_bytes(journal)

            def crash() -> None:
                headers = {"X-MBX-APIKEY": KEY, "secret": SECRET}  # a frame's locals, as in ccxt's signing
                raise RuntimeError(f"signing failed: headers {headers!r}")

            app.call_later(crash)
            await until(lambda: not app.is_running, "the crash ended the app", pilot=None)
    except RuntimeError as error:
        crashed = error
    finally:
        routes.restore()
        await session.close("test")
    assert crashed is not None and "signing failed" in str(crashed), f"the app did not crash as planned: {crashed!r}"
    out["crash report"] = crash_report.getvalue()


async def run_a_failed_start(config: Any, journal: Path, routes: Routes, out: dict[str, Any]) -> None:
    """The cockpit starting while every private request is refused with the key quoted."""
    from cockpit.engine.session import Session
    from cockpit.tui.app import CockpitApp

    session = Session(config, journal)
    app = CockpitApp(session)
    routes.private(echoes_the_key)
    try:
        async with app.run_test(size=(220, 30)) as pilot:
            await until(lambda: any(w.name == "engine-start" and w.is_finished for w in app.workers)
                        or "could not start" in str(app.query_one("#status").render()), "the start failed", pilot)
            await pilot.pause(0.5)
            out["screen: failed start"] = screen_text(app.export_screenshot())
            out["status bar (failed start)"] = str(app.query_one("#status").render())
            out["notice (failed start)"] = str(app.query_one("#notice").render())
            await pilot.press("q")
            await until(lambda: not app.is_running, "quit", pilot=None)
    finally:
        routes.restore()
        await session.close("test")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Every output of one live run, by name."""
    from cockpit.config import load_config

    started = time.monotonic()
    folder = tmp_path_factory.mktemp("canary")
    journal, failed_journal = folder / "journal.sqlite", folder / "failed.sqlite"
    out: dict[str, Any] = {}
    env = pytest.MonkeyPatch()
    env.setenv(ENV_KEY, KEY)
    env.setenv(ENV_SECRET, SECRET)
    env.delenv(ENV_PASSPHRASE, raising=False)
    env.delenv("COCKPIT_DEBUG", raising=False)
    env.delenv("COCKPIT_JOURNAL", raising=False)
    root, ccxt_logger = logging.getLogger(), logging.getLogger("ccxt")
    levels = (root.level, ccxt_logger.level)
    early_log, late_log = folder / "early.log", folder / "late.log"
    early = logging.FileHandler(early_log, encoding="utf-8")
    late = logging.FileHandler(late_log, encoding="utf-8")
    formatter = logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        with FakeBinance.in_thread(key=KEY, secret=SECRET) as server:
            config_path = folder / "live.toml"
            config_path.write_text(
                f'[exchange]\nid = "binanceusdm"\napi_url = "{server.url}"\nnot_found_grace_seconds = 2\n'
                'dead_man_seconds = 30\n\n[rebalance]\nmode = "continuous"\n'
            )
            os.chmod(config_path, 0o600)
            config = load_config(config_path)
            routes = Routes(server)

            # Logs at DEBUG (ccxt logs each request with its headers): one handler present when
            # the redaction is installed, as main() installs it; one added afterwards.
            for handler in (early, late):
                handler.setLevel(logging.DEBUG)
                handler.setFormatter(formatter)
            root.setLevel(logging.DEBUG)
            ccxt_logger.setLevel(logging.DEBUG)
            root.addHandler(early)
            install_log_redaction()
            root.addHandler(late)
            ccxt_logger.addHandler(late)
            try:
                asyncio.run(asyncio.wait_for(run_the_cockpit(config, journal, routes, out), 90))
                asyncio.run(asyncio.wait_for(run_a_failed_start(config, failed_journal, routes, out), 60))
            finally:
                for logger in (root, ccxt_logger):
                    logger.removeHandler(early)
                    logger.removeHandler(late)
                early.close()
                late.close()
                root.setLevel(levels[0])
                ccxt_logger.setLevel(levels[1])
            out["log: handler present at install"] = early_log.read_text(encoding="utf-8")
            out["log: handler added after install"] = late_log.read_text(encoding="utf-8")
            out["journal files (closed)"] = journal_bytes(journal)
            out["journal files (failed start)"] = journal_bytes(failed_journal)

            given = ("--config", str(config_path), "--journal", str(journal))
            running = {
                "cockpit status": cockpit("status", *given),
                "cockpit status --json": cockpit("status", *given, "--json"),
                "cockpit journal": cockpit("journal", *given, "--limit", "0"),
                "cockpit journal --export csv": cockpit("journal", *given, "--export", "csv"),
            }
            for name, process in running.items():
                out[name] = finished(process)
            routes.private(echoes_the_key)
            try:
                out["cockpit status (key rejected)"] = finished(cockpit("status", *given))
            finally:
                routes.restore()
            out["fake errors"] = list(server.errors)
    finally:
        env.undo()
        forget_secrets()
    out["seconds"] = time.monotonic() - started
    yield out


# ---- the checks -----------------------------------------------------------------------------


def test_the_canaries_are_distinctive():
    assert len(KEY) == 9 + 24 and len(SECRET) == 12 + 32
    assert leaks(f"x{KEY}y") and leaks(quote(SECRET)) and leaks(SECRET[:20]) and not leaks("approved: 1/2 filled")


def test_the_run_went_as_planned(outputs):
    assert outputs["fake errors"] == []
    assert outputs["rejected symbols"] == ["BTCUSDT"], "the exchange never echoed the key in an order's rejection"
    assert outputs["seconds"] < 60, f"the live run took {outputs['seconds']:.0f}s"


@pytest.mark.parametrize("name", ["cockpit status", "cockpit status --json"])
def test_status(outputs, name):
    code, out, err = outputs[name]
    assert code == 0, (out, err)
    if name.endswith("--json"):
        assert json.loads(out)["account"].startswith(ACCOUNT)
    else:
        assert f"account {ACCOUNT}" in out
    assert_clean(f"`{name}` stdout", out)
    assert_clean(f"`{name}` stderr", err)


def test_status_when_the_exchange_echoes_the_key(outputs):
    code, out, err = outputs["cockpit status (key rejected)"]
    assert code == 2 and out == "", (out, err)
    assert len(err.strip().splitlines()) == 1 and "key rejected" in err and "Invalid API-key" in err, err
    assert_clean("`cockpit status` stderr when the exchange quotes the key", err)


@pytest.mark.parametrize("name", ["notice (approval)", "engine notice"])
def test_the_approval_outcome_shown_to_the_trader(outputs, name):
    notice = outputs[name]
    assert "approved" in notice and "rejected" in notice, notice
    assert "Invalid API-key" in notice, notice  # the exchange's message is shown, only the key masked
    assert_clean(f"the {name} after the approval", notice)


@pytest.mark.parametrize("screen, expected", [
    ("dashboard", "approved"), ("dashboard later", "LIVE"), ("risk", "Mar 2020"), ("journal", "order"), ("models", "BTC"), ("help", "Flatten"),
    ("failed start", "could not start"),
])
def test_screens(outputs, screen, expected):
    text = outputs[f"screen: {screen}"]
    assert expected in text, f"the {screen} screen does not show {expected!r}:\n{text[:2000]}"
    assert_clean(f"the {screen} screen", text)


def test_journal_screen_lines(outputs):
    text = outputs["journal screen lines"]
    assert "order" in text and "Invalid API-key" in text, text[-2000:]
    assert_clean("the journal screen's lines", text)


@pytest.mark.parametrize("name", ["status bar (failed start)", "notice (failed start)"])
def test_a_failed_start_is_one_line_without_the_key(outputs, name):
    assert "key rejected" in outputs[name] and "Invalid API-key" in outputs[name], outputs[name]
    assert_clean(f"the {name}", outputs[name])


@pytest.mark.parametrize("name, expected", [
    ("journal files (running)", b"Invalid API-key"),  # the rejection's row, key masked
    ("journal files (closed)", b"Invalid API-key"),
    ("journal files (failed start)", b"SQLite format 3"),  # a start that failed journals nothing more
])
def test_journal_file_bytes(outputs, name, expected):
    files = outputs[name]
    assert any(n.endswith(".sqlite") for n in files), files.keys()
    assert expected in b"".join(files.values()), f"{name}: {expected!r} is not in {sorted(files)}"
    for file_name, data in files.items():
        assert_clean(f"{name}: {file_name}", data)


@pytest.mark.parametrize("name", ["cockpit journal", "cockpit journal --export csv"])
def test_journal_cli(outputs, name):
    code, out, err = outputs[name]
    assert code == 0, (out, err)
    assert "order" in out and "Invalid API-key" in out, out[-2000:]
    assert_clean(f"`{name}` stdout", out)
    assert_clean(f"`{name}` stderr", err)


@pytest.mark.parametrize("name", ["log: handler present at install", "log: handler added after install"])
def test_logs(outputs, name):
    text = outputs[name]
    assert "ccxt.base.exchange DEBUG" in text and "/fapi/v1/order" in text, text[:2000]
    assert "Request:" in text and "X-MBX-APIKEY" in text  # the headers were logged, masked
    assert_clean(name, text)


def test_textual_crash_report(outputs):
    report = outputs["crash report"]
    assert "Traceback" in report and "RuntimeError" in report and "signing failed" in report, report
    assert not re.search(r"─\s*locals\s*─", report), report  # no panel of local variables
    assert_clean("the crash report", report)


def test_a_traceback_printed_by_the_excepthook(tmp_path):
    program = (
        "import sys\n"
        "from cockpit.cli import main\n"  # what main does before anything else
        "from cockpit.secrets import install_excepthook, install_log_redaction, load_credentials\n"
        "install_log_redaction(); install_excepthook()\n"
        "load_credentials('binanceusdm')\n"
        "def sign(headers={'X-MBX-APIKEY': sys.argv[1]}):\n"
        "    raise RuntimeError(f'could not sign {headers!r} with ' + sys.argv[2])\n"
        "sign()\n"
    )
    env = {**os.environ, ENV_KEY: KEY, ENV_SECRET: SECRET}
    env.pop("COCKPIT_DEBUG", None)
    result = subprocess.run([sys.executable, "-c", program, KEY, SECRET], capture_output=True, text=True,
                            env=env, timeout=SUBPROCESS_TIMEOUT)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "RuntimeError: could not sign" in result.stderr, result.stderr
    assert_clean("a printed traceback", result.stdout + result.stderr)


def test_a_thread_traceback_printed_by_the_excepthook():
    program = (
        "import sys, threading\n"
        "from cockpit.secrets import install_excepthook, register_secret\n"
        "register_secret(sys.argv[1]); install_excepthook()\n"
        "def work():\n"
        "    raise ValueError('bad key ' + sys.argv[1])\n"
        "t = threading.Thread(target=work); t.start(); t.join()\n"
        "print('done')\n"
    )
    result = subprocess.run([sys.executable, "-c", program, KEY], capture_output=True, text=True,
                            timeout=SUBPROCESS_TIMEOUT)
    assert result.returncode == 0 and "done" in result.stdout
    assert "ValueError: bad key" in result.stderr, result.stderr
    assert_clean("a thread's traceback", result.stderr)
