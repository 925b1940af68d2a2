"""An entry in full: every line of it, who struck it and why, and its earlier versions."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from warroom.core.state import Entry
from warroom.core.text import visible


class HistoryScreen(ModalScreen[None]):
    """One entry in full (every line of it), who struck it and why, and its earlier versions."""

    BINDINGS = [Binding("escape,q,h,enter", "dismiss", "Close")]

    def __init__(self, entry: Entry) -> None:
        super().__init__()
        self.entry = entry

    def compose(self) -> ComposeResult:
        e = self.entry
        lines = [
            Content.assemble(
                (f"#{e.id} {visible(e.kind)}", "bold"),
                " by ",
                (visible(e.author), "bold"),
                f" at {visible(e.when)}",
            ),
            Content(""),
            Content(visible(e.text, multiline=True)),
        ]
        if e.struck_by:
            reason = f": {visible(e.strike_reason, multiline=True)}" if e.strike_reason else ""
            lines += [
                Content(""),
                Content.styled(f"struck by {visible(e.struck_by)} at {e.struck_at}{reason}", "$error"),
            ]
        if e.history:
            lines += [Content(""), Content.styled("earlier versions", "bold")]
            for rev in reversed(e.history):
                lines.append(
                    Content.assemble(
                        (f"{rev.ts} {visible(rev.actor)}:", "dim"), " ", visible(rev.text, multiline=True)
                    )
                )
        with Vertical():
            yield VerticalScroll(Static(Content("\n").join(lines)))
