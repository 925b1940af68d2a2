"""``warroom serve``: a hub in the foreground, announcing how to join it."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import ssl
import sys
from pathlib import Path

from server import logs
from server.config import HubConfigError, load_hub_config
from server.runner import HubServer
from server.store import SchemaMismatch, StorageError
from server.tokens import SecretError, new_token


def run_serve(
    *,
    host: str,
    port: int,
    http_port: int,
    db: str,
    token: str | None,
    config: str | None,
    tls: tuple[str, str] | None = None,
    store: str | None = None,
    log_format: str | None = None,
) -> int:
    """``log_format`` (text or json) wins over the config's ``log_format``; text by default."""
    try:
        hub_config = load_hub_config(Path(config) if config else None)
    except HubConfigError as exc:
        print(f"warroom: {exc}", file=sys.stderr)
        return 2
    logs.configure(log_format or hub_config.log_format or "text")
    generated = token is None
    token = token or new_token()
    try:
        server = HubServer(
            db,
            token,
            host=host,
            port=port,
            http_port=http_port,
            config=hub_config,
            tls=tls,
            config_path=config,
            store=store or hub_config.store,
        )
    except (SecretError, StorageError) as exc:
        print(f"warroom: {exc}", file=sys.stderr)
        return 2
    except (OSError, ssl.SSLError) as exc:
        print(f"warroom: cannot use --tls-cert/--tls-key: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_serve(server, generated))


async def _serve(server: HubServer, generated: bool) -> int:
    try:
        await server.start()
    except SchemaMismatch as exc:  # one line that says what to run
        print(f"warroom: {exc}", file=sys.stderr)
        return 2
    except (OSError, sqlite3.Error, StorageError) as exc:
        print(f"warroom: cannot start the hub on {server.store_name}: {exc}", file=sys.stderr)
        return 2
    stop = server.handle_signals()
    print(f"warroom hub {server.hub.hub_id} is up", flush=True)
    print(f"  sync  {server.url}\n  http  {server.http_url}\n  log   {server.store_name}", flush=True)
    token = server.token if generated else "<the token you gave>"
    print("Join from another terminal with:", flush=True)
    print(f"  export WARROOM_HUB={server.url} WARROOM_TOKEN={token}", flush=True)
    print("  warroom incidents", flush=True)
    active = [t for t in await server.access.tokens() if t.revoked_at is None]
    print(
        f"Access: the hub token is an admin whose callers name themselves (--as / WARROOM_NAME); "
        f"{len(active)} personal token(s) bind their own names. Signing secret: {server.secret_file}",
        flush=True,
    )
    sinks = ", ".join(f"{s.name} ({s.kind})" for s in server.config.sinks) or "none"
    print(f"  sinks: {sinks}", flush=True)
    print(f"  status page: {server.http_url}/status", flush=True)
    await stop.wait()
    logging.getLogger("warroom.serve").info("shutting down")
    await server.stop()
    return 0
