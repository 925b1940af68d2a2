"""Small modal screens: the yes/no question before a change the room sees, the help, the runbook picker."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from warroom.core.text import visible


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


def runbook_matches(library: Sequence[Mapping[str, str]], query: str) -> list[Mapping[str, str]]:
    """The runbooks whose id, title or owner holds every word of ``query`` (case ignored)."""
    words = query.lower().split()
    return [
        rb
        for rb in library
        if all(
            w in " ".join((rb.get("id", ""), rb.get("title", ""), rb.get("owner", ""))).lower() for w in words
        )
    ]


class RunbookPicker(ModalScreen[str | None]):
    """The hub's runbook library with a search box; Enter attaches the highlighted one, Escape nothing."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]
    DEFAULT_CSS = """
    RunbookPicker { align: center middle; }
    RunbookPicker > Vertical { width: 90%; max-width: 100; height: 80%;
        border: round $primary; background: $surface; padding: 0 1; }
    RunbookPicker OptionList { height: 1fr; }
    """

    def __init__(self, library: Sequence[Mapping[str, str]]) -> None:
        super().__init__()
        self.library = list(library)
        self.shown: list[Mapping[str, str]] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Content("Attach a runbook: type to search, Enter attaches, Escape closes"))
            yield Input(placeholder="search id, title, owner", id="runbook-search")
            yield OptionList(id="runbook-options")

    def on_mount(self) -> None:
        self._fill("")
        self.query_one(Input).focus()

    def _fill(self, query: str) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        self.shown = runbook_matches(self.library, query)
        for rb in self.shown:
            owner = rb.get("owner") or ""
            options.add_option(
                Option(
                    Content.assemble(
                        (visible(rb.get("id", "")), "bold"),
                        "  ",
                        visible(rb.get("title", "")),
                        (f"  {visible(owner)}" if owner else "", "dim"),
                    )
                )
            )
        if not self.shown:
            empty = "the hub's library is empty" if not self.library else "no runbook matches"
            options.add_option(Option(Content(empty), disabled=True))
        else:
            options.highlighted = 0

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._fill(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        highlighted = self.query_one(OptionList).highlighted
        if self.shown and highlighted is not None and highlighted < len(self.shown):
            self.dismiss(self.shown[highlighted]["id"])

    def on_key(self, event: events.Key) -> None:
        """Up and down move through the list while the search box keeps the focus."""
        if event.key in ("up", "down"):
            event.stop()
            options = self.query_one(OptionList)
            options.action_cursor_down() if event.key == "down" else options.action_cursor_up()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option_index < len(self.shown):
            self.dismiss(self.shown[event.option_index]["id"])
