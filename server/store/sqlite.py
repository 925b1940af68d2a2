"""The SQLite event log: WAL mode, ``synchronous=FULL``, one writer thread.

Writes go through one dedicated thread so that the event loop keeps serving
while a batch is fsynced (that is what makes group commit work). Reads use a
second connection on the loop's thread: WAL lets them see every committed
batch without waiting for the writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import msgpack

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
from warroom.core.events import Event
from warroom.core.schema import format_time

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rooms (
    room TEXT PRIMARY KEY,
    num INTEGER,
    epoch TEXT NOT NULL,
    created_at TEXT NOT NULL,
    head INTEGER NOT NULL DEFAULT 0,
    summary BLOB,
    rev INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS rooms_rev ON rooms (rev);
CREATE TABLE IF NOT EXISTS events (
    room TEXT NOT NULL,
    seq INTEGER NOT NULL,
    id TEXT NOT NULL UNIQUE,
    actor TEXT NOT NULL,
    ts TEXT NOT NULL,
    type TEXT NOT NULL,
    data BLOB NOT NULL,
    digest TEXT,
    PRIMARY KEY (room, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshots (
    room TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    state BLOB NOT NULL
);
-- The state at fixed points of each log, for time travel: a cache any hub may fill, never the truth.
CREATE TABLE IF NOT EXISTS checkpoints (
    room TEXT NOT NULL,
    seq INTEGER NOT NULL,
    state BLOB NOT NULL,
    PRIMARY KEY (room, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    level TEXT NOT NULL,
    scope TEXT,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT,
    revoked_by TEXT,
    last_used_at TEXT
);
CREATE TABLE IF NOT EXISTS audit (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT,
    token TEXT,
    via TEXT NOT NULL,
    remote TEXT,
    detail TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS audit_ts ON audit (ts);
-- Work done once for all hubs sharing this file (paging) runs on the lease's holder.
CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires REAL NOT NULL);
-- Who is in each room through each hub: every hub lists everyone, wherever they connected.
CREATE TABLE IF NOT EXISTS presence (
    room TEXT NOT NULL,
    hub TEXT NOT NULL,
    members TEXT NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (room, hub)
) WITHOUT ROWID;
"""
SCHEMA_VERSION = 3
# Each step takes a database from the version before it; the log itself is never rewritten.
# Tables added without a step (CREATE TABLE IF NOT EXISTS above) are made at every open.
MIGRATIONS: dict[int, str] = {
    # 2: the digest of the command that made each event, so a reused id with other content is
    # refused. Events logged before it have none; the hub compares their type and room instead.
    2: "ALTER TABLE events ADD COLUMN digest TEXT",
    # 3: the store-wide revision of each room's last append, so other hubs sharing the file
    # find what changed without reading every room.
    3: "ALTER TABLE rooms ADD COLUMN rev INTEGER NOT NULL DEFAULT 0",
}
POLL = 0.05  # seconds between looks at the revision while waiting for another hub's append
READERS = 2  # threads that read (and encode) catch-ups off the event loop
T = TypeVar("T")


@contextlib.contextmanager
def _storage_errors() -> Iterator[None]:
    """A failing disk or database is a StorageError, whichever call meets it first.

    Every caller (the writer, catch-ups, snapshots, the audit log) refuses or
    postpones on a StorageError; a raw sqlite3 error would escape them.
    """
    try:
        yield
    except sqlite3.Error as exc:
        raise StorageError(str(exc)) from exc
    except RuntimeError as exc:  # a thread pool already shut down: the store is closing
        raise StorageError(f"the store is closing: {exc}") from exc


def make_private(path: Path) -> None:
    """The log and its WAL and shared-memory files readable by the hub's user only.

    SQLite gives the -wal and -shm files the database file's mode, so the
    database is made 0600 before SQLite first opens it; files an older hub
    made wider are narrowed.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    for suffix in ("", "-wal", "-shm", "-journal"):
        part = path.with_name(path.name + suffix)
        try:
            if part.stat().st_mode & 0o077:
                part.chmod(0o600)
        except FileNotFoundError:
            continue


def hold_in_use(path: Path) -> int:
    """A shared flock on the database file, held while a hub has it open: ``warroom restore``
    takes it exclusively, so it refuses a database in use, and a hub refuses one being restored.

    flock and SQLite's own (POSIX) locks do not interact, so this changes nothing for SQLite.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StorageError(f"{path} is being restored; start the hub once the restore is done") from None
    return fd


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def schema_version(conn: sqlite3.Connection) -> int | None:
    """The database's schema version; None for a new one with no tables yet.

    A hub before versions were kept wrote no version row: that is version 1.
    """
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        return None
    if not {"meta", "events", "rooms"} <= tables:
        raise StorageError("it is not a warroom database (no meta, events and rooms tables)")
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    try:
        return int(row[0]) if row else 1
    except ValueError:
        raise StorageError(f"its schema version {row[0]!r} is not a number") from None


def _create(conn: sqlite3.Connection) -> None:
    """Make every table this version has that the database lacks, and record a new one's version."""
    conn.executescript(SCHEMA)
    conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
    )


def _upgrade(conn: sqlite3.Connection, where: str) -> tuple[int | None, int]:
    found = schema_version(conn)
    if found is not None and found > SCHEMA_VERSION:
        check_schema(found, SCHEMA_VERSION, where, "")  # raises: newer than this hub
    for step in range(found + 1 if found is not None else SCHEMA_VERSION + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(MIGRATIONS[step])
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(step),),
            )
            conn.execute("COMMIT")
        except sqlite3.Error:
            conn.execute("ROLLBACK")
            raise
    _create(conn)
    return found, SCHEMA_VERSION


def _event(row: Sequence[Any]) -> Event:
    room, seq, id_, actor, ts, type_, data, digest = row
    return Event(room, seq, id_, actor, ts, type_, msgpack.unpackb(data, raw=False), digest)


_EVENT_COLUMNS = "room, seq, id, actor, ts, type, data, digest"
_HEAD = "SELECT head FROM rooms WHERE room = ?"


class SQLiteStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warroom-store")
        self._read_pool = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="warroom-read")
        self._local = threading.local()  # each read thread's own connection
        self._read_conns: list[sqlite3.Connection] = []
        self._in_use: int | None = None  # a descriptor holding a shared flock while open

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        make_private(self.path)
        self._in_use = hold_in_use(self.path)
        try:
            await self._in_writer(self._open_writer)
        except BaseException:
            os.close(self._in_use)
            self._in_use = None
            raise
        self._reader = _connect(self.path)

    def _open_writer(self) -> None:
        self._writer = _connect(self.path)
        try:
            version = schema_version(self._writer)
            if version is not None:
                check_schema(version, SCHEMA_VERSION, str(self.path), f"warroom db upgrade --db {self.path}")
            _create(self._writer)
        except BaseException:
            self._writer.close()
            self._writer = None
            raise

    async def upgrade(self) -> tuple[int | None, int]:
        """Migrate the database at ``path``, one step per transaction (see ``EventStore.upgrade``)."""

        def run() -> tuple[int | None, int]:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            make_private(self.path)
            conn = _connect(self.path)
            try:
                return _upgrade(conn, str(self.path))
            finally:
                conn.close()

        with _storage_errors():
            return await asyncio.to_thread(run)

    async def close(self) -> None:
        def shut() -> None:
            if self._writer is not None:
                self._writer.close()
                self._writer = None

        await self._in_writer(shut)
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._read_pool.shutdown(wait=True)
        for conn in self._read_conns:
            conn.close()
        self._read_conns.clear()
        self._pool.shutdown(wait=True)
        if self._in_use is not None:
            os.close(self._in_use)
            self._in_use = None

    async def _in_writer(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    @property
    def reader(self) -> sqlite3.Connection:
        if self._reader is None:
            raise StorageError("the store is not open")
        return self._reader

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """A read on the event loop's own connection."""
        with _storage_errors():
            return self.reader.execute(sql, args).fetchall()

    def _row(self, sql: str, args: Sequence[Any] = ()) -> Any:
        rows = self._rows(sql, args)
        return rows[0] if rows else None

    async def reserve_room_id(self) -> str:
        # A counter in the file, taken in a write transaction: hubs sharing it never hand out one id twice.
        taken: list[int] = []

        def take(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT MAX(COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'next_room'), 1),"
                " (SELECT COALESCE(MAX(num), 0) + 1 FROM rooms))"
            ).fetchone()
            num = int(row[0])
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('next_room', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(num + 1),),
            )
            taken.append(num)

        while True:
            await self._transaction(take)
            room = f"INC-{taken[-1]}"
            if await self.room(room) is None:  # a room named INC-n by hand takes no number
                return room

    async def append(
        self,
        events: Sequence[Event],
        new_rooms: Mapping[str, str],
        summaries: Mapping[str, dict[str, Any]],
        heads: Mapping[str, int],
    ) -> None:
        rows = [
            (e.room, e.seq, e.id, e.actor, e.ts, e.type, msgpack.packb(e.data, use_bin_type=True), e.digest)
            for e in events
        ]
        new_heads: dict[str, int] = {}
        for e in events:
            new_heads[e.room] = max(new_heads.get(e.room, 0), e.seq)
        created = format_time(datetime.now(UTC))
        room_rows = [(room, _room_number(room), epoch, created) for room, epoch in new_rooms.items()]
        summary_blobs = {room: msgpack.packb(summaries.get(room), use_bin_type=True) for room in new_heads}

        def write(conn: sqlite3.Connection) -> None:
            stale = [room for room in new_rooms if conn.execute(_HEAD, (room,)).fetchone() is not None]
            for room, head in heads.items():
                row = conn.execute(_HEAD, (room,)).fetchone()
                if row is None or int(row[0]) != head:
                    stale.append(room)
            if stale:
                raise Behind(stale)
            rev = int(conn.execute("SELECT COALESCE(MAX(rev), 0) + 1 FROM rooms").fetchone()[0])
            conn.executemany(
                "INSERT INTO rooms (room, num, epoch, created_at) VALUES (?, ?, ?, ?)", room_rows
            )
            try:
                conn.executemany(f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)", rows)
            except sqlite3.IntegrityError as exc:  # an id another hub has just logged: look again
                raise Behind(list(new_heads)) from exc
            conn.executemany(
                "UPDATE rooms SET head = ?, summary = ?, rev = ? WHERE room = ?",
                [(new_heads[room], summary_blobs[room], rev, room) for room in new_heads],
            )

        await self._transaction(write)

    async def _transaction(self, work: Callable[[sqlite3.Connection], None]) -> None:
        """Run ``work`` in one transaction on the writer thread: all of it is stored, or none."""

        def run() -> None:
            conn = self._writer
            if conn is None:
                raise StorageError("the store is not open")
            try:
                conn.execute("BEGIN IMMEDIATE")
                work(conn)
                conn.execute("COMMIT")
            except (sqlite3.Error, Behind) as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, Behind):
                    raise
                raise StorageError(str(exc)) from exc

        await self._in_writer(run)

    async def read(self, room: str, after: int, limit: int) -> list[Event]:
        rows = self._rows(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE room = ? AND seq > ? ORDER BY seq LIMIT ?",
            (room, after, limit),
        )
        return [_event(row) for row in rows]

    async def read_then(self, room: str, after: int, limit: int, then: Callable[[list[Event]], T]) -> T:
        if self._reader is None:
            raise StorageError("the store is not open")

        def work() -> T:
            conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = _connect(self.path)
                self._read_conns.append(conn)
            rows = conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE room = ? AND seq > ? ORDER BY seq LIMIT ?",
                (room, after, limit),
            ).fetchall()
            return then([_event(row) for row in rows])

        with _storage_errors():
            return await asyncio.get_running_loop().run_in_executor(self._read_pool, work)

    async def scan(self, types: Sequence[str]) -> list[Event]:
        marks = ", ".join("?" * len(types))
        rows = self._rows(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE type IN ({marks}) ORDER BY ts, room, seq",
            tuple(types),
        )
        return [_event(row) for row in rows]

    async def room(self, room: str) -> RoomRecord | None:
        row = self._row("SELECT room, epoch, head, created_at, summary FROM rooms WHERE room = ?", (room,))
        return _record(row) if row else None

    async def rooms(self) -> list[RoomRecord]:
        rows = self._rows("SELECT room, epoch, head, created_at, summary FROM rooms ORDER BY created_at, num")
        return [_record(row) for row in rows]

    async def lookup(self, event_id: str) -> Event | None:
        return (await self.lookup_many([event_id])).get(event_id)

    async def lookup_many(self, event_ids: Sequence[str]) -> dict[str, Event]:
        found: dict[str, Event] = {}
        for start in range(0, len(event_ids), 500):  # under SQLite's limit on bound values
            chunk = event_ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            for row in self._rows(f"SELECT {_EVENT_COLUMNS} FROM events WHERE id IN ({marks})", chunk):
                event = _event(row)
                found[event.id] = event
        return found

    async def save_snapshot(self, room: str, seq: int, state: bytes) -> None:
        def save() -> None:
            if self._writer is None:
                raise StorageError("the store is not open")
            self._writer.execute(
                "INSERT INTO snapshots (room, seq, state) VALUES (?, ?, ?) "
                "ON CONFLICT (room) DO UPDATE SET seq = excluded.seq, state = excluded.state",
                (room, seq, state),
            )

        with _storage_errors():
            await self._in_writer(save)

    async def snapshot(self, room: str) -> tuple[int, bytes] | None:
        row = self._row("SELECT seq, state FROM snapshots WHERE room = ?", (room,))
        return (int(row[0]), bytes(row[1])) if row else None

    async def save_checkpoint(self, room: str, seq: int, state: bytes) -> None:
        def save() -> None:
            if self._writer is None:
                raise StorageError("the store is not open")
            # Replaced, not ignored: the same seq folds to the same state, and a blob in a
            # format this version cannot read is better overwritten than kept.
            self._writer.execute(
                "INSERT OR REPLACE INTO checkpoints (room, seq, state) VALUES (?, ?, ?)", (room, seq, state)
            )

        with _storage_errors():
            await self._in_writer(save)

    async def checkpoint(self, room: str, at_most: int) -> tuple[int, bytes] | None:
        row = self._row(
            "SELECT seq, state FROM checkpoints WHERE room = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
            (room, at_most),
        )
        return (int(row[0]), bytes(row[1])) if row else None

    async def seq_at(self, room: str, ts: str) -> int:
        # A room's clock never runs backwards (the writer sees to it), so seq order is time order
        # and the scan from the newest end stops at the first event early enough.
        row = self._row(
            "SELECT seq FROM events WHERE room = ? AND ts <= ? ORDER BY seq DESC LIMIT 1", (room, ts)
        )
        return int(row[0]) if row else 0

    # -- several hubs on one file -------------------------------------------------------

    async def revision(self) -> int:
        return int(self._row("SELECT COALESCE(MAX(rev), 0) FROM rooms")[0])

    async def changes(self, since: int) -> tuple[int, list[Change]]:
        rows = self._rows("SELECT room, head, summary, rev FROM rooms WHERE rev > ? ORDER BY rev", (since,))
        changed = [
            Change(room, int(head), msgpack.unpackb(blob, raw=False) if blob else None)
            for room, head, blob, _ in rows
        ]
        return (int(rows[-1][3]) if rows else since), changed

    async def wait_changes(self, since: int, timeout: float) -> None:
        # Hubs sharing a file share a machine: a cheap indexed look every POLL is the doorbell.
        deadline = time.monotonic() + timeout
        # Another process's commit can set no asyncio.Event here: polling is the doorbell.
        while await self.revision() <= since and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(min(POLL, max(0.0, deadline - time.monotonic())))

    async def lease(self, name: str, holder: str, ttl: float) -> bool:
        held: list[bool] = []

        def take(conn: sqlite3.Connection) -> None:
            now = time.time()
            conn.execute(
                "INSERT INTO leases (name, holder, expires) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE "
                "SET holder = excluded.holder, expires = excluded.expires "
                "WHERE leases.holder = excluded.holder OR leases.expires < ?",
                (name, holder, now + ttl, now),
            )
            row = conn.execute("SELECT holder FROM leases WHERE name = ?", (name,)).fetchone()
            held.append(row is not None and row[0] == holder)

        await self._transaction(take)
        return held[-1]

    async def release(self, name: str, holder: str) -> None:
        await self._write("DELETE FROM leases WHERE name = ? AND holder = ?", [(name, holder)])

    async def save_presence(self, room: str, hub: str, members: list[dict[str, Any]], ttl: float) -> None:
        if members:
            await self._write(
                "INSERT OR REPLACE INTO presence (room, hub, members, expires) VALUES (?, ?, ?, ?)",
                [(room, hub, json.dumps(members), time.time() + ttl)],
            )
        else:
            await self._write("DELETE FROM presence WHERE room = ? AND hub = ?", [(room, hub)])

    async def presence(self, rooms: Sequence[str], other_than: str) -> Presence:
        found: Presence = {}
        marks = ", ".join("?" * len(rooms))
        rows = self._rows(
            f"SELECT room, hub, members FROM presence WHERE room IN ({marks}) AND hub != ? AND expires > ?",
            (*rooms, other_than, time.time()),
        )
        for room, hub, members in rows:
            found.setdefault(room, {})[hub] = json.loads(members)
        return found

    # -- tokens and the audit log ----------------------------------------------------

    async def _write(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(sql, rows)

        await self._transaction(write)

    async def save_token(self, record: TokenRecord) -> None:
        scope = json.dumps(record.scope) if record.scope is not None else None
        row = (
            record.id,
            record.name,
            record.level,
            scope,
            record.created_at,
            record.created_by,
            record.expires_at,
        )
        await self._write(
            "INSERT INTO tokens (id, name, level, scope, created_at, created_by, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [row],
        )

    async def revoke_token(self, token_id: str, at: str, by: str) -> TokenRecord | None:
        await self._write(
            "UPDATE tokens SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL",
            [(at, by, token_id)],
        )
        return next((t for t in await self.tokens() if t.id == token_id), None)

    async def tokens(self) -> list[TokenRecord]:
        rows = self._rows(f"SELECT {_TOKEN_COLUMNS} FROM tokens ORDER BY created_at, id")
        return [_token(row) for row in rows]

    async def append_audit(self, records: Sequence[AuditRecord], used: Mapping[str, str]) -> None:
        lines = [
            (r.ts, r.kind, r.actor, r.token, r.via, r.remote, json.dumps(r.detail), r.count) for r in records
        ]

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO audit (ts, kind, actor, token, via, remote, detail, count) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                lines,
            )
            conn.executemany(
                "UPDATE tokens SET last_used_at = ? WHERE id = ?", [(at, t) for t, at in used.items()]
            )

        await self._transaction(write)

    async def prune_audit(self, before: str) -> None:
        await self._write("DELETE FROM audit WHERE ts < ?", [(before,)])

    async def audit(self, since: str | None, kind: str | None, limit: int) -> list[AuditRecord]:
        rows = self._rows(
            "SELECT ts, kind, actor, token, via, remote, detail, count FROM audit "
            "WHERE ts >= ? AND (? IS NULL OR kind = ?) ORDER BY n DESC LIMIT ?",
            (since or "", kind, kind, limit),
        )
        return [
            AuditRecord(ts, kind_, actor, token, via, remote, json.loads(detail), count)
            for ts, kind_, actor, token, via, remote, detail, count in reversed(rows)
        ]


_TOKEN_COLUMNS = (
    "id, name, level, scope, created_at, created_by, expires_at, revoked_at, revoked_by, last_used_at"
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


def _room_number(room: str) -> int | None:
    prefix, _, number = room.partition("-")
    return int(number) if prefix == "INC" and number.isdigit() else None


def _record(row: Sequence[Any]) -> RoomRecord:
    room, epoch, head, created_at, summary = row
    return RoomRecord(
        room=room,
        epoch=epoch,
        head=int(head),
        created_at=created_at,
        summary=msgpack.unpackb(summary, raw=False) if summary else {},
    )
