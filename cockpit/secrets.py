"""Where exchange API keys come from, and how they are kept out of every output.

Keys come only from the environment (`COCKPIT_API_KEY`, `COCKPIT_API_SECRET`,
`COCKPIT_API_PASSPHRASE`) or from the OS keyring (service "cockpit", usernames
"<exchange>:api_key", "<exchange>:api_secret", "<exchange>:passphrase"); the environment wins.
A config file may never hold them (`refuse_secrets_in`), and a config or secrets file that group
or others can open is refused the way ssh refuses such a key (`require_private`).

Every value loaded is registered with a process-wide redactor: `redact` replaces it with `***`,
`install_log_redaction` applies that to log records, `install_excepthook` to printed tracebacks.
The `keyring` library is imported only when the environment holds no credentials, because it is
slow to import and start-up time matters.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import stat
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, NoReturn

__all__ = [
    "ENV_KEY",
    "ENV_SECRET",
    "ENV_PASSPHRASE",
    "KEYRING_SERVICE",
    "SecretsError",
    "Credentials",
    "load_credentials",
    "last_keyring_problem",
    "require_private",
    "refuse_secrets_in",
    "register_secret",
    "forget_secrets",
    "redact",
    "install_log_redaction",
    "install_excepthook",
]

ENV_KEY = "COCKPIT_API_KEY"
ENV_SECRET = "COCKPIT_API_SECRET"
ENV_PASSPHRASE = "COCKPIT_API_PASSPHRASE"
KEYRING_SERVICE = "cockpit"

MASK = "***"
MIN_SECRET_LENGTH = 6  # shorter values would redact ordinary words and numbers

_README_HINT = 'see README "Connecting a real account"'


class SecretsError(ValueError):
    """A missing, partial or unsafe credentials setup, already phrased as one line for the trader.
    The message never contains a secret value."""


# --------------------------------------------------------------------------------------------
# Credentials


@dataclass(frozen=True, slots=True)
class Credentials:
    """API credentials for one exchange. Neither repr, str, f-strings, pickling nor copying ever
    shows the values; construction registers them with the redactor."""

    api_key: str = field(repr=False)
    secret: str = field(repr=False)
    passphrase: str = field(default="", repr=False)
    source: str = field(kw_only=True)  # "environment" or "keyring"

    def __post_init__(self) -> None:
        if self.source not in ("environment", "keyring"):
            raise ValueError(f"Credentials.source: expected 'environment' or 'keyring', got {self.source!r}")
        for value in (self.api_key, self.secret, self.passphrase):
            register_secret(value)

    def __repr__(self) -> str:
        shown = f"api_key={MASK}, secret={MASK}"
        if self.passphrase:
            shown += f", passphrase={MASK}"
        return f"Credentials({shown}, source={self.source})"

    __str__ = __repr__

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("Credentials cannot be pickled or copied (they would carry the API keys)")

    def __reduce__(self) -> NoReturn:
        raise TypeError("Credentials cannot be pickled or copied (they would carry the API keys)")

    def ccxt_options(self) -> dict[str, str]:
        """Returns the ccxt constructor options {"apiKey", "secret"[, "password"]}; the dict holds
        the values, so never log or display it."""
        options = {"apiKey": self.api_key, "secret": self.secret}
        if self.passphrase:
            options["password"] = self.passphrase
        return options


_keyring_problem = ""


def last_keyring_problem() -> str:
    """Returns the one-line reason the OS keyring could not be read during the most recent
    `load_credentials` call ("" when it answered or was not consulted)."""
    return _keyring_problem


def load_credentials(
    exchange_id: str,
    *,
    needs_passphrase: bool = False,
    environ: Mapping[str, str] | None = None,
    keyring_backend: Any = None,
) -> Credentials | None:
    """Returns the credentials for `exchange_id` from the environment, else from the OS keyring,
    or None when neither holds any (an unusable keyring counts as holding none; see
    `last_keyring_problem` for why). Raises SecretsError for a half-set key/secret pair, a missing
    passphrase when `needs_passphrase`, or a keyring file that group or others can open.
    The values returned are registered with the redactor."""
    global _keyring_problem
    exchange = exchange_id.strip()
    if not exchange:
        raise SecretsError("exchange id is empty; cannot look up its API keys")
    env = os.environ if environ is None else environ
    key, secret, passphrase = (_present(env.get(name)) for name in (ENV_KEY, ENV_SECRET, ENV_PASSPHRASE))
    if key or secret or passphrase:
        _keyring_problem = ""
        _check_complete(exchange, key, secret, passphrase, needs_passphrase, keyring=False)
        return Credentials(key, secret, passphrase, source="environment")

    found, problem = _read_keyring(exchange, needs_passphrase, keyring_backend)
    _keyring_problem = problem
    key, secret, passphrase = found
    if not (key or secret):
        return None
    _check_complete(exchange, key, secret, passphrase, needs_passphrase, keyring=True)
    return Credentials(key, secret, passphrase if needs_passphrase else "", source="keyring")


def _present(value: str | None) -> str:
    return value if value is not None and value.strip() else ""


def _check_complete(
    exchange: str, key: str, secret: str, passphrase: str, needs_passphrase: bool, *, keyring: bool
) -> None:
    """Raises SecretsError, naming what is missing, unless key and secret (and the passphrase
    when needed) are all present."""
    if keyring:
        names = [f"{KEYRING_SERVICE}/{exchange}:{part}" for part in ("api_key", "api_secret", "passphrase")]

        def problem(have: list[str], missing: str) -> str:
            entry = missing.split("/", 1)[1]
            return (
                f"the OS keyring has {' and '.join(have)} but not {missing}; "
                f"add it with: keyring set {KEYRING_SERVICE} {entry}"
            )

    else:
        names = [ENV_KEY, ENV_SECRET, ENV_PASSPHRASE]

        def problem(have: list[str], missing: str) -> str:
            return f"{' and '.join(have)} {'is' if len(have) == 1 else 'are'} set but {missing} is not; set {missing} too"

    key_name, secret_name, passphrase_name = names
    if key and not secret:
        raise SecretsError(problem([key_name], secret_name) + ("" if keyring else f", or unset {key_name}"))
    if secret and not key:
        raise SecretsError(problem([secret_name], key_name) + ("" if keyring else f", or unset {secret_name}"))
    if not key and not secret:  # a passphrase alone (only reachable from the environment)
        raise SecretsError(f"{passphrase_name} is set but {key_name} and {secret_name} are not; set all three or none")
    if needs_passphrase and not passphrase:
        raise SecretsError(f"{exchange} needs an API passphrase: " + problem([key_name, secret_name], passphrase_name))


def _read_keyring(exchange: str, needs_passphrase: bool, backend: Any) -> tuple[tuple[str, str, str], str]:
    """Returns ((key, secret, passphrase), problem); any failure gives empty values and a
    one-line problem. Only an unsafe keyring file raises (SecretsError)."""
    empty = ("", "", "")
    try:
        if backend is None:
            import keyring  # deliberately lazy: slow to import, needed only without env credentials

            backend = keyring.get_keyring()
    except Exception as error:  # no keyring installed, broken config, ...
        return empty, _describe_keyring_failure(error)
    _require_private_keyring_files(backend)
    try:
        def get(part: str) -> str:
            return _present(backend.get_password(KEYRING_SERVICE, f"{exchange}:{part}"))

        key, secret = get("api_key"), get("api_secret")
        passphrase = get("passphrase") if needs_passphrase and (key or secret) else ""
    except Exception as error:  # NoKeyringError, locked or absent D-Bus secret service, ...
        return empty, _describe_keyring_failure(error)
    return (key, secret, passphrase), ""


def _require_private_keyring_files(backend: Any) -> None:
    # File-backed backends (keyrings.alt PlaintextKeyring, EncryptedKeyring) expose `file_path`;
    # the chainer wraps several backends in `backends`.
    try:
        members = list(getattr(backend, "backends", None) or [])
    except Exception:
        members = []
    for candidate in [backend, *members]:
        try:
            file_path = getattr(candidate, "file_path", None)
        except Exception:
            continue
        if isinstance(file_path, (str, os.PathLike)) and os.fspath(file_path):
            require_private(Path(file_path), what="keyring file")


def _describe_keyring_failure(error: BaseException) -> str:
    name = type(error).__name__
    if name == "NoKeyringError":
        return "OS keyring unavailable: no keyring backend is installed or running"
    if isinstance(error, ImportError):
        return "OS keyring unavailable: the keyring package is not installed"
    lines = str(error).strip().splitlines()
    detail = redact(lines[0].strip()) if lines else ""
    if len(detail) > 160:
        detail = detail[:157] + "..."
    return f"OS keyring unavailable: {name}" + (f": {detail}" if detail else "")


# --------------------------------------------------------------------------------------------
# File checks


def require_private(path: Path, what: str = "config file") -> None:
    """Returns None when `path` is open to its owner only (or does not exist, or the platform has
    no POSIX modes); raises SecretsError naming the octal mode and the `chmod 600` fix when group
    or others have any access (`mode & 0o077`), as ssh does for a private key."""
    if os.name != "posix":
        return
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return  # missing or unreadable: reading it reports that
    if mode & 0o077:
        import shlex

        raise SecretsError(
            f"{path}: {what} is open to group or others (mode {mode:04o}); "
            f"it is refused like an unprotected ssh key; fix it with: chmod 600 {shlex.quote(str(path))}"
        )


# Normalized credential-like key names -> the environment variable(s) to use instead.
_BOTH = f"{ENV_KEY} and {ENV_SECRET}"
_CREDENTIAL_NAMES: dict[str, str] = {
    "apikey": ENV_KEY,
    "accesskey": ENV_KEY,
    "apisecret": ENV_SECRET,
    "secretkey": ENV_SECRET,
    "privatekey": ENV_SECRET,
    "secret": ENV_SECRET,
    "password": ENV_PASSPHRASE,
    "passphrase": ENV_PASSPHRASE,
    "token": _BOTH,
}
_EXCHANGE_ONLY_NAMES: dict[str, str] = {"key": ENV_KEY}  # refused inside an [exchange] table only
_EXCHANGE_TABLES = frozenset({"exchange", "exchanges"})


def _normalize(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _credential_variable(name: str, in_exchange: bool) -> str | None:
    normalized = _normalize(name)
    if in_exchange and normalized in _EXCHANGE_ONLY_NAMES:
        return _EXCHANGE_ONLY_NAMES[normalized]
    for suffix, variable in _CREDENTIAL_NAMES.items():
        if normalized.endswith(suffix):  # also catches binance_api_key, client_secret, db_password
            return variable
    return None


def refuse_secrets_in(document: Mapping[str, Any], path: Path | None) -> None:
    """Returns None when the parsed TOML `document` holds nothing that looks like a credential;
    raises SecretsError naming the file, table and key (never the value) otherwise. Walks nested
    tables and arrays of tables; boolean values are never credentials."""
    _walk(document, (), False, path)


def _walk(table: Mapping[str, Any], trail: tuple[str, ...], in_exchange: bool, path: Path | None) -> None:
    for key, value in table.items():
        _visit(str(key), value, trail, in_exchange, path)


def _visit(key: str, value: Any, trail: tuple[str, ...], in_exchange: bool, path: Path | None) -> None:
    if isinstance(value, Mapping):
        _walk(value, (*trail, key), in_exchange or _normalize(key) in _EXCHANGE_TABLES, path)
        return
    if isinstance(value, list):
        for index, item in enumerate(value, 1):
            if isinstance(item, Mapping):
                name = f"{key} #{index}" if len(value) > 1 else key
                _walk(item, (*trail, name), in_exchange or _normalize(key) in _EXCHANGE_TABLES, path)
            elif isinstance(item, list):
                _visit(key, item, trail, in_exchange, path)
            elif not isinstance(item, bool):
                _refuse_if_credential(key, trail, in_exchange, path)
        return
    if not isinstance(value, bool):
        _refuse_if_credential(key, trail, in_exchange, path)


def _refuse_if_credential(key: str, trail: tuple[str, ...], in_exchange: bool, path: Path | None) -> None:
    variable = _credential_variable(key, in_exchange)
    if variable is None:
        return
    where = f"{path}: " if path is not None else ""
    table = f"[{'.'.join(trail)}] " if trail else ""
    raise SecretsError(
        f"{where}{table}{key}: a config file must not hold API keys; "
        f"set {variable} or use the OS keyring ({_README_HINT})"
    )


# --------------------------------------------------------------------------------------------
# Redaction

_lock = threading.Lock()
_secrets: set[str] = set()
# (finds any registered form, finds one at every position) or None when nothing is registered;
# replaced as one tuple so readers never see a half-built pair.
_patterns: tuple[re.Pattern[str], re.Pattern[str]] | None = None


def _forms(value: str) -> set[str]:
    """The value plus the escaped forms it takes in reprs, JSON and URLs."""
    import json
    from urllib.parse import quote, quote_plus

    forms = {value, repr(value)[1:-1], json.dumps(value)[1:-1], quote(value, safe=""), quote_plus(value)}
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def register_secret(value: str | None) -> None:
    """Returns None; from now on `redact` (and so the log filter and excepthook) replaces `value`
    and its escaped forms with ***. Values shorter than 6 characters, or blank, are ignored."""
    global _patterns
    if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH or not value.strip():
        return
    with _lock:
        new = _forms(value) - _secrets
        if not new:
            return
        _secrets.update(new)
        _patterns = _compile(_secrets)


def forget_secrets() -> None:
    """Returns None after emptying the registry (for tests, or after switching accounts)."""
    global _patterns
    with _lock:
        _secrets.clear()
        _patterns = None


def _compile(values: set[str]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    alternatives = "|".join(re.escape(v) for v in sorted(values, key=lambda v: (-len(v), v)))
    return re.compile(alternatives), re.compile(f"(?=({alternatives}))")


def redact(text: str) -> str:
    """Returns `text` with every registered secret (and its escaped forms) replaced by ***;
    overlapping occurrences are masked as one span. Text holding none is returned unchanged."""
    patterns = _patterns
    if patterns is None or not isinstance(text, str):
        return text
    anywhere, every_position = patterns
    # Each pass is strictly shorter (a secret of 6+ characters becomes 3), so this terminates;
    # a second pass is only needed when a mask plus its neighbours spells a secret again.
    while anywhere.search(text):
        spans: list[list[int]] = []
        for match in every_position.finditer(text):
            start, end = match.start(), match.start() + len(match.group(1))
            if spans and start <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        pieces, last = [], 0
        for start, end in spans:
            pieces += [text[last:start], MASK]
            last = end
        pieces.append(text[last:])
        text = "".join(pieces)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message, string args, extra string attributes,
    and the formatted exception and stack of every record it sees; it never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _patterns is None:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed %-format: the handler reports it; redact what it shows
            message = str(record.msg)
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        elif isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            formatted = logging.Formatter().formatException(record.exc_info)
            cleaned = redact(formatted)
            if cleaned != formatted:  # otherwise leave exc_info for the handler's own formatter
                record.exc_text, record.exc_info = cleaned, None
        for name, value in list(vars(record).items()):  # extra=..., exc_text, stack_info, message
            if isinstance(value, str):
                cleaned = redact(value)
                if cleaned != value:
                    setattr(record, name, cleaned)
        return True


_FILTER = RedactingFilter()


def install_log_redaction(logger: logging.Logger | None = None) -> logging.Filter:
    """Returns the redacting filter after adding it (once) to `logger` (default: the root logger)
    and to each of its handlers; for the root logger also to the handlers of every existing
    logger and to logging.lastResort. Call it again after adding handlers."""
    target = logging.getLogger() if logger is None else logger
    loggers: list[logging.Logger] = [target]
    handlers: list[logging.Handler] = list(target.handlers)
    if target is logging.getLogger():
        for other in list(logging.Logger.manager.loggerDict.values()):
            if isinstance(other, logging.Logger):
                handlers += other.handlers
        if logging.lastResort is not None:
            handlers.append(logging.lastResort)
    for item in [*loggers, *handlers]:
        item.addFilter(_FILTER)  # addFilter ignores a filter already present
    _redact_at_creation()
    return _FILTER


_FACTORY_INSTALLED = False


def _redact_at_creation() -> None:
    # A logger's filter does not see records propagated from its children, and a handler added
    # later has none: redacting each record as it is made covers every logger and handler.
    global _FACTORY_INSTALLED
    if _FACTORY_INSTALLED:
        return
    make = logging.getLogRecordFactory()

    def redacted_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        _FILTER.filter(record)
        return record

    logging.setLogRecordFactory(redacted_record)
    _FACTORY_INSTALLED = True


def _printed(hook: Callable[[], object]) -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer):
        hook()
    return buffer.getvalue()


def _write_stderr(text: str) -> None:
    stream = sys.stderr if sys.stderr is not None else sys.__stderr__
    if stream is not None and text:
        stream.write(text)
        stream.flush()


def _fallback_traceback(exc_type: Any, exc: Any, tb: Any) -> str:
    import traceback

    return "".join(traceback.format_exception(exc_type, exc, tb))


def install_excepthook() -> None:
    """Returns None after wrapping sys.excepthook, threading.excepthook and sys.unraisablehook so
    what they print passes through `redact` first. Installing twice wraps once."""
    if not getattr(sys.excepthook, "_cockpit_redacting", False):
        previous_sys = sys.excepthook

        def sys_hook(exc_type: Any, exc: Any, tb: Any) -> None:
            try:
                text = _printed(lambda: previous_sys(exc_type, exc, tb))
            except Exception:
                text = _fallback_traceback(exc_type, exc, tb)
            _write_stderr(redact(text))

        sys_hook._cockpit_redacting = True  # type: ignore[attr-defined]
        sys.excepthook = sys_hook

    if not getattr(threading.excepthook, "_cockpit_redacting", False):
        previous_thread = threading.excepthook

        def thread_hook(args: Any) -> None:
            try:
                text = _printed(lambda: previous_thread(args))
            except Exception:
                name = getattr(args.thread, "name", "?")
                text = f"Exception in thread {name}:\n" + _fallback_traceback(
                    args.exc_type, args.exc_value, args.exc_traceback
                )
            _write_stderr(redact(text))

        thread_hook._cockpit_redacting = True  # type: ignore[attr-defined]
        threading.excepthook = thread_hook

    if not getattr(sys.unraisablehook, "_cockpit_redacting", False):
        previous_unraisable = sys.unraisablehook

        def unraisable_hook(unraisable: Any) -> None:
            try:
                text = _printed(lambda: previous_unraisable(unraisable))
            except Exception:
                text = _fallback_traceback(unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback)
            _write_stderr(redact(text))

        unraisable_hook._cockpit_redacting = True  # type: ignore[attr-defined]
        sys.unraisablehook = unraisable_hook
