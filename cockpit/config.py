"""The one typed, frozen configuration, loaded from TOML.

Precedence, highest first: command line, `COCKPIT_*` environment variables, the file, defaults.
Every mistake is reported as one line naming the key and what it expects (`ConfigError`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(ValueError):
    """A configuration mistake, already phrased as one line for the trader."""


class _Section(BaseModel):
    # No inf or nan anywhere: `stale_after_seconds = inf` would switch the stale-data breaker off,
    # `ttl_seconds = inf` would keep a proposal alive for ever, `leverage_ceiling = inf` lift the
    # ceiling; every limit is a finite number.
    model_config = ConfigDict(
        frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True, allow_inf_nan=False
    )


class AccountConfig(_Section):
    starting_balance: float = Field(10_000.0, gt=0)
    """USDT deposited into a new paper account."""


class PortfolioConfig(_Section):
    targets: dict[str, float] = Field(default_factory=lambda: {"BTC": 0.5, "ETH": 0.3})
    """Target weight per base asset, as a fraction of levered capital; the rest stays undeployed."""

    target_leverage: float = Field(2.0, gt=0)
    """Gross exposure of the deployed capital: target notional = weight x this x equity."""

    leverage_ceiling: float = Field(3.0, gt=0)
    """Hard ceiling on effective leverage (gross notional / equity) after any order."""

    allow_ceiling_above_3x: bool = False
    """Must be true to set leverage_ceiling above 3; the screen then shows it in the danger colour."""

    drift_band: float = Field(0.05, gt=0, lt=1)
    """Rebalance when any weight leaves its target by more than this (0.05 = 5 points)."""

    @model_validator(mode="after")
    def _check(self) -> "PortfolioConfig":
        for base, weight in self.targets.items():
            if not base.isalnum() or not base.isupper():
                raise ValueError(f"targets.{base}: expected an upper-case asset name like BTC")
            if not -1.0 <= weight <= 1.0:
                raise ValueError(f"targets.{base}: expected a weight between -1 and 1, got {weight}")
        if sum(abs(w) for w in self.targets.values()) > 1.0 + 1e-9:
            raise ValueError("targets: expected absolute weights summing to at most 1 (the rest is the reserve)")
        if self.leverage_ceiling > 3.0 and not self.allow_ceiling_above_3x:
            raise ValueError(
                "leverage_ceiling: expected at most 3.0 unless allow_ceiling_above_3x = true"
            )
        gross = self.target_leverage * sum(abs(w) for w in self.targets.values())
        if gross > self.leverage_ceiling:
            raise ValueError(
                f"target_leverage: targets ask for {gross:.2f}x, above the ceiling {self.leverage_ceiling:.2f}x"
            )
        return self

    @property
    def reserve(self) -> float:
        """Returns the USDT reserve weight: 1 - sum of |target weights|."""
        return max(0.0, 1.0 - sum(abs(w) for w in self.targets.values()))


class LimitsConfig(_Section):
    max_order_notional: float = Field(250_000.0, gt=0)
    """Largest value of a single order, USDT; a larger one is denied at approval."""

    max_asset_exposure: float = Field(2.0, gt=0)
    """Largest |notional| of one asset after the orders, as a multiple of equity (2.0 = 2x)."""

    max_orders_per_second: float = Field(5.0, gt=0)
    """Orders sent per second at most; a burst above it is denied, never queued."""


class RebalanceConfig(_Section):
    mode: Literal["continuous", "interval"] = "interval"
    """continuous: check drift on every update; interval: every interval_hours (and at start)."""

    interval_hours: float = Field(4.0, gt=0, le=168)
    """Hours between drift checks in interval mode."""


class ProposalConfig(_Section):
    ttl_seconds: float = Field(120.0, gt=0)
    """A proposal expires unexecuted after this many seconds."""

    max_price_move: float = Field(0.01, gt=0, lt=1)
    """A proposal expires when any of its prices moves more than this fraction (0.01 = 1%)."""

    veto_memory: float = Field(0.02, ge=0, lt=1)
    """After a veto, nothing identical is proposed until some drift changes by this many points."""


class PaperConfig(_Section):
    taker_fee: float = Field(0.0005, ge=0, lt=0.01)
    """Fee on market orders, as a fraction of notional (0.0005 = 0.05%)."""

    maker_fee: float = Field(0.0002, ge=-0.001, lt=0.01)
    """Fee on resting orders, as a fraction of notional."""

    slippage: float = Field(0.0005, ge=0, lt=0.05)
    """Fill price is mark x (1 +/- slippage), against you."""

    funding_rate: float = Field(0.0001, gt=-0.01, lt=0.01)
    """Funding per 8h when no funding series is given (longs pay when positive)."""


class MarketConfig(_Section):
    exchange: str = "binanceusdm"
    """ccxt exchange id for the paper account's live public prices ([exchange] api_url applies to it too)."""

    poll_seconds: float = Field(2.0, ge=0.2, le=60)
    """Seconds between REST price polls while the exchange's websocket stream is down (or absent)."""

    connect_timeout_seconds: float = Field(4.0, gt=0, le=30)
    """If the exchange does not answer within this, fall back to the synthetic demo market."""

    stale_after_seconds: float = Field(30.0, gt=0)
    """Prices older than this are stale: automation halts and the header says so."""

    synthetic_seed: int = Field(7, ge=0)
    """Seed of the synthetic demo market (same seed, same prices); 0 or more."""

    synthetic_interval_seconds: float = Field(1.0, ge=0.01, le=3600)
    """Seconds between the synthetic demo market's price steps (one price per symbol per step)."""

    synthetic_frozen: bool = False
    """Hold the synthetic demo market's prices still (prices keep arriving, unchanged): for measuring a quiet screen."""


# Exchanges a real account can be connected to. Binance USDT-M is exercised end to end (against a
# local server that answers in Binance's format); the others sit behind the same adapter untested.
EXCHANGES = {"binanceusdm": "exercised", "bybit": "not yet exercised", "okx": "not yet exercised"}
PASSPHRASE_EXCHANGES = {"okx"}


class ExchangeConfig(_Section):
    """A real exchange account. Keys never go here: they come from COCKPIT_API_KEY /
    COCKPIT_API_SECRET (/ COCKPIT_API_PASSPHRASE) or the OS keyring."""

    id: str = ""
    """ccxt id of the exchange holding the account: binanceusdm (exercised), bybit or okx (not yet exercised). Empty = paper trading."""

    testnet: bool = True
    """Use the exchange's testnet (sandbox). Set false only after the testnet run looked right."""

    api_url: str = ""
    """Send every API request to this http(s)://host:port instead, keeping the paths (proxies, tests)."""

    margin_mode: Literal["cross", "isolated"] = "cross"
    """Margin mode set on each traded symbol at start."""

    leverage: int = Field(5, ge=1, le=125)
    """The exchange's per-symbol leverage setting (initial margin = notional / this); the cockpit's own ceiling still applies."""

    post_only: bool = False
    """Send rebalance orders as post-only limits at the best price instead of market orders (risk-reducing orders stay market)."""

    account_poll_seconds: float = Field(5.0, ge=1, le=300)
    """Seconds between reads of balance, positions, open orders and funding."""

    timeout_seconds: float = Field(10.0, ge=1, le=60)
    """An exchange call without an answer after this is a timeout (never a fill, never a rejection)."""

    not_found_grace_seconds: float = Field(60.0, ge=0, le=600)
    """An order the exchange cannot find is only concluded absent after this long."""

    dead_man_seconds: float = Field(120.0, ge=0, le=3600)
    """Dead-man's switch: the exchange cancels open orders if the cockpit is silent this long while automation is armed; 0 = off."""

    @model_validator(mode="after")
    def _check(self) -> "ExchangeConfig":
        if self.id and self.id not in EXCHANGES:
            raise ValueError(f"id: expected one of {', '.join(EXCHANGES)} (or empty for paper), got {self.id!r}")
        if self.api_url and not self.api_url.startswith(("http://", "https://")):
            raise ValueError(f"api_url: expected http://host:port or https://host, got {self.api_url!r}")
        if 0 < self.dead_man_seconds < 10:
            raise ValueError("dead_man_seconds: expected 0 (off) or at least 10 seconds")
        return self

    @property
    def live(self) -> bool:
        """Returns True when a real (or testnet) exchange account is configured."""
        return bool(self.id)

    @property
    def account_name(self) -> str:
        """Returns the journal's account name for this exchange account."""
        return f"live-{self.id}" + ("-testnet" if self.testnet else "")


class BreakersConfig(_Section):
    """Circuit breakers. "The day" is a rolling 24h of market time, marked to market."""

    enabled: bool = True
    """false switches the loss, funding and correlation breakers off (stale data stays): for backtest comparisons only; a real account refuses it."""

    position_day_loss: float = Field(0.15, gt=0, lt=1)
    """A position whose price moved this fraction against it over 24h trips (0.15 = 15%)."""

    position_cut: float = Field(0.5, gt=0, le=1)
    """The position day loss breaker proposes cutting that position by this fraction (0.5 = half)."""

    portfolio_day_loss: float = Field(0.08, gt=0, lt=1)
    """Equity down this fraction over 24h trips: the gate goes to REDUCING."""

    portfolio_cut: float = Field(0.3, gt=0, le=1)
    """The portfolio day loss breaker proposes cutting every position by this fraction."""

    funding_extreme: float = Field(0.002, gt=0, lt=0.05)
    """Funding per 8h paid by a position above this trips (0.002 = 0.2%); the proposal exits it."""

    correlation_band_sigmas: float = Field(2.0, gt=0, le=10)
    """Average pairwise correlation above its rolling mean + this many standard deviations trips."""

    correlation_window: int = Field(24, ge=5, le=1000)
    """Returns (one per sample) in each correlation estimate."""

    correlation_history: int = Field(120, ge=10, le=10000)
    """Past correlation estimates the band is drawn from."""

    correlation_sample_hours: float = Field(1.0, gt=0, le=24)
    """Market-time hours between the price samples correlations are computed on."""

    correlation_cut: float = Field(0.25, gt=0, le=1)
    """A correlation spike proposes cutting every position by this fraction."""


class SizingConfig(_Section):
    """How much of portfolio.target_leverage the policy actually aims for. It only ever lowers it."""

    target_volatility: float = Field(2.0, gt=0, le=10)
    """Annualized volatility the book may carry (2.0 = 200%); a higher forecast shrinks exposure in proportion."""

    regime_aware: bool = True
    """Scale exposure by the market regime: bull 1.0, consolidation 0.5, bear 0.25, crisis 0.1."""

    max_drawdown: float = Field(0.10, gt=0, lt=1)
    """Below the equity peak by more than this (0.10 = 10%), leverage may not rise: no catching up."""

    drawdown_window_days: int = Field(30, ge=1, le=3650)
    """The equity peak of that guard is the highest of the last this many days (a book stopped out flat can re-enter after it)."""

    kelly_win_probability: float = Field(0.0, ge=0, lt=1)
    """Your measured win rate, for Kelly sizing; 0 leaves Kelly out (it needs both figures)."""

    kelly_win_loss_ratio: float = Field(0.0, ge=0)
    """Your average win / average loss, for Kelly sizing; 0 leaves Kelly out."""

    kelly_fraction: float = Field(0.5, gt=0, le=1)
    """Fraction of the full Kelly bet to take (0.5 = half Kelly)."""

    @model_validator(mode="after")
    def _kelly_pair(self) -> "SizingConfig":
        if (self.kelly_win_probability > 0) != (self.kelly_win_loss_ratio > 0):
            raise ValueError("kelly_win_probability and kelly_win_loss_ratio: set both, or neither")
        return self

    @property
    def uses_kelly(self) -> bool:
        """Returns True when both Kelly figures are given."""
        return self.kelly_win_probability > 0 and self.kelly_win_loss_ratio > 0


class HedgeConfig(_Section):
    """An optional hedge leg, shorted against the target assets (the core)."""

    asset: str = ""
    """Base asset of the hedge perpetual (e.g. BTC); empty means no hedge leg. Not one of the targets."""

    window: int = Field(72, ge=10, le=5000)
    """Returns (one per sample) the minimum-variance hedge ratio and correlation are estimated on."""

    sample_hours: float = Field(1.0, gt=0, le=24)
    """Market-time hours between the price samples of core and hedge."""

    min_correlation: float = Field(0.5, gt=0, lt=1)
    """Warn when |correlation| of hedge and core falls below this, or when its sign flips."""

    @model_validator(mode="after")
    def _check(self) -> "HedgeConfig":
        if self.asset and not (self.asset.isalnum() and self.asset.isupper()):
            raise ValueError(f"asset: expected an upper-case asset name like BTC, got {self.asset!r}")
        return self


class ReserveConfig(_Section):
    """A USDT reserve ring-fenced from sizing: profit moved there is not levered again."""

    band_low: float = Field(0.20, ge=0, lt=1)
    """Lower edge of the reserve's target share of equity (0.20 = 20%)."""

    band_high: float = Field(0.30, gt=0, lt=1)
    """Upper edge of the reserve's target share of equity; a top-up aims at the band's middle."""

    profit_trigger: float = Field(0.15, gt=0, le=10)
    """Propose moving profit to the reserve when equity is up this much since the last move (0.15 = 15%)."""

    @model_validator(mode="after")
    def _check(self) -> "ReserveConfig":
        if self.band_low > self.band_high:
            raise ValueError(f"band_low: expected at most band_high ({self.band_high}), got {self.band_low}")
        return self


class ModelsConfig(_Section):
    """The forecasting models: which volatility model sizes the book, how often they refit, and
    when they ask for a cut or raise a drift warning."""

    volatility_model: Literal["auto", "garch", "gjr", "egarch", "ewma", "realized", "hgb", "ensemble"] = "auto"
    """The volatility model sizing and stops use; auto = the best 24h QLIKE on the last 90 days."""

    volatility_refit_hours: float = Field(24.0, gt=0, le=24 * 30)
    """Market-time hours between GARCH-family refits (between refits each bar updates the recursion)."""

    learning_refit_hours: float = Field(168.0, gt=0, le=24 * 90)
    """Market-time hours between refits of the gradient-boosting forecasters, the model choice and the regime classifier."""

    window_bars: int = Field(2000, ge=300, le=20_000)
    """4h bars the GARCH family is fitted on (a rolling window)."""

    workers: int = Field(1, ge=1, le=8)
    """Processes that run the fits, beside the screen's own."""

    score_cut: float = Field(90.0, gt=0, le=100)
    """Propose cutting a held asset when its volatility score (0-100) reaches this."""

    score_cut_fraction: float = Field(0.25, gt=0, le=1)
    """The share of the position that proposal cuts."""

    drift_loss_ratio: float = Field(1.5, gt=1, le=10)
    """Warn when the model in use's 24h QLIKE over the last week exceeds its evaluated level by this factor."""

    min_sharpe: float = Field(-1.0, ge=-10, le=10)
    """Warn when the strategy's annualized Sharpe ratio over `sharpe_days` falls below this."""

    sharpe_days: int = Field(30, ge=7, le=365)
    """Days of daily equity returns the drift monitor's Sharpe ratio is measured over."""


class JournalConfig(_Section):
    path: str = ""
    """SQLite journal file; empty means the user data directory (or COCKPIT_JOURNAL)."""


class UiConfig(_Section):
    theme: str = "cockpit-dark"
    """Theme name: cockpit-dark, cockpit-light, cockpit-high-contrast, cockpit-colour-blind, or your own from the themes folder of your config directory (T switches while running)."""

    watch_distance: float = Field(0.25, gt=0, lt=1)
    """Liquidation distance below this is coloured 'watch'."""

    danger_distance: float = Field(0.10, gt=0, lt=1)
    """Liquidation distance below this is coloured 'danger'."""

    bell: bool = False
    """Ring the terminal bell with the notification of a breaker trip or a tighter risk gate."""


class Config(_Section):
    """Everything cockpit can be told. Sections mirror config.example.toml."""

    account: AccountConfig = AccountConfig()
    portfolio: PortfolioConfig = PortfolioConfig()
    limits: LimitsConfig = LimitsConfig()
    rebalance: RebalanceConfig = RebalanceConfig()
    proposals: ProposalConfig = ProposalConfig()
    paper: PaperConfig = PaperConfig()
    market: MarketConfig = MarketConfig()
    breakers: BreakersConfig = BreakersConfig()
    sizing: SizingConfig = SizingConfig()
    hedge: HedgeConfig = HedgeConfig()
    reserve: ReserveConfig = ReserveConfig()
    models: ModelsConfig = ModelsConfig()
    exchange: ExchangeConfig = ExchangeConfig()
    journal: JournalConfig = JournalConfig()
    ui: UiConfig = UiConfig()

    @model_validator(mode="after")
    def _targets_within_exposure_cap(self) -> "Config":
        # A proposal the engine makes must pass the engine's own approval checks.
        for base, weight in self.portfolio.targets.items():
            exposure = abs(weight) * self.portfolio.target_leverage
            if exposure > self.limits.max_asset_exposure:
                raise ValueError(
                    f"limits.max_asset_exposure: target {base} needs {exposure:.2f}x of equity, "
                    f"above the cap {self.limits.max_asset_exposure:.2f}x"
                )
        if self.hedge.asset in self.portfolio.targets:
            raise ValueError(
                f"hedge.asset: {self.hedge.asset} is also a target; one-way mode holds one position per asset"
            )
        return self

    def digest(self) -> str:
        """Returns a short SHA-256 hex digest of the effective settings, for the journal."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


ENV_PREFIX = "COCKPIT_"
# COCKPIT_JOURNAL is the documented short form of COCKPIT_JOURNAL_PATH.
_ENV_ALIASES = {"COCKPIT_JOURNAL": ("journal", "path")}


def _env_overrides(environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Returns {section: {key: value}} from COCKPIT_<SECTION>_<KEY> variables of known keys."""
    known = {
        f"{ENV_PREFIX}{section.upper()}_{key.upper()}": (section, key)
        for section, model in Config.model_fields.items()
        for key in model.annotation.model_fields  # type: ignore[union-attr]
    }
    known.update(_ENV_ALIASES)
    overrides: dict[str, dict[str, Any]] = {}
    for name, (section, key) in known.items():
        if name in environ:
            overrides.setdefault(section, {})[key] = _parse_env_value(environ[name], section, key)
    return overrides


def _parse_env_value(raw: str, section: str, key: str) -> Any:
    # Values are read as TOML scalars so numbers and booleans keep their type; anything else is text.
    annotation = Config.model_fields[section].annotation.model_fields[key].annotation  # type: ignore[union-attr]
    if annotation is str:
        return raw
    try:
        return tomllib.loads(f"value = {raw}")["value"]
    except (tomllib.TOMLDecodeError, RecursionError):  # tomllib recurses once per nested [ or {
        return raw


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _describe(error: ValidationError) -> str:
    """Returns one line naming the first bad key and what it expects."""
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        parent = first["loc"][:-1]
        model: Any = Config
        for part in parent:
            model = model.model_fields[part].annotation
        expected = ", ".join(model.model_fields)
        return f"{location}: unknown key (expected one of: {expected})"
    if message.startswith(("limits.", "hedge.")):
        return message
    if message.startswith(("targets", "leverage_ceiling", "target_leverage")):
        section = ".".join(str(part) for part in first["loc"][:1])
        return f"{section}.{message}" if section else message
    key = message.split(":", 1)[0]
    if len(first["loc"]) == 1 and key in getattr(Config.model_fields.get(str(first["loc"][0])), "annotation", BaseModel).model_fields:
        return f"{location}.{message}"  # a section's own check names one of its keys
    if first["type"] in ("model_type", "dict_type"):
        return f"{location}: expected a table ([{location}]), got {first.get('input')!r}"
    given = first.get("input")
    shown = "" if isinstance(given, dict) else f", got {given!r}"
    return f"{location}: {message.lower()}{shown}"


def read_toml(path: Path) -> dict[str, Any]:
    """Returns the parsed TOML document at `path`; raises ConfigError with a one-line reason."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a TOML file") from None
    except PermissionError:
        raise ConfigError(f"{path}: cannot read (permission denied)") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise ConfigError(f"{path}: not valid TOML (arrays or tables nested too deeply)") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file") from None


def _refuse_unsafe(document: Mapping[str, Any], path: Path) -> None:
    """A config file never holds keys; one that connects a real account must be private."""
    from cockpit.secrets import SecretsError, refuse_secrets_in, require_private

    try:
        refuse_secrets_in(document, path)
        exchange = document.get("exchange")
        if isinstance(exchange, Mapping) and exchange.get("id"):
            require_private(path)
    except SecretsError as error:
        raise ConfigError(str(error)) from None


def load_config(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Config:
    """Returns the effective Config: `overrides` (command line) over environment over file over
    defaults. Raises ConfigError with one line naming the bad key."""
    document = read_toml(path) if path is not None else {}
    if path is not None:
        _refuse_unsafe(document, path)
    document = _merge(document, _env_overrides(os.environ if environ is None else environ))
    document = _merge(document, overrides or {})
    try:
        return Config.model_validate(document)
    except ValidationError as error:
        where = f"{path}: " if path is not None else ""
        raise ConfigError(f"{where}{_describe(error)}") from None
