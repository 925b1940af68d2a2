"""The review editor: the blameless write-up of an incident, edited by the room together.

Every field is its own event (``review.updated``, ``review.why_set`` and
``review.why_cleared``, ``review.item_added`` and ``review.item_removed``,
``action.added`` and ``action.updated``), so two responders can write different
parts at once and each sees the other's edits as they land. A field saves when
the responder leaves it (tab, or escape, which closes the editor) or presses
ctrl+s; what the hub refuses is said under the field, and the typed text stays.

The prompts ask about systems and processes, never about a person: a review
that hunts for a culprit teaches people to hide what they saw.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Input, Label, OptionList, TextArea
from textual.widgets.option_list import Option

from warroom.app.dialogs import ConfirmScreen
from warroom.app.slash import SlashError, action_item
from warroom.app.tell import tell
from warroom.app.widgets.actions_panel import ActionsPanel, toggled
from warroom.client import CommandRejected, HubClient
from warroom.core.errors import WarroomError
from warroom.core.events import WHY_LEVELS, Event, validate_command
from warroom.core.schema import format_time
from warroom.core.state import IncidentState, Review, ReviewItem
from warroom.core.text import visible

BLAMELESS = (
    "Blameless: ask what in the system and the process allowed this, and what made it hard to see. Never who."
)
KEYS = "tab next field (saves)  ctrl+s save  delete remove an item  x item done  escape save and close"
# field: (heading, the prompt shown in the empty field)
FIELD_PROMPTS: dict[str, tuple[str, str]] = {
    "summary": ("Summary", "What happened, in a few sentences, as the systems saw it?"),
    "impact_customer": ("Impact on customers", "What could customers not do, and for how long?"),
    "impact_business": ("Impact on the business", "What did it cost: orders, revenue, commitments, trust?"),
    "impact_technical": ("Technical impact", "Which systems were degraded, and how far did it spread?"),
}
WHY_PROMPT = "Why? What in the system allowed this?"
BECAUSE_PROMPT = "Because... (of the system, the process)"
# section: (heading, the prompt of its add line)
LIST_PROMPTS: dict[str, tuple[str, str]] = {
    "factors": ("Contributing factors", "What made this easy to get wrong? (Enter adds it)"),
    "went_well": ("What went well", "What helped us notice, understand and recover? (Enter adds it)"),
    "lucky": ("Where we got lucky", "What did the system make hard to see? What saved us by chance?"),
}
ACTION_PROMPT = "Follow-up work: TEXT [@OWNER] [due YYYY-MM-DD|+3d] (Enter adds it)"
PROMPTS = [
    BLAMELESS,
    WHY_PROMPT,
    BECAUSE_PROMPT,
    ACTION_PROMPT,
    *(p for _, p in FIELD_PROMPTS.values()),
    *(p for _, p in LIST_PROMPTS.values()),
]


def signature(state: IncidentState) -> tuple[object, ...]:
    """What the editor shows, as values: the reducer changes the review in place."""
    review = state.review
    return (
        id(state),
        tuple(sorted(review.fields.items())),
        tuple((w.why, w.because) for w in review.whys),
        tuple((s, tuple(i.id for i in items)) for s, items in sorted(review.lists.items())),
        tuple((a.id, a.text, a.owner, a.due, a.status, a.done_at) for a in state.actions.values()),
    )


def item_row(item: ReviewItem) -> Content:
    return Content.assemble("• ", visible(item.text), (f"  {visible(item.by)} {item.at[11:16]}", "dim"))


class ReviewList(OptionList):
    """One of the review's three lists; delete removes the highlighted item (after a yes)."""

    BINDINGS = [Binding("delete,backspace", "remove", "Remove")]

    class Remove(Message):
        """Delete on an item: the screen asks, then sends ``review.item_removed``."""

        def __init__(self, section: str, item: ReviewItem) -> None:
            super().__init__()
            self.section = section
            self.item = item

    def __init__(self, section: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.section = section
        self.items: list[ReviewItem] = []
        self._drawn: list[tuple[int, str]] | None = None

    def show(self, items: list[ReviewItem]) -> None:
        drawn = [(i.id, i.text) for i in items]
        if drawn == self._drawn:
            return
        self._drawn = drawn
        highlighted = self.highlighted
        self.items = list(items)
        self.clear_options()
        self.add_options([Option(item_row(i), id=str(i.id)) for i in items])
        if not items:
            self.add_option(Option(Content.styled("nothing yet", "dim"), disabled=True))
        elif highlighted is not None:
            self.highlighted = min(highlighted, len(items) - 1)

    def action_remove(self) -> None:
        n = self.highlighted
        if n is not None and n < len(self.items):
            self.post_message(self.Remove(self.section, self.items[n]))


class ReviewScreen(Screen[None]):
    """Summary, impact, the 5 whys, the three lists and the action items of one room."""

    BINDINGS = [
        Binding("escape", "close", "Save and close"),
        Binding("ctrl+s", "save", "Save field"),
    ]
    DEFAULT_CSS = """
    ReviewScreen { layout: vertical; }
    ReviewScreen #review-title { height: 1; background: $panel; padding: 0 1; text-style: bold;
        color: $primary; width: 1fr; }
    ReviewScreen #review-help { color: $text-muted; padding: 0 1; width: 100%; }
    ReviewScreen #review-body { height: 1fr; padding: 0 1; }
    ReviewScreen .review-heading { margin-top: 1; text-style: bold; color: $primary; }
    ReviewScreen TextArea { height: auto; min-height: 2; max-height: 8; border: none;
        border-left: thick $panel; padding: 0 1; background: $boost; }
    ReviewScreen #review-body Input { height: 1; border: none; border-left: thick $panel; padding: 0 1;
        background: $boost; margin-bottom: 1; }
    ReviewScreen TextArea:focus, ReviewScreen #review-body Input:focus { border: none;
        border-left: thick $primary; background: $panel; }
    ReviewScreen .why-row { height: auto; }
    ReviewScreen .why-level { width: 4; padding: 0 1; color: $text-muted; }
    ReviewScreen .why-row Input { width: 1fr; }
    ReviewScreen ReviewList, ReviewScreen ActionsPanel { height: auto; max-height: 10; border: none;
        padding: 0 1; }
    ReviewScreen ReviewList:focus, ReviewScreen ActionsPanel:focus { background: $boost; }
    ReviewScreen .review-error { color: $error; text-style: bold; height: auto; }
    """

    def __init__(self, client: HubClient, room: str, now: Callable[[], datetime]) -> None:
        super().__init__()
        self.client = client
        self.room = room
        self.now = now
        self._signature: tuple[object, ...] | None = None
        self._shown: dict[str, str] = {}  # field (or why-N) -> the shared text last put into it
        self._pending: dict[str, str] = {}  # field -> the text sent and not yet answered
        self._refused: dict[str, str] = {}  # field -> the text the hub refused: not sent again on leaving
        self._scheduled = False
        self._focus_level: int | None = None  # the why level to go to once the hub opens it
        self._stop_listening: Callable[[], None] | None = None

    # -- building --------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Label("", id="review-title")
        yield Label(Content(f"{BLAMELESS}\n{KEYS}"), id="review-help")
        with VerticalScroll(id="review-body"):
            for name, (heading, prompt) in FIELD_PROMPTS.items():
                yield Label(Content(heading), classes="review-heading")
                yield TextArea(id=f"field-{name}", placeholder=Content(prompt), soft_wrap=True)
                yield self._error_label(name)
            whys = "Root cause: the 5 whys (each level needs the one above)"
            yield Label(Content(whys), classes="review-heading")
            for level in range(1, WHY_LEVELS + 1):
                with Horizontal(classes="why-row", id=f"why-{level}"):
                    yield Label(f"{level}.", classes="why-level")
                    yield Input(id=f"why-{level}-why", placeholder=WHY_PROMPT)
                    yield Input(id=f"why-{level}-because", placeholder=BECAUSE_PROMPT)
            yield self._error_label("whys")
            for section, (heading, prompt) in LIST_PROMPTS.items():
                yield Label(Content(heading), classes="review-heading", id=f"heading-{section}")
                yield ReviewList(section, id=f"list-{section}")
                yield Input(id=f"add-{section}", placeholder=prompt)
                yield self._error_label(section)
            yield Label(Content("Action items"), classes="review-heading")
            yield ActionsPanel(id="review-actions")
            yield Input(id="add-action", placeholder=ACTION_PROMPT)
            yield self._error_label("action")
        yield Footer()

    @staticmethod
    def _error_label(where: str) -> Label:
        label = Label("", id=f"error-{where}", classes="review-error")
        label.display = False
        return label

    def on_mount(self) -> None:
        self._stop_listening = self.client.listen_events(self._on_event)
        self.set_interval(1, self.refresh_review)  # a snapshot or a new day, which no event announces
        self.refresh_review()
        if self.client.access.get("level") == "viewer":
            for widget in self.query("#review-body TextArea, #review-body Input"):
                widget.disabled = True
            self.query_one("#review-help", Label).update(
                Content("Read-only: this is a viewer's token. " + BLAMELESS)
            )
        else:
            self.query_one("#field-summary", TextArea).focus()

    def on_unmount(self) -> None:
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None

    @property
    def state(self) -> IncidentState:
        view = self.client.rooms.get(self.room)
        return view.state if view is not None else IncidentState(room=self.room)

    @property
    def today(self) -> str:
        return format_time(self.now())[:10]

    # -- state down ------------------------------------------------------------------

    def _on_event(self, room: str, event: Event) -> None:
        if room == self.room and event.type.startswith(("review.", "action.")) and not self._scheduled:
            self._scheduled = True
            self.call_later(self.refresh_review)

    def refresh_review(self) -> None:
        """Put the shared review on screen; a field being edited keeps what is typed in it."""
        self._scheduled = False
        state = self.state
        title = Content.assemble(
            f"Review {visible(self.room)} · ",
            visible(state.title),
            (
                f"   last edit {visible(state.review.updated_by)} {(state.review.updated_at or '')[11:16]}"
                if state.review.updated_by
                else "",
                "dim",
            ),
        )
        self.query_one("#review-title", Label).update(title)
        self.query_one("#review-actions", ActionsPanel).show(
            list(state.actions.values()), self.today, hide_when_empty=False
        )
        wanted = signature(state)
        if wanted == self._signature:
            return
        self._signature = wanted
        review = state.review
        for name in FIELD_PROMPTS:
            self._put_field(name, visible(review.fields.get(name, ""), multiline=True).strip())
        self._put_whys(review)
        for section, (heading, _) in LIST_PROMPTS.items():
            items = review.lists.get(section, [])
            self.query_one(f"#list-{section}", ReviewList).show(items)
            self.query_one(f"#heading-{section}", Label).update(Content(f"{heading} ({len(items)})"))

    def _put_field(self, name: str, shared: str) -> None:
        area = self.query_one(f"#field-{name}", TextArea)
        self._settle(name, shared)
        if shared == self._shown.get(name):
            return
        typed = area.text.strip()  # what saving it would send
        if typed in (self._shown.get(name, ""), shared):  # not being edited, or ours landed
            self._shown[name] = shared
            if area.text != shared:
                area.load_text(shared)
            self._say(name, "")
        else:
            self._say(name, "changed by someone else while you were editing: saving replaces their text")
            self._shown[name] = shared

    def _put_whys(self, review: Review) -> None:
        whys = review.whys
        for level in range(1, WHY_LEVELS + 1):
            key = f"why-{level}"
            why_input = self.query_one(f"#why-{level}-why", Input)
            because_input = self.query_one(f"#why-{level}-because", Input)
            shared = (
                visible(whys[level - 1].why).strip() + "\n" + visible(whys[level - 1].because).strip()
                if level <= len(whys)
                else "\n"
            )
            self._settle(key, shared)
            typed = why_input.value.strip() + "\n" + because_input.value.strip()
            if shared != self._shown.get(key):
                if typed in (self._shown.get(key, "\n"), shared):
                    why_input.value, _, because_input.value = shared.partition("\n")
                self._shown[key] = shared
            # A level follows the one above it: the rows under the first empty one wait.
            reachable = level <= len(whys) + 1 and self.client.access.get("level") != "viewer"
            why_input.disabled = because_input.disabled = not reachable
            why_input.placeholder = WHY_PROMPT if reachable else f"fill level {level - 1} first"
            because_input.placeholder = BECAUSE_PROMPT if reachable else ""
        if self._focus_level is not None:
            self._focus_why(self._focus_level)

    def _settle(self, key: str, shared: str) -> None:
        """A sent edit that is now the shared text is answered."""
        if self._pending.get(key) == shared:
            del self._pending[key]

    # -- saving ----------------------------------------------------------------------

    def _say(self, where: str, text: str) -> None:
        try:
            label = self.query_one(f"#error-{where}", Label)
        except NoMatches:
            return
        label.update(Content(visible(text)))  # a refusal may quote the text: shown as text
        label.display = bool(text)

    def _send(
        self, type_: str, data: dict[str, Any], where: str, key: str | None = None, text: str = ""
    ) -> bool:
        """Send one command; a refusal (here or from the hub) is said under its field, and told."""
        if self.client.access.get("level") == "viewer":
            self._say(where, "read-only: this is a viewer's token")
            return False
        app = self.app
        try:
            validate_command(type_, data)
            future = self.client.submit(type_, data, self.room)
        except (WarroomError, CommandRejected) as exc:
            self._say(where, exc.error.message if isinstance(exc, CommandRejected) else exc.message)
            return False
        self._say(where, "")
        if key is not None:
            self._pending[key] = text
            self._refused.pop(key, None)

        def done(result: Any) -> None:
            if result.cancelled() or not isinstance(result.exception(), CommandRejected):
                return
            message = result.exception().error.message
            if key is not None:
                self._pending.pop(key, None)
                self._refused[key] = text
            if self.is_attached:
                self._say(where, f"refused: {message}")
            tell(app, message, title="refused", severity="error")

        future.add_done_callback(done)
        return True

    def _wants_sending(self, key: str, typed: str, explicit: bool) -> bool:
        """Typed text that differs from the shared one, not already on its way, nor refused as it is."""
        if typed == self._shown.get(key, "\n" if key.startswith("why-") else ""):
            return False
        if self._pending.get(key) == typed:
            return False
        return explicit or self._refused.get(key) != typed

    def save_field(self, name: str, explicit: bool = False) -> None:
        text = self.query_one(f"#field-{name}", TextArea).text.strip()  # as the hub will keep it
        if not self._wants_sending(name, text, explicit):
            return
        data: dict[str, Any] = {"field": name}
        if text:
            data["text"] = text
        self._send("review.updated", data, name, name, text)

    def save_why(self, level: int, explicit: bool = False) -> None:
        key = f"why-{level}"
        why = self.query_one(f"#why-{level}-why", Input).value.strip()
        because = self.query_one(f"#why-{level}-because", Input).value.strip()
        typed = f"{why}\n{because}"
        if not self._wants_sending(key, typed, explicit):
            return
        whys = self.state.review.whys
        if why and because:
            self._send("review.why_set", {"level": level, "why": why, "because": because}, "whys", key, typed)
        elif not why and not because and level <= len(whys):
            self._ask_clear(level, key, typed)
        elif explicit or why or because:
            self._say("whys", f"level {level} needs both: why it happened, and because of what")

    def _ask_clear(self, level: int, key: str, typed: str) -> None:
        below = len(self.state.review.whys) - level
        if below == 0:
            self._send("review.why_cleared", {"level": level}, "whys", key, typed)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._send("review.why_cleared", {"level": level}, "whys", key, typed)

        self.app.push_screen(
            ConfirmScreen(
                f"Clear why {level} and the {below} level{'s' if below > 1 else ''} under it?",
                "Each level follows from the one above; the log keeps them.",
                "Clear",
            ),
            answered,
        )

    def on_review_list_remove(self, message: ReviewList.Remove) -> None:
        section, item = message.section, message.item
        heading = LIST_PROMPTS[section][0]

        def answered(yes: bool | None) -> None:
            if yes:
                self._send("review.item_removed", {"section": section, "item": item.id}, section)

        self.app.push_screen(
            ConfirmScreen(f"Remove this from {heading.lower()}?", visible(item.text)[:300], "Remove"),
            answered,
        )

    def _save(self, widget: Widget | None, explicit: bool) -> None:
        """Save the field ``widget`` belongs to, if it is one."""
        ident = widget.id or "" if widget is not None else ""
        if ident.startswith("field-"):
            self.save_field(ident.removeprefix("field-"), explicit)
        elif ident.startswith("why-"):
            self.save_why(int(ident.split("-")[1]), explicit)

    def action_save(self) -> None:
        self._save(self.focused, explicit=True)

    def action_close(self) -> None:
        """Escape: what is typed and not yet saved is saved (the room sees it), then back to the room."""
        if self.client.access.get("level") != "viewer":
            for name in FIELD_PROMPTS:
                self.save_field(name)
            for level in range(1, WHY_LEVELS + 1):
                if not self.query_one(f"#why-{level}-why", Input).disabled:
                    self.save_why(level)
        if self.app.screen is self:
            self.dismiss()

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        """Leaving a field saves it; leaving a why for its because (the same level) does not yet."""
        widget = event.widget
        ident = widget.id or ""
        if not self.is_attached or self.app.screen is not self:
            return  # a question on top took the focus: nothing was left
        if ident.startswith("why-"):
            level = ident.split("-")[1]
            focused = self.focused.id or "" if self.focused is not None else ""
            if focused.startswith(f"why-{level}-"):
                return
            self.call_after_refresh(self._leave_why, int(level))
            return
        self._save(widget, explicit=False)

    def _leave_why(self, level: int) -> None:
        focused = self.focused.id or "" if self.focused is not None else ""
        if not focused.startswith(f"why-{level}-"):
            self.save_why(level)

    # -- adding ----------------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        ident = event.input.id or ""
        value = event.value.strip()
        if ident.startswith("why-"):
            level = int(ident.split("-")[1])
            if ident.endswith("-why"):
                self.query_one(f"#why-{level}-because", Input).focus()
                return
            self.save_why(level, explicit=True)
            if level < WHY_LEVELS:
                self.call_after_refresh(self._focus_why, level + 1)
        elif ident.startswith("add-") and ident != "add-action":
            section = ident.removeprefix("add-")
            if not value:
                self._say(section, "type the item first; Enter adds it")
            elif self._send("review.item_added", {"section": section, "text": value}, section):
                event.input.value = ""
        elif ident == "add-action":
            try:
                action = action_item(value, self.today)
            except SlashError as exc:
                self._say("action", str(exc))
                return
            if self._send(action.type, action.data, "action"):
                event.input.value = ""

    def _focus_why(self, level: int) -> None:
        """Enter on a because goes on to the next level, once it is open (when the hub has the level)."""
        field = self.query_one(f"#why-{level}-why", Input)
        self._focus_level = level if field.disabled else None
        if not field.disabled:
            field.focus()

    def on_actions_panel_toggled(self, message: ActionsPanel.Toggled) -> None:
        message.stop()
        type_, data, said = toggled(message.action)
        if self._send(type_, data, "action"):
            tell(self.app, said)
