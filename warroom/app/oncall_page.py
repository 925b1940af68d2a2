"""Paging whoever is on call for the incident, from the room: one key, a yes, then ``page.requested``.

The hub answers it (server/oncall.py): it resolves the incident's schedules at
that moment and records the page as ``page.sent`` on the timeline, sent
through its sinks. Who is on call comes from the room's own state
(``IncidentState.oncall``, kept by the hub's ``oncall.handoff`` lines), so
what the roles panel shows and what the question names are the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from warroom.app.dialogs import ConfirmScreen
from warroom.app.slash import Action
from warroom.app.tell import tell
from warroom.core.state import IncidentState
from warroom.core.text import visible

if TYPE_CHECKING:
    from warroom.app.screens import IncidentScreen

PAGE_KEY = "f7"


def page_question(state: IncidentState) -> tuple[str, str, str] | None:
    """(question, detail, yes), naming who would be paged; None when nobody is on call for it."""
    if not state.oncall:
        return None
    people = sorted(set(state.oncall.values()))
    detail = "\n".join(
        f"{visible(user)}: on call for {visible(schedule)}" for schedule, user in sorted(state.oncall.items())
    )
    return f"Page {', '.join(visible(p) for p in people)} now?", detail, "Page"


def page_on_call(screen: IncidentScreen) -> None:
    question = page_question(screen.state)
    if question is None:
        tell(
            screen.app,
            "nobody is on call for this incident: no escalation policy of the hub pages a schedule for it",
            severity="warning",
        )
        return

    def answered(yes: bool | None) -> None:
        if yes:
            screen.send(Action("page.requested", {}))

    screen.app.push_screen(ConfirmScreen(*question), answered)
