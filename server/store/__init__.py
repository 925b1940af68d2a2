"""Durable event logs. The hub sees only ``EventStore``; SQLite is the default engine."""

from server.store.base import (
    AccessStore,
    AuditRecord,
    EventStore,
    RoomRecord,
    SchemaMismatch,
    StorageError,
    TokenRecord,
    check_schema,
)
from server.store.sqlite import SQLiteStore

__all__ = [
    "AccessStore",
    "AuditRecord",
    "EventStore",
    "RoomRecord",
    "SQLiteStore",
    "SchemaMismatch",
    "StorageError",
    "TokenRecord",
    "check_schema",
]
