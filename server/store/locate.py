"""Which store a ``--db PATH`` or ``--store URL`` names.

``sqlite:PATH``, ``sqlite:///ABSOLUTE/PATH`` and a bare path are SQLite files;
``postgresql://USER@HOST/DB`` (or ``postgres://``) is a PostgreSQL database.
A PostgreSQL password comes from the URL, ``PGPASSWORD``, ``~/.pgpass``, or a
file named in the hub's config, as libpq users expect.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from server.store.base import StorageError
from server.store.postgres import PostgresStore
from server.store.sqlite import SQLiteStore

Store = SQLiteStore | PostgresStore
POSTGRES_SCHEMES = ("postgresql", "postgres")


def sqlite_path(url: str) -> Path | None:
    """The file a SQLite store URL (or a bare path) names; None for any other engine."""
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite://") :])
    if url.startswith("sqlite:"):
        return Path(url[len("sqlite:") :])
    if "://" in url:
        return None
    return Path(url)


def is_postgres(url: str) -> bool:
    return url.split("://", 1)[0].lower() in POSTGRES_SCHEMES and "://" in url


def shown(url: str) -> str:
    """A store URL safe to print: any password in it replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def open_store(url: str | Path, password_file: str | Path | None = None) -> Store:
    """The store ``url`` names, not yet opened; an engine this build lacks is a StorageError."""
    text = str(url)
    if is_postgres(text):
        return PostgresStore(text, password=_password(password_file))
    path = sqlite_path(text)
    if path is None:
        scheme = text.split("://", 1)[0]
        raise StorageError(f"{scheme}:// stores are not known: give a path, sqlite:PATH or postgresql://…")
    return SQLiteStore(path)


def _password(path: str | Path | None) -> str | None:
    if path is None:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip("\r\n")
    except OSError as exc:
        raise StorageError(f"cannot read the store password file {path}: {exc.strerror or exc}") from None
