"""Where responders type: plain text is a note, and slash commands complete as they are typed."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.suggester import Suggester
from textual.widgets import Input, Label

from warroom.app.slash import COMMANDS, completions


class SlashSuggester(Suggester):
    async def get_suggestion(self, value: str) -> str | None:
        if not value.startswith("/") or " " in value:
            return None
        stem = value[1:].lower()
        for name in COMMANDS:
            if name.startswith(stem) and name != stem:
                return f"/{name} "
        return None


PLACEHOLDER = "Type a note, or / for commands (Enter sends)"


class Composer(Vertical):
    class Submitted(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder=PLACEHOLDER,
            id="composer-input",
            suggester=SlashSuggester(use_cache=False),
        )
        hint = Label("", id="composer-hint")
        hint.display = False
        yield hint

    @property
    def input(self) -> Input:
        return self.query_one("#composer-input", Input)

    def read_only(self, why: str | None) -> None:
        """Say plainly when this token cannot write, instead of letting lines be typed and refused."""
        field = self.input
        if field.disabled == (why is not None):
            return
        field.disabled = why is not None
        field.placeholder = why or PLACEHOLDER

    def start(self, prefix: str = "") -> None:
        self.input.value = prefix
        self.input.cursor_position = len(prefix)
        self.input.focus()

    def hint(self, text: str, error: bool = False) -> None:
        label = self.query_one("#composer-hint", Label)
        label.update(text)
        label.set_class(error, "-error")
        label.display = bool(text)

    def on_input_changed(self, event: Input.Changed) -> None:
        matches = completions(event.value.split(" ")[0]) if event.value.startswith("/") else []
        self.hint("   ".join(matches[:4]))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip() == "/help":
            self.hint("   ".join(f"{usage}" for usage, _ in COMMANDS.values()))
            self.input.value = ""
            return
        self.post_message(self.Submitted(event.value))

    def clear(self, **_: Any) -> None:
        self.input.value = ""
        self.hint("")
