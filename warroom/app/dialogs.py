"""Small modal screens: the yes/no question before a change the whole room sees, and the help screen."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class ConfirmScreen(ModalScreen[bool]):
    """Asks before a strike, a declaration, a status or a severity change; No is the default.

    ``y`` (or Enter on Yes) confirms; ``n``, Escape or Enter on the focused No cancels,
    so a stray Enter never changes the record.
    """

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 70%; max-width: 80; height: auto; border: thick $warning;
        background: $surface; padding: 1 2; }
    ConfirmScreen #confirm-question { text-style: bold; }
    ConfirmScreen #confirm-detail { color: $text-muted; margin-top: 1; }
    ConfirmScreen Horizontal { height: auto; margin-top: 1; }
    ConfirmScreen Button { margin-right: 2; }
    """

    def __init__(self, question: str, detail: str = "", yes: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.detail = detail
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Content(self.question), id="confirm-question")
            if self.detail:
                yield Label(Content(self.detail), id="confirm-detail")
            with Horizontal():
                yield Button(f"{self.yes} (y)", id="yes", variant="warning")
                yield Button("No (n)", id="no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")


class HelpScreen(ModalScreen[None]):
    """Every key of the war room, and (in the demo) how a second terminal joins."""

    BINDINGS = [Binding("escape,q,f1,question_mark", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 90%; max-width: 100; height: auto; max-height: 90%;
        border: round $primary; background: $surface; padding: 1 2; }
    HelpScreen #help-join { margin-bottom: 1; color: $accent; }
    """

    def __init__(self, keys: Sequence[tuple[str, str]], join: str | None = None) -> None:
        super().__init__()
        self.keys = keys
        self.join = join

    def compose(self) -> ComposeResult:
        width = max(len(k) for k, _ in self.keys)
        lines = [Content.assemble((f"{k:<{width}}", "bold"), "  ", what) for k, what in self.keys]
        with Vertical():
            if self.join:
                yield Static(
                    Content.assemble(
                        ("Open a second terminal into this incident with:\n", "bold"), self.join
                    ),
                    id="help-join",
                )
            yield VerticalScroll(Static(Content("\n").join(lines), id="help-keys"))
            yield Label(Content("Escape closes this help."))
