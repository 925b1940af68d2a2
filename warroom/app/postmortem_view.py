"""The review document in the app: a plain-text preview, and ``e`` to write it to a file.

The preview shows the Markdown source, exactly the bytes ``warroom postmortem``
prints, as text: nothing in it is parsed as markup or rendered as Markdown,
so an entry that looks like a link, a heading or ``[@click=…]`` stays what it
is. Each line is made visible and drawn by a ``Log`` (plain ``Text`` per line,
built once, scrolled without re-rendering the rest), so a long timeline opens
at once. ``e`` writes the file where the app was started
(``INCIDENT-postmortem.md``), keeping its keep blocks, and says where.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Log, Static

from warroom.app.tell import tell
from warroom.core.state import IncidentState
from warroom.core.text import visible
from warroom.review.files import ExportError, write_review
from warroom.review.postmortem import markdown


def export_name(room: str) -> str:
    """``INC-42-postmortem.md``; anything but letters, digits, ``.``, ``_`` and ``-`` becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", room).lstrip(".") + "-postmortem.md"


class PostmortemScreen(ModalScreen[None]):
    """The incident's review as it would be exported; ``e`` exports it, ``escape`` closes."""

    BINDINGS = [
        Binding("e", "export", "Export"),
        Binding("escape,q", "dismiss", "Close"),
    ]
    DEFAULT_CSS = """
    PostmortemScreen { align: center middle; }
    PostmortemScreen > Vertical { width: 96%; height: 92%; border: round $accent; background: $surface; }
    PostmortemScreen #postmortem-head { padding: 0 1; color: $text-muted; }
    PostmortemScreen Log { height: 1fr; }
    """

    def __init__(self, state: Callable[[], IncidentState], directory: Path | None = None) -> None:
        super().__init__()
        self._state = state  # read on open and on export: the room's state as it is then
        self.directory = directory or Path.cwd()
        self.text = ""

    @property
    def path(self) -> Path:
        return self.directory / export_name(self._state().room)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(id="postmortem-head")
            yield Log(id="postmortem-text", auto_scroll=False)

    def on_mount(self) -> None:
        state = self._state()
        head = Content.assemble(
            (f"Postmortem of {visible(state.room)}", "bold"),
            "  the Markdown source, as exported. ",
            ("e", "bold"),
            f" writes {visible(str(self.path))}, ",
            ("escape", "bold"),
            " closes",
        )
        self.query_one("#postmortem-head", Static).update(head)
        self._show(markdown(state))
        self.query_one(Log).focus()

    def _show(self, text: str) -> None:
        """Show ``text`` (the Markdown source) line by line, every line made visible."""
        self.text = text
        log = self.query_one(Log)
        log.clear()
        log.write_lines([visible(line) for line in self.text.splitlines()])
        log.scroll_home(animate=False)

    def action_export(self) -> None:
        state, path = self._state(), self.path
        if not state.declared:  # the room's log has not arrived yet: nothing worth a file
            tell(
                self.app,
                f"{state.room}: not loaded yet; nothing written",
                title="not exported",
                severity="warning",
            )
            return
        try:
            written = write_review(path, state)
        except ExportError as err:
            tell(self.app, str(err), title="not exported", severity="error", timeout=15)
            return
        self._show(written)  # with the file's keep blocks in it now
        tell(self.app, f"{state.room}: postmortem written to {path}", title="exported", timeout=10)
