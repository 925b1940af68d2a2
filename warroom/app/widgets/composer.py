"""Where responders type: plain text is a note, and slash commands complete as they are typed.

The composer refuses what the hub would refuse before anything is queued: text
over the hub's limit (a count shows as the limit nears) and control characters.
A paste keeps every line: a multi-line one is shown whole, to be sent as one entry.
So does a paste a terminal types out key by key (no bracketed paste): the lines of
one burst (keys already read and not yet handled, so faster than anyone types)
are held until the burst ends; a few go out as typed, more are asked about as one
entry. A 100 KB log typed that way once made some 2,000 notes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.message_pump import MessagePump
from textual.suggester import Suggester
from textual.widgets import Input, Label

from warroom.app.slash import COMMANDS, completions
from warroom.core.events import TEXT_MAX
from warroom.core.text import describe_char, find_control, visible

COUNT_FROM = TEXT_MAX - 1000  # the count shows from here on
BURST_LINES = 3  # lines one burst sends as typed (a fast typist, tmux); more make one entry, asked first


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


def body(value: str) -> str:
    """The text an entry would hold: a note's whole line, or what follows a slash command."""
    value = value.strip()
    return value.partition(" ")[2].strip() if value.startswith("/") else value


def text_problem(value: str) -> str | None:
    """Why the hub would refuse this text, said before it is queued; None if it would not."""
    length = len(body(value))
    if length > TEXT_MAX:
        return (
            f"too long: {length:,} characters, and an entry holds at most {TEXT_MAX:,}. "
            "Shorten it, or split it into several entries."
        )
    found = find_control(value.replace("\r\n", "\n"), multiline=True)
    if found is not None:
        at, char = found
        return f"the text holds a {describe_char(char)} at character {at + 1}: remove it"
    return None


def without_controls(text: str) -> tuple[str, int]:
    """``text`` without the characters people may not type (newline and tab stay), and how many went."""
    kept: list[str] = []
    removed = 0
    while (found := find_control(text, multiline=True)) is not None:
        at, _ = found
        kept.append(text[:at])
        text = text[at + 1 :]
        removed += 1
    kept.append(text)
    return "".join(kept), removed


class ComposerInput(Input):
    """The composer's line; a paste goes through the composer, so no line of it is dropped."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._held: list[str] = []  # lines of a burst, ended by Enter, until the burst ends

    async def _on_key(self, event: events.Key) -> None:
        """Enter submits here, in turn with the letters: Textual runs a binding only once the key
        has bubbled up to the app, and the letters typed behind it were in the line by then
        ("first line" + Enter + "second" went out as "first lines")."""
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            if self._held or self._keys_waiting():
                self._held.append(self.value)  # a line of a burst: sent, or asked about, at its end
                self.value = ""
            else:
                await self.action_submit()
                self.value = ""  # the next line typed starts clean; the composer keeps this one until sent
        else:
            await super()._on_key(event)
        if self._held and not self._keys_waiting():
            await self._burst_ended()

    def _keys_waiting(self) -> bool:
        """Keys read from the terminal and not handled yet: the rest of the burst this key came in."""
        pumps: tuple[MessagePump, ...] = (self.app, self.screen, self)
        for pump in pumps:
            queued: Iterable[object] = pump._message_queue.values
            if any(isinstance(message, events.Key) for message in queued):
                return True
        return False

    async def _burst_ended(self) -> None:
        held, self._held = self._held, []
        composer = self.parent
        if len(held) > BURST_LINES and isinstance(composer, Composer):
            rest, self.value = self.value, ""
            composer.post_message(Composer.Multiline("\n".join([*held, rest]).rstrip("\n")))
            return
        rest, cursor = self.value, self.cursor_position
        for line in held:
            self.value = line
            await self.action_submit()
        # Put back what was being typed, and where: the submitted lines moved the cursor, and the
        # next key of the line would have gone in at the end of the last one sent.
        self.value = rest
        self.cursor_position = cursor

    def _on_paste(self, event: events.Paste) -> None:
        event.stop()
        event.prevent_default()  # Input's own handler keeps the first line only
        composer = self.parent
        if isinstance(composer, Composer):
            composer.paste(event.text)


class Composer(Vertical):
    class Submitted(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Multiline(Message):
        """A paste of several lines, with what was typed around it: to be shown whole before sending."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    _note = ""  # said once, after the change a paste makes
    _sent = ""  # the line last submitted, until it is sent (clear) or refused (an error hint)

    def compose(self) -> ComposeResult:
        yield ComposerInput(
            placeholder=PLACEHOLDER,
            id="composer-input",
            suggester=SlashSuggester(use_cache=False),
            select_on_focus=False,  # a prefix put in by a key must not be replaced by the next one
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
        """Focus with ``prefix`` typed and the cursor after it; a draft already there is kept."""
        field = self.input
        if field.disabled:
            return  # a viewer's composer: nothing may be written into it
        if not field.value:
            field.value = prefix
        field.cursor_position = len(field.value)
        field.focus()

    def type(self, character: str) -> None:
        """A key typed while another panel had the focus: it lands here, as if typed here."""
        field = self.input
        if field.disabled:
            return
        field.insert_text_at_cursor(character)
        field.focus()

    def paste(self, text: str) -> None:
        field = self.input
        if field.disabled:
            return
        text, removed = without_controls(text.replace("\r\n", "\n").replace("\r", "\n"))
        note = f"removed {removed} control character{'s' if removed != 1 else ''} from the paste"
        text = text.rstrip("\n")
        if "\n" in text:
            at = field.cursor_position
            self.post_message(self.Multiline(field.value[:at] + text + field.value[at:]))
        elif text:
            self._note = note if removed else ""
            field.insert_text_at_cursor(text.replace("\t", " "))
        if removed:
            self.hint(note)

    def hint(self, text: str, error: bool = False) -> None:
        """Say something under the line; an error puts a line that was not sent back, to be fixed."""
        if error and self._sent:
            self._note = text  # the change below must not replace this hint with a count
            self.input.value = self._sent + self.input.value
            self.input.cursor_position = len(self._sent)
            self._sent = ""
        label = self.query_one("#composer-hint", Label)
        label.update(Content(visible(text)))  # refusals quote what was typed or sent: text only
        label.set_class(error, "-error")
        label.display = bool(text)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.value != self.input.value:
            return  # a change already overtaken (the line cleared at Enter, then put back)
        if self._note:
            self._note = ""
            return
        value = event.value
        if value.startswith("/") and " " not in value:
            self.hint("   ".join(completions(value)[:4]))
            return
        count = len(body(value))
        if count >= COUNT_FROM:
            self.hint(f"{count:,}/{TEXT_MAX:,}", error=count > TEXT_MAX)
        else:
            self.hint("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip() == "/help":
            self.hint("   ".join(f"{usage}" for usage, _ in COMMANDS.values()))
            return
        self._sent = event.value  # out of the input already (ComposerInput): back on an error
        problem = text_problem(event.value)
        if problem is not None:
            self.hint(problem, error=True)  # the text comes back, to be fixed
            return
        self.post_message(self.Submitted(event.value))

    def clear(self) -> None:
        """The line was sent: forget it (it left the input at its Enter)."""
        self._sent = ""
        self.hint("")
