"""The Textual app: a thin shell that shows engine snapshots and turns keys into engine commands."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from typing import Awaitable, Callable

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.theme import Theme
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker, WorkerState

from cockpit.engine.engine import Engine
from cockpit.engine.session import Session
from cockpit.tui.alerts import ALERT_SECONDS, AlertWatch
from cockpit.tui.commands import CockpitCommands
from cockpit.tui.screens.bulk_confirm import BulkConfirm, decide_all
from cockpit.tui.screens.edit_size import EditSize
from cockpit.tui.screens.help_screen import HelpScreen
from cockpit.tui.screens.journal_screen import JournalScreen
from cockpit.tui.screens.models_screen import ModelsScreen
from cockpit.tui.screens.order_entry import ManualOrder
from cockpit.tui.screens.position_detail import PositionDetail
from cockpit.tui.screens.proposal_detail import ProposalDetail
from cockpit.tui.screens.quit_confirm import QuitConfirm
from cockpit.tui.screens.risk_screen import RiskScreen
from cockpit.tui.screens.typed_confirm import TypedConfirm
from cockpit.tui.themes import ThemeCatalogue, ThemeError, load_themes
from cockpit.tui.widgets.breaker_line import BreakerLine
from cockpit.tui.widgets.positions_table import PositionsTable
from cockpit.tui.widgets.proposals_panel import ProposalsPanel
from cockpit.tui.widgets.status_bar import StatusBar

# Redraws are pulled from the engine's latest snapshot at this rate, never pushed per tick:
# a burst of prices costs one redraw, which keeps a slow SSH link usable.
REFRESH_SECONDS = 0.25


class CockpitApp(App):
    """Dashboard: header, positions, proposals, the last notice, and the keys in the footer."""

    TITLE = "cockpit"
    # ctrl+p: every binding's action by its description (cockpit/tui/commands.py), and Theme.
    COMMANDS = App.COMMANDS | {CockpitCommands}
    CSS = """
    Screen { layout: vertical; }
    #notice { height: 1; padding: 0 1; background: $surface; color: $text; }
    """
    BINDINGS = [
        Binding("a", "approve", "Approve", id="approve"),
        Binding("v", "veto", "Veto", id="veto"),
        # Deciding in detail, by hand and in bulk; off the footer, which is full at 80 columns.
        Binding("d", "proposal_detail", "Proposal detail (also Enter)", id="proposal-detail", show=False),
        Binding("e", "edit_proposal", "Edit proposal size", id="edit-size", show=False),
        Binding("n", "manual_order", "Manual order (queued, a approves)", id="manual-order", show=False),
        Binding("A", "bulk('approve')", "Approve all pending (asks first)", id="approve-all", show=False),
        Binding("V", "bulk('veto')", "Veto all pending (asks first)", id="veto-all", show=False),
        Binding("p", "position_detail", "Position detail: ladder, stop, PnL", id="position-detail", show=False),
        Binding("m", "toggle_mode", "Mode", id="mode"),
        Binding("F", "flatten", "Flatten", id="flatten"),
        Binding("R", "resume", "Resume gate", id="resume", show=False),
        Binding("s", "risk", "Stress", id="risk"),
        Binding("j", "journal", "Journal", id="journal"),
        # Off the footer, which is full at 80 columns; help (?) lists it.
        Binding("f", "models", "Models", id="models", show=False),
        Binding("T", "cycle_theme", "Next theme (ctrl+p: pick one)", id="theme", show=False),
        Binding("question_mark", "help", "Help", id="help", key_display="?"),
        Binding("q", "quit", "Quit", id="quit"),
    ]

    # Deciding needs the proposal in view: these keys act only on the dashboard. Flatten and
    # quit work from every screen.
    DASHBOARD_ONLY = frozenset({"approve", "veto", "toggle_mode", "resume", "proposal_detail", "edit_proposal",
                                "manual_order", "bulk", "position_detail"})
    COCKPIT_ACTIONS = DASHBOARD_ONLY | {"flatten", "journal", "help", "risk", "models", "cycle_theme"}

    def _fatal_error(self) -> None:
        # Textual's own crash report shows every frame's local variables; a frame inside ccxt's
        # request signing holds the API key in its headers. Ours shows none, and is redacted.
        import io

        from rich.console import Console
        from rich.traceback import Traceback

        from cockpit.secrets import redact

        self.bell()
        buffer = io.StringIO()
        Console(file=buffer, width=self.console.width, color_system=None).print(Traceback(show_locals=False))
        self._exit_renderables.append(Text(redact(buffer.getvalue())))
        self._close_messages_no_wait()

    def __init__(self, session: Session, themes: ThemeCatalogue | None = None) -> None:
        """`themes`: what the command line loaded (shipped and the user's own); None: shipped only.
        Raises ThemeError (one line) when the config names a theme that is not among them."""
        super().__init__()
        self.session = session
        self.engine: Engine | None = None
        self._shown_version = -1
        self._engine_notice = ""
        self._exit_reason = "exit"
        self._alerts = AlertWatch()
        self.themes = themes if themes is not None else load_themes()
        problem = self.themes.unknown_theme(session.config.ui.theme)
        if problem:
            raise ThemeError(problem)
        textual_own = [name for name in self.available_themes if name not in self.themes.themes]
        for theme in self.themes.themes.values():
            self.register_theme(theme)
        self.theme = session.config.ui.theme
        # Textual's own themes lack the liquidation and source colours: the theme key and the
        # palette's "Theme" command offer ours only.
        for name in textual_own:
            self.unregister_theme(name)

    def compose(self) -> ComposeResult:
        ui = self.session.config.ui
        yield StatusBar(id="status", watch_distance=ui.watch_distance, danger_distance=ui.danger_distance)
        yield PositionsTable(id="positions", watch_distance=ui.watch_distance, danger_distance=ui.danger_distance)
        yield BreakerLine(id="breakers", enabled=self.session.config.breakers.enabled)
        yield ProposalsPanel(id="proposals")
        yield Static("", id="notice")
        yield Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.COCKPIT_ACTIONS and isinstance(self.screen, ModalScreen):
            return False  # a dialog is open: keys belong to it (a fast "F" must not re-open it)
        if action in self.DASHBOARD_ONLY and len(self.screen_stack) > 1:
            return False
        return True

    def on_mount(self) -> None:
        self._status = self.query_one(StatusBar)
        self._listen_for_hangup()
        self._status.show(None, self.session.describe_start())
        self.theme_changed_signal.subscribe(self, self._theme_switched)
        skipped = self.themes.problems
        if skipped:
            more = f" (+{len(skipped) - 1} more: cockpit check lists them)" if len(skipped) > 1 else ""
            self.say(skipped[0] + more)
        self.query_one("#proposal-list", DataTable).focus()
        self.start_engine()
        self.set_interval(REFRESH_SECONDS, self.refresh_from_engine)

    @work(group="engine", name="engine-start", exit_on_error=False)
    async def start_engine(self) -> None:
        """Opens the session and runs the engine until the price source ends or the app quits."""
        self.engine = await self.session.open()
        # What start-up built lives as long as the app: freezing it keeps every later full
        # garbage collection from re-scanning it on the screen's loop (benchmarks/ui_latency).
        gc.freeze()
        self.refresh_from_engine()
        self.run_engine()

    @work(group="engine", name="engine-run", exit_on_error=False)
    async def run_engine(self) -> None:
        """Feeds prices through the engine for the life of the app."""
        assert self.engine is not None
        await self.engine.run()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            error = event.worker.error
            self.say(f"{event.worker.name} failed: {error}")
            if self.engine is None and not self._dashboard_gone():
                self._status.show(None, f"could not start: {error}")

    def _dashboard_gone(self) -> bool:
        # At exit the timer can fire after the dashboard's widgets are removed.
        return not self.is_running or not self._status.is_attached

    def refresh_from_engine(self) -> None:
        """Redraws every widget from the engine's newest snapshot, if it changed."""
        if self.engine is None or self._dashboard_gone():
            return
        snapshot = self.engine.snapshot
        self._status.show(snapshot)  # the countdown moves even when prices do not
        if snapshot.version == self._shown_version:
            return
        self._shown_version = snapshot.version
        self._alert(snapshot)
        self.query_one(PositionsTable).show(snapshot)
        self.query_one(BreakerLine).show(snapshot)
        self.query_one(ProposalsPanel).show(snapshot)
        if snapshot.notice != self._engine_notice:
            self._engine_notice = snapshot.notice
            self.say(snapshot.notice)

    def _alert(self, snapshot) -> None:
        # A trip or a gate move is said as a notification on every screen, not only in the
        # dashboard's notice bar; the bell only when the config asks for it.
        alerts = self._alerts.changes(snapshot)
        for alert in alerts:
            self.notify(alert.text, title=alert.title, severity=alert.severity, timeout=ALERT_SECONDS, markup=False)
        if self.session.config.ui.bell and any(alert.rings for alert in alerts):
            self.bell()  # once, however many came together

    def get_system_commands(self, screen):
        # Quit is one of our bindings (it asks first with orders in flight): listed once, by ours.
        return (command for command in super().get_system_commands(screen) if command.title != "Quit")

    def say(self, text: str) -> None:
        """Shows one line in the notice bar, as plain text (a path or an exchange's message may
        hold brackets that markup would swallow)."""
        if not self._dashboard_gone():
            self.query_one("#notice", Static).update(Text(text))

    def _theme_switched(self, theme: Theme) -> None:
        # From the theme key or the palette's "Theme" command: say which, and redraw what holds
        # colours of the old theme (each widget skips what it already shows in this one).
        names = self.themes.names
        where = f" ({names.index(theme.name) + 1}/{len(names)})" if theme.name in names else ""
        self.say(f"theme {theme.name}{where} · T: next · set [ui] theme to keep it")
        self._shown_version = -1
        self.refresh_from_engine()

    # ---- actions: each is one engine command ----------------------------------------------

    def _selected(self) -> str | None:
        selected = self.query_one(ProposalsPanel).selected_id
        if self.engine is None:
            self.say("still starting: no proposals yet")
            return None
        if selected is None:
            self.say("no proposal selected: nothing to decide")
        return selected

    def action_approve(self) -> None:
        proposal_id = self._selected()
        engine = self.engine
        if proposal_id is not None and engine is not None:
            self.say(f"approving {proposal_id}…")
            self._decide(lambda: engine.approve(proposal_id, key="a"))

    def action_veto(self) -> None:
        proposal_id = self._selected()
        engine = self.engine
        if proposal_id is not None and engine is not None:
            self._decide(lambda: engine.veto(proposal_id, key="v"))

    def action_toggle_mode(self) -> None:
        engine = self.engine
        if engine is None:
            self.say("still starting: the mode can be switched once prices arrive")
            return
        self._decide(lambda: engine.toggle_mode(key="m"))

    @work(group="decisions", name="decision", exit_on_error=False)
    async def _decide(self, decision: Callable[[], Awaitable[str]]) -> None:
        """Runs one engine decision off the message loop and shows its outcome. An approval's
        orders can wait on a failing exchange for many seconds (timeouts, retries, Retry-After),
        and the keys, flatten above all, must still answer meanwhile; the engine takes decisions
        one at a time, in the order they were made."""
        self.say(await decision())
        self.refresh_from_engine()

    # ---- detail, edit, manual and bulk: each opens its screen (cockpit/tui/screens) -------

    def _preview_limits(self) -> dict:
        ui = self.session.config.ui
        return dict(leverage_ceiling=self.session.config.portfolio.leverage_ceiling,
                    watch_distance=ui.watch_distance, danger_distance=ui.danger_distance)

    def action_proposal_detail(self) -> None:
        proposal_id = self._selected()
        if proposal_id is not None:
            self.push_screen(ProposalDetail(proposal_id, **self._preview_limits()))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "proposal-list" and len(self.screen_stack) == 1:
            self.action_proposal_detail()  # Enter on a proposal

    def action_edit_proposal(self) -> None:
        proposal_id = self._selected()
        if proposal_id is not None:
            self.push_screen(EditSize(proposal_id, **self._preview_limits()),
                             lambda outcome: self.say(outcome or "edit cancelled: the proposal is unchanged"))

    def action_manual_order(self) -> None:
        if self.engine is None:
            self.say("still starting: orders can be entered once prices arrive")
            return
        self.push_screen(ManualOrder(**self._preview_limits()),
                         lambda outcome: self.say(outcome or "manual order cancelled: nothing was queued"))

    @work(group="dialogs", name="bulk-dialog", exclusive=True)
    async def action_bulk(self, decision: str) -> None:
        """Asks y/n, then approves or vetoes every proposal pending when asked, one by one."""
        pending = self.engine.pending_proposals() if self.engine is not None else ()
        if self.engine is None or not pending:
            self.say(f"no proposal pending: nothing to {decision}")
            return
        key = "A" if decision == "approve" else "V"
        if not await self.push_screen_wait(BulkConfirm(decision, pending, key)):
            self.say(f"{key} cancelled: nothing was done")
            return
        summary = await decide_all(self.engine, decision, pending, key=key)
        self.refresh_from_engine()  # first: it shows the engine's last notice, the summary wins
        self.say(summary)

    def action_position_detail(self) -> None:
        if self.engine is None or not self.engine.snapshot.risk.positions:
            self.say("no open position to show")
            return
        ui = self.session.config.ui
        self.push_screen(PositionDetail(watch_distance=ui.watch_distance, danger_distance=ui.danger_distance))

    @work(group="dialogs", name="flatten-dialog", exclusive=True)
    async def action_flatten(self) -> None:
        """Asks for the typed word, then flattens everything."""
        if self.engine is None:
            self.say("still starting: use `cockpit flatten` from a shell if this is urgent")
            return
        confirmed = await self.push_screen_wait(
            TypedConfirm(
                "FLATTEN ALL",
                "Cancels every order, halts automation, and closes every position reduce-only.",
                "FLATTEN",
            )
        )
        if not confirmed:
            self.say("flatten cancelled: nothing was done")
            return
        self.say("flattening…")
        report = await self.engine.flatten(key="F", origin="tui")
        self.say(report.summary())
        self.refresh_from_engine()

    @work(group="dialogs", name="resume-dialog", exclusive=True)
    async def action_resume(self) -> None:
        """Asks for the typed word, then moves the gate back to ACTIVE."""
        if self.engine is None:
            return
        confirmed = await self.push_screen_wait(
            TypedConfirm(
                "RESUME",
                f"Move the gate from {self.engine.gate.value} back to ACTIVE and re-arm every breaker.",
                "RESUME",
            )
        )
        if confirmed:
            self.say(await self.engine.resume(key="R"))
        else:
            self.say("resume cancelled: the gate stays as it was")
        self.refresh_from_engine()

    def action_risk(self) -> None:
        if self.engine is None:
            self.say("still starting: the stress panel opens once the account is loaded")
            return
        if isinstance(self.screen, RiskScreen):
            return
        ui = self.session.config.ui
        self.push_screen(RiskScreen(watch_distance=ui.watch_distance, danger_distance=ui.danger_distance))

    def action_models(self) -> None:
        if self.engine is None:
            self.say("still starting: the models screen opens in a moment")
            return
        if isinstance(self.screen, ModelsScreen):
            return
        self.push_screen(ModelsScreen())

    def action_journal(self) -> None:
        if self.engine is None:
            self.say("still starting: the journal opens in a moment")
            return
        self.push_screen(JournalScreen(self.engine.journal))

    def action_cycle_theme(self) -> None:
        """Switches to the next theme in name order, for this run (the config is not written)."""
        names = self.themes.names
        current = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(current + 1) % len(names)]

    def action_help(self) -> None:
        keys = [(b.key_display or b.key, b.description) for b in self.BINDINGS if isinstance(b, Binding)]
        self.push_screen(HelpScreen(keys))

    @work(group="dialogs", name="quit-dialog", exclusive=True)
    async def action_quit(self) -> None:
        """Quits; asks first when orders are in flight."""
        in_flight = self.engine.in_flight if self.engine else 0
        if in_flight and not await self.push_screen_wait(QuitConfirm(in_flight)):
            self.say("still running")
            return
        await self.session.close("quit")
        self.exit()

    def _listen_for_hangup(self) -> None:
        # A dropped SSH link sends SIGHUP; exit cleanly so the stop and last prices are journaled.
        loop = asyncio.get_running_loop()
        for hangup in (signal.SIGHUP, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, AttributeError):
                loop.add_signal_handler(hangup, self._hang_up, hangup.name)

    def _hang_up(self, signal_name: str) -> None:
        self._exit_reason = f"signal {signal_name}"
        self.exit()

    async def on_unmount(self) -> None:
        await self.session.close(self._exit_reason)
