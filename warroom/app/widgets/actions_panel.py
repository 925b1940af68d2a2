"""The room's action items: id, status, owner, due day, OVERDUE once past it, and the text.

Follow-up work is only done when someone can see what is still open. The panel
takes plain data through ``show`` and posts ``Toggled`` when the responder
marks an item (x, space or enter); the screen sends the change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from warroom.app.widgets.panels import Piece
from warroom.core.state import ActionItem
from warroom.core.text import visible

MARKS: dict[str, Piece] = {
    "open": "☐",
    "in_progress": ("◐", "$accent"),
    "done": ("☑", "$success"),
    "wont_do": ("⊘", "$warning"),
}


def action_row(action: ActionItem, today: str) -> Content:
    """One item: the marks first (the side panel is narrow and cuts a long text at its end)."""
    row: list[Piece] = [(f"{visible(action.id):<4}", "bold"), " ", MARKS.get(action.status, "?")]
    due = visible(action.due or "")
    due = due[5:] if due[:4] == today[:4] else due  # this year's days as 12-15: the panel is narrow
    if action.overdue(today):
        row.append((f" OVERDUE {due}", "bold $error"))
    elif action.due and action.status in ("open", "in_progress"):
        row.append((f" due {due}", "dim"))
    row.append((f" @{visible(action.owner)}", "$accent") if action.owner else (" no owner", "dim"))
    row.append(" ")
    done = action.status in ("done", "wont_do")
    row.append((visible(action.text), "strike dim") if action.status == "wont_do" else visible(action.text))
    if action.status == "wont_do" and action.reason:
        row.append((f" won't do: {visible(action.reason)}", "$warning"))
    elif done:
        row.append((f" {visible(action.updated_by or '')} {(action.done_at or '')[:10]}", "dim"))
    return Content.assemble(*row)


def overdue_count(actions: Sequence[ActionItem], today: str) -> int:
    return sum(a.overdue(today) for a in actions)


class ActionsPanel(OptionList):
    """Every action item of the room, with the count done and overdue in the title."""

    BINDINGS = [
        Binding("x,space", "mark", "Done/reopen"),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]
    DEFAULT_CSS = """
    ActionsPanel { height: auto; max-height: 8; border: round $panel; border-title-color: $primary;
        text-wrap: nowrap; text-overflow: ellipsis; }
    ActionsPanel:focus { border: round $primary; }
    """

    class Toggled(Message):
        """x on an item: done, or open again when it was done (the same key undoes)."""

        def __init__(self, action: ActionItem) -> None:
            super().__init__()
            self.action = action

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._actions: list[ActionItem] = []
        # What was drawn, as values: the reducer changes items in place.
        self._signature: tuple[object, ...] | None = None

    @property
    def selected(self) -> ActionItem | None:
        n = self.highlighted
        return self._actions[n] if n is not None and n < len(self._actions) else None

    def show(self, actions: Sequence[ActionItem], today: str, hide_when_empty: bool = True) -> None:
        signature = (
            today,
            tuple(
                (a.id, a.text, a.owner, a.due, a.status, a.done_at, a.reason, a.updated_by) for a in actions
            ),
        )
        if hide_when_empty:
            self.display = bool(actions)  # a room with none keeps its space for the runbook and alerts
        if signature == self._signature:
            return
        self._signature = signature
        highlighted, scrolled = self.highlighted, self.scroll_y
        self._actions = list(actions)
        self.clear_options()
        self.add_options([Option(action_row(a, today), id=a.id) for a in actions])
        if not actions:
            empty = Content("None yet: /action TEXT [@OWNER] [due YYYY-MM-DD|+3d] adds one")  # not markup
            self.add_option(Option(empty, disabled=True))
        elif highlighted is not None:
            self.highlighted = min(highlighted, len(actions) - 1)
        self.scroll_to(y=scrolled, animate=False, immediate=True)
        finished = sum(a.status in ("done", "wont_do") for a in actions)
        late = overdue_count(actions, today)
        self.border_title = Content.assemble(
            f"Actions {finished}/{len(actions)}", (f" {late} overdue", "bold $error") if late else ""
        )

    def on_focus(self) -> None:
        if self.highlighted is None and self._actions:
            first_open = next((n for n, a in enumerate(self._actions) if a.status != "done"), 0)
            self.highlighted = first_open

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option_index < len(self._actions):
            self.post_message(self.Toggled(self._actions[event.option_index]))

    def action_mark(self) -> None:
        """x and space: the same as enter."""
        if (action := self.selected) is not None:
            self.post_message(self.Toggled(action))


def toggled(action: ActionItem) -> tuple[str, dict[str, Any], str]:
    """The change x makes, and what to say after it: done, or open again."""
    if action.status == "done":
        return "action.updated", {"action": action.id, "status": "open"}, f"{action.id} open again"
    return "action.updated", {"action": action.id, "status": "done"}, f"{action.id} done - x again to reopen"
