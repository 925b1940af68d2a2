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
import sys
from collections.abc import Generator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import uvicorn

from server import api_metrics
from server.access import Access
from server.alerts import AlertService
from server.config import HubConfig, HubConfigError, load_hub_config, sink_host
from server.escalation import EscalationEngine
from server.http_api import build_api
from server.http_guard import GuardedH11, guarded, raise_nofile
from server.hub import Hub
from server.metrics import HubMetrics, MeteredStore
from server.metrics_live import HubLive
from server.notify import Notifier
from server.oncall import OncallService
from server.runbooks import RunbookService
from server.sources import DEFAULT, Sources, describe_sources
from server.store import PostgresStore, Store, open_store, shown
from server.sync import SyncServer
from server.tokens import load_secret
from warroom.core.errors import Code, WarroomError

log = logging.getLogger("warroom.serve")
SWITCH_INTERVAL = 0.0005  # seconds
# httpx logs every request's full URL at INFO: a Slack webhook's URL is its secret.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)


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
        store: Store | str | None = None,
        config_path: str | Path | None = None,
    ) -> None:
        """Raises ``SecretError`` when the signing secret beside ``db`` cannot be made or used.

        ``store`` is a store or its URL (``postgresql://…``, ``sqlite:PATH``); without one the
        log is the SQLite file ``db``. The signing secret is a file beside ``db`` either way:
        hubs sharing a database share that file too. ``config_path`` is the file ``config``
        came from, read again on a reload.
        """
        self.db = Path(db)
        self.config = config or HubConfig()
        self.config_path = Path(config_path) if config_path is not None else None
        if store is None or isinstance(store, str):
            store = open_store(store or self.db, self.config.store_password_file)
        self.store = store
        self.metrics = HubMetrics(HubLive(self))  # its own registry: many hubs may share a process
        metered = MeteredStore(store, self.metrics)
        self.hub = Hub(metered, clock=clock, policy=self.config.policy, limits=self.config.limits)
        self.secret_file = self.db.with_name(self.db.name + ".secret")
        self.db.parent.mkdir(parents=True, exist_ok=True)
        secret = load_secret(self.secret_file)
        self.access = Access(metered, secret, token, self.hub._clock, self.config.limits)
        self.access.extra_ops.update({"config.show": self.config_view, "config.reload": self.reload_config})
        self.notifier = Notifier(self.hub, self.config.sinks)
        self.escalation = EscalationEngine(
            self.hub, self.config.sinks, self.config.schedules, self.notifier.backoff
        )
        self.oncall = OncallService(self.hub, self.escalation)
        self.alerts = AlertService(self.hub, self.config.routes, self.config.sources)
        self.runbooks = RunbookService(self.hub, self.config.runbooks)
        self.hub.listeners.insert(0, self.metrics.committed)  # first: fan-out latency is measured to it
        self.access.on_refused.append(self.metrics.refused)
        self.access.on_rejected.append(self.metrics.rejected)
        self.token = token
        self.host = host
        self.tls = tls  # (certificate chain, private key): wss:// and https://
        ssl_context = None
        if tls is not None:
            ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ssl_context.load_cert_chain(str(tls[0]), str(tls[1]))
        self.sync = SyncServer(self.hub, self.access, host, port, self.config.origins, ssl_context)
        self.nofile = 0  # the soft file-descriptor limit, once started
        self.http_port = http_port
        self._http: _EmbeddedUvicorn | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._http_socket: socket.socket | None = None
        self._http_protocol: type[GuardedH11] | None = None

    @property
    def store_name(self) -> str:
        """Where the log is, fit to print: a file's path, or a URL without its password."""
        return shown(self.store.dsn) if isinstance(self.store, PostgresStore) else str(self.store.path)

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
        self.nofile = raise_nofile()
        # Catch-up pages, intake parsing and snapshots run in threads. With Python's default
        # 5 ms switch interval, each SQLite call the loop makes meanwhile can wait that long
        # for the GIL back; a shorter interval keeps the loop's latency in milliseconds.
        sys.setswitchinterval(SWITCH_INTERVAL)
        await self.hub.start()
        await self.access.start()
        self.notifier.start()
        await self.alerts.start()
        await self.runbooks.start()
        await self.escalation.start()
        await self.oncall.start()
        await self.sync.start()
        self.hub.log_health.watchers.append(lambda error: self.sync.send_all({"t": "hub", "log": error}))
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP, not 0: only then does asyncio turn Nagle off, and every answer is not 40 ms late.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.http_port))
        sock.setblocking(False)
        self._http_socket = sock
        self.http_port = sock.getsockname()[1]
        limits = self.config.limits
        self._http_protocol = guarded(limits.header_timeout, limits.body_timeout, limits.connections)
        config = uvicorn.Config(
            build_api(
                self.hub,
                self.access,
                self.alerts,
                self.oncall,
                api_metrics.routes(self.metrics, self.access, lambda: self.config.metrics_from),
            ),
            http=self._http_protocol,
            ws="none",
            limit_concurrency=limits.connections + 1,  # our own cap answers first, in JSON
            ssl_certfile=str(self.tls[0]) if self.tls else None,
            ssl_keyfile=str(self.tls[1]) if self.tls else None,
            log_level="warning",
            log_config=None,  # uvicorn logs through the hub's handler: --log-format json holds for it
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
        await self.oncall.stop()
        await self.escalation.stop()
        await self.hub.drain()
        await self.sync.close()
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            await self._http_task
            await self._http.shutdown(sockets=[self._http_socket] if self._http_socket else None)
        await self.notifier.stop()
        await self.alerts.stop()
        await self.runbooks.stop()
        await self.access.stop()
        await self.hub.stop()

    async def config_view(self) -> dict[str, Any]:
        return {**describe_config(self.config, self.config_path), "runbooks": self.runbooks.describe()}

    async def reload_config(self) -> dict[str, Any]:
        """Read the config file again and apply it, whole or not at all.

        Role rules, severities, cadence, limits, routes, Alertmanager and
        origins change in place (but for the sync port's handshake deadline,
        which is set when its server starts). Sinks own delivery queues, so a
        change to them is refused and waits for a restart.
        """
        if self.config_path is None:
            raise WarroomError(Code.INVALID_VALUE, "this hub was started without --config: nothing to reload")
        try:
            new = load_hub_config(self.config_path)
        except HubConfigError as exc:
            raise WarroomError(Code.INVALID_VALUE, f"{exc}; nothing was reloaded", "config") from None
        if (new.store, new.store_password_file) != (self.config.store, self.config.store_password_file):
            raise WarroomError(
                Code.INVALID_VALUE,
                "store changed: restart the hub to apply it; nothing was reloaded",
                "store",
            )
        if new.sinks != self.config.sinks:
            raise WarroomError(
                Code.INVALID_VALUE,
                "sinks changed: restart the hub to apply them; nothing was reloaded",
                "sinks",
            )
        old = describe_config(self.config, self.config_path)
        old_runbooks = self.runbooks.describe()
        await self.runbooks.load(new.runbooks)  # the library is read afresh even when its path is the same
        self.hub.set_rules(new.policy, new.limits)
        if new.policy != self.config.policy:
            self.sync.send_all({"t": "policy", "policy": new.policy.to_wire()})
        self.alerts.configure(new.routes, new.sources)
        await self.escalation.reconfigure(new.schedules)
        self.sync.origins = new.origins
        self.access.configure(new.limits)
        if self._http_protocol is not None:  # new connections get the new deadlines and cap
            self._http_protocol.header_timeout = new.limits.header_timeout
            self._http_protocol.body_timeout = new.limits.body_timeout
            self._http_protocol.max_connections = new.limits.connections
        self.config = new
        view = describe_config(new, self.config_path)
        changed = sorted(k for k in view if view[k] != old[k])
        view["runbooks"] = self.runbooks.describe()
        if view["runbooks"] != old_runbooks:
            changed = sorted([*changed, "runbooks"])
        log.info("config reloaded from %s", self.config_path)
        return {"changed": changed, "config": view}

    def handle_signals(self) -> asyncio.Event:
        """SIGHUP reloads the config; SIGTERM and SIGINT set the returned event, to stop.

        Installed before the hub says it is up, so a signal sent on that cue is never missed.
        """
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self._reload_on_signal()))
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, done.set)
        return done

    async def _reload_on_signal(self) -> None:
        try:
            result = await self.reload_config()
        except WarroomError as err:
            log.error("SIGHUP: %s", err.message)
            return
        log.info("SIGHUP: config reloaded; changed: %s", ", ".join(result["changed"]) or "nothing")


def describe_config(config: HubConfig, path: Path | None) -> dict[str, Any]:
    """The config in force, for admins: sink URLs and secrets are not shown, only where they go."""
    return {
        "file": str(path) if path is not None else None,
        "policy": config.policy.to_wire(),
        "limits": asdict(config.limits),
        "routes": [{"match": r.match, "incident": r.incident} for r in config.routes],
        "alertmanager": default_alertmanager(config.sources),
        "sources": describe_sources(config.sources),
        "origins": list(config.origins),
        "metrics_from": [str(n) for n in config.metrics_from],
        "schedules": str(config.schedules) if config.schedules is not None else None,
        "sinks": [
            {"name": s.name, "kind": s.kind, "host": sink_host(s.url), "signed": s.secret is not None}
            for s in config.sinks
        ],
    }


def default_alertmanager(sources: Sources) -> str | None:
    """``alertmanager = URL`` as it is in force: the Alertmanager named default, if any."""
    am = sources.alertmanager(DEFAULT)
    return am.url if am is not None else None


def _host_for_url(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
