"""The command palette (ctrl+p): every action the app's keys do, by the key's description, the
keys of the screen it was opened on, and what has no key (open a backtest result file). Read
from BINDINGS, so a new key is in the palette without anyone listing it here.

A command does what its key does, through the same checks: approve from the palette is still
the trader's decision on the proposal on screen, flatten still asks for the typed word, and a
dashboard-only action from another screen is refused with a line saying so."""

from __future__ import annotations

from functools import partial
from typing import Awaitable, Callable

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode

from cockpit.tui.keys import bound_keys, screen_name

Command = tuple[str, str, Callable[[], Awaitable[None]]]  # (title, help, callback)
RESULTS_TITLE = "Open backtest results…"


def action_name(action: str) -> str:
    """Returns the action's method name: "bulk" for "bulk('approve')", "pop_screen" for
    "app.pop_screen"."""
    return action.split("(")[0].split(".")[-1]


async def _run(node: DOMNode, action: str, title: str) -> None:
    # The palette has closed when this runs, so the app's checks see the screen beneath it.
    app = node.app
    if not await app.run_action(action, node):
        dashboard_only = action_name(action) in getattr(app, "DASHBOARD_ONLY", ())
        where = "only on the dashboard (Escape returns there)" if dashboard_only else "not available here"
        app.notify(f"{title}: {where}; nothing was done", severity="warning")


async def _open_results(node: DOMNode) -> None:
    from cockpit.tui.screens.results_screen import ask_and_open_results

    ask_and_open_results(node.app)


class CockpitCommands(Provider):
    """Offers every bound action of the app and of the screen the palette was opened on."""

    def _commands(self) -> list[Command]:
        app, screen = self.app, self.screen
        commands: list[Command] = []
        if screen is not app.screen_stack[0]:  # the dashboard's keys are the app's own
            name = screen_name(type(screen))
            for key in bound_keys(type(screen), app):
                title = f"{name}: {key.description}"
                commands.append((title, f"key {key.keys}", partial(_run, screen, key.action, title)))
        dashboard_only = getattr(app, "DASHBOARD_ONLY", frozenset())
        for key in bound_keys(type(app), app):
            where = " · on the dashboard" if action_name(key.action) in dashboard_only else ""
            commands.append((key.description, f"key {key.keys}{where}", partial(_run, app, key.action, key.description)))
        commands.append((RESULTS_TITLE, "show a saved `cockpit backtest --json` file (asks for its path)",
                         partial(_open_results, app)))
        return commands

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
