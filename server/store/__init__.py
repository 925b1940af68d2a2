"""Durable event logs. The hub sees only ``EventStore``; SQLite is the default engine, PostgreSQL
lets several hubs share one log."""

from server.store.base import (
    AccessStore,
    AuditRecord,
    Behind,
    EventStore,
    RoomRecord,
    SchemaMismatch,
    StorageError,
    TokenRecord,
    check_schema,
)
from server.store.locate import Store, open_store, shown
from server.store.postgres import PostgresStore
from server.store.sqlite import SQLiteStore

__all__ = [
    "AccessStore",
    "AuditRecord",
    "Behind",
    "EventStore",
    "PostgresStore",
    "RoomRecord",
    "SQLiteStore",
    "SchemaMismatch",
    "StorageError",
    "Store",
    "TokenRecord",
    "check_schema",
    "open_store",
    "shown",
]
