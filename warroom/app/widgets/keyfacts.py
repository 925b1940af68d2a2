"""Key facts: the pinned entries, newest first, above the timeline.

What the room agreed matters (a decision, the customer impact, the rollback
in progress) stays on screen for someone who joins late, without scrolling.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from warroom.core.state import Entry, IncidentState
from warroom.core.text import visible

SHOWN = 3  # pinned entries on screen; the rest are one key away (ctrl+o shows every pinned entry)


class KeyFacts(Static):
    _state: IncidentState | None = None
    _seq = 0
    _count = 0
    _pinned: tuple[Entry, ...] = ()
    _drawn: tuple[object, ...] | None = None

    def show(self, state: IncidentState, edited: bool = True) -> None:
        """``edited`` False: the caller knows no entry was pinned, unpinned, edited or struck since."""
        grown = len(state.entries) - self._count
        if state is not self._state or (edited and state.seq - self._seq != grown):
            # Each event adds at most one entry (entries are keyed by seq); when every new
            # event added one, none of them pinned, unpinned, edited or struck anything, and
            # the 100,000 entries need no walk.
            pinned = (e for e in state.entries.values() if e.pinned)
            self._pinned = tuple(sorted(pinned, key=lambda e: (e.when, e.id), reverse=True))
        self._state, self._seq, self._count = state, state.seq, len(state.entries)
        drawn = tuple((e.id, e.when, e.author, e.text, e.struck) for e in self._pinned)
        if drawn == self._drawn:
            return
        self._drawn = drawn
        self.display = bool(self._pinned)
        lines = [
            Content.assemble(
                ("⚑ ", "$accent"),
                (f"{e.when[11:16]} ", "dim"),
                (f"{visible(e.author)}: ", "bold"),
                (visible(e.text), "strike dim" if e.struck else ""),
            )
            for e in self._pinned[:SHOWN]
        ]
        self.update(Content("\n").join(lines))
        more = len(self._pinned) - SHOWN
        self.border_title = Content(f"Pinned {len(self._pinned)}")
        self.border_subtitle = Content(f"+{more} more · ctrl+o lists them") if more > 0 else None
