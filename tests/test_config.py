"""The typed config: defaults, precedence, and a clear one-line refusal for every kind of mistake."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from cockpit.config import Config, ConfigError, load_config

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cockpit.toml"
    path.write_text(text)
    return path


def refusal(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), environ={})
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_defaults_are_the_documented_ones():
    config = load_config(environ={})
    assert config.portfolio.targets == {"BTC": 0.5, "ETH": 0.3}
    assert config.portfolio.reserve == pytest.approx(0.2)
    assert config.portfolio.target_leverage == 2.0
    assert config.portfolio.leverage_ceiling == 3.0
    assert config.portfolio.drift_band == 0.05
    assert config.rebalance.interval_hours == 4.0


def test_unknown_key_names_the_key_and_the_choices(tmp_path):
    message = refusal(tmp_path, "[rebalance]\nintervall = 4\n")
    assert "rebalance.intervall: unknown key" in message
    assert "interval_hours" in message


def test_unknown_section(tmp_path):
    assert "bogus: unknown key" in refusal(tmp_path, "[bogus]\nx = 1\n")


def test_wrong_type(tmp_path):
    message = refusal(tmp_path, '[rebalance]\ninterval_hours = "four"\n')
    assert "rebalance.interval_hours" in message and "number" in message and "four" in message


def test_string_where_number_expected_is_not_coerced(tmp_path):
    assert "portfolio.drift_band" in refusal(tmp_path, '[portfolio]\ndrift_band = "0.1"\n')


def test_out_of_range(tmp_path):
    message = refusal(tmp_path, "[portfolio]\ndrift_band = -0.1\n")
    assert "portfolio.drift_band" in message and "greater than 0" in message


def test_bad_choice(tmp_path):
    message = refusal(tmp_path, '[rebalance]\nmode = "weekly"\n')
    assert "rebalance.mode" in message and "continuous" in message and "interval" in message


def test_section_that_is_not_a_table(tmp_path):
    assert "rebalance: expected a table" in refusal(tmp_path, "rebalance = 3\n")


def test_invalid_toml(tmp_path):
    assert "not valid TOML" in refusal(tmp_path, "[rebalance\n")


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "absent.toml", environ={})


def test_ceiling_above_3x_needs_the_explicit_setting(tmp_path):
    assert "allow_ceiling_above_3x" in refusal(tmp_path, "[portfolio]\nleverage_ceiling = 5.0\n")
    config = load_config(
        write(tmp_path, "[portfolio]\nleverage_ceiling = 5.0\nallow_ceiling_above_3x = true\n"), environ={}
    )
    assert config.portfolio.leverage_ceiling == 5.0


def test_targets_over_100_percent(tmp_path):
    message = refusal(tmp_path, "[portfolio.targets]\nBTC = 0.9\nETH = 0.3\n")
    assert "portfolio.targets" in message and "at most 1" in message


def test_targets_asking_for_more_than_the_ceiling(tmp_path):
    # 2.0 targets at 4x = 0.8 * 4 = 3.2x gross, above the 3x ceiling.
    message = refusal(tmp_path, "[portfolio]\ntarget_leverage = 4.0\n")
    assert "portfolio.target_leverage" in message and "3.20x" in message


def test_lower_case_asset_name(tmp_path):
    assert "targets.btc" in refusal(tmp_path, "[portfolio.targets]\nbtc = 0.5\n")


def test_config_is_frozen():
    config = load_config(environ={})
    with pytest.raises(Exception):
        config.rebalance.mode = "continuous"  # type: ignore[misc]


def test_precedence_command_line_over_environment_over_file_over_default(tmp_path):
    path = write(tmp_path, '[rebalance]\nmode = "continuous"\ninterval_hours = 8.0\n[paper]\nslippage = 0.001\n')
    environ = {"COCKPIT_REBALANCE_INTERVAL_HOURS": "2", "COCKPIT_JOURNAL": "/tmp/env.sqlite"}
    config = load_config(path, environ=environ, overrides={"journal": {"path": "/tmp/cli.sqlite"}})
    assert config.rebalance.mode == "continuous"  # file over default
    assert config.rebalance.interval_hours == 2.0  # environment over file
    assert config.journal.path == "/tmp/cli.sqlite"  # command line over environment
    assert config.paper.slippage == 0.001
    assert load_config(path, environ=environ).journal.path == "/tmp/env.sqlite"


def test_bad_environment_value_names_the_key():
    with pytest.raises(ConfigError, match="rebalance.interval_hours"):
        load_config(environ={"COCKPIT_REBALANCE_INTERVAL_HOURS": "soon"})


def test_example_file_lists_every_setting_with_its_default():
    example = REPO / "config.example.toml"
    assert load_config(example, environ={}) == Config()
    document = tomllib.loads(example.read_text())
    for section, field in Config.model_fields.items():
        assert set(document[section]) == set(field.annotation.model_fields), section


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cockpit.cli", *args], capture_output=True, text=True, timeout=60, cwd=cwd
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[rebalance]\nintervall = 4\n", "rebalance.intervall: unknown key"),
        ('[rebalance]\ninterval_hours = "four"\n', "rebalance.interval_hours"),
        ("[portfolio]\ndrift_band = 2\n", "portfolio.drift_band"),
        ('[ui]\ntheme = "nope"\n', "ui.theme: unknown theme"),
    ],
)
def test_cockpit_check_refuses_a_bad_config_with_status_2_and_one_line(tmp_path, text, expected):
    result = run_cli("check", "--config", str(write(tmp_path, text)))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0]
    assert "Traceback" not in result.stderr


def test_cockpit_check_accepts_the_example(tmp_path):
    result = run_cli("check", "--config", str(REPO / "config.example.toml"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok:")


def test_running_with_a_bad_config_refuses_before_the_screen(tmp_path):
    result = run_cli("--demo", "--config", str(write(tmp_path, "[market]\npoll_seconds = 0\n")))
    assert result.returncode == 2
    assert "market.poll_seconds" in result.stderr and "Traceback" not in result.stderr


def test_targets_beyond_the_asset_exposure_cap_are_refused(tmp_path):
    # BTC 0.5 at 2x needs 1.0x of equity; a 0.8x cap cannot hold it.
    message = refusal(tmp_path, "[limits]\nmax_asset_exposure = 0.8\n")
    assert "limits.max_asset_exposure" in message and "BTC" in message and "1.00x" in message


@pytest.mark.parametrize(
    "text, key",
    [
        ("[market]\nstale_after_seconds = inf\n", "market.stale_after_seconds"),  # would never halt
        ("[proposals]\nttl_seconds = inf\n", "proposals.ttl_seconds"),  # would never expire
        ("[portfolio]\nallow_ceiling_above_3x = true\nleverage_ceiling = inf\n", "portfolio.leverage_ceiling"),
        ("[limits]\nmax_order_notional = nan\n", "limits.max_order_notional"),
        ("[portfolio.targets]\nBTC = nan\n", "portfolio.targets.BTC"),
    ],
)
def test_inf_and_nan_are_refused_everywhere(tmp_path, text, key):
    # Found by the fuzz drill (tests/drills): inf passed every `gt=0` check and silently switched
    # a safety limit off.
    message = refusal(tmp_path, text)
    assert message.endswith(("got inf", "got nan")) and f"{key}: input should be a finite number" in message


def test_a_negative_demo_seed_is_refused_before_the_demo_cannot_start(tmp_path):
    # numpy's generator refuses a negative seed: the demo market died at start with a valid config.
    assert "market.synthetic_seed" in refusal(tmp_path, "[market]\nsynthetic_seed = -1\n")


def test_toml_nested_too_deeply_is_one_line_not_a_recursion_traceback(tmp_path):
    message = refusal(tmp_path, "x = " + "[" * 2000 + "]" * 2000 + "\n")
    assert message.endswith("not valid TOML (arrays or tables nested too deeply)")
    deep = "[" * 2000  # from the environment it is text, and the key says what it expects
    with pytest.raises(ConfigError, match="portfolio.drift_band: input should be a valid number"):
        load_config(environ={"COCKPIT_PORTFOLIO_DRIFT_BAND": deep})
