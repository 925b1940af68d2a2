"""A resolved drill's debrief in the app: the same report as ``warroom drill report``.

Every line of it quotes people and monitoring (titles, names, timeline text),
so each is made visible and shown as plain Content, never as markup.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from warroom.core.state import IncidentState
from warroom.core.text import visible
from warroom.drills import debrief, render_debrief


def why_no_debrief(state: IncidentState) -> str | None:
    """Why this room has no debrief to show yet, or None when it has one."""
    if not state.drill:
        return f"{visible(state.room)} is not a drill: the debrief is for drills (warroom drill)"
    if state.status != "resolved":
        status = visible(state.status) or "not resolved"
        return f"the drill is {status}: its debrief opens once it is resolved"
    return None


def debrief_lines(state: IncidentState, now_iso: str) -> list[str]:
    """The debrief as ``warroom drill report`` prints it, one visible line each."""
    return [visible(line) for line in render_debrief(debrief(state, now_iso)).split("\n")]


class DebriefScreen(ModalScreen[None]):
    """The debrief of a resolved drill; Escape closes it."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close")]
    DEFAULT_CSS = """
    DebriefScreen { align: center middle; }
    DebriefScreen > Vertical { width: 95%; max-width: 130; height: 90%;
        border: round $warning; background: $surface; padding: 0 1; }
    DebriefScreen #debrief-keys { color: $text-muted; }
    """

    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines

    def compose(self) -> ComposeResult:
        body = Content("\n").join(Content(line) for line in self.lines)
        with Vertical():
            yield VerticalScroll(Static(body, id="debrief-text"))
            yield Label(
                Content("Escape closes the debrief; warroom drill report --json gives it as data."),
                id="debrief-keys",
            )
