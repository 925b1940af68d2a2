"""An incident as it stood at one point of its log: shared by the hub, which sends it, and clients.

The hub answers "the state at seq N" with the nearest checkpoint at or below N
(a compressed snapshot it keeps every few thousand events) and the events
after it up to N. The reader decodes the checkpoint and folds those events
with the same reducer the live room uses, so the past is the log cut at N
folded afresh, only without folding it from seq 1.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from warroom.core.events import Event
from warroom.core.reducer import fold
from warroom.core.schema import format_time, parse_time
from warroom.core.state import SNAPSHOT_VERSION, IncidentState
from warroom.snapshots import _without_gc, dump_snapshot, load_snapshot

READABLE = (1, SNAPSHOT_VERSION)  # snapshot versions this one decodes
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


def is_clock_time(text: str) -> bool:
    """``03:12`` or ``03:12:05``: a time of day, which needs a day to mean a moment."""
    return _CLOCK.fullmatch(text.strip()) is not None


def parse_moment(text: str, day: str | None) -> str:
    """A time people type, as a wire time (UTC): full ISO-8601 (no offset means UTC), or a
    bare ``HH:MM[:SS]`` on ``day`` (YYYY-MM-DD, the day the incident was declared).

    Raises ValueError with a message fit to show.
    """
    clock = _CLOCK.fullmatch(text.strip())
    if clock is not None:
        if day is None:
            raise ValueError(f"{text}: give a date too (YYYY-MM-DDTHH:MM)")
        hour, minute, second = (int(part or 0) for part in clock.groups())
        try:
            moment = datetime.combine(datetime.fromisoformat(day).date(), time(hour, minute, second), UTC)
        except ValueError:
            raise ValueError(f"{text}: not a time of day") from None
        return format_time(moment)
    try:
        return format_time(parse_time(text.strip()))
    except (ValueError, OverflowError):
        raise ValueError(f"{text}: not a time (try 2026-11-28T03:12:05Z or 03:12)") from None


def pack_checkpoint(state: IncidentState) -> bytes:
    """A stored checkpoint: one byte of snapshot version, then the zlib-compressed snapshot.

    Compressed because timelines repeat themselves: 100,000 entries take
    about 10 MB as a snapshot and about 1.3 MB compressed, at a few tens of
    milliseconds either way.
    """
    return bytes([SNAPSHOT_VERSION]) + zlib.compress(dump_snapshot(state), 1)


def checkpoint_readable(blob: bytes) -> bool:
    """Whether this version can decode the checkpoint, told from its first byte alone."""
    return bool(blob) and blob[0] in READABLE


def unpack_checkpoint(blob: bytes) -> IncidentState:
    """The state a checkpoint holds; ValueError when this version cannot read it."""
    if not checkpoint_readable(blob):
        raise ValueError("a checkpoint in a format this version does not read")
    return load_base(blob[1:])


def load_base(compressed: bytes) -> IncidentState:
    """A zlib-compressed snapshot (a ``state_at`` frame's ``base``) decoded."""
    try:
        raw = zlib.decompress(compressed)
    except zlib.error as exc:
        raise ValueError(f"not a compressed snapshot: {exc}") from None
    return load_snapshot(raw)


@dataclass(frozen=True, slots=True)
class Past:
    """The answer to "the state at ``seq``": a base and the events that follow it, up to ``seq``."""

    room: str
    seq: int
    head: int  # the log's last seq when this was read
    base_seq: int  # 0: no base; the events start at the declaration
    base: bytes | None  # the zlib-compressed snapshot at ``base_seq``
    events: tuple[Event, ...]

    def state(self) -> IncidentState:
        """Decode the base and fold the events: the incident as it stood at ``seq``.

        With the cyclic garbage collector paused throughout, as for a snapshot: a
        long timeline's objects would otherwise be walked again for every
        thousand events folded on top of it.
        """
        return _without_gc(self._state)

    def _state(self) -> IncidentState:
        state = load_base(self.base) if self.base is not None else IncidentState(room=self.room)
        if state.seq != self.base_seq:
            raise ValueError(f"the base holds seq {state.seq}, not {self.base_seq}")
        fold(self.room, list(self.events), state)
        if state.seq != self.seq:
            raise ValueError(f"the events reach seq {state.seq}, not {self.seq}")
        return state

    def to_frame(self, rid: Any) -> dict[str, Any]:
        return {
            "t": "state_at",
            "rid": rid,
            "room": self.room,
            "seq": self.seq,
            "head": self.head,
            "base_seq": self.base_seq,
            "base": self.base,
            "events": [e.to_wire() for e in self.events],
        }

    @classmethod
    def from_frame(cls, frame: dict[str, Any]) -> Past:
        return cls(
            room=frame["room"],
            seq=frame["seq"],
            head=frame["head"],
            base_seq=frame["base_seq"],
            base=frame.get("base"),
            events=tuple(Event.from_wire(raw) for raw in frame["events"]),
        )
