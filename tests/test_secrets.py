"""cockpit.secrets: where API keys come from, refusing unsafe setups, and keeping keys out of output."""

from __future__ import annotations

import copy
import dataclasses
import io
import logging
import os
import pickle
import string
import subprocess
import sys
import threading
import tomllib
from pathlib import Path
from typing import Any

import keyring.core
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.errors import KeyringLocked

from cockpit import secrets
from cockpit.secrets import (
    Credentials,
    SecretsError,
    forget_secrets,
    install_excepthook,
    install_log_redaction,
    last_keyring_problem,
    load_credentials,
    redact,
    refuse_secrets_in,
    register_secret,
    require_private,
)

REPO = Path(__file__).resolve().parents[1]
KEY = "AKIAkey0123456789abcdef"
SECRET = "sEcReT/+9876543210zyxwvu"
PASSPHRASE = "pass-phrase-42"
ENV = {"COCKPIT_API_KEY": KEY, "COCKPIT_API_SECRET": SECRET}


class MemoryKeyring(KeyringBackend):
    """A keyring backend holding entries in a dict; priority -1 keeps it out of keyring's own
    backend discovery, so defining it here changes nothing for other tests."""

    priority = -1  # type: ignore[assignment]

    def __init__(self, entries: dict[tuple[str, str], str] | None = None) -> None:
        super().__init__()
        self.entries = dict(entries or {})
        self.calls: list[tuple[str, str]] = []

    def get_password(self, service: str, username: str) -> str | None:
        self.calls.append((service, username))
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop((service, username), None)


class FileKeyring(MemoryKeyring):
    """Looks like keyrings.alt's PlaintextKeyring: it exposes the file holding its secrets."""

    def __init__(self, file_path: Path, entries: dict[tuple[str, str], str] | None = None) -> None:
        super().__init__(entries)
        self.file_path = str(file_path)


class BrokenKeyring(MemoryKeyring):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def get_password(self, service: str, username: str) -> str | None:
        raise self.error


def stored(exchange: str, *, key: str | None = KEY, secret: str | None = SECRET, passphrase: str | None = None) -> MemoryKeyring:
    entries = {}
    for part, value in (("api_key", key), ("api_secret", secret), ("passphrase", passphrase)):
        if value is not None:
            entries[("cockpit", f"{exchange}:{part}")] = value
    return MemoryKeyring(entries)


@pytest.fixture(autouse=True)
def clean_registry():
    forget_secrets()
    yield
    forget_secrets()


# --------------------------------------------------------------------------------------------
# Where credentials come from


def test_environment_credentials():
    creds = load_credentials("binanceusdm", environ=ENV)
    assert creds is not None
    assert (creds.api_key, creds.secret, creds.passphrase, creds.source) == (KEY, SECRET, "", "environment")
    assert last_keyring_problem() == ""


def test_environment_passphrase_for_an_exchange_that_needs_one():
    creds = load_credentials("okx", needs_passphrase=True, environ={**ENV, "COCKPIT_API_PASSPHRASE": PASSPHRASE})
    assert creds is not None and creds.passphrase == PASSPHRASE
    assert creds.ccxt_options() == {"apiKey": KEY, "secret": SECRET, "password": PASSPHRASE}


def test_environment_wins_over_keyring_and_the_keyring_is_not_asked():
    backend = stored("binanceusdm", key="keyring-key-000", secret="keyring-secret-000")
    creds = load_credentials("binanceusdm", environ=ENV, keyring_backend=backend)
    assert creds is not None and creds.source == "environment" and creds.api_key == KEY
    assert backend.calls == []


def test_keyring_credentials_from_a_backend_passed_in():
    backend = stored("binanceusdm")
    creds = load_credentials("binanceusdm", environ={}, keyring_backend=backend)
    assert creds is not None
    assert (creds.api_key, creds.secret, creds.source) == (KEY, SECRET, "keyring")
    assert ("cockpit", "binanceusdm:api_key") in backend.calls
    assert ("cockpit", "binanceusdm:api_secret") in backend.calls
    assert ("cockpit", "binanceusdm:passphrase") not in backend.calls  # not needed, not asked
    assert last_keyring_problem() == ""


def test_keyring_credentials_through_keyrings_own_backend_selection(monkeypatch):
    monkeypatch.setattr(keyring.core, "_keyring_backend", stored("okx", passphrase=PASSPHRASE))
    creds = load_credentials("okx", needs_passphrase=True, environ={})
    assert creds is not None
    assert (creds.api_key, creds.secret, creds.passphrase, creds.source) == (KEY, SECRET, PASSPHRASE, "keyring")


def test_nothing_configured_anywhere_is_none():
    assert load_credentials("binanceusdm", environ={}, keyring_backend=MemoryKeyring()) is None
    assert last_keyring_problem() == ""


def test_blank_environment_values_count_as_unset():
    blank = {"COCKPIT_API_KEY": "", "COCKPIT_API_SECRET": "  "}
    assert load_credentials("binanceusdm", environ=blank, keyring_backend=MemoryKeyring()) is None


@pytest.mark.parametrize(
    ("environ", "missing"),
    [
        ({"COCKPIT_API_KEY": KEY}, "COCKPIT_API_SECRET"),
        ({"COCKPIT_API_SECRET": SECRET}, "COCKPIT_API_KEY"),
    ],
)
def test_half_set_environment_pair_names_the_missing_variable(environ, missing):
    with pytest.raises(SecretsError, match=f"{missing} is not") as caught:
        load_credentials("binanceusdm", environ=environ, keyring_backend=stored("binanceusdm"))
    assert KEY not in str(caught.value) and SECRET not in str(caught.value)


def test_passphrase_alone_in_the_environment_is_an_error():
    with pytest.raises(SecretsError, match="COCKPIT_API_PASSPHRASE is set but COCKPIT_API_KEY and COCKPIT_API_SECRET"):
        load_credentials("okx", environ={"COCKPIT_API_PASSPHRASE": PASSPHRASE})


def test_missing_passphrase_in_the_environment_is_an_error():
    with pytest.raises(SecretsError, match="okx needs an API passphrase.*COCKPIT_API_PASSPHRASE is not"):
        load_credentials("okx", needs_passphrase=True, environ=ENV)


@pytest.mark.parametrize(
    ("backend", "missing"),
    [
        (stored("binanceusdm", secret=None), "cockpit/binanceusdm:api_secret"),
        (stored("binanceusdm", key=None), "cockpit/binanceusdm:api_key"),
    ],
)
def test_half_set_keyring_pair_names_the_missing_entry(backend, missing):
    with pytest.raises(SecretsError, match=f"but not {missing}; add it with: keyring set cockpit") as caught:
        load_credentials("binanceusdm", environ={}, keyring_backend=backend)
    assert KEY not in str(caught.value) and SECRET not in str(caught.value)


def test_missing_passphrase_in_the_keyring_is_an_error():
    with pytest.raises(SecretsError, match="okx needs an API passphrase.*but not cockpit/okx:passphrase"):
        load_credentials("okx", needs_passphrase=True, environ={}, keyring_backend=stored("okx"))


def test_keyring_without_a_backend_is_none_with_a_reason_and_no_traceback(capsys):
    assert load_credentials("binanceusdm", environ={}, keyring_backend=fail.Keyring()) is None
    assert last_keyring_problem() == "OS keyring unavailable: no keyring backend is installed or running"
    assert capsys.readouterr() == ("", "")


def test_keyrings_own_selection_finding_no_backend_is_none(monkeypatch, capsys):
    monkeypatch.setattr(keyring.core, "_keyring_backend", fail.Keyring())
    assert load_credentials("binanceusdm", environ={}) is None
    assert "no keyring backend" in last_keyring_problem()
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    "error",
    [
        KeyringLocked("Failed to unlock the collection!"),
        RuntimeError("org.freedesktop.DBus.Error.ServiceUnknown: The name is not activatable\nsecond line"),
        OSError("no D-Bus session bus"),
    ],
)
def test_any_keyring_failure_is_none_with_a_one_line_reason(error, capsys):
    assert load_credentials("binanceusdm", environ={}, keyring_backend=BrokenKeyring(error)) is None
    problem = last_keyring_problem()
    assert problem.startswith(f"OS keyring unavailable: {type(error).__name__}")
    assert "\n" not in problem
    assert capsys.readouterr() == ("", "")


def test_keyring_package_missing_is_none_with_a_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "keyring", None)  # makes `import keyring` raise ImportError
    assert load_credentials("binanceusdm", environ={}) is None
    assert last_keyring_problem() == "OS keyring unavailable: the keyring package is not installed"


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_file_backed_keyring_readable_by_group_is_refused(tmp_path):
    path = tmp_path / "keyring_pass.cfg"
    path.write_text("[cockpit]\n")
    path.chmod(0o640)
    with pytest.raises(SecretsError, match="keyring file is open to group or others.*chmod 600"):
        load_credentials("binanceusdm", environ={}, keyring_backend=FileKeyring(path, stored("binanceusdm").entries))
    path.chmod(0o600)
    creds = load_credentials("binanceusdm", environ={}, keyring_backend=FileKeyring(path, stored("binanceusdm").entries))
    assert creds is not None and creds.source == "keyring"


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_file_backed_keyring_inside_a_chainer_is_checked_too(tmp_path):
    path = tmp_path / "keyring_pass.cfg"
    path.write_text("")
    path.chmod(0o604)
    chainer = MemoryKeyring()
    chainer.backends = [MemoryKeyring(), FileKeyring(path)]  # type: ignore[attr-defined]
    with pytest.raises(SecretsError, match="keyring file"):
        load_credentials("binanceusdm", environ={}, keyring_backend=chainer)


def test_keyring_file_not_created_yet_is_fine(tmp_path):
    backend = FileKeyring(tmp_path / "absent.cfg")
    assert load_credentials("binanceusdm", environ={}, keyring_backend=backend) is None


def test_loaded_values_are_registered_with_the_redactor():
    load_credentials("okx", needs_passphrase=True, environ={**ENV, "COCKPIT_API_PASSPHRASE": PASSPHRASE})
    assert redact(f"{KEY} {SECRET} {PASSPHRASE}") == "*** *** ***"
    forget_secrets()
    load_credentials("binanceusdm", environ={}, keyring_backend=stored("binanceusdm"))
    assert redact(f"key={KEY}") == "key=***"


def test_importing_the_module_or_loading_env_credentials_never_imports_keyring():
    code = (
        "import sys, cockpit.secrets as s\n"
        "assert 'keyring' not in sys.modules, 'imported at module import'\n"
        "s.load_credentials('binanceusdm', environ={'COCKPIT_API_KEY': 'k' * 8, 'COCKPIT_API_SECRET': 's' * 8})\n"
        "assert 'keyring' not in sys.modules, 'imported with env credentials'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# --------------------------------------------------------------------------------------------
# Credentials never show their values


def test_credentials_repr_str_and_format_hide_the_values():
    creds = Credentials(KEY, SECRET, PASSPHRASE, source="keyring")
    for shown in (repr(creds), str(creds), f"{creds}", f"{creds!r}", f"{creds!s}", repr([creds]), str({"c": creds})):
        assert KEY not in shown and SECRET not in shown and PASSPHRASE not in shown
    assert repr(creds) == "Credentials(api_key=***, secret=***, passphrase=***, source=keyring)"
    assert str(Credentials(KEY, SECRET, source="environment")) == "Credentials(api_key=***, secret=***, source=environment)"
    assert not any(f.repr for f in dataclasses.fields(Credentials) if f.name != "source")


def test_credentials_cannot_be_pickled_or_copied():
    creds = Credentials(KEY, SECRET, source="environment")
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(creds, protocol)
    with pytest.raises(TypeError):
        copy.copy(creds)
    with pytest.raises(TypeError):
        copy.deepcopy(creds)


def test_credentials_are_frozen_and_checked():
    creds = Credentials(KEY, SECRET, source="environment")
    with pytest.raises(dataclasses.FrozenInstanceError):
        creds.api_key = "other"  # type: ignore[misc]
    with pytest.raises(ValueError, match="source"):
        Credentials(KEY, SECRET, source="config")


# --------------------------------------------------------------------------------------------
# File permissions


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_owner_only_file_is_accepted(tmp_path):
    path = tmp_path / "live.toml"
    path.write_text("")
    path.chmod(0o600)
    require_private(path)
    path.chmod(0o400)
    require_private(path)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o602, 0o610, 0o777])
def test_file_open_to_group_or_others_is_refused(tmp_path, mode):
    path = tmp_path / "live.toml"
    path.write_text("")
    path.chmod(mode)
    with pytest.raises(SecretsError) as caught:
        require_private(path)
    message = str(caught.value)
    assert f"(mode {mode:04o})" in message
    assert f"chmod 600 {path}" in message
    assert message.startswith(f"{path}: config file is open to group or others")
    assert "\n" not in message


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_refusal_names_what_the_file_is_and_quotes_odd_paths(tmp_path):
    path = tmp_path / "my secrets.env"
    path.write_text("")
    path.chmod(0o644)
    with pytest.raises(SecretsError, match="secrets file") as caught:
        require_private(path, "secrets file")
    assert f"chmod 600 '{path}'" in str(caught.value)


def test_missing_file_is_left_to_the_reader(tmp_path):
    require_private(tmp_path / "absent.toml")


# --------------------------------------------------------------------------------------------
# Config files must not hold keys

VALUE = "VALUE-must-never-be-shown-9f8e7d"
CREDENTIAL_NAMES = [
    "api_key", "apiKey", "API-KEY", "apikey", "api_secret", "apiSecret", "secret", "Secret",
    "secret_key", "secretKey", "password", "passphrase", "private_key", "privateKey", "token",
    "access_key", "accessKey", "binance_api_key", "client_secret", "access_token",
]  # fmt: skip


def nest(levels: list[str], leaf: dict[str, Any]) -> dict[str, Any]:
    for name in reversed(levels):
        leaf = {name: leaf}
    return leaf


@pytest.mark.parametrize("name", CREDENTIAL_NAMES)
@pytest.mark.parametrize("levels", [[], ["exchange"], ["exchange", "okx"], ["market"], ["a", "b", "c"]])
def test_credential_like_keys_are_refused_at_any_depth(name, levels):
    document = nest(levels, {"id": "okx", name: VALUE})
    with pytest.raises(SecretsError) as caught:
        refuse_secrets_in(document, Path("live.toml"))
    message = str(caught.value)
    assert VALUE not in message
    table = f"[{'.'.join(levels)}] " if levels else ""
    assert message.startswith(f"live.toml: {table}{name}: a config file must not hold API keys; set COCKPIT_API_")
    assert message.endswith('or use the OS keyring (see README "Connecting a real account")')


def test_the_message_from_the_issue():
    with pytest.raises(SecretsError) as caught:
        refuse_secrets_in({"exchange": {"id": "okx", "secret": VALUE}}, Path("live.toml"))
    assert str(caught.value) == (
        "live.toml: [exchange] secret: a config file must not hold API keys; set COCKPIT_API_SECRET "
        'or use the OS keyring (see README "Connecting a real account")'
    )


def test_arrays_of_tables_and_arrays_are_walked():
    document = tomllib.loads(
        '[[accounts]]\nname = "main"\n[[accounts]]\nname = "hedge"\npassphrase = "' + VALUE + '"\n'
    )
    with pytest.raises(SecretsError, match=r"^live.toml: \[accounts #2\] passphrase: .*COCKPIT_API_PASSPHRASE") as caught:
        refuse_secrets_in(document, Path("live.toml"))
    assert VALUE not in str(caught.value)
    with pytest.raises(SecretsError, match=r"\[exchange\.accounts\] key:"):
        refuse_secrets_in({"exchange": {"accounts": [{"key": VALUE}]}}, None)
    with pytest.raises(SecretsError, match="^tokens|^api_token"):
        refuse_secrets_in({"api_token": [VALUE, VALUE]}, None)


def test_numeric_values_are_refused_too():
    with pytest.raises(SecretsError, match="passphrase"):
        refuse_secrets_in({"exchange": {"passphrase": 123456}}, None)


def test_key_is_refused_only_inside_an_exchange_table():
    for document in ({"exchange": {"key": VALUE}}, {"exchange": {"okx": {"key": VALUE}}}):
        with pytest.raises(SecretsError, match=r"key: .*COCKPIT_API_KEY"):
            refuse_secrets_in(document, None)
    refuse_secrets_in({"key": "value"}, None)
    refuse_secrets_in({"ui": {"key": "q"}}, None)
    refuse_secrets_in({"portfolio": {"targets": {"key": 0.1}}}, None)


@pytest.mark.parametrize("levels", [[], ["exchange"], ["ui"], ["exchange", "okx"]])
def test_ordinary_keys_are_not_refused(levels):
    ordinary = {
        "api_url": "https://testnet.binancefuture.com", "poll_seconds": 5, "key_bindings": {"buy": "b"},
        "id": "okx", "testnet": True, "margin_mode": "isolated", "hotkey": "k", "monkey": 1,
        "max_tokens": 10, "show_token": True, "keyring_service": "cockpit",
    }  # fmt: skip
    refuse_secrets_in(nest(levels, ordinary), Path("live.toml"))


def test_the_example_config_is_accepted():
    with open(REPO / "config.example.toml", "rb") as handle:
        refuse_secrets_in(tomllib.load(handle), REPO / "config.example.toml")


# --------------------------------------------------------------------------------------------
# Redaction


def test_redact_replaces_every_registered_value_and_ignores_short_ones():
    register_secret(KEY)
    register_secret("abc12")  # shorter than 6: would mask ordinary words, so ignored
    register_secret("")
    register_secret(None)
    assert redact(f"apiKey={KEY}&x={KEY}") == "apiKey=***&x=***"
    assert redact("abc12 stays") == "abc12 stays"
    assert redact("nothing secret here") == "nothing secret here"


def test_redact_catches_escaped_forms():
    register_secret(SECRET)  # holds '/' and '+'
    from urllib.parse import quote

    for form in (repr(SECRET), f'"{SECRET}"', quote(SECRET, safe="")):
        assert "***" in redact(form) and SECRET not in redact(form)
    assert quote(SECRET, safe="") not in redact(f"sig?secret={quote(SECRET, safe='')}")


def test_redact_without_secrets_is_identity():
    assert redact("anything at all") == "anything at all"


def test_overlapping_secrets_are_masked_as_one_span():
    register_secret("abcdefgh")
    register_secret("efghijkl")
    assert redact("xx abcdefghijkl yy") == "xx *** yy"


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=300)
@given(
    secret=st.text(min_size=6, max_size=30).filter(lambda s: s.strip()),
    pieces=st.lists(st.text(max_size=20), min_size=2, max_size=6),
)
def test_redact_property_any_number_of_occurrences_anywhere(secret, pieces):
    forget_secrets()
    register_secret(secret)
    text = secret.join(pieces)
    out = redact(text)
    assert secret not in out
    assert "***" in out


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=300)
@given(
    secret=st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=6, max_size=40),
    text=st.text(max_size=200),
)
def test_redact_property_text_without_the_secret_is_unchanged(secret, text):
    assume(secret not in text)
    forget_secrets()
    register_secret(secret)
    assert redact(text) == text


def test_registry_is_safe_to_use_from_threads():
    values = [f"thread-secret-{i:04d}" for i in range(200)]
    workers = [threading.Thread(target=register_secret, args=(v,)) for v in values]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert redact(" ".join(values)) == " ".join(["***"] * len(values))


# --------------------------------------------------------------------------------------------
# Logs and tracebacks


@pytest.fixture
def captured_logger():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("cockpit.test_secrets")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)
    logger.removeFilter(secrets._FILTER)


def test_log_message_args_and_exceptions_are_redacted(captured_logger):
    logger, stream = captured_logger
    register_secret(KEY)
    register_secret(SECRET)
    install_log_redaction(logger)
    logger.info(f"connecting with {KEY}")
    logger.warning("signing with %s and %r", SECRET, KEY)
    logger.info("mapping %(k)s", {"k": KEY})
    try:
        raise RuntimeError(f"exchange rejected key {KEY}")
    except RuntimeError:
        logger.exception("order failed")
    logger.error("extra", extra={"detail": SECRET})
    output = stream.getvalue()
    assert KEY not in output and SECRET not in output
    assert "connecting with ***" in output
    assert "signing with *** and '***'" in output
    assert "mapping ***" in output
    assert "Traceback (most recent call last)" in output
    assert "RuntimeError: exchange rejected key ***" in output


def test_exceptions_without_secrets_keep_exc_info_for_the_handler(captured_logger):
    logger, stream = captured_logger
    register_secret(KEY)
    install_log_redaction(logger)
    seen = []
    logger.addFilter(lambda record: seen.append(record.exc_info) or True)
    try:
        raise KeyError("plain")
    except KeyError:
        logger.exception("boom")
    assert seen[0] is not None
    assert "KeyError: 'plain'" in stream.getvalue()


def test_root_installation_covers_handlers_that_child_loggers_propagate_to():
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root.addHandler(handler)
    try:
        register_secret(SECRET)
        assert install_log_redaction() is install_log_redaction()  # idempotent
        assert handler.filters.count(secrets._FILTER) == 1
        logging.getLogger("cockpit.engine.somewhere").warning("secret is %s", SECRET)
        assert stream.getvalue() == "secret is ***\n"
    finally:
        root.removeHandler(handler)
        root.removeFilter(secrets._FILTER)
        for other in [*logging.Logger.manager.loggerDict.values(), logging.lastResort]:
            for h in getattr(other, "handlers", [other] if isinstance(other, logging.Handler) else []):
                h.removeFilter(secrets._FILTER)


@pytest.fixture
def restore_hooks(monkeypatch):
    monkeypatch.setattr(sys, "excepthook", sys.__excepthook__)
    monkeypatch.setattr(threading, "excepthook", threading.__excepthook__)
    monkeypatch.setattr(sys, "unraisablehook", sys.__unraisablehook__)


def test_excepthook_redacts_the_printed_traceback(restore_hooks, capsys):
    register_secret(SECRET)
    install_excepthook()
    install_excepthook()  # wraps once
    try:
        raise ValueError(f"bad signature for {SECRET}")
    except ValueError:
        sys.excepthook(*sys.exc_info())
    err = capsys.readouterr().err
    assert SECRET not in err
    assert "Traceback (most recent call last)" in err and "ValueError: bad signature for ***" in err


def test_thread_excepthook_redacts_the_printed_traceback(restore_hooks, capsys):
    register_secret(SECRET)
    install_excepthook()

    def crash() -> None:
        raise RuntimeError(f"leaked {SECRET}")

    worker = threading.Thread(target=crash, name="poller")
    worker.start()
    worker.join()
    err = capsys.readouterr().err
    assert SECRET not in err
    assert "Exception in thread poller" in err and "RuntimeError: leaked ***" in err


def test_uncaught_exception_in_a_real_process_is_redacted():
    code = (
        "from cockpit.secrets import register_secret, install_excepthook\n"
        f"register_secret({SECRET!r})\n"
        "install_excepthook()\n"
        f"raise SystemError('auth failed: ' + {SECRET!r})\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 1
    assert SECRET not in result.stderr
    assert "SystemError: auth failed: ***" in result.stderr
