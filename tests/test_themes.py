"""Themes are data: the shipped files load, and a broken one is named and skipped."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from server.runner import HubServer
from tests.conftest import TOKEN, wait_for
from warroom.app.app import WarroomApp
from warroom.app.themes import APP_VARIABLES, DEFAULT_THEME, ThemeError, load_theme, load_themes, shipped_dir
from warroom.client import HubClient

SHIPPED = {"warroom-dark", "warroom-light", "warroom-high-contrast"}


def test_the_shipped_themes_load_with_every_app_variable() -> None:
    loaded = load_themes(shipped_dir())
    assert set(loaded.themes) == SHIPPED and loaded.problems == []
    for theme in loaded.themes.values():
        assert set(APP_VARIABLES) <= set(theme.variables)
    assert loaded.themes["warroom-light"].dark is False


def test_high_contrast_severities_are_distinct_and_light_enough() -> None:
    from textual.color import Color

    theme = load_themes(shipped_dir()).themes["warroom-high-contrast"]
    colours = [Color.parse(theme.variables[f"sev-{n}"]) for n in range(1, 5)]
    assert len({c.hex for c in colours}) == 4
    lightness = sorted(c.brightness for c in colours)
    assert all(b - a > 0.05 for a, b in pairwise(lightness))  # apart without hue


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name = [", "not valid TOML"),
        ('dark = true\n[colors]\nprimary = "#fff"', "field 'name'"),
        ('name = "x"\ndark = "yes"\n[colors]\nprimary = "#fff"', "field 'dark'"),
        ('name = "x"\n[colors]\nsecondary = "#fff"', "field 'colors.primary' is required"),
        ('name = "x"\n[colors]\nprimary = "not-a-colour"', "field 'colors.primary'"),
        ('name = "x"\n[colors]\nprimary = "#fff"\nsparkle = "#000"', "field 'colors.sparkle'"),
        ('name = "x"\n[colors]\nprimary = "#fff"\n[variables]\nsev-1 = 4', "field 'variables.sev-1'"),
    ],
)
def test_a_malformed_theme_names_the_file_and_field(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(ThemeError) as caught:
        load_theme(path)
    assert str(path) in str(caught.value) and needle in str(caught.value)


async def test_a_user_theme_is_offered_and_a_broken_one_falls_back(hub: HubServer, tmp_path: Path) -> None:
    user = tmp_path / "themes"
    user.mkdir()
    (user / "ops.toml").write_text('name = "ops-green"\n[colors]\nprimary = "#00ff00"\n')
    (user / "broken.toml").write_text('name = "broken"\n[colors]\nprimary = 12\n')
    themes = load_themes(shipped_dir(), user)
    assert "ops-green" in themes.themes and any("broken.toml" in p for p in themes.problems)

    app = WarroomApp(HubClient(hub.url, TOKEN, "gus"), None, themes, theme="broken")
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.theme == DEFAULT_THEME  # fell back instead of crashing
        assert "ops-green" in app.available_themes and set(app.available_themes) >= SHIPPED
        app.theme = "ops-green"
        await pilot.pause()
        assert app.theme_variables["sev-1"] == APP_VARIABLES["sev-1"]  # defaults fill the gaps
        await wait_for(lambda: app.client.connected, what="connect")


async def test_a_theme_name_and_a_theme_file_are_text_not_markup(hub: HubServer, tmp_path: Path) -> None:
    """A notification quoting a theme name or a file's problem must not parse it (or crash on it)."""
    user = tmp_path / "themes"
    user.mkdir()
    (user / "x[ @click=app.quit]y.toml").write_text('name = "x[ @click=\\"]"\n[colors]\nprimary = 12\n')
    themes = load_themes(shipped_dir(), user)
    app = WarroomApp(HubClient(hub.url, TOKEN, "gus"), None, themes, theme='x[ @click="]\x1b]0;pwned\x07')
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.is_running and app.theme == DEFAULT_THEME
        shown = [str(n.message) for n in app._notifications]
        assert any("x[ @click=\"]␛]0;pwned␇" in text for text in shown), shown
        assert any("x[ @click=app.quit]y.toml" in text for text in shown), shown
