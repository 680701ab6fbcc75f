"""cockpit's Textual themes: the TOML files shipped in `cockpit.themes`, and the user's own from the
`themes` folder of their config directory.

A user theme with the name of a shipped one replaces it (so a palette can be adjusted for one
terminal without touching the config); a user file that cannot be used is skipped with one line
saying why, and never stops the cockpit from starting.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import platformdirs
from textual.color import Color, ColorParseError
from textual.css.tokenize import tokenize_values
from textual.theme import Theme

# Every theme must give these; widgets read them instead of literal colours.
REQUIRED_VARIABLES = ("liq-safe", "liq-watch", "liq-danger", "source-live", "source-synthetic", "source-replay")
# Textual's own Theme fields a theme file may set; `name` and `primary` are required.
COLOUR_FIELDS = ("primary", "secondary", "accent", "warning", "error", "success",
                 "foreground", "background", "surface", "panel", "boost")
OTHER_FIELDS = ("name", "dark", "luminosity_spread", "text_alpha", "variables")
DEFAULT_THEME = "cockpit-dark"
# Textual puts the name in a CSS class (`-theme-<name>`), which allows only these characters.
_NAME = re.compile(r"[A-Za-z0-9_-]+")


class ThemeError(ValueError):
    """A theme file that cannot be used, phrased as one line."""


def _one_line(error: object) -> str:
    return " ".join(str(error).split())


def _colour(value: Any, where: str) -> Color:
    if not isinstance(value, str):
        raise ThemeError(f"{where}: expected a colour string like \"#4EBF71\", got {value!r}")
    try:
        return Color.parse(value)
    except ColorParseError:
        raise ThemeError(f"{where}: {value!r} is not a colour (expected e.g. \"#4EBF71\")") from None


def theme_from_toml(text: str, origin: str) -> Theme:
    """Returns a Textual Theme parsed from TOML text; raises ThemeError (one line) naming `origin`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ThemeError(f"{origin}: not valid TOML ({_one_line(error)})") from None
    unknown = sorted(set(data) - set(COLOUR_FIELDS) - set(OTHER_FIELDS))
    if unknown:
        raise ThemeError(f"{origin}: unknown key {unknown[0]!r} (expected: {', '.join(OTHER_FIELDS + COLOUR_FIELDS)})")
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ThemeError(f"{origin}: name: expected letters, digits, '-' or '_', like \"my-dark\", got {name!r}")
    if "primary" not in data:
        raise ThemeError(f"{origin}: lacks primary (the colour of borders and the selected row)")
    fields: dict[str, Any] = {key: data[key] for key in COLOUR_FIELDS if key in data}
    for key, value in fields.items():
        _colour(value, f"{origin}: {key}")  # checked, but kept as written: Textual reads alpha (boost)
    if not isinstance(data.get("dark", True), bool):
        raise ThemeError(f"{origin}: dark: expected true or false, got {data['dark']!r}")
    for key in ("luminosity_spread", "text_alpha"):
        if key in data and (isinstance(data[key], bool) or not isinstance(data[key], (int, float)) or not 0 <= data[key] <= 1):
            raise ThemeError(f"{origin}: {key}: expected a number from 0 to 1, got {data[key]!r}")
    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        raise ThemeError(f"{origin}: variables: expected a table ([variables])")
    missing = [required for required in REQUIRED_VARIABLES if required not in variables]
    if missing:
        raise ThemeError(f"{origin}: [variables] lacks {', '.join(missing)}")
    checked: dict[str, str] = {}
    for key, value in variables.items():
        if not _NAME.fullmatch(key) or isinstance(value, (dict, list, bool)):
            raise ThemeError(f"{origin}: [variables] {key} = {value!r}: expected a name = \"value\" line")
        # The screen's own colours go to Rich styles, which read no CSS colour forms: as #RRGGBB.
        checked[key] = _colour(value, f"{origin}: [variables] {key}").hex6 if key in REQUIRED_VARIABLES else str(value)
        try:
            tokenize_values({key: checked[key]})  # a value the stylesheet cannot read would stop the app
        except Exception:  # noqa: BLE001 - Textual's tokenizer raises several kinds
            raise ThemeError(f"{origin}: [variables] {key} = {value!r} is not a CSS value") from None
    others = {key: data[key] for key in ("dark", "luminosity_spread", "text_alpha") if key in data}
    theme = Theme(name=name, variables=checked, **fields, **others)
    try:
        theme.to_color_system().generate()  # what the app does when the theme is switched on
    except Exception as error:  # noqa: BLE001 - one line, whatever Textual's colour system objects to
        raise ThemeError(f"{origin}: {_one_line(error)}") from None
    return theme


def shipped_themes() -> dict[str, Theme]:
    """Returns every theme shipped with cockpit, keyed by name; raises ThemeError if one is broken
    (a packaging fault, not the user's)."""
    themes = {}
    for entry in sorted(resources.files("cockpit.themes").iterdir(), key=lambda entry: entry.name):
        if entry.name.endswith(".toml"):
            theme = theme_from_toml(entry.read_text(encoding="utf-8"), entry.name)
            themes[theme.name] = theme
    return themes


def user_themes_folder() -> Path:
    """Returns the folder the user's own theme files are read from: `themes` in the user config
    directory (~/.config/cockpit/themes on Linux, honouring $XDG_CONFIG_HOME)."""
    return platformdirs.user_config_path("cockpit") / "themes"


@dataclass(frozen=True)
class ThemeCatalogue:
    """Every theme the cockpit can show, where each came from, and the user files skipped."""

    themes: dict[str, Theme]
    """By name, in name order (the order the theme key cycles through, as the palette lists them)."""

    origins: dict[str, str] = field(default_factory=dict)
    """Name -> the user file it was read from; shipped themes are absent."""

    problems: tuple[str, ...] = ()
    """One line per user theme file that was skipped, saying why."""

    folder: Path | None = None
    """The user themes folder that was read, if any."""

    @property
    def names(self) -> tuple[str, ...]:
        """Returns every theme name, in cycling order."""
        return tuple(self.themes)

    def unknown_theme(self, name: str) -> str | None:
        """Returns None when `name` is a theme here, else the one-line config error for ui.theme."""
        if name in self.themes:
            return None
        where = f"; your own go in {self.folder}" if self.folder is not None else ""
        return f"ui.theme: unknown theme {name!r} (expected one of: {', '.join(self.names)}{where})"

    def describe(self) -> str:
        """Returns one line listing the themes, naming those read from the user folder."""
        listed = [f"{name} ({Path(self.origins[name]).name})" if name in self.origins else name for name in self.names]
        line = f"themes: {', '.join(listed)}"
        return line + (f"; your own from {self.folder}" if self.folder is not None else "")


def load_themes(user_folder: Path | None = None) -> ThemeCatalogue:
    """Returns the shipped themes plus the `*.toml` themes in `user_folder` (None: shipped only).

    A user file that cannot be read or lacks what a theme needs is skipped with one line in
    `problems`; a second file with the same theme name is skipped too. Raises ThemeError only for
    a broken shipped theme."""
    themes = shipped_themes()
    origins: dict[str, str] = {}
    problems: list[str] = []
    if user_folder is not None:
        for path, theme, problem in _read_folder(user_folder):
            if theme is not None and theme.name in origins:
                problem = f"{path}: theme {theme.name!r} is already defined by {origins[theme.name]}"
            if theme is None or problem is not None:
                problems.append(f"theme skipped: {problem}")
                continue
            themes[theme.name] = theme
            origins[theme.name] = str(path)
    ordered = {name: themes[name] for name in sorted(themes)}
    return ThemeCatalogue(ordered, origins, tuple(problems), user_folder)


def _read_folder(folder: Path) -> list[tuple[Path, Theme | None, str | None]]:
    """Returns (path, theme or None, problem or None) for each `*.toml` file, in name order."""
    try:
        if not folder.exists():
            return []  # no folder: nobody has added a theme, which is the usual case
        paths = sorted(p for p in folder.iterdir() if p.suffix == ".toml")
    except OSError as error:
        return [(folder, None, f"{folder}: cannot list the folder ({error.strerror or error})")]
    found: list[tuple[Path, Theme | None, str | None]] = []
    for path in paths:
        try:
            found.append((path, theme_from_toml(path.read_text(encoding="utf-8"), str(path)), None))
        except ThemeError as error:
            found.append((path, None, str(error)))
        except UnicodeDecodeError:
            found.append((path, None, f"{path}: not a UTF-8 text file"))
        except OSError as error:
            found.append((path, None, f"{path}: cannot read ({error.strerror or error})"))
    return found
