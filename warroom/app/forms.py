"""The two forms a responder fills in under pressure: declaring, and the status broadcast.

Each returns the event data on submit (or None on escape); the screen sends it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, TextArea

from warroom.app.widgets.composer import body
from warroom.core.events import SEVERITIES, TEXT_MAX
from warroom.core.text import visible

R = TypeVar("R")


class _Form(ModalScreen[R | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "submit", "Send")]
    DEFAULT_CSS = """
    _Form, DeclareForm, BroadcastForm { align: center middle; }
    #form { width: 80%; max-width: 90; height: auto; border: round $primary; background: $surface;
        padding: 1 2; }
    #form Label { margin-top: 1; }
    #form-error { color: $error; text-style: bold; }
    #form-buttons { height: auto; margin-top: 1; }
    """

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "submit":
            self.action_submit()
        else:
            self.dismiss(None)

    def on_input_submitted(self) -> None:
        self.action_submit()

    def buttons(self, label: str) -> ComposeResult:
        yield Label("", id="form-error")
        with Horizontal(id="form-buttons"):
            yield Button(label, id="submit", variant="primary")
            yield Button("Cancel", id="cancel")

    def text(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value.strip()

    def refuse(self, message: str) -> None:
        self.query_one("#form-error", Label).update(Content(message))

    def action_submit(self) -> None:
        raise NotImplementedError


class DeclareForm(_Form[dict[str, Any]]):
    """Title, severity and summary: enough to open the room; the rest follows in it."""

    def __init__(self, meanings: dict[str, str] | None = None) -> None:
        super().__init__()
        self.meanings = meanings or {}

    def compose(self) -> ComposeResult:
        with Vertical(id="form"):
            yield Label("[b]Declare an incident[/]")
            yield Label("Title")
            yield Input(placeholder="Checkout API returning 502s", id="title")
            yield Label("Severity")
            # A meaning comes from the hub's config: shown as text, never parsed as markup.
            options = [(Content(visible(f"{s}  {self.meanings.get(s, '')}".rstrip())), s) for s in SEVERITIES]
            yield Select(options, value="SEV2", allow_blank=False, id="severity")
            yield Label("Summary (optional)")
            yield Input(placeholder="What we know so far", id="summary")
            yield Checkbox("Public (show on the status page)", id="public")
            yield Checkbox("Drill (kept off the status page and sinks)", id="drill")
            yield from self.buttons("Declare")

    def action_submit(self) -> None:
        title = self.text("title")
        if not title:
            self.refuse("A title is needed.")
            return
        data: dict[str, Any] = {"title": title, "severity": self.query_one("#severity", Select).value}
        if summary := self.text("summary"):
            data["summary"] = summary
        for flag in ("public", "drill"):
            if self.query_one(f"#{flag}", Checkbox).value:
                data[flag] = True
        self.dismiss(data)


class BroadcastForm(_Form[dict[str, Any]]):
    """The status update's four parts, so no broadcast goes out missing one."""

    def __init__(self, cadence: int | None) -> None:
        super().__init__()
        self.cadence = cadence

    def compose(self) -> ComposeResult:
        with Vertical(id="form"):
            yield Label("[b]Status broadcast[/]")
            yield Label("What is happening")
            yield Input(placeholder="Checkout is failing for some EU customers", id="message")
            yield Label("Customer impact")
            yield Input(placeholder="About 8% of card payments in the EU fail", id="impact")
            yield Label("What we are doing")
            yield Input(placeholder="Rolling back the latest deploy", id="doing")
            yield Label("Next update in (minutes)")
            yield Input(str(self.cadence or 30), id="next", restrict=r"\d*")
            yield from self.buttons("Broadcast")

    def action_submit(self) -> None:
        message = self.text("message")
        if not message:
            self.refuse("Say what is happening.")
            return
        data: dict[str, Any] = {"message": message}
        for key in ("impact", "doing"):
            if value := self.text(key):
                data[key] = value
        minutes = self.text("next")
        if minutes:
            if not 1 <= int(minutes) <= 1440:
                self.refuse("The next update is 1 to 1440 minutes away.")
                return
            data["next_update_in"] = int(minutes)
        self.dismiss(data)


class LongEntryForm(_Form[str]):
    """A multi-line paste, shown whole before it is sent as one entry: never cut to its first line.

    ``check`` says what is wrong with the text (too long, a bad command), or None;
    the form stays open with the text until it is fixed or cancelled.
    """

    DEFAULT_CSS = """
    LongEntryForm { align: center middle; }
    LongEntryForm TextArea { height: 16; }
    LongEntryForm #long-count { color: $text-muted; }
    LongEntryForm #long-count.-over { color: $error; text-style: bold; }
    """

    def __init__(self, text: str, check: Callable[[str], str | None]) -> None:
        super().__init__()
        self.text_in = text
        self.check = check

    def compose(self) -> ComposeResult:
        lines = self.text_in.count("\n") + 1
        with Vertical(id="form"):
            yield Label(Content(f"Send these {lines} lines as one entry?"), id="long-question")
            yield TextArea(self.text_in, id="long-text", soft_wrap=True, tab_behavior="focus")
            yield Label("", id="long-count")
            yield from self.buttons("Send as one entry (ctrl+s)")

    def on_mount(self) -> None:
        self._count(self.text_in)
        self.query_one(TextArea).focus()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self._count(event.text_area.text)

    def _count(self, text: str) -> None:
        label = self.query_one("#long-count", Label)
        count, lines = len(body(text)), text.count("\n") + 1  # the count the composer refuses by
        label.update(Content(f"{count:,}/{TEXT_MAX:,} characters, {lines} lines"))
        label.set_class(count > TEXT_MAX, "-over")

    def action_submit(self) -> None:
        text = self.query_one(TextArea).text
        problem = self.check(text)
        if problem is not None:
            self.refuse(problem)
            return
        self.dismiss(text)
