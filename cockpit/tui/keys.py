"""Every key the cockpit answers to, read from the BINDINGS of the app and of each screen, so the
help screen and the command palette cannot drift from what the keys really do."""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass

from textual.app import App
from textual.binding import Binding
from textual.screen import ModalScreen, Screen


@dataclass(frozen=True)
class BoundKey:
    """One action and the keys bound to it: `keys` as shown ("Esc / j"), `description` as in
    the footer, `action` as Textual runs it ("approve", "app.pop_screen", "tab('claims')")."""

    keys: str
    description: str
    action: str


def bound_keys(owner: type, app: App) -> list[BoundKey]:
    """Returns the actions `owner` (an App or Screen class) binds, in BINDINGS order, each with
    all its keys; bindings without a description (a key swallowed on purpose) are left out."""
    found: dict[str, tuple[list[str], str]] = {}
    for binding in Binding.make_bindings(owner.__dict__.get("BINDINGS", [])):
        if not binding.description:
            continue
        shown = app.get_key_display(binding)
        keys, _ = found.setdefault(binding.action, ([], binding.description))
        if shown not in keys:
            keys.append(shown)
    return [BoundKey(" / ".join(keys), description, action) for action, (keys, description) in found.items()]


def screen_name(screen: type) -> str:
    """Returns a screen's name for people: "Journal" for JournalScreen, "Typed confirm" for
    TypedConfirm."""
    bare = screen.__name__.removesuffix("Screen") or screen.__name__
    words = re.findall(r"[A-Z][a-z0-9]*|[a-z0-9]+", bare)
    return " ".join(words).capitalize() if words else bare


def help_title(screen: type) -> str:
    """Returns the heading a screen's keys go under in help: its HELP_TITLE, else "On the ...
    screen" ("In the ... dialog" for a modal one)."""
    if getattr(screen, "HELP_TITLE", ""):
        return screen.HELP_TITLE
    name = screen_name(screen).lower()
    return f"In the {name} dialog" if issubclass(screen, ModalScreen) else f"On the {name} screen"


def cockpit_screens() -> list[type[Screen]]:
    """Returns every Screen class in cockpit.tui.screens that binds keys, full screens first,
    then dialogs, each by help title: a new screen's keys reach help without anyone listing
    them."""
    import cockpit.tui.screens as package

    found: dict[str, type[Screen]] = {}
    for module_info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, Screen) and value.__module__ == module.__name__
                    and value.__dict__.get("BINDINGS")):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return sorted(found.values(), key=lambda screen: (issubclass(screen, ModalScreen), help_title(screen)))
