"""The interface every event log engine implements.

The hub depends on this and nothing else, so a Redis Streams engine for running
several hubs can replace SQLite later. Every method is async for that reason,
even where SQLite answers at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from warroom.core.events import Event


class StorageError(Exception):
    """The log could not take a write; nothing in the failed batch was stored."""


@dataclass(frozen=True, slots=True)
class RoomRecord:
    room: str
    epoch: str
    head: int
    created_at: str
    summary: dict[str, Any]


class EventStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def reserve_room_id(self) -> str:
        """A fresh incident id (``INC-n``); unique across every hub sharing this store."""
        ...

    async def append(
        self,
        events: Sequence[Event],
        new_rooms: Mapping[str, str],
        summaries: Mapping[str, dict[str, Any]],
    ) -> None:
        """Store a batch atomically: all of it is durable on return, or none of it.

        ``new_rooms`` maps each room the batch creates to its epoch; ``summaries``
        carries each touched room's short listing form.
        """
        ...

    async def read(self, room: str, after: int, limit: int) -> list[Event]:
        """Events with seq > ``after``, in order, at most ``limit`` of them."""
        ...

    async def room(self, room: str) -> RoomRecord | None: ...

    async def rooms(self) -> list[RoomRecord]: ...

    async def lookup(self, event_id: str) -> Event | None:
        """The event accepted under this idempotency key, if any."""
        ...

    async def save_snapshot(self, room: str, seq: int, state: bytes) -> None: ...

    async def snapshot(self, room: str) -> tuple[int, bytes] | None:
        """The newest snapshot of a room: its seq and the encoded state."""
        ...
