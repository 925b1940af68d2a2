"""The PostgreSQL event log: several hubs on one database.

Every write is one transaction with ``synchronous_commit`` on, so a batch is
durable when ``append`` returns. A batch carries the head this hub saw of each
room; the rows are locked and compared, and a batch another hub got in before
is refused whole (``Behind``). Each append bumps a store-wide revision kept in
a counter row, taken last and held only through the commit: revisions then
become visible in order, so a hub following them never steps past one still
in flight. ``pg_notify`` in the same transaction rings the doorbell other hubs
wait on; it carries nothing the tables do not.

Any failure, a lost connection included, is a ``StorageError``: nothing is
acknowledged that the database did not commit. The pool makes new connections
by itself once the database is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TypeVar

import asyncpg
import msgpack
from asyncpg.pool import PoolConnectionProxy

from server.store.base import (
    AuditRecord,
    Behind,
    Change,
    Presence,
    RoomRecord,
    StorageError,
    TokenRecord,
    check_schema,
)
from server.store.sqlite import _room_number
from warroom.core.events import Event
from warroom.core.schema import format_time

# Text keys sort byte by byte (COLLATE "C"), as in SQLite: scans and copies come out in one order.
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT COLLATE "C" PRIMARY KEY, value BIGINT NOT NULL);
INSERT INTO counters (name, value) VALUES ('revision', 0), ('room', 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS rooms (
    room TEXT COLLATE "C" PRIMARY KEY,
    num BIGINT,
    epoch TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    head BIGINT NOT NULL DEFAULT 0,
    summary BYTEA,
    rev BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS rooms_rev ON rooms (rev);
CREATE INDEX IF NOT EXISTS rooms_num ON rooms (num);
CREATE TABLE IF NOT EXISTS events (
    room TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    id TEXT COLLATE "C" NOT NULL UNIQUE,
    actor TEXT NOT NULL,
    ts TEXT COLLATE "C" NOT NULL,
    type TEXT COLLATE "C" NOT NULL,
    data BYTEA NOT NULL,
    digest TEXT,
    PRIMARY KEY (room, seq)
);
CREATE TABLE IF NOT EXISTS snapshots (
    room TEXT COLLATE "C" PRIMARY KEY,
    seq BIGINT NOT NULL,
    state BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    room TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    state BYTEA NOT NULL,
    PRIMARY KEY (room, seq)
);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT NOT NULL,
    level TEXT NOT NULL,
    scope TEXT,
    created_at TEXT COLLATE "C" NOT NULL,
    created_by TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT,
    revoked_by TEXT,
    last_used_at TEXT
);
CREATE TABLE IF NOT EXISTS audit (
    n BIGSERIAL PRIMARY KEY,
    ts TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    actor TEXT,
    token TEXT,
    via TEXT NOT NULL,
    remote TEXT,
    detail TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS audit_ts ON audit (ts);
CREATE TABLE IF NOT EXISTS leases (
    name TEXT COLLATE "C" PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
-- Who is in each room through each hub, until the hub's word lapses.
CREATE TABLE IF NOT EXISTS presence (
    room TEXT COLLATE "C" NOT NULL,
    hub TEXT COLLATE "C" NOT NULL,
    members TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (room, hub)
);
"""
SCHEMA_VERSION = 1
# Each step takes a database from the version before it (none yet: version 1 is the first).
MIGRATIONS: dict[int, str] = {}
CHANNEL = "warroom_events"  # the doorbell: "room:head" after each append, a hint and never the data
SCHEMA_LOCK = 0x77617272  # an advisory lock key: hubs starting together make the tables once
POOL_SIZE = 8
CONNECT_TIMEOUT = 5.0  # seconds: an unreachable database is an error this soon, not a hang
COMMAND_TIMEOUT = 10.0
READERS = 2  # threads that decode and encode catch-ups off the event loop
T = TypeVar("T")
_NO_HEADS: Mapping[str, int] = MappingProxyType({})
Conn = asyncpg.Connection | PoolConnectionProxy  # a connection of its own, or one lent by the pool

FAILURES = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
_EVENT_COLUMNS = "room, seq, id, actor, ts, type, data, digest"
_TOKEN_COLUMNS = (
    "id, name, level, scope, created_at, created_by, expires_at, revoked_at, revoked_by, last_used_at"
)
_ROOM_COLUMNS = "room, epoch, head, created_at, summary"


@contextlib.contextmanager
def _storage_errors() -> Iterator[None]:
    """A database error, a lost connection or a timeout: each is a StorageError to the hub."""
    try:
        yield
    except StorageError:
        raise
    except FAILURES as exc:
        raise StorageError(_describe(exc)) from exc


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return f"PostgreSQL: {text}"


def _event(row: Sequence[Any]) -> Event:
    room, seq, id_, actor, ts, type_, data, digest = row
    return Event(room, int(seq), id_, actor, ts, type_, msgpack.unpackb(data, raw=False), digest)


def _pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


class PostgresStore:
    def __init__(self, dsn: str, *, password: str | None = None) -> None:
        self.dsn = dsn
        self._password = password  # None: from the URL, PGPASSWORD or ~/.pgpass, as libpq does
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncpg.Connection | None = None
        self._bell = asyncio.Event()  # replaced after each ring; waiters hold the one they saw
        self._decode = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="warroom-read")

    def _connect_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {
            "timeout": CONNECT_TIMEOUT,
            "command_timeout": COMMAND_TIMEOUT,
            # Durable on return, whatever the database's default: an ack means committed to disk.
            "server_settings": {"synchronous_commit": "on", "application_name": "warroom"},
        }
        if self._password is not None:
            args["password"] = self._password
        return args

    async def open(self) -> None:
        with _storage_errors():
            self._pool = await asyncpg.create_pool(
                self.dsn, min_size=1, max_size=POOL_SIZE, **self._connect_args()
            )
        try:
            async with self._transaction() as conn:
                await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
                found = await _schema_version(conn)
                if found is None:
                    await _create(conn)
                elif found != SCHEMA_VERSION:
                    self._refuse(found)
        except BaseException:
            await self.close()
            raise

    async def upgrade(self) -> tuple[int | None, int]:
        """Bring the database to this hub's schema version: the version it was at, and the one it is at."""
        with _storage_errors():
            conn = await asyncpg.connect(self.dsn, **self._connect_args())
        try:
            with _storage_errors():
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
                    found = await _schema_version(conn)
                    if found is not None and found > SCHEMA_VERSION:
                        self._refuse(found)
                    for step in range(
                        found + 1 if found is not None else SCHEMA_VERSION + 1, SCHEMA_VERSION + 1
                    ):
                        await conn.execute(MIGRATIONS[step])
                    await _create(conn)
                    await _set_version(conn, SCHEMA_VERSION)
        finally:
            await conn.close()
        return found, SCHEMA_VERSION

    def _refuse(self, found: int) -> None:
        """A database at another schema version: SchemaMismatch, naming what to run."""
        from server.store.locate import shown

        where = shown(self.dsn)
        check_schema(found, SCHEMA_VERSION, where, f"warroom db upgrade --store {where}")

    async def close(self) -> None:
        if self._listener is not None:
            listener, self._listener = self._listener, None
            with contextlib.suppress(*FAILURES):
                await asyncio.wait_for(listener.close(), CONNECT_TIMEOUT)
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), CONNECT_TIMEOUT)
            except FAILURES:
                pool.terminate()
        self._bell.set()
        self._decode.shutdown(wait=True)

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StorageError("the store is not open")
        return self._pool

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Conn]:
        with _storage_errors():
            async with self.pool.acquire(timeout=CONNECT_TIMEOUT) as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Conn]:
        """One transaction: committed when the block ends, rolled back (or lost with the link) if not."""
        async with self._connection() as conn, conn.transaction():
            yield conn

    async def _fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        async with self._connection() as conn:
            return [tuple(row) for row in await conn.fetch(sql, *args)]

    async def _fetchrow(self, sql: str, *args: Any) -> tuple[Any, ...] | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(sql, *args)
            return tuple(row) if row is not None else None

    # -- the event log -------------------------------------------------------------

    async def reserve_room_id(self) -> str:
        while True:
            # One row, updated in place: hubs sharing the database never hand out one number twice.
            # A log copied in carries room numbers the counter has not seen: it starts past them.
            async with self._connection() as conn:
                num = await conn.fetchval(
                    "UPDATE counters SET value = GREATEST(value, "
                    "(SELECT COALESCE(MAX(num), 0) FROM rooms)) + 1 WHERE name = 'room' RETURNING value"
                )
            room = f"INC-{num}"
            if await self.room(room) is None:  # a room named INC-n by hand takes no number
                return room

    async def append(
        self,
        events: Sequence[Event],
        new_rooms: Mapping[str, str],
        summaries: Mapping[str, dict[str, Any]],
        heads: Mapping[str, int] = _NO_HEADS,
    ) -> None:
        new_heads: dict[str, int] = {}
        for e in events:
            new_heads[e.room] = max(new_heads.get(e.room, 0), e.seq)
        rows = [(e.room, e.seq, e.id, e.actor, e.ts, e.type, _pack(e.data), e.digest) for e in events]
        columns = [list(column) for column in zip(*rows, strict=True)]
        async with self._transaction() as conn:
            try:
                await self._check_heads(conn, new_rooms, heads)
                await self._write_batch(conn, columns, new_rooms, new_heads, summaries)
            except (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError) as exc:
                # A room, seq or event id another hub logged meanwhile: look again at the log. Raised
                # inside the transaction, so it is rolled back, and as itself (not a StorageError).
                raise Behind(sorted({*new_heads, *new_rooms})) from exc

    @staticmethod
    async def _write_batch(
        conn: Conn,
        columns: list[list[Any]],
        new_rooms: Mapping[str, str],
        new_heads: Mapping[str, int],
        summaries: Mapping[str, dict[str, Any]],
    ) -> None:
        if new_rooms:
            await conn.execute(
                "INSERT INTO rooms (room, num, epoch, created_at) "
                "SELECT r, n, e, $4 FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(r, n, e)",
                list(new_rooms),
                [_room_number(room) for room in new_rooms],
                list(new_rooms.values()),
                format_time(datetime.now(UTC)),
            )
        if columns:
            await conn.execute(
                f"INSERT INTO events ({_EVENT_COLUMNS}) SELECT * FROM unnest("
                "$1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], "
                "$7::bytea[], $8::text[])",
                *columns,
            )
        if new_heads:
            # The revision is taken last: its row lock is held only through the commit, and
            # revisions become visible in the order they were handed out.
            await conn.execute(
                "WITH r AS (UPDATE counters SET value = value + 1 WHERE name = 'revision' "
                "RETURNING value), "
                "u AS (UPDATE rooms SET head = u.h, summary = u.s, rev = (SELECT value FROM r) "
                "FROM unnest($1::text[], $2::bigint[], $3::bytea[]) AS u(r, h, s) "
                "WHERE rooms.room = u.r RETURNING rooms.room, rooms.head) "
                "SELECT pg_notify($4, room || ':' || head) FROM u",
                list(new_heads),
                list(new_heads.values()),
                [_pack(summaries.get(room)) for room in new_heads],
                CHANNEL,
            )

    @staticmethod
    async def _check_heads(conn: Conn, new_rooms: Mapping[str, str], heads: Mapping[str, int]) -> None:
        """Lock the batch's rooms (in one order, so two hubs never deadlock) and compare their heads."""
        wanted = sorted({*heads, *new_rooms})
        if not wanted:
            return
        rows = await conn.fetch(
            "SELECT room, head FROM rooms WHERE room = ANY($1::text[]) ORDER BY room FOR UPDATE", wanted
        )
        found = {row["room"]: int(row["head"]) for row in rows}
        stale = [room for room in new_rooms if room in found]
        stale += [room for room, head in heads.items() if found.get(room) != head]
        if stale:
            raise Behind(stale)

    async def read(self, room: str, after: int, limit: int) -> list[Event]:
        rows = await self._fetch(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE room = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            room,
            after,
            limit,
        )
        return [_event(row) for row in rows]

    async def read_then(self, room: str, after: int, limit: int, then: Callable[[list[Event]], T]) -> T:
        rows = await self._fetch(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE room = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            room,
            after,
            limit,
        )
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._decode, lambda: then([_event(row) for row in rows])
            )
        except RuntimeError as exc:  # the thread pool already shut down: the store is closing
            raise StorageError(f"the store is closing: {exc}") from exc

    async def scan(self, types: Sequence[str]) -> list[Event]:
        rows = await self._fetch(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE type = ANY($1::text[]) ORDER BY ts, room, seq",
            list(types),
        )
        return [_event(row) for row in rows]

    async def room(self, room: str) -> RoomRecord | None:
        row = await self._fetchrow(f"SELECT {_ROOM_COLUMNS} FROM rooms WHERE room = $1", room)
        return _record(row) if row else None

    async def rooms(self) -> list[RoomRecord]:
        # NULLS FIRST: rooms without a number sort as SQLite sorts them.
        rows = await self._fetch(f"SELECT {_ROOM_COLUMNS} FROM rooms ORDER BY created_at, num NULLS FIRST")
        return [_record(row) for row in rows]

    async def lookup(self, event_id: str) -> Event | None:
        return (await self.lookup_many([event_id])).get(event_id)

    async def lookup_many(self, event_ids: Sequence[str]) -> dict[str, Event]:
        if not event_ids:
            return {}
        rows = await self._fetch(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE id = ANY($1::text[])", list(event_ids)
        )
        return {event.id: event for event in map(_event, rows)}

    async def save_snapshot(self, room: str, seq: int, state: bytes) -> None:
        async with self._connection() as conn:
            await conn.execute(
                "INSERT INTO snapshots (room, seq, state) VALUES ($1, $2, $3) "
                "ON CONFLICT (room) DO UPDATE SET seq = excluded.seq, state = excluded.state",
                room,
                seq,
                state,
            )

    async def snapshot(self, room: str) -> tuple[int, bytes] | None:
        row = await self._fetchrow("SELECT seq, state FROM snapshots WHERE room = $1", room)
        return (int(row[0]), bytes(row[1])) if row else None

    async def save_checkpoint(self, room: str, seq: int, state: bytes) -> None:
        async with self._connection() as conn:
            await conn.execute(
                "INSERT INTO checkpoints (room, seq, state) VALUES ($1, $2, $3) "
                "ON CONFLICT (room, seq) DO UPDATE SET state = excluded.state",
                room,
                seq,
                state,
            )

    async def checkpoint(self, room: str, at_most: int) -> tuple[int, bytes] | None:
        row = await self._fetchrow(
            "SELECT seq, state FROM checkpoints WHERE room = $1 AND seq <= $2 ORDER BY seq DESC LIMIT 1",
            room,
            at_most,
        )
        return (int(row[0]), bytes(row[1])) if row else None

    async def seq_at(self, room: str, ts: str) -> int:
        row = await self._fetchrow(
            "SELECT seq FROM events WHERE room = $1 AND ts <= $2 ORDER BY seq DESC LIMIT 1", room, ts
        )
        return int(row[0]) if row else 0

    # -- several hubs on one database --------------------------------------------------

    async def revision(self) -> int:
        row = await self._fetchrow("SELECT value FROM counters WHERE name = 'revision'")
        return int(row[0]) if row else 0

    async def changes(self, since: int) -> tuple[int, list[Change]]:
        rows = await self._fetch(
            "SELECT room, head, summary, rev FROM rooms WHERE rev > $1 ORDER BY rev", since
        )
        changed = [
            Change(row[0], int(row[1]), msgpack.unpackb(row[2], raw=False) if row[2] else None)
            for row in rows
        ]
        return (int(rows[-1][3]) if rows else since), changed

    async def wait_changes(self, since: int, timeout: float) -> None:
        bell = self._bell  # taken before the look: a ring after it wakes this wait
        _ = self.pool  # a closed store refuses before it opens a listening connection
        await self._listen()
        if await self.revision() > since:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(bell.wait(), timeout)

    async def _listen(self) -> None:
        """A connection of its own that LISTENs; made again after it is lost."""
        if self._listener is not None and not self._listener.is_closed():
            return
        self._listener = None
        with _storage_errors():
            conn = await asyncpg.connect(self.dsn, **self._connect_args())
            try:
                await conn.add_listener(CHANNEL, self._ring)
            except BaseException:
                conn.terminate()
                raise
        conn.add_termination_listener(self._lost)
        self._listener = conn

    def _ring(self, *_: Any) -> None:
        bell, self._bell = self._bell, asyncio.Event()
        bell.set()

    def _lost(self, conn: asyncpg.Connection) -> None:
        if self._listener is conn:
            self._listener = None
        self._ring()  # waiters look again, and meet the error if the database is away

    async def lease(self, name: str, holder: str, ttl: float) -> bool:
        # The database's clock decides expiry, so hubs whose clocks disagree never both hold it.
        row = await self._fetchrow(
            "INSERT INTO leases (name, holder, expires_at) "
            "VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3)) "
            "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
            "WHERE leases.holder = excluded.holder OR leases.expires_at < clock_timestamp() "
            "RETURNING holder",
            name,
            holder,
            float(ttl),
        )
        return row is not None

    async def release(self, name: str, holder: str) -> None:
        async with self._connection() as conn:
            await conn.execute("DELETE FROM leases WHERE name = $1 AND holder = $2", name, holder)

    async def save_presence(self, room: str, hub: str, members: list[dict[str, Any]], ttl: float) -> None:
        async with self._connection() as conn:
            if members:
                await conn.execute(
                    "INSERT INTO presence (room, hub, members, expires_at) "
                    "VALUES ($1, $2, $3, clock_timestamp() + make_interval(secs => $4)) "
                    "ON CONFLICT (room, hub) DO UPDATE "
                    "SET members = excluded.members, expires_at = excluded.expires_at",
                    room,
                    hub,
                    json.dumps(members),
                    float(ttl),
                )
            else:
                await conn.execute("DELETE FROM presence WHERE room = $1 AND hub = $2", room, hub)

    async def presence(self, rooms: Sequence[str], other_than: str) -> Presence:
        rows = await self._fetch(
            "SELECT room, hub, members FROM presence "
            "WHERE room = ANY($1::text[]) AND hub <> $2 AND expires_at > clock_timestamp()",
            list(rooms),
            other_than,
        )
        found: Presence = {}
        for room, hub, members in rows:
            found.setdefault(room, {})[hub] = json.loads(members)
        return found

    # -- tokens and the audit log ----------------------------------------------------

    async def save_token(self, record: TokenRecord) -> None:
        async with self._connection() as conn:
            await conn.execute(
                "INSERT INTO tokens (id, name, level, scope, created_at, created_by, expires_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7)",
                record.id,
                record.name,
                record.level,
                json.dumps(record.scope) if record.scope is not None else None,
                record.created_at,
                record.created_by,
                record.expires_at,
            )

    async def revoke_token(self, token_id: str, at: str, by: str) -> TokenRecord | None:
        async with self._connection() as conn:
            await conn.execute(
                "UPDATE tokens SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL",
                at,
                by,
                token_id,
            )
        row = await self._fetchrow(f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE id = $1", token_id)
        return _token(row) if row else None

    async def tokens(self) -> list[TokenRecord]:
        return [
            _token(row)
            for row in await self._fetch(f"SELECT {_TOKEN_COLUMNS} FROM tokens ORDER BY created_at, id")
        ]

    async def append_audit(self, records: Sequence[AuditRecord], used: Mapping[str, str]) -> None:
        async with self._transaction() as conn:
            if records:
                await conn.executemany(
                    "INSERT INTO audit (ts, kind, actor, token, via, remote, detail, count) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    [
                        (r.ts, r.kind, r.actor, r.token, r.via, r.remote, json.dumps(r.detail), r.count)
                        for r in records
                    ],
                )
            if used:
                await conn.executemany(
                    "UPDATE tokens SET last_used_at = $1 WHERE id = $2", [(at, t) for t, at in used.items()]
                )

    async def prune_audit(self, before: str) -> None:
        async with self._connection() as conn:
            await conn.execute("DELETE FROM audit WHERE ts < $1", before)

    async def audit(self, since: str | None, kind: str | None, limit: int) -> list[AuditRecord]:
        rows = await self._fetch(
            "SELECT ts, kind, actor, token, via, remote, detail, count FROM audit "
            "WHERE ts >= $1 AND ($2::text IS NULL OR kind = $2) ORDER BY n DESC LIMIT $3",
            since or "",
            kind,
            limit,
        )
        return [
            AuditRecord(ts, kind_, actor, token, via, remote, json.loads(detail), int(count))
            for ts, kind_, actor, token, via, remote, detail, count in reversed(rows)
        ]


async def _schema_version(conn: Conn) -> int | None:
    """The database's schema version; None for one with no warroom tables yet."""
    if await conn.fetchval("SELECT to_regclass('meta')") is None:
        return None
    value = await conn.fetchval("SELECT value FROM meta WHERE key = 'schema_version'")
    try:
        return int(value) if value is not None else 1
    except ValueError:
        raise StorageError(f"its schema version {value!r} is not a number") from None


async def _create(conn: Conn) -> None:
    await conn.execute(SCHEMA)
    await conn.execute(
        "INSERT INTO meta (key, value) VALUES ('schema_version', $1) ON CONFLICT DO NOTHING",
        str(SCHEMA_VERSION),
    )


async def _set_version(conn: Conn, version: int) -> None:
    await conn.execute(
        "INSERT INTO meta (key, value) VALUES ('schema_version', $1) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        str(version),
    )


def _token(row: Sequence[Any]) -> TokenRecord:
    id_, name, level, scope, created_at, created_by, expires_at, revoked_at, revoked_by, last_used = row
    return TokenRecord(
        id=id_,
        name=name,
        level=level,
        scope=json.loads(scope) if scope is not None else None,
        created_at=created_at,
        created_by=created_by,
        expires_at=expires_at,
        revoked_at=revoked_at,
        revoked_by=revoked_by,
        last_used_at=last_used,
    )


def _record(row: Sequence[Any]) -> RoomRecord:
    room, epoch, head, created_at, summary = row
    return RoomRecord(
        room=room,
        epoch=epoch,
        head=int(head),
        created_at=created_at,
        summary=msgpack.unpackb(summary, raw=False) if summary else {},
    )
