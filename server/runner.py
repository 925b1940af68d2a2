"""Runs a whole hub in one event loop: the store, the sync port and the HTTP port.

``warroom serve``, ``warroom demo`` and the tests all start the hub through
``HubServer``, so the tests exercise exactly what production runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
from collections.abc import Generator
from pathlib import Path
from typing import Any

import uvicorn

from server.access import Access
from server.alerts import AlertService
from server.config import HubConfig
from server.http_api import build_api
from server.hub import Hub
from server.notify import Notifier
from server.store import SQLiteStore
from server.sync import SyncServer
from server.tokens import load_secret

log = logging.getLogger("warroom.serve")


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn without its own signal handlers: the hub owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class HubServer:
    def __init__(
        self,
        db: str | Path,
        token: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        http_port: int = 0,
        clock: Any = None,
        config: HubConfig | None = None,
        tls: tuple[str | Path, str | Path] | None = None,
        store: SQLiteStore | None = None,
    ) -> None:
        """Raises ``SecretError`` when the signing secret beside ``db`` cannot be made or used."""
        self.db = Path(db)
        self.config = config or HubConfig()
        store = store or SQLiteStore(self.db)
        self.hub = Hub(store, clock=clock, policy=self.config.policy, limits=self.config.limits)
        self.secret_file = self.db.with_name(self.db.name + ".secret")
        self.db.parent.mkdir(parents=True, exist_ok=True)
        secret = load_secret(self.secret_file)
        self.access = Access(store, secret, token, self.hub._clock, self.config.limits.audit_days)
        self.notifier = Notifier(self.hub, self.config.sinks)
        self.alerts = AlertService(self.hub, self.config.routes, self.config.alertmanager)
        self.token = token
        self.host = host
        self.tls = tls  # (certificate chain, private key): wss:// and https://
        ssl_context = None
        if tls is not None:
            ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ssl_context.load_cert_chain(str(tls[0]), str(tls[1]))
        self.sync = SyncServer(self.hub, self.access, host, port, self.config.origins, ssl_context)
        self.http_port = http_port
        self._http: _EmbeddedUvicorn | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._http_socket: socket.socket | None = None

    @property
    def port(self) -> int:
        return self.sync.port

    @property
    def url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://{_host_for_url(self.host)}:{self.port}"

    @property
    def http_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{_host_for_url(self.host)}:{self.http_port}"

    async def start(self) -> None:
        await self.hub.start()
        await self.access.start()
        self.notifier.start()
        await self.alerts.start()
        await self.sync.start()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP, not 0: only then does asyncio turn Nagle off, and every answer is not 40 ms late.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.http_port))
        sock.setblocking(False)
        self._http_socket = sock
        self.http_port = sock.getsockname()[1]
        config = uvicorn.Config(
            build_api(self.hub, self.access, self.alerts),
            ssl_certfile=str(self.tls[0]) if self.tls else None,
            ssl_keyfile=str(self.tls[1]) if self.tls else None,
            log_level="warning",
            lifespan="off",
            access_log=False,
            server_header=False,
        )
        self._http = _EmbeddedUvicorn(config)
        config.load()
        self._http.lifespan = config.lifespan_class(config)
        await self._http.startup(sockets=[sock])
        self._http_task = asyncio.create_task(self._http.main_loop(), name="warroom-http")

    async def stop(self) -> None:
        """Stop taking connections, commit and ack what is queued, then close clients with 1001."""
        self.sync.stop_accepting()
        await self.hub.drain()
        await self.sync.close()
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            await self._http_task
            await self._http.shutdown(sockets=[self._http_socket] if self._http_socket else None)
        await self.notifier.stop()
        await self.alerts.stop()
        await self.access.stop()
        await self.hub.stop()

    async def serve_until_signalled(self) -> None:
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, done.set)
        await done.wait()
        log.info("shutting down")
        await self.stop()


def _host_for_url(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
