"""Running a hub: ``db upgrade``, ``backup``, ``restore``, ``export`` and ``import`` (docs/operations.md).

``db upgrade``, ``backup`` and ``restore`` work on the hub's database file;
``export`` and ``import`` go through a running hub's HTTP API, so an incident
moves between hubs whatever store each one runs on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from warroom.config import default_db


class OpsError(Exception):
    """Ends the command with its message and exit status 2."""


def add_parsers(sub: Any) -> list[argparse.ArgumentParser]:
    """Register the commands; returns those that talk to a hub, for its options."""
    db = sub.add_parser("db", help="the hub's database: db upgrade applies schema migrations")
    db_sub = db.add_subparsers(dest="db_command", required=True, parser_class=type(db))
    upgrade = db_sub.add_parser("upgrade", help="bring the database to this warroom's schema version")
    _store_options(upgrade)

    backup = sub.add_parser("backup", help="copy a (running) hub's SQLite database to FILE, consistently")
    backup.add_argument("file", metavar="FILE")
    backup.add_argument("--db", help=f"the hub's SQLite database (default: {default_db()})")
    backup.add_argument("--force", action="store_true", help="replace FILE if it exists")

    restore = sub.add_parser("restore", help="put a backup back as the hub's database (stop the hub first)")
    restore.add_argument("file", metavar="FILE")
    restore.add_argument("--db", help=f"the database to restore into (default: {default_db()})")
    restore.add_argument("--force", action="store_true", help="replace a database that exists")

    export = sub.add_parser("export", help="write one incident's whole log as JSON lines, on stdout (admin)")
    export.add_argument("incident")
    imported = sub.add_parser("import", help="add an exported incident to a hub: all of it, or none (admin)")
    imported.add_argument("file", metavar="FILE", help="what warroom export wrote (- for stdin)")
    for parser in (export, imported):
        parser.add_argument(
            "--http", help="the hub's HTTP API URL (default: $WARROOM_HTTP, else the hub's port + 1)"
        )
    return [export, imported]


def _store_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--db", help=f"a SQLite database (default: {default_db()})")
    where.add_argument("--store", metavar="URL", help="a store URL: sqlite:PATH")


async def run(args: argparse.Namespace) -> int:
    from warroom.cli import main as cli

    try:
        if args.command == "db":
            return await _upgrade(args)
        if args.command == "backup":
            return _backup(args)
        if args.command == "restore":
            return _restore(args)
        if args.command == "export":
            return await _export(args)
        return await _import(args)
    except OpsError as exc:
        raise cli.UserError(str(exc)) from None


def _say(line: str) -> None:
    from warroom.core.text import visible

    print(visible(line), flush=True)


async def _upgrade(args: argparse.Namespace) -> int:
    from server.store import SchemaMismatch, StorageError
    from server.store.locate import open_store, shown

    url = args.store or args.db or str(default_db())
    url, given = shown(url), url
    try:
        store = open_store(given)
        before, after = await store.upgrade()
    except (SchemaMismatch, StorageError) as exc:
        raise OpsError(f"{url}: {exc}") from None
    if before is None:
        _say(f"{url}: a new database, made at schema version {after}")
    elif before == after:
        _say(f"{url}: already at schema version {after}; nothing to do")
    else:
        _say(f"{url}: upgraded from schema version {before} to {after}")
    return 0


def _backup(args: argparse.Namespace) -> int:
    from server.store.sqlite_backup import BackupRefused, backup

    db = Path(args.db) if args.db else default_db()
    try:
        events = backup(db, Path(args.file), force=args.force)
    except BackupRefused as exc:
        raise OpsError(str(exc)) from None
    _say(f"backed up {db} to {args.file}: {events} events")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from server.store.sqlite_backup import BackupRefused, restore

    db = Path(args.db) if args.db else default_db()
    try:
        events = restore(Path(args.file), db, force=args.force)
    except BackupRefused as exc:
        raise OpsError(str(exc)) from None
    _say(f"restored {args.file} into {db}: {events} events")
    return 0


async def _export(args: argparse.Namespace) -> int:
    import httpx

    async with _http(args) as http:
        try:
            async with http.stream("GET", f"/api/v1/incidents/{args.incident}/export") as response:
                if not response.is_success:
                    await response.aread()
                    raise OpsError(_refusal(response))
                out = sys.stdout.buffer
                head, lines = b"", 0
                async for chunk in response.aiter_bytes():
                    if lines == 0:
                        head += chunk
                    lines += chunk.count(b"\n")
                    out.write(chunk)
                out.flush()
        except httpx.HTTPError as exc:
            raise OpsError(f"the hub's HTTP API at {http.base_url} did not answer: {exc}") from None
    promised = json.loads(head.split(b"\n", 1)[0])["events"]
    if lines != promised + 1:  # the hub failed part-way: what was written is not the whole log
        raise OpsError(f"the export was cut short: {lines - 1} of {promised} events; export it again")
    return 0


async def _import(args: argparse.Namespace) -> int:
    import httpx

    try:
        body = (
            sys.stdin.buffer.read()
            if args.file == "-"
            else await asyncio.to_thread(Path(args.file).read_bytes)
        )
    except OSError as exc:
        raise OpsError(f"{args.file}: cannot read it: {exc.strerror or exc}") from None
    async with _http(args) as http:
        try:
            response = await http.post(
                "/api/v1/import", content=body, headers={"Content-Type": "application/x-ndjson"}
            )
        except httpx.HTTPError as exc:
            raise OpsError(f"the hub's HTTP API at {http.base_url} did not answer: {exc}") from None
    if not response.is_success:
        raise OpsError(_refusal(response))
    made = response.json()
    _say(f"imported {made['id']}: {made['events']} events")
    return 0


def _http(args: argparse.Namespace) -> Any:
    """An HTTP client on the hub's API, with the hub options' token and CA."""
    import httpx

    from warroom.cli.drill import http_url
    from warroom.config import client_settings

    settings = client_settings(args.hub, args.token, args.name, args.ca)
    return httpx.AsyncClient(
        base_url=http_url(settings.hub, args.http),
        headers={"Authorization": f"Bearer {settings.token}"},
        verify=settings.tls() or True,
        timeout=60,
    )


def _refusal(response: Any) -> str:
    """The hub's error message from an HTTP error body, or the status line."""
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"the hub answered {response.status_code} {response.reason_phrase}"


__all__ = ["OpsError", "add_parsers", "run"]
