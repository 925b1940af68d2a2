"""The interface every event log engine implements.

The hub depends on this and nothing else, so a Redis Streams engine for running
several hubs can replace SQLite later. Every method is async for that reason,
even where SQLite answers at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from warroom.core.events import Event

T = TypeVar("T")
Presence = dict[str, dict[str, list[dict[str, Any]]]]  # room -> hub id -> who is in it through that hub


class StorageError(Exception):
    """The log could not take a write; nothing in the failed batch was stored."""


class SchemaMismatch(Exception):
    """The database's schema is not the one this hub writes: it needs an upgrade, or a newer hub.

    Raised when a store opens, never later: a hub refuses to start rather than
    write a database it does not understand. The message is one line that says
    what to run.
    """


def check_schema(found: int, known: int, where: str, upgrade: str) -> None:
    """Refuse a database at another schema version than ``known``, naming the way out.

    ``where`` names the database for people; ``upgrade`` is the command that
    brings it up to date (``warroom db upgrade --db PATH``, or ``--store URL``).
    """
    if found > known:
        raise SchemaMismatch(
            f"{where} is at schema version {found}, newer than this warroom knows ({known}): "
            "run the warroom version that wrote it, or restore a backup taken before the upgrade"
        )
    if found < known:
        raise SchemaMismatch(
            f"{where} is at schema version {found} and this warroom needs {known}: "
            f"back it up, then run `{upgrade}`"
        )


class Behind(StorageError):
    """Another hub wrote to these rooms first (or took a new room's id): nothing was stored.

    The writer catches up from the log and validates the batch again.
    """

    def __init__(self, rooms: Sequence[str]) -> None:
        super().__init__(f"another hub wrote first to {', '.join(rooms)}")
        self.rooms = list(rooms)


@dataclass(frozen=True, slots=True)
class Change:
    """A room some hub appended to: its head and listing as committed."""

    room: str
    head: int
    summary: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class RoomRecord:
    room: str
    epoch: str
    head: int
    created_at: str
    summary: dict[str, Any]


class EventStore(Protocol):
    async def open(self) -> None:
        """Open the store; a new, empty database is made at this hub's schema version.

        Raises ``SchemaMismatch`` for a database at any other version: nothing
        migrates by itself (``upgrade`` does, when an operator says so).
        """
        ...

    async def upgrade(self) -> tuple[int | None, int]:
        """Bring the database to this hub's schema version without opening it for service.

        Returns the version it was at (None: a new database, made whole) and
        the version it is at now; the two are equal when there was nothing to
        do. Raises ``SchemaMismatch`` for a database newer than this hub.
        """
        ...

    async def close(self) -> None: ...

    async def reserve_room_id(self) -> str:
        """A fresh incident id (``INC-n``); unique across every hub sharing this store."""
        ...

    async def append(
        self,
        events: Sequence[Event],
        new_rooms: Mapping[str, str],
        summaries: Mapping[str, dict[str, Any]],
        heads: Mapping[str, int],
    ) -> None:
        """Store a batch atomically: all of it is durable on return, or none of it.

        ``new_rooms`` maps each room the batch creates to its epoch; ``summaries``
        carries each touched room's short listing form; ``heads`` maps every other
        room the batch writes to, to the head this hub last saw. ``Behind`` if any
        head moved or a new room's id is taken: several hubs share one store.
        """
        ...

    async def revision(self) -> int:
        """A store-wide number that grows with every append."""
        ...

    async def changes(self, since: int) -> tuple[int, list[Change]]:
        """The revision now, and every room appended to after revision ``since``."""
        ...

    async def wait_changes(self, since: int, timeout: float) -> None:
        """Return once the revision may be past ``since``, or after ``timeout`` seconds.

        A doorbell only: the caller reads what changed with ``changes``, so a
        missed ring costs at most ``timeout``, never an event.
        """
        ...

    async def lease(self, name: str, holder: str, ttl: float) -> bool:
        """Take or renew a named lease for ``ttl`` seconds: True while ``holder`` has it.

        Work that must happen once, not once per hub (paging), runs on the holder.
        """
        ...

    async def release(self, name: str, holder: str) -> None: ...

    async def save_presence(self, room: str, hub: str, members: list[dict[str, Any]], ttl: float) -> None:
        """Who is in ``room`` through ``hub``, for ``ttl`` seconds; an empty list says nobody."""
        ...

    async def presence(self, rooms: Sequence[str], other_than: str) -> Presence:
        """Each room's members through every other hub whose word has not lapsed: room -> hub -> members."""
        ...

    async def read(self, room: str, after: int, limit: int) -> list[Event]:
        """Events with seq > ``after``, in order, at most ``limit`` of them."""
        ...

    async def read_then(self, room: str, after: int, limit: int, then: Callable[[list[Event]], T]) -> T:
        """``then(read(room, after, limit))``, both off the event loop: a catch-up's reading and
        encoding never hold up live traffic."""
        ...

    async def scan(self, types: Sequence[str]) -> list[Event]:
        """Every event of these types in every room, in the order they were accepted."""
        ...

    async def room(self, room: str) -> RoomRecord | None: ...

    async def rooms(self) -> list[RoomRecord]: ...

    async def lookup(self, event_id: str) -> Event | None:
        """The event accepted under this idempotency key, if any."""
        ...

    async def lookup_many(self, event_ids: Sequence[str]) -> dict[str, Event]:
        """The events accepted under any of these keys, by key: one query for a whole batch."""
        ...

    async def save_snapshot(self, room: str, seq: int, state: bytes) -> None: ...

    async def snapshot(self, room: str) -> tuple[int, bytes] | None:
        """The newest snapshot of a room: its seq and the encoded state."""
        ...

    async def save_checkpoint(self, room: str, seq: int, state: bytes) -> None:
        """Keep the room's state at ``seq`` for time travel: one per seq, and any hub may write it."""
        ...

    async def checkpoint(self, room: str, at_most: int) -> tuple[int, bytes] | None:
        """The room's checkpoint with the highest seq not past ``at_most``: its seq and blob."""
        ...

    async def seq_at(self, room: str, ts: str) -> int:
        """The seq of the room's last event stamped at or before ``ts`` (0: none was)."""
        ...


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """What the store keeps about a personal token: never the token itself."""

    id: str
    name: str
    level: str
    scope: list[str] | None  # None covers every incident
    created_at: str
    created_by: str
    expires_at: str | None = None
    revoked_at: str | None = None
    revoked_by: str | None = None
    last_used_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "level": self.level,
            "scope": self.scope if self.scope is not None else "all",
            "created_at": self.created_at,
            "created_by": self.created_by,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "revoked_by": self.revoked_by,
            "last_used_at": self.last_used_at,
        }


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One line of the audit log; ``count`` folds repeats within a flush into one row."""

    ts: str
    kind: str
    actor: str | None
    token: str | None
    via: str
    remote: str | None
    detail: dict[str, Any]
    count: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "ts": self.ts,
            "kind": self.kind,
            "actor": self.actor,
            "token": self.token,
            "via": self.via,
            "remote": self.remote,
            "detail": self.detail,
            "count": self.count,
        }


class AccessStore(Protocol):
    """Tokens and the audit log: kept apart from the event log, in the same store."""

    async def save_token(self, record: TokenRecord) -> None: ...

    async def revoke_token(self, token_id: str, at: str, by: str) -> TokenRecord | None:
        """Mark a token revoked (the first revocation's time stays); None if unknown."""
        ...

    async def tokens(self) -> list[TokenRecord]: ...

    async def append_audit(self, records: Sequence[AuditRecord], used: Mapping[str, str]) -> None:
        """Store audit lines, and each token's last use (token id -> time)."""
        ...

    async def prune_audit(self, before: str) -> None:
        """Drop audit lines older than ``before``."""
        ...

    async def audit(self, since: str | None, kind: str | None, limit: int) -> list[AuditRecord]:
        """The newest ``limit`` lines at or after ``since``, oldest first."""
        ...
