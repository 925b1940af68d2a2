"""Which store a ``--db PATH`` or ``--store URL`` names, for the commands that open one by hand.

``sqlite:PATH``, ``sqlite:///ABSOLUTE/PATH`` and a bare path are SQLite files.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from server.store.base import StorageError
from server.store.sqlite import SQLiteStore


def sqlite_path(url: str) -> Path | None:
    """The file a SQLite store URL (or a bare path) names; None for any other engine."""
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite://") :])
    if url.startswith("sqlite:"):
        return Path(url[len("sqlite:") :])
    if "://" in url:
        return None
    return Path(url)


def shown(url: str) -> str:
    """A store URL safe to print: any password in it replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def open_store(url: str) -> SQLiteStore:
    """The store ``url`` names, not yet opened; an engine this build lacks is a StorageError."""
    path = sqlite_path(url)
    if path is None:
        scheme = url.split("://", 1)[0]
        raise StorageError(f"{scheme}:// stores are not in this build: give --db PATH or sqlite:PATH")
    return SQLiteStore(path)
