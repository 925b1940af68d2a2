"""Colour themes from TOML files: the shipped ones, then the user's own.

A theme file names Textual's base colours under ``[colors]`` and warroom's own
(severity, entry kind, role) under ``[variables]``; see ``themes/dark.toml``.
A file that cannot be used is reported by name and field, and skipped.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.color import Color, ColorParseError
from textual.theme import Theme

DEFAULT_THEME = "warroom-dark"
BASE_COLORS = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
    "warning",
    "error",
    "success",
)
# The app's own variables and the values used when a theme leaves one out.
APP_VARIABLES: dict[str, str] = {
    "sev-1": "#FF4D4F",
    "sev-2": "#FF9F43",
    "sev-3": "#F2C94C",
    "sev-4": "#6FCF97",
    "kind-note": "#AEB6C2",
    "kind-decision": "#C792EA",
    "kind-action": "#4EA8DE",
    "kind-finding": "#F2C94C",
    "kind-system": "#6C7A89",
    "role-commander": "#FF9F43",
    "role-comms": "#4EA8DE",
    "role-tech": "#6FCF97",
    "role-scribe": "#C792EA",
    "pending": "#8B949E",
    "overdue": "#FF4D4F",
}


class ThemeError(Exception):
    """A theme file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class LoadedThemes:
    themes: dict[str, Theme]
    problems: list[str]


def shipped_dir() -> Path:
    """Themes inside the wheel, or at the top of a source checkout."""
    packaged = Path(__file__).resolve().parent.parent / "themes"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "themes"


def load_theme(path: Path) -> Theme:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ThemeError(f"{path}: cannot read it: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ThemeError(f"{path}: not valid TOML: {exc}") from None
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ThemeError(f"{path}: field 'name' must be a non-empty string")
    dark = raw.get("dark", True)
    if not isinstance(dark, bool):
        raise ThemeError(f"{path}: field 'dark' must be true or false")
    colors = _colour_table(path, raw, "colors", allowed=BASE_COLORS)
    if "primary" not in colors:
        raise ThemeError(f"{path}: field 'colors.primary' is required")
    variables = {**APP_VARIABLES, **_colour_table(path, raw, "variables", allowed=None)}
    theme = Theme(name=name, primary=colors["primary"], dark=dark, variables=variables)
    for key, value in colors.items():  # the base colours are plain optional fields
        setattr(theme, key, value)
    return theme


def _colour_table(
    path: Path, raw: dict[str, Any], table: str, allowed: tuple[str, ...] | None
) -> dict[str, str]:
    values = raw.get(table, {})
    if not isinstance(values, dict):
        raise ThemeError(f"{path}: field '{table}' must be a table")
    out: dict[str, str] = {}
    for key, value in values.items():
        where = f"{table}.{key}"
        if allowed is not None and key not in allowed:
            raise ThemeError(f"{path}: field '{where}' is not a theme colour ({', '.join(allowed)})")
        if not isinstance(value, str):
            raise ThemeError(f"{path}: field '{where}' must be a colour string")
        try:
            Color.parse(value)
        except ColorParseError:
            raise ThemeError(f"{path}: field '{where}': {value!r} is not a colour") from None
        out[key] = value
    return out


def load_themes(*folders: Path) -> LoadedThemes:
    """Every usable theme in ``folders`` (later folders win), plus what was wrong with the rest."""
    themes: dict[str, Theme] = {}
    problems: list[str] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                theme = load_theme(path)
            except ThemeError as exc:
                problems.append(str(exc))
                continue
            themes[theme.name] = theme
    return LoadedThemes(themes, problems)
