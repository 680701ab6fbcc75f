"""`cockpit` and its subcommands. Every mistake is one line on stderr and exit status 2.

`cockpit status` exits 0 when it printed an account, 1 when there is none to print (no journal
file, an empty journal, or no account started in it yet: one line on stdout), 2 on bad input.
`cockpit journal verify` and `cockpit journal backup DEST` exit 0 when the (backed-up) journal is
intact, 1 when it is broken (the first broken row on stdout), 2 on bad input.
`cockpit results FILE` exits 0 after showing the file, 2 when it cannot be shown (one line why).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from cockpit import __version__
from cockpit.config import Config, ConfigError, load_config
from cockpit.engine.session import SessionError
from cockpit.journal.errors import JournalError

# Names only (no numpy/scipy import): the heavy modules load when `targets` runs.
OBJECTIVES = ("max_sharpe", "min_variance", "risk_parity")
DEFAULT_LOOKBACK_DAYS = 365

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, status 2, no usage dump
        sys.stderr.write(f"cockpit: {message} (see cockpit --help)\n")
        raise SystemExit(EXIT_USAGE)


def _options(*, journal: bool, top: bool) -> _Parser:
    # A subcommand's defaults would overwrite what was given before it (`cockpit --journal F
    # status`), so only the top level has defaults; a subcommand sets a value only when given one.
    default = None if top else argparse.SUPPRESS
    options = _Parser(add_help=False)
    options.add_argument("--config", type=Path, default=default, help="TOML config file (see config.example.toml)")
    if journal:
        options.add_argument("--journal", type=Path, default=default, help="SQLite journal file (env COCKPIT_JOURNAL)")
    return options


def _parser() -> argparse.ArgumentParser:
    common = _options(journal=True, top=False)
    parser = _Parser(
        prog="cockpit",
        description="A terminal trading cockpit for leveraged crypto portfolios. "
        "It sends no order you did not approve by keystroke.",
        parents=[_options(journal=True, top=True)],
    )
    parser.add_argument("--version", action="version", version=f"cockpit {__version__}")
    parser.add_argument("--demo", action="store_true", help="use the synthetic demo market")
    parser.add_argument(
        "--replay", type=Path, action="append", default=[], metavar="FILE",
        help="replay history (Binance kline CSV, .csv or .csv.gz); repeat for more symbols",
    )
    parser.add_argument("--speed", type=float, default=200.0, help="replay speed in bars per second (default 200)")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("check", parents=[common], help="validate the config and exit")
    journal = commands.add_parser("journal", parents=[common], help="print, export, verify or back up the journal")
    journal.add_argument("--limit", type=int, default=50, help="newest N entries (default 50; 0 = all)")
    journal.add_argument("--export", choices=["csv"], help="write every matching entry as CSV to stdout")
    journal_actions = journal.add_subparsers(dest="journal_action", metavar="{verify,backup}")
    verify = journal_actions.add_parser(
        "verify", parents=[common],
        help="check SQLite's integrity and the whole hash chain (read only); exit 0 intact, 1 broken",
    )
    verify.add_argument("--anchor", metavar="ROW:HASH",
                        help="also check that row ROW still has the hash noted from an earlier verify")
    backup = journal_actions.add_parser(
        "backup", parents=[common], help="write a consistent copy to a new file (SQLite VACUUM INTO), then verify it",
    )
    backup.add_argument("dest", type=Path, metavar="DEST", help="the new file; an existing one is never overwritten")
    flatten = commands.add_parser("flatten", parents=[common], help="emergency: close everything, from any shell")
    flatten.add_argument("--yes", action="store_true", help="do not ask for the typed confirmation")
    status = commands.add_parser(
        "status", parents=[common],
        help="the account: balances, positions with liquidation price and distance, gate (read only); "
        "a real account ([exchange] id) is read from the exchange now, a paper one from the journal",
    )
    status.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    targets = commands.add_parser(
        "targets", parents=[_options(journal=False, top=False)],
        help="suggest [portfolio.targets] weights from kline CSVs (prints; changes nothing)",
    )
    targets.add_argument("files", type=Path, nargs="+", metavar="FILE",
                         help="Binance kline CSV (.csv or .csv.gz) per asset, named like BTCUSDT_1d.csv.gz")
    targets.add_argument("--objective", choices=OBJECTIVES, default="risk_parity",
                         help="what to optimise (default risk_parity: it needs no return forecast)")
    targets.add_argument("--lookback-days", type=int, default=DEFAULT_LOOKBACK_DAYS, metavar="N",
                         help=f"days of history to estimate from (default {DEFAULT_LOOKBACK_DAYS})")
    from cockpit.backtest.command import add_parser as add_backtest

    add_backtest(commands, [_options(journal=False, top=False)])
    results = commands.add_parser(
        "results", parents=[_options(journal=False, top=False)],
        help="show a saved `cockpit backtest --json` file: equity and drawdown charts, strategy and claims tables",
    )
    results.add_argument("file", type=Path, metavar="FILE", help="the JSON file cockpit backtest --json wrote")
    models = commands.add_parser("models", help="the forecast models: how they did on history")
    model_commands = models.add_subparsers(dest="models_command", metavar="evaluate", required=True)
    evaluate = model_commands.add_parser(
        "evaluate", parents=[_options(journal=False, top=False)],
        help="walk-forward scores of the volatility models and the regime classifier (prints; minutes)",
    )
    evaluate.add_argument("--data", type=Path, action="append", required=True, metavar="FILE",
                          help="Binance kline CSV (.csv or .csv.gz), named like BTCUSDT_4h.csv.gz; repeat for more assets")
    evaluate.add_argument("--timeframe", default="4h", help="the files' bar size (default 4h; bars are not resampled)")
    evaluate.add_argument("--from", dest="start", metavar="DATE", help="first bar used (UTC date, e.g. 2021-01-01)")
    evaluate.add_argument("--to", dest="end", metavar="DATE", help="last day used (UTC date, inclusive)")
    evaluate.add_argument("--recent-days", type=int, default=365, metavar="N",
                          help="days the default model is chosen over (default 365)")
    return parser


def _config(args: argparse.Namespace) -> Config:
    overrides = {"journal": {"path": str(args.journal)}} if args.journal else {}
    return load_config(args.config, overrides=overrides)


def journal_path(config: Config) -> Path:
    """Returns the journal file: config/env/flag value, or the user data directory default."""
    if config.journal.path:
        return Path(config.journal.path).expanduser()
    from cockpit.journal.paths import default_journal_path

    return default_journal_path()


def _fail(message: str) -> int:
    from cockpit.secrets import redact

    sys.stderr.write(f"cockpit: {redact(message)}\n")
    return EXIT_USAGE


def _themes(config: Config):
    """Returns (the shipped and user themes, or None, and the one-line config error or None).
    Each user theme file that was skipped is said on stderr; it stops nothing."""
    from cockpit.secrets import redact
    from cockpit.tui.themes import ThemeError, load_themes, user_themes_folder

    try:
        themes = load_themes(user_themes_folder())
    except ThemeError as error:
        return None, str(error)
    for problem in themes.problems:
        sys.stderr.write(f"cockpit: {redact(problem)}\n")
    return themes, themes.unknown_theme(config.ui.theme)


def _check(args: argparse.Namespace, config: Config) -> int:
    themes, problem = _themes(config)
    if problem:
        return _fail(problem)
    where = args.config or "defaults (no --config given)"
    print(f"ok: {where} is valid (settings digest {config.digest()}); journal: {journal_path(config)}")
    print(themes.describe())
    return 0


async def _verify_journal(args: argparse.Namespace, config: Config) -> int:
    from cockpit.journal.verify import Anchor, verify_journal

    anchor = Anchor.parse(args.anchor) if args.anchor else None
    verdict = await verify_journal(journal_path(config), anchor=anchor)
    print("\n".join(verdict.lines()))
    return 0 if verdict.intact else 1


async def _backup_journal(args: argparse.Namespace, config: Config) -> int:
    from cockpit.journal.backup import backup_journal

    source = journal_path(config)
    verdict = await backup_journal(source, args.dest)
    print(f"backup written: {args.dest} (from {source})")
    print("\n".join(verdict.lines()))
    return 0 if verdict.intact else 1


async def _print_journal(args: argparse.Namespace, config: Config) -> int:
    from cockpit.journal.export import export_csv, format_entries
    from cockpit.journal.store import Journal

    path = journal_path(config)
    if not path.exists():
        return _fail(f"no journal at {path}")
    if args.limit < 0:
        return _fail("--limit: expected 0 or a positive number")
    limit = args.limit or None
    async with await Journal.open(path) as journal:
        if args.export == "csv":
            await export_csv(journal, sys.stdout, limit=limit)
            return 0
        entries = await journal.entries(limit=limit, newest_first=True)
        for line in format_entries(list(reversed(entries))):
            print(line)
    return 0


def _live_status(config: Config, *, as_json: bool) -> int:
    from rich.console import Console, Group
    from rich.text import Text

    from cockpit.engine.live_status import LiveStatusError, read_live_status
    from cockpit.tui.risk_tables import liquidation_table, no_colour

    try:
        status = asyncio.run(read_live_status(config, journal_path(config)))
    except LiveStatusError as error:
        return _fail(str(error))
    if as_json:
        print(json.dumps(status.to_json(), indent=2))
        return 0
    console = Console(highlight=False)
    palette = _palette(config) if console.is_terminal else no_colour
    ui = config.ui
    console.print(Group(
        *[Text(line) for line in status.summary_lines()],
        liquidation_table(status.stress, watch=ui.watch_distance, danger=ui.danger_distance, palette=palette),
        *[Text(line) for line in status.order_lines()],
    ))
    return 0


def _status(config: Config, *, as_json: bool = False) -> int:
    # The engine reads; drawing stays here, with the risk screen's own tables (engine knows no tui).
    if config.exchange.live:
        return _live_status(config, as_json=as_json)
    from rich.console import Console, Group
    from rich.text import Text

    from cockpit.engine.status import NothingToReport, read_status
    from cockpit.tui.risk_tables import breaker_table, liquidation_table, no_colour, scenario_table, stress_heading

    status = asyncio.run(read_status(config, journal_path(config)))
    if isinstance(status, NothingToReport):
        if as_json:
            print(json.dumps({"account": None, "message": status.message}))
        else:
            print(status.message)
        return 1
    if as_json:
        print(json.dumps(status.to_json(), indent=2))
        return 0
    console = Console(highlight=False)  # no colour or styles unless stdout is a terminal
    palette = _palette(config) if console.is_terminal else no_colour
    report, ui = status.stress, config.ui
    parts: list = [Text(line) for line in status.summary_lines()]
    if status.marks_at is not None:
        parts.append(Text(stress_heading(report), style="bold"))
    parts += [
        liquidation_table(report, watch=ui.watch_distance, danger=ui.danger_distance, palette=palette),
        Text(""),
        scenario_table(report, palette=palette),
        Text(""),
    ]
    parts += [Text(line) for line in status.breaker_lines()]
    if status.breakers:
        parts.append(breaker_table(status.breakers, palette=palette))
    console.print(Group(*parts))
    return 0


def _palette(config: Config):
    """Returns the TUI theme's liquidation colours for a band, so a terminal shows what the screen shows."""
    from cockpit.tui.themes import ThemeError, load_themes, user_themes_folder

    try:
        # Quietly: a skipped user theme is said by `cockpit check` and at the cockpit's start.
        variables = load_themes(user_themes_folder()).themes[config.ui.theme].variables
    except (ThemeError, KeyError):
        from cockpit.tui.risk_tables import no_colour

        return no_colour
    return lambda band: variables.get(f"liq-{band}", "")


def _targets(args: argparse.Namespace, config: Config) -> int:
    from cockpit.engine.targets import TargetsInputError, suggest_targets

    try:
        suggestion = suggest_targets(args.files, config, objective=args.objective, lookback_days=args.lookback_days)
    except TargetsInputError as error:
        return _fail(str(error))
    print("\n".join(suggestion.lines()))
    return 0


def _evaluate_models(args: argparse.Namespace) -> int:
    # arch, scipy and scikit-learn load here, never at cockpit's start.
    from cockpit.models.evaluation_report import EvaluationInputError, KlineFile, plan_evaluation
    from cockpit.venues.replay import ReplayDataError, load_bars

    try:
        files = [KlineFile(path.name, load_bars(path)) for path in args.data]
        plan = plan_evaluation(files, timeframe=args.timeframe, start=args.start, end=args.end,
                               recent_days=args.recent_days)
    except (ReplayDataError, EvaluationInputError) as error:
        return _fail(str(error))
    for k, report in enumerate(plan.reports()):  # each asset prints as soon as it is done
        print(("\n" if k else "") + report, flush=True)
    return 0


def _results(args: argparse.Namespace, config: Config) -> int:
    # Read and checked before any screen opens: a bad file is one line and status 2.
    from cockpit.backtest.results_file import ResultsFileError, load_results

    try:
        results = load_results(args.file)
    except ResultsFileError as error:
        return _fail(str(error))
    themes, problem = _themes(config)
    if problem:
        return _fail(problem)
    from cockpit.tui.results_app import ResultsApp

    ResultsApp(results, theme=config.ui.theme, themes=themes).run()
    return 0


def _flatten(args: argparse.Namespace, config: Config) -> int:
    from cockpit.engine.headless import headless_flatten

    if not args.yes:
        if not sys.stdin.isatty():
            return _fail("flatten needs --yes when there is no terminal to type FLATTEN in")
        where = f"the {config.exchange.account_name} account" if config.exchange.live else "the paper account"
        answer = input(f"Close every position of {where} and halt automation. Type FLATTEN to confirm: ")
        if answer.strip() != "FLATTEN":
            print("not confirmed: nothing was done")
            return 1
    outcome = asyncio.run(headless_flatten(config, journal_path(config)))
    print(outcome.message)
    return 0 if outcome.flat else 1


async def _preflight(path: Path) -> None:
    """Raises SessionError or JournalError (one line) if the journal cannot be used, before any
    screen is drawn."""
    from cockpit.engine.lock import OwnerLock
    from cockpit.journal.store import Journal

    lock = OwnerLock(path)
    if not lock.acquire():
        raise SessionError(f"another cockpit is running on {path}; use it, or `cockpit flatten` from here")
    try:
        await (await Journal.open(path)).close()
    finally:
        lock.release()


def _run_cockpit(args: argparse.Namespace, config: Config) -> int:
    from cockpit.engine.session import Session
    from cockpit.venues.replay import ReplayDataError, load_bars

    for path in args.replay:
        try:
            load_bars(path)  # refuse a bad file before the screen opens
        except (ReplayDataError, OSError) as error:
            return _fail(str(error))
    if args.speed <= 0:
        return _fail("--speed: expected a positive number of bars per second")
    themes, problem = _themes(config)
    if problem:
        return _fail(problem)
    asyncio.run(_preflight(journal_path(config)))
    from cockpit.tui.app import CockpitApp

    session = Session(config, journal_path(config), demo=args.demo, replay=args.replay, speed=args.speed)
    app = CockpitApp(session, themes)
    app.run()
    if app.return_code:
        return app.return_code
    return 0


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the process exit status."""
    from cockpit.secrets import install_excepthook, install_log_redaction

    install_log_redaction()
    install_excepthook()
    args = _parser().parse_args(argv)
    try:
        config = _config(args)
    except ConfigError as error:
        return _fail(str(error))
    try:
        if args.command == "check":
            return _check(args, config)
        if args.command == "journal":
            action = {"verify": _verify_journal, "backup": _backup_journal}.get(args.journal_action, _print_journal)
            return asyncio.run(action(args, config))
        if args.command == "flatten":
            return _flatten(args, config)
        if args.command == "status":
            return _status(config, as_json=args.json)
        if args.command == "targets":
            return _targets(args, config)
        if args.command == "models":
            return _evaluate_models(args)
        if args.command == "results":
            return _results(args, config)
        if args.command == "backtest":
            from cockpit.backtest import command

            return command.run(args, config, _fail)
        return _run_cockpit(args, config)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `cockpit journal | head`: the reader left; that is not an error. Silence the final flush.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (JournalError, SessionError) as error:
        return _fail(str(error))
    except Exception as error:  # noqa: BLE001 - the trader gets one line, never a traceback
        if os.environ.get("COCKPIT_DEBUG"):
            raise
        from cockpit.secrets import redact

        return _fail(redact(f"{type(error).__name__}: {error}"))


if __name__ == "__main__":
    raise SystemExit(main())
