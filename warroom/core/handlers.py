"""The registry every event handler joins, and the hub's own timeline line.

Apart from ``reducer.py`` so that handler modules (``followup.py``) can
register without importing the reducer that imports them.
"""

from __future__ import annotations

from collections.abc import Callable

from warroom.core.events import Event
from warroom.core.state import Entry, IncidentState

Handler = Callable[[IncidentState, Event], None]
HANDLERS: dict[str, Handler] = {}


def handles(type_name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[type_name] = fn
        return fn

    return register


def system_line(state: IncidentState, event: Event, text: str) -> None:
    """A timeline line the hub writes for a change of state, so the story reads whole."""
    state.entries[event.seq] = Entry(id=event.seq, kind="system", text=text, author=event.actor, ts=event.ts)
