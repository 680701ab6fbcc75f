"""Loading cockpit's Textual themes from the TOML files shipped in `cockpit.themes`."""

from __future__ import annotations

import tomllib
from importlib import resources

from textual.theme import Theme

# Every theme must give these; widgets read them instead of literal colours.
REQUIRED_VARIABLES = ("liq-safe", "liq-watch", "liq-danger", "source-live", "source-synthetic", "source-replay")


class ThemeError(ValueError):
    """A theme file that cannot be used, phrased as one line."""


def theme_from_toml(text: str, origin: str) -> Theme:
    """Returns a Textual Theme parsed from TOML text; raises ThemeError naming `origin`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ThemeError(f"{origin}: not valid TOML ({error})") from None
    variables = data.pop("variables", {})
    missing = [name for name in REQUIRED_VARIABLES if name not in variables]
    if missing:
        raise ThemeError(f"{origin}: [variables] lacks {', '.join(missing)}")
    try:
        return Theme(variables={k: str(v) for k, v in variables.items()}, **data)
    except TypeError as error:
        raise ThemeError(f"{origin}: {error}") from None


def shipped_themes() -> dict[str, Theme]:
    """Returns every theme shipped with cockpit, keyed by name."""
    themes = {}
    for entry in resources.files("cockpit.themes").iterdir():
        if entry.name.endswith(".toml"):
            theme = theme_from_toml(entry.read_text(encoding="utf-8"), entry.name)
            themes[theme.name] = theme
    return themes
