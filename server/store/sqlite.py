"""The SQLite event log: WAL mode, ``synchronous=FULL``, one writer thread.

Writes go through one dedicated thread so that the event loop keeps serving
while a batch is fsynced (that is what makes group commit work). Reads use a
second connection on the loop's thread: WAL lets them see every committed
batch without waiting for the writer.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgpack

from server.store.base import RoomRecord, StorageError
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
    summary BLOB
);
CREATE TABLE IF NOT EXISTS events (
    room TEXT NOT NULL,
    seq INTEGER NOT NULL,
    id TEXT NOT NULL UNIQUE,
    actor TEXT NOT NULL,
    ts TEXT NOT NULL,
    type TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (room, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshots (
    room TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    state BLOB NOT NULL
);
"""
SCHEMA_VERSION = "1"


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def _event(row: Sequence[Any]) -> Event:
    room, seq, id_, actor, ts, type_, data = row
    return Event(room, seq, id_, actor, ts, type_, msgpack.unpackb(data, raw=False))


_EVENT_COLUMNS = "room, seq, id, actor, ts, type, data"


class SQLiteStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warroom-store")
        self._next_num = 1

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        await self._in_writer(self._open_writer)
        self._reader = _connect(self.path)

    def _open_writer(self) -> None:
        self._writer = _connect(self.path)
        self._writer.executescript(SCHEMA)
        self._writer.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
        )
        row = self._writer.execute("SELECT COALESCE(MAX(num), 0) FROM rooms").fetchone()
        self._next_num = int(row[0]) + 1

    async def close(self) -> None:
        def shut() -> None:
            if self._writer is not None:
                self._writer.close()
                self._writer = None

        await self._in_writer(shut)
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._pool.shutdown(wait=True)

    async def _in_writer(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    @property
    def reader(self) -> sqlite3.Connection:
        if self._reader is None:
            raise StorageError("the store is not open")
        return self._reader

    async def reserve_room_id(self) -> str:
        while True:
            room = f"INC-{self._next_num}"
            self._next_num += 1
            if await self.room(room) is None:
                return room

    async def append(
        self,
        events: Sequence[Event],
        new_rooms: Mapping[str, str],
        summaries: Mapping[str, dict[str, Any]],
    ) -> None:
        rows = [
            (e.room, e.seq, e.id, e.actor, e.ts, e.type, msgpack.packb(e.data, use_bin_type=True))
            for e in events
        ]
        heads: dict[str, int] = {}
        for e in events:
            heads[e.room] = max(heads.get(e.room, 0), e.seq)
        created = format_time(datetime.now(UTC))
        room_rows = [(room, _room_number(room), epoch, created) for room, epoch in new_rooms.items()]
        head_rows = [
            (heads[room], msgpack.packb(summaries.get(room), use_bin_type=True), room) for room in heads
        ]
        await self._in_writer(self._append_sync, rows, room_rows, head_rows)

    def _append_sync(
        self,
        rows: list[tuple[Any, ...]],
        room_rows: list[tuple[Any, ...]],
        head_rows: list[tuple[Any, ...]],
    ) -> None:
        conn = self._writer
        if conn is None:
            raise StorageError("the store is not open")
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO rooms (room, num, epoch, created_at) VALUES (?, ?, ?, ?)", room_rows
            )
            conn.executemany(f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?,?,?,?,?,?,?)", rows)
            conn.executemany("UPDATE rooms SET head = ?, summary = ? WHERE room = ?", head_rows)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StorageError(str(exc)) from exc

    async def read(self, room: str, after: int, limit: int) -> list[Event]:
        rows = self.reader.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE room = ? AND seq > ? ORDER BY seq LIMIT ?",
            (room, after, limit),
        ).fetchall()
        return [_event(row) for row in rows]

    async def room(self, room: str) -> RoomRecord | None:
        row = self.reader.execute(
            "SELECT room, epoch, head, created_at, summary FROM rooms WHERE room = ?", (room,)
        ).fetchone()
        return _record(row) if row else None

    async def rooms(self) -> list[RoomRecord]:
        rows = self.reader.execute(
            "SELECT room, epoch, head, created_at, summary FROM rooms ORDER BY created_at, num"
        ).fetchall()
        return [_record(row) for row in rows]

    async def lookup(self, event_id: str) -> Event | None:
        row = self.reader.execute(f"SELECT {_EVENT_COLUMNS} FROM events WHERE id = ?", (event_id,)).fetchone()
        return _event(row) if row else None

    async def save_snapshot(self, room: str, seq: int, state: bytes) -> None:
        def save() -> None:
            assert self._writer is not None
            self._writer.execute(
                "INSERT INTO snapshots (room, seq, state) VALUES (?, ?, ?) "
                "ON CONFLICT (room) DO UPDATE SET seq = excluded.seq, state = excluded.state",
                (room, seq, state),
            )

        await self._in_writer(save)

    async def snapshot(self, room: str) -> tuple[int, bytes] | None:
        row = self.reader.execute("SELECT seq, state FROM snapshots WHERE room = ?", (room,)).fetchone()
        return (int(row[0]), bytes(row[1])) if row else None


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
