"""``warroom store copy``: every table of one store into another, empty one, then proof that the logs match.

Moving a hub from SQLite to PostgreSQL (or back) copies rows as they are:
the events' encoded data, the rooms' numbers and times, tokens and the audit
log. The target is written in one transaction, so a failed copy leaves it
empty. Leases are not copied: they belong to running hubs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from server.store.base import SchemaMismatch, StorageError
from server.store.locate import open_store, shown, sqlite_path
from server.store.postgres import FAILURES, Conn, PostgresStore

TABLES: dict[str, tuple[str, ...]] = {
    "rooms": ("room", "num", "epoch", "created_at", "head", "summary", "rev"),
    "events": ("room", "seq", "id", "actor", "ts", "type", "data", "digest"),
    "snapshots": ("room", "seq", "state"),
    "checkpoints": ("room", "seq", "state"),
    "tokens": (
        "id",
        "name",
        "level",
        "scope",
        "created_at",
        "created_by",
        "expires_at",
        "revoked_at",
        "revoked_by",
        "last_used_at",
    ),
    "audit": ("n", "ts", "kind", "actor", "token", "via", "remote", "detail", "count"),
}
ORDER = {"rooms": "room", "events": "room, seq", "snapshots": "room", "checkpoints": "room, seq"}
CHUNK = 5000  # rows held in memory at once


class CopyRefused(Exception):
    """The copy did not start, or did not finish; the message is one line."""


@dataclass(frozen=True)
class Fingerprint:
    """What two logs must share to be the same log."""

    rows: dict[str, int]  # per table
    heads: dict[str, int]  # per room, as the rooms table says
    digest: str  # sha256 over every event, in (room, seq) order


class Side(Protocol):
    name: str

    async def rows(self, table: str) -> AsyncIterator[list[tuple[Any, ...]]]: ...

    async def fingerprint(self) -> Fingerprint: ...


def _hash_events(digest: Any, rows: Sequence[Sequence[Any]]) -> None:
    for row in rows:
        for value in row:
            part = (
                b"\x00"
                if value is None
                else bytes(value)
                if isinstance(value, bytes)
                else str(value).encode()
            )
            digest.update(len(part).to_bytes(8, "big") + part)


class SQLiteSide:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path)
        self.conn: sqlite3.Connection | None = None

    async def open(self, create: bool) -> None:
        if not create and not self.path.exists():
            raise CopyRefused(f"{self.path} does not exist")
        store = open_store(self.path)
        await store.open()  # makes the tables (a target), or checks the schema version
        await store.close()
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("BEGIN")  # one read snapshot (a source), or one write transaction (a target)

    @property
    def db(self) -> sqlite3.Connection:
        assert self.conn is not None
        return self.conn

    async def close(self, commit: bool) -> None:
        if self.conn is not None:
            await asyncio.to_thread(self.conn.execute, "COMMIT" if commit else "ROLLBACK")
            self.conn.close()
            self.conn = None

    async def rows(self, table: str) -> AsyncIterator[list[tuple[Any, ...]]]:
        order = ORDER.get(table, TABLES[table][0])
        cursor = self.db.execute(f"SELECT {', '.join(TABLES[table])} FROM {table} ORDER BY {order}")
        while chunk := await asyncio.to_thread(cursor.fetchmany, CHUNK):
            yield chunk

    async def count(self) -> int:
        return sum(self.db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES)

    async def write(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        marks = ", ".join("?" * len(TABLES[table]))
        await asyncio.to_thread(
            self.db.executemany, f"INSERT INTO {table} ({', '.join(TABLES[table])}) VALUES ({marks})", rows
        )

    async def finish(self) -> None:
        """Nothing to set: SQLite's counters follow the copied rows."""

    async def fingerprint(self) -> Fingerprint:
        rows = {t: int(self.db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in TABLES}
        heads = dict(self.db.execute("SELECT room, head FROM rooms").fetchall())
        digest = hashlib.sha256()
        async for chunk in self.rows("events"):
            _hash_events(digest, chunk)
        return Fingerprint(rows, heads, digest.hexdigest())


class PostgresSide:
    def __init__(self, url: str, password_file: str | None) -> None:
        store = open_store(url, password_file)
        assert isinstance(store, PostgresStore)
        self.store = store
        self.name = shown(url)
        self._conn: Conn | None = None
        self._release: Any = None

    async def open(self, create: bool) -> None:
        await self.store.open()  # makes the tables if there are none, or checks the schema version
        self._release = self.store.pool.acquire()
        self._conn = await self._release.__aenter__()
        # One snapshot for every read (a source), one transaction for every write (a target).
        await self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")

    @property
    def conn(self) -> Conn:
        assert self._conn is not None
        return self._conn

    async def close(self, commit: bool) -> None:
        if self._conn is not None:
            try:
                await self._conn.execute("COMMIT" if commit else "ROLLBACK")
            finally:
                await self._release.__aexit__(None, None, None)
                self._conn = None
        await self.store.close()

    async def rows(self, table: str) -> AsyncIterator[list[tuple[Any, ...]]]:
        order = ORDER.get(table, TABLES[table][0])
        cursor = self.conn.cursor(f"SELECT {', '.join(TABLES[table])} FROM {table} ORDER BY {order}")
        chunk: list[tuple[Any, ...]] = []
        async for row in cursor:
            chunk.append(tuple(row))
            if len(chunk) == CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    async def count(self) -> int:
        return sum([int(await self.conn.fetchval(f"SELECT COUNT(*) FROM {t}")) for t in TABLES])

    async def write(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        await self.conn.copy_records_to_table(table, records=rows, columns=list(TABLES[table]))

    async def finish(self) -> None:
        """The counters a hub draws from start past what was copied in."""
        await self.conn.execute(
            "SELECT setval(pg_get_serial_sequence('audit', 'n'), GREATEST((SELECT MAX(n) FROM audit), 1))"
        )
        await self.conn.execute(
            "UPDATE counters SET value = GREATEST(value, (SELECT COALESCE(MAX(rev), 0) FROM rooms)) "
            "WHERE name = 'revision'"
        )

    async def fingerprint(self) -> Fingerprint:
        rows = {t: int(await self.conn.fetchval(f"SELECT COUNT(*) FROM {t}")) for t in TABLES}
        heads = {r: int(h) for r, h in await self.conn.fetch("SELECT room, head FROM rooms")}
        digest = hashlib.sha256()
        async for chunk in self.rows("events"):
            _hash_events(digest, chunk)
        return Fingerprint(rows, heads, digest.hexdigest())


AnySide = SQLiteSide | PostgresSide


def side(url: str, password_file: str | None = None) -> AnySide:
    path = sqlite_path(url)
    return SQLiteSide(path) if path is not None else PostgresSide(url, password_file)


async def copy(source: str, target: str, password_file: str | None = None) -> Fingerprint:
    """Copy ``source`` into the empty ``target``; the logs' shared fingerprint, once they match."""
    try:
        src, dst = side(source, password_file), side(target, password_file)
    except StorageError as exc:  # an engine this build does not know, or an unreadable password file
        raise CopyRefused(str(exc)) from None
    if src.name == dst.name:
        raise CopyRefused("--from and --to name the same store")
    try:
        await src.open(create=False)
        await dst.open(create=True)
        held = await dst.count()
        if held:
            raise CopyRefused(f"{dst.name} is not empty ({held} rows): copy only into an empty store")
        for table in TABLES:
            async for chunk in src.rows(table):
                await dst.write(table, chunk)
        await dst.finish()
        copied, written = await src.fingerprint(), await dst.fingerprint()
        if copied != written:
            raise CopyRefused(f"the copy in {dst.name} does not match {src.name}; nothing was kept")
        await dst.close(commit=True)
    except BaseException as exc:
        for one in (dst, src):
            with contextlib.suppress(*FAILURES, sqlite3.Error, StorageError):
                await one.close(commit=False)
        if isinstance(exc, (*FAILURES, sqlite3.Error, StorageError, SchemaMismatch)):
            raise CopyRefused(str(exc)) from None
        raise
    await src.close(commit=False)
    return copied
