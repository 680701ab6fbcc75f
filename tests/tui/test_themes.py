"""Themes: the four shipped ones, the user's own folder, switching with T and the palette, and the
liquidation bands that read without colour."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.text import Text

from cockpit.tui import format as fmt
from cockpit.tui.app import CockpitApp
from cockpit.tui.themes import REQUIRED_VARIABLES, ThemeError, load_themes, shipped_themes, theme_from_toml
from cockpit.tui.widgets.positions_table import PositionsTable
from tests.support import BTC, ETH, T0, FakeClock, config, tick
from tests.tui.test_app import make_app, until

REPO = Path(__file__).resolve().parents[2]
SHIPPED = ("cockpit-colour-blind", "cockpit-dark", "cockpit-high-contrast", "cockpit-light")
# Okabe & Ito's colour-universal-design palette (black left out: it is a background, not a signal).
OKABE_ITO = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"}

GOOD = """
name = "{name}"
primary = "#224466"
background = "#101010"
[variables]
liq-safe = "#00AA00"
liq-watch = "#AAAA00"
liq-danger = "#AA0000"
source-live = "#00AA00"
source-synthetic = "#AAAA00"
source-replay = "#2255AA"
"""


def contrast(a: str, b: str) -> float:
    """Returns the WCAG 2 contrast ratio of two #RRGGBB colours (1 to 21)."""

    def luminance(colour: str) -> float:
        channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


# ---- the shipped themes -------------------------------------------------------------------


def test_four_themes_ship_and_each_gives_every_required_variable():
    themes = shipped_themes()
    assert tuple(themes) == SHIPPED
    for theme in themes.values():
        assert set(REQUIRED_VARIABLES) <= set(theme.variables), theme.name
    assert themes["cockpit-light"].dark is False
    assert all(theme.dark for name, theme in themes.items() if name != "cockpit-light")


@pytest.mark.parametrize("name", SHIPPED)
def test_the_band_colours_differ_and_read_on_every_background_of_their_theme(name):
    theme = shipped_themes()[name]
    bands = [theme.variables[f"liq-{band}"] for band in ("safe", "watch", "danger")]
    assert len(set(bands)) == 3
    # WCAG AA for text (4.5:1) on the screen, the tables and the header; AAA (7:1) on the
    # high-contrast theme's own background.
    floor = 7.0 if name == "cockpit-high-contrast" else 4.5
    assert min(contrast(colour, theme.background) for colour in bands) >= floor
    for backdrop in (theme.surface, theme.panel):
        assert min(contrast(colour, backdrop) for colour in bands) >= 4.5, backdrop
    # The source badge is bold, reversed on the header's panel: WCAG's 3:1 for bold text.
    sources = [theme.variables[f"source-{name}"] for name in ("live", "synthetic", "replay")]
    assert min(contrast(colour, backdrop) for colour in sources for backdrop in (theme.background, theme.panel)) >= 3.0


def test_the_colour_blind_theme_signals_only_in_okabe_ito_colours():
    theme = shipped_themes()["cockpit-colour-blind"]
    signals = [theme.variables[name] for name in REQUIRED_VARIABLES]
    signals += [theme.primary, theme.warning, theme.error, theme.success, theme.accent]
    assert set(signals) <= OKABE_ITO
    assert (theme.variables["liq-safe"], theme.variables["liq-watch"], theme.variables["liq-danger"]) == (
        "#56B4E9", "#E69F00", "#D55E00")  # sky blue, orange, vermillion


def test_every_band_carries_a_mark_as_well_as_a_colour():
    marks = {band: fmt.band_mark(band) for band in ("safe", "watch", "danger")}
    assert marks == {"safe": "ok", "watch": " !", "danger": "!!"}
    assert all(len(mark) == 2 and mark.isascii() for mark in marks.values())  # columns stay aligned
    assert fmt.with_band_mark("8.2%", "danger") == "8.2% !!"


# ---- theme files: what is refused, in one line --------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("name = ", "not valid TOML"),
        (GOOD.format(name="x").replace('liq-watch = "#AAAA00"\n', ""), "[variables] lacks liq-watch"),
        (GOOD.format(name="x").replace('primary = "#224466"\n', ""), "lacks primary"),
        (GOOD.format(name="x").replace('"#AA0000"', '"blood"'), "[variables] liq-danger: 'blood' is not a colour"),
        (GOOD.format(name="x").replace('primary = "#224466"', 'primary = 3'), "primary: expected a colour string"),
        (GOOD.format(name="my theme"), "name: expected letters, digits"),
        (GOOD.format(name="x") + 'extra = "{"\n', "[variables] extra = '{' is not a CSS value"),
        ('colour = "#FFFFFF"\n' + GOOD.format(name="x"), "unknown key 'colour'"),
        (GOOD.format(name="x").replace('name = "x"', 'name = "x"\ndark = "yes"'), "dark: expected true or false"),
    ],
)
def test_a_bad_theme_file_is_refused_in_one_line_naming_the_file(text, expected):
    with pytest.raises(ThemeError) as raised:
        theme_from_toml(text, "mine.toml")
    message = str(raised.value)
    assert message.startswith("mine.toml: ") and expected in message and "\n" not in message


def test_colours_are_normalised_for_rich_styles():
    theme = theme_from_toml(GOOD.format(name="x").replace('"#AA0000"', '"rgb(170, 0, 0)"'), "mine.toml")
    assert theme.variables["liq-danger"] == "#AA0000"


# ---- the user's themes folder ------------------------------------------------------------


def test_no_user_folder_means_the_shipped_themes_and_no_complaint(tmp_path):
    themes = load_themes(tmp_path / "absent")
    assert themes.names == SHIPPED and themes.problems == ()


def test_user_themes_are_added_a_shipped_name_is_replaced_and_broken_files_are_skipped(tmp_path):
    (tmp_path / "mine.toml").write_text(GOOD.format(name="mine"))
    (tmp_path / "dark.toml").write_text(GOOD.format(name="cockpit-dark"))
    (tmp_path / "broken.toml").write_text("name = ")
    (tmp_path / "half.toml").write_text(GOOD.format(name="half").replace('source-replay = "#2255AA"\n', ""))
    (tmp_path / "zz-again.toml").write_text(GOOD.format(name="mine"))
    (tmp_path / "notes.txt").write_text("not a theme")
    themes = load_themes(tmp_path)
    assert themes.names == (*SHIPPED, "mine")
    assert themes.themes["cockpit-dark"].variables["liq-danger"] == "#AA0000"  # the user's own
    assert themes.origins == {"cockpit-dark": str(tmp_path / "dark.toml"), "mine": str(tmp_path / "mine.toml")}
    assert len(themes.problems) == 3
    broken, half, again = themes.problems
    assert broken.startswith(f"theme skipped: {tmp_path / 'broken.toml'}: not valid TOML")
    assert half == f"theme skipped: {tmp_path / 'half.toml'}: [variables] lacks source-replay"
    assert "'mine' is already defined by" in again and "mine.toml" in again
    assert "cockpit-dark (dark.toml)" in themes.describe()


def test_a_themes_path_that_is_a_file_is_one_problem(tmp_path):
    (tmp_path / "themes").write_text("oops")
    themes = load_themes(tmp_path / "themes")
    assert themes.names == SHIPPED
    assert len(themes.problems) == 1 and "cannot list the folder" in themes.problems[0]


def test_an_unknown_theme_name_is_one_line_naming_the_available_ones(tmp_path):
    themes = load_themes(tmp_path)
    line = themes.unknown_theme("solarized")
    assert line == (f"ui.theme: unknown theme 'solarized' (expected one of: {', '.join(SHIPPED)}; "
                    f"your own go in {tmp_path})")
    assert themes.unknown_theme("cockpit-light") is None


# ---- the command line: config selects, broken user files are said and skipped -------------


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    # platformdirs reads $XDG_CONFIG_HOME on Linux: the user's config directory is tmp_path/cfg.
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "COCKPIT_JOURNAL": str(tmp_path / "j.sqlite")}
    return subprocess.run([sys.executable, "-m", "cockpit.cli", *args], capture_output=True, text=True,
                          timeout=60, cwd=REPO, env=env)


def user_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "cfg" / "cockpit" / "themes"
    folder.mkdir(parents=True)
    return folder


def test_check_says_a_broken_user_theme_in_one_line_and_still_passes(tmp_path):
    folder = user_folder(tmp_path)
    (folder / "broken.toml").write_text("[variables\n")
    result = run_cli(tmp_path, "check")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"cockpit: theme skipped: {folder / 'broken.toml'}: not valid TOML "
        "(Expected ']' at the end of a table declaration (at line 1, column 11))"]
    assert result.stdout.splitlines()[1] == f"themes: {', '.join(SHIPPED)}; your own from {folder}"


def test_the_config_selects_a_user_theme_and_a_broken_one_is_an_unknown_name(tmp_path):
    folder = user_folder(tmp_path)
    (folder / "mine.toml").write_text(GOOD.format(name="mine"))
    chosen = tmp_path / "mine.toml"
    chosen.write_text('[ui]\ntheme = "mine"\n')
    assert run_cli(tmp_path, "check", "--config", str(chosen)).returncode == 0
    (folder / "mine.toml").write_text(GOOD.format(name="mine").replace('liq-safe = "#00AA00"\n', ""))
    result = run_cli(tmp_path, "check", "--config", str(chosen))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    skipped, refused = result.stderr.strip().splitlines()
    assert skipped.endswith("mine.toml: [variables] lacks liq-safe")
    assert refused.startswith("cockpit: ui.theme: unknown theme 'mine' (expected one of: cockpit-colour-blind,")


def test_the_cockpit_refuses_an_unknown_theme_before_the_screen(tmp_path):
    result = run_cli(tmp_path, "--demo", "--config", str(write_config(tmp_path, 'theme = "solarized"')))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("cockpit: ui.theme: unknown theme 'solarized' (expected one of: ")


def write_config(tmp_path: Path, ui_line: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f"[ui]\n{ui_line}\n")
    return path


# ---- on screen: T cycles, the palette offers ours, the config selects one -------------------


def distance_cells(app: CockpitApp) -> list[Text]:
    table = app.query_one(PositionsTable)
    return [table.get_row_at(i)[-1] for i in range(table.row_count)]


async def holding_a_book(pilot, app, source) -> None:
    await until(pilot, lambda: app.engine is not None)
    source.push(tick(BTC, 60_000.0), tick(ETH, 3_000.0))
    await until(pilot, lambda: len(app.engine.snapshot.proposals) == 1)
    await app.engine.approve(app.engine.snapshot.proposals[0].id)
    await until(pilot, lambda: app.query_one(PositionsTable).row_count == 2)


async def test_t_cycles_every_theme_says_which_and_redraws_the_distances(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await holding_a_book(pilot, app, source)
        assert app.theme == "cockpit-dark"
        seen = []
        for _ in SHIPPED:
            await pilot.press("T")
            await pilot.pause(0.3)
            seen.append(app.theme)
            notice = str(app.query_one("#notice").render())
            assert notice.startswith(f"theme {app.theme} ({SHIPPED.index(app.theme) + 1}/4) · T: next")
            safe = app.theme_variables["liq-safe"]
            assert [(cell.plain.split()[-1], str(cell.style)) for cell in distance_cells(app)] == [
                ("ok", f"bold {safe}")] * 2
        assert seen == ["cockpit-high-contrast", "cockpit-light", "cockpit-colour-blind", "cockpit-dark"]


async def test_a_switch_on_the_risk_screen_redraws_its_tables_in_the_new_theme(tmp_path):
    from cockpit.tui.screens.help_screen import HelpScreen
    from cockpit.tui.screens.risk_screen import RiskScreen
    from cockpit.tui.widgets.stress_panel import StressPanel

    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await holding_a_book(pilot, app, source)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, RiskScreen))

        def safe_styles() -> set[str]:
            table = app.screen.query_one(StressPanel).content.renderables[1]
            return {str(cell.style) for cell in table.columns[-1]._cells if cell.plain.endswith(" ok")}

        await until(pilot, lambda: safe_styles() == {"#4EBF71", "bold #4EBF71"})
        await pilot.press("T")
        await until(pilot, lambda: safe_styles() == {"#00FF5F", "bold #00FF5F"})  # the next poll redraws
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert "T  Next theme (ctrl+p: pick one)" in str(app.screen.query_one("Static").render())


async def test_the_header_keeps_the_band_mark_at_80_columns(tmp_path):
    # A five-figure equity and its PnL to the cent would push "!!" off an 80-column header.
    cfg = config(portfolio={"targets": {"BTC": 0.5, "ETH": 0.5}, "target_leverage": 3.0},
                 limits={"max_asset_exposure": 3.0}, ui={"watch_distance": 0.95, "danger_distance": 0.6})
    app, source = make_app(tmp_path, cfg=cfg)
    async with app.run_test(size=(80, 24)) as pilot:
        await holding_a_book(pilot, app, source)
        source.push(tick(ETH, 3_600.0, T0), tick(BTC, 57_000.0, T0))
        await pilot.pause(0.6)
        header = str(app.query_one("#status").render()).splitlines()[1]
        assert header.startswith(" equity 11,581  uPnL +1,592  lev") and header.endswith("liq all -50.2% !!")
    app, source = make_app(tmp_path / "wide", cfg=cfg)
    async with app.run_test(size=(100, 24)) as pilot:  # room enough: the cents stay
        await holding_a_book(pilot, app, source)
        source.push(tick(ETH, 3_600.0, T0), tick(BTC, 57_000.0, T0))
        await pilot.pause(0.6)
        assert str(app.query_one("#status").render()).splitlines()[1].startswith(" equity 11,581.23  uPnL +1,591.92")


async def test_the_palette_offers_our_themes_only_and_picks_one(tmp_path):
    app, source = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.engine is not None)
        assert tuple(app.available_themes) == SHIPPED  # Textual's own lack our colours
        app.action_change_theme()  # what the palette's "Theme" command runs
        await pilot.pause(0.3)
        await pilot.press(*"contrast")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(pilot, lambda: app.theme == "cockpit-high-contrast")
        await pilot.pause(0.2)
        assert str(app.query_one("#notice").render()).startswith("theme cockpit-high-contrast (3/4)")


async def test_the_config_selects_the_theme(tmp_path):
    app, source = make_app(tmp_path, cfg=config(ui={"theme": "cockpit-colour-blind"}))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.engine is not None)
        assert app.theme == "cockpit-colour-blind"
        assert app.theme_variables["liq-danger"] == "#D55E00"


async def test_a_broken_user_theme_is_one_line_in_the_notice_bar_and_the_cockpit_starts(tmp_path):
    folder = tmp_path / "themes"
    folder.mkdir()
    (folder / "broken.toml").write_text(GOOD.format(name="broken").replace('liq-danger = "#AA0000"\n', ""))
    (folder / "mine.toml").write_text(GOOD.format(name="mine"))
    app, source = make_app(tmp_path, themes=load_themes(folder))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.engine is not None)
        notice = str(app.query_one("#notice").render())
        assert notice == f"theme skipped: {folder / 'broken.toml'}: [variables] lacks liq-danger"
        assert "mine" in app.available_themes and "broken" not in app.available_themes


def test_an_unknown_theme_stops_the_app_with_one_line(tmp_path):
    with pytest.raises(ThemeError, match=r"^ui\.theme: unknown theme 'nope' \(expected one of: "):
        make_app(tmp_path, cfg=config(ui={"theme": "nope"}))


# ---- snapshots: the dashboard in each theme, with all three bands on screen ----------------


@pytest.mark.parametrize("theme", SHIPPED)
def test_dashboard_in_each_theme_at_80x24(tmp_path, snap_compare, theme):
    # A 3x book (BTC 100% away: no liquidation price; ETH 90%; the whole book 50%) with bands
    # drawn wide enough that all three show at once: safe, watch and danger in the theme's colours.
    cfg = config(
        portfolio={"targets": {"BTC": 0.5, "ETH": 0.5}, "target_leverage": 3.0},
        limits={"max_asset_exposure": 3.0},
        ui={"theme": theme, "watch_distance": 0.95, "danger_distance": 0.6},
    )
    app, source = make_app(tmp_path, clock=FakeClock(T0), cfg=cfg)

    async def run_before(pilot) -> None:
        await until(pilot, lambda: app.engine is not None)
        source.push(tick(BTC, 60_000.0), tick(ETH, 3_000.0))
        await until(pilot, lambda: len(app.engine.snapshot.proposals) == 1)
        await app.engine.approve(app.engine.snapshot.proposals[0].id)
        await app.engine.toggle_mode()
        source.push(tick(ETH, 3_600.0, T0), tick(BTC, 57_000.0, T0))
        await until(pilot, lambda: len(app.engine.snapshot.proposals) == 1)
        await pilot.pause(0.4)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
