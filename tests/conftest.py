"""Shared fixtures: real hubs on 127.0.0.1 port 0, real SQLite files, real sockets."""

from __future__ import annotations

import asyncio
import functools
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgpack
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from websockets.asyncio.client import ClientConnection, connect

from server.runner import HubServer
from server.store import RoomRecord
from tests.pg import Cluster, has_user, pg_bindir, run_async, start_cluster
from warroom.client import HubClient
from warroom.client.hub_client import Backoff, RoomView
from warroom.core.protocol import PROTOCOL_VERSION, new_id

if TYPE_CHECKING:
    from tests.tmux import Tmux

TOKEN = "test-token-0123456789"  # as long as `warroom serve` requires


async def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Poll a condition on every loop turn until it holds; fail after ``timeout`` (generous: a loaded CI
    machine runs two workers, and a wait that holds costs nothing)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.005)


def caught_up(view: RoomView, seq: int) -> Callable[[], bool]:
    return lambda: view.state.seq == seq


async def record(server: HubServer, room: str) -> RoomRecord:
    found = await server.hub.store.room(room)
    assert found is not None, f"{room} is not in the store"
    return found


class Calls:
    """Counts the calls of one object's method, which still runs: a probe, not a stand-in."""

    def __init__(self, owner: object, name: str) -> None:
        self.count = 0
        self.args: list[tuple[Any, ...]] = []  # each call's positional arguments, in order
        real = getattr(owner, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            self.args.append(args)
            return real(*args, **kwargs)

        setattr(owner, name, counted)


class Clock:
    """A hub clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def hubs() -> AsyncIterator[list[HubServer]]:
    """Hubs a test starts (and may stop and start again), stopped at its end if it did not stop them."""
    started: list[HubServer] = []
    yield started
    for server in started:
        if not server.hub.closing:
            await server.stop()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment for a CLI subprocess: no WARROOM_* from the developer's shell.

    Nor COLUMNS and LINES, which an xdist worker has set to 80x24: a program in a real terminal
    (tmux) must take its size from the terminal.
    """
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith("WARROOM_") and k not in ("COLUMNS", "LINES")
    }
    return {
        **clean,
        "WARROOM_CONFIG_DIR": str(tmp_path / "config"),
        "WARROOM_DATA_DIR": str(tmp_path / "data"),
    }


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "hub.db"


# -- the store engines: SQLite always, PostgreSQL in a throwaway cluster --------------------------

ENGINES = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``stores`` (or in a module so marked) that use a store run once per engine."""
    if "store_engine" in metafunc.fixturenames and metafunc.definition.get_closest_marker("stores"):
        metafunc.parametrize("store_engine", ENGINES)


@pytest.fixture
def store_engine() -> str:
    """The engine of every test that does not run on both: WARROOM_TEST_STORE=postgresql runs
    the whole suite's hubs on PostgreSQL."""
    engine = os.environ.get("WARROOM_TEST_STORE", "sqlite")
    if engine not in ENGINES:
        pytest.fail(f"WARROOM_TEST_STORE={engine!r}: not one of {', '.join(ENGINES)}")
    return engine


ON_POSTGRES: dict[str, str] = {}  # a test's SQLite path -> the PostgreSQL store its hubs use instead


@pytest.fixture(autouse=True)
def every_hub_on_the_test_store(
    store_engine: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Under WARROOM_TEST_STORE=postgresql, a hub a test builds itself on a SQLite path runs on
    PostgreSQL too: one database per path, so a hub restarted on the same path finds its log."""
    if store_engine != "postgresql" or request.node.get_closest_marker("sqlite_only"):
        yield
        return
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    built = HubServer.__init__

    def on_postgres(self: HubServer, db: str | Path, token: str, **kw: Any) -> None:
        if kw.get("store") is None:
            kw["store"] = ON_POSTGRES.setdefault(str(db), cluster.fresh_url())
        built(self, db, token, **kw)

    monkeypatch.setattr(HubServer, "__init__", on_postgres)
    yield
    ON_POSTGRES.clear()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """One PostgreSQL cluster per test process, on a Unix socket in a temporary directory."""
    cluster = start_cluster(require_postgres())
    yield cluster
    cluster.remove()


@pytest.fixture
def store_url(store_engine: str, db_path: Path, request: pytest.FixtureRequest) -> str:
    """The hub's store: the SQLite file at ``db_path``, or a fresh PostgreSQL database of its own."""
    if store_engine == "sqlite":
        return str(db_path)
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    return cluster.fresh_url()


def require_postgres() -> Path:
    """PostgreSQL's server binaries; skip without them, unless CI demands every peer."""
    bindir = pg_bindir()
    reason = ""
    if bindir is None:
        reason = "PostgreSQL's initdb and pg_ctl are not installed (Debian: apt-get install postgresql)"
    elif os.geteuid() == 0 and not has_user("postgres"):
        reason = "PostgreSQL will not run as root, and there is no postgres user to run it as"
    if reason:
        if os.environ.get("WARROOM_REQUIRE_PEERS") == "1":
            pytest.fail(f"WARROOM_REQUIRE_PEERS=1 but {reason}")
        pytest.skip(reason)
    assert bindir is not None
    return bindir


@pytest.fixture
async def hub(db_path: Path, store_url: str) -> AsyncIterator[HubServer]:
    server = HubServer(db_path, TOKEN, store=store_url)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


BULK = {"limits": {"commands_per_second": 1e6, "command_burst": 10**7}}  # for tests that pipeline thousands


@pytest.fixture
async def bulk_hub(db_path: Path, store_url: str) -> AsyncIterator[HubServer]:
    """A hub whose rate limits let one client pipeline thousands of commands."""
    from server.config import parse_hub_config

    server = HubServer(db_path, TOKEN, config=parse_hub_config(BULK), store=store_url)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


ClientFactory = Callable[..., Awaitable[HubClient]]


@pytest.fixture
async def make_client() -> AsyncIterator[ClientFactory]:
    """Connected HubClients, closed at the end of the test."""
    clients: list[HubClient] = []

    async def make(url: str, name: str = "alice", *, connect_now: bool = True, **kw: Any) -> HubClient:
        kw.setdefault("backoff", Backoff(base=0.05, cap=0.5))
        client = HubClient(url, TOKEN, name, **kw)
        clients.append(client)
        if connect_now:
            await client.connect()
        return client

    yield make
    for client in clients:
        await client.close()


class Raw:
    """A hand-rolled protocol client: raw websockets and msgpack, no HubClient."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, frame: Any) -> None:
        await self.ws.send(msgpack.packb(frame, use_bin_type=True))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(raw, bytes)
        frame = msgpack.unpackb(raw, raw=False)
        assert isinstance(frame, dict)
        return frame

    async def recv_until(
        self, kind: str, timeout: float = 5.0, **match: Any
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Frames up to and including the first of type ``kind`` (matching ``match``)."""
        seen: list[dict[str, Any]] = []
        while True:
            frame = await self.recv(timeout)
            seen.append(frame)
            if frame["t"] == kind and all(frame.get(k) == v for k, v in match.items()):
                return frame, seen

    async def hello(self, name: str = "raw") -> dict[str, Any]:
        await self.send({"t": "hello", "v": PROTOCOL_VERSION, "name": name})
        return await self.recv()

    async def command(
        self, type_: str, data: dict[str, Any], room: str | None = None, command_id: str | None = None
    ) -> dict[str, Any]:
        frame: dict[str, Any] = {
            "t": "cmd",
            "rid": "c",
            "id": command_id or new_id(),
            "type": type_,
            "data": data,
        }
        if room is not None:
            frame["room"] = room
        await self.send(frame)
        reply, _ = await self.recv_until_reply(frame["id"])
        return reply

    async def recv_until_reply(self, command_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        seen: list[dict[str, Any]] = []
        while True:
            frame = await self.recv()
            seen.append(frame)
            if frame["t"] in ("ack", "error") and frame.get("id") == command_id:
                return frame, seen

    async def close(self) -> None:
        await self.ws.close()


@pytest.fixture
async def raw_client() -> AsyncIterator[Callable[..., Awaitable[Raw]]]:
    opened: list[Raw] = []

    async def open_raw(url: str, token: str = TOKEN, **kw: Any) -> Raw:
        ws = await connect(
            url,
            additional_headers={"Authorization": f"Bearer {token}"},
            compression=None,
            max_size=None,
            **kw,
        )
        raw = Raw(ws)
        opened.append(raw)
        return raw

    yield open_raw
    for raw in opened:
        await raw.close()


async def declare(client: HubClient, title: str = "Checkout is down", severity: str = "SEV2") -> str:
    ack = await client.send("incident.declared", {"title": title, "severity": severity})
    return str(ack["room"])


async def issue(server: HubServer, name: str, **args: Any) -> str:
    """A personal token, made by an admin over the sync channel."""
    admin = HubClient(server.url, TOKEN, "root")
    await admin.connect()
    try:
        made = await admin.admin("token.create", {"name": name, **args})
    finally:
        await admin.close()
    return str(made["token"])


def log_location(server: HubServer) -> str:
    """The hub's log, for log_of: its SQLite file or its PostgreSQL URL."""
    from server.store import PostgresStore

    return server.store.dsn if isinstance(server.store, PostgresStore) else str(server.store.path)


def log_of(db: Path | str) -> list[tuple[str, int, str, str]]:
    """Every event in the store (a SQLite file or a PostgreSQL URL), read from its tables directly."""
    import sqlite3

    from server.store.locate import is_postgres

    query = "SELECT room, seq, id, type FROM events ORDER BY room, seq"
    db = ON_POSTGRES.get(str(db), db)  # a hub the test built on this path ran on PostgreSQL
    if is_postgres(str(db)):
        return [(r, int(s), i, t) for r, s, i, t in fetch_postgres(str(db), query)]
    with sqlite3.connect(db) as conn:
        return conn.execute(query).fetchall()


def fetch_postgres(url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    import asyncpg

    async def fetch() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(url)
        try:
            return [tuple(row) for row in await conn.fetch(query, *args)]
        finally:
            await conn.close()

    return run_async(fetch)


def assert_log_is_whole(db: Path | str, acked: Iterable[str] = ()) -> None:
    """After a restart: every room's seqs run 1..head, no command id twice, every acked id present."""
    from collections import Counter

    rows = log_of(db)
    rooms: dict[str, list[int]] = {}
    for room, seq, _, _ in rows:
        rooms.setdefault(room, []).append(seq)
    for room, seqs in rooms.items():
        assert seqs == list(range(1, len(seqs) + 1)), f"{room} has a gap"
    ids = Counter(id_ for _, _, id_, _ in rows)
    assert max(ids.values(), default=1) == 1, "a command was applied twice"
    missing = [a for a in acked if a not in ids]
    assert not missing, f"acknowledged but lost: {missing}"


class HubProcess:
    """``warroom serve`` in its own process, so a test can SIGKILL it for real."""

    def __init__(
        self, db: Path, port: int = 0, extra: tuple[str, ...] = (), store: str | None = None
    ) -> None:
        self.db = db
        self.store = store  # a store URL (--store); None: the SQLite file db
        self.port = port
        self.extra = extra  # more arguments to warroom serve
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.output: list[str] = []

    def start(self, timeout: float = 20.0) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "warroom",
                "serve",
                "--port",
                str(self.port),
                "--http-port",
                "0",
                "--db",
                str(self.db),
                *(["--store", self.store] if self.store else []),
                "--token",
                TOKEN,
                *self.extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        lines = []
        for line in self.proc.stdout:  # blocks until the hub prints its address
            lines.append(line)
            match = re.search(r"sync\s+(ws://\S+)", line)
            if match:
                self.url = match.group(1)
                self.port = int(self.url.rsplit(":", 1)[1])
                self.output = lines
                threading.Thread(target=self._drain, daemon=True).start()
                return
        raise AssertionError("the hub exited before it was up:\n" + "".join(lines))

    def _drain(self) -> None:
        """Keep reading the hub's log so a full pipe never blocks it."""
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(20)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class KilledMidStream:
    """Entries written by several clients into one room while a hub process is SIGKILLed mid-stream.

    The hub is killed from inside the client's read of the ``kill_at``th ack: waiting for the
    count and then killing lets a fast hub acknowledge the whole stream in between.
    """

    def __init__(self, hub: HubProcess, clients: list[HubClient], room: str, kill_at: int) -> None:
        self.hub, self.clients, self.room, self.kill_at = hub, clients, room, kill_at
        self.futures: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.acked: dict[str, int] = {}  # text -> seq, in the order the acks arrived

    def write(self, rounds: range) -> None:
        for n in rounds:
            for c, client in enumerate(self.clients):
                text = f"w{c}-{n}"
                future = client.submit("entry.added", {"text": text}, self.room)
                self.futures[text] = future
                future.add_done_callback(functools.partial(self._acked, text))

    def _acked(self, text: str, done: asyncio.Future[dict[str, Any]]) -> None:
        self.acked[text] = done.result()["seq"]
        if len(self.acked) == self.kill_at:
            assert self.hub.proc is not None
            self.hub.proc.send_signal(signal.SIGKILL)

    async def killed(self) -> dict[str, int]:
        """Wait for the kill, reap the hub, and return what was acked before it died."""
        await wait_for(lambda: len(self.acked) >= self.kill_at, what="some acks before the crash")
        self.hub.kill()
        return dict(list(self.acked.items())[: self.kill_at])

    async def all_acked(self, timeout: float = 30) -> None:
        await asyncio.wait_for(asyncio.gather(*self.futures.values()), timeout)

    def assert_logged_once(
        self, db: Path | str, before_crash: dict[str, int]
    ) -> list[tuple[str, int, str, str]]:
        """Every ack from before the crash is in the log, and every command is there exactly once."""
        rows = log_of(db)
        seqs = {seq for _, seq, _, _ in rows}
        for text, seq in before_crash.items():
            assert seq in seqs, f"{text} was acked as #{seq} before the crash but is gone"
        commands = [row for row in rows if row[3] != "responder.joined"]  # the hub's own
        assert len(commands) == 1 + len(self.futures)  # the declaration, and each entry once
        assert_log_is_whole(db)
        return rows


_REFUSING: list[socket.socket] = []  # held open for the whole run, so the ports stay taken


def refused_port() -> int:
    """A port on 127.0.0.1 where nothing listens: bound but never listening, so a connect is refused.

    The socket stays bound until the process exits, so no test in any parallel worker gets the
    same port from a bind to port 0 and starts answering there.
    """
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    _REFUSING.append(sock)
    return int(sock.getsockname()[1])


def require_peer(binary: str) -> str:
    """The path of a real peer program; skip without it, unless CI demands every peer."""
    import shutil

    path = shutil.which(binary)
    if path is None:
        reason = f"{binary} is not installed (Debian: apt-get install {binary})"
        if os.environ.get("WARROOM_REQUIRE_PEERS") == "1":
            pytest.fail(f"WARROOM_REQUIRE_PEERS=1 but {reason}")
        pytest.skip(reason)
    return path


@pytest.fixture
def tmux(tmp_path: Path, env: dict[str, str]) -> Iterator[Tmux]:
    """A real terminal (tests/tmux.py): skipped without tmux, unless WARROOM_REQUIRE_PEERS=1."""
    from tests.tmux import tmux_server  # it imports this module

    with tmux_server(tmp_path, env) as server:
        yield server


# -- a webhook receiver, for the hub's sinks -------------------------------------------------------


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that records what the hub posts, and fails on request."""

    url: str = ""
    got: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    answers: dict[str, list[int]] = field(default_factory=dict)  # per path: statuses in turn, then 200
    hang: asyncio.Event = field(default_factory=asyncio.Event)  # set to release hung requests
    hang_next: dict[str, int] = field(default_factory=dict)  # per path: requests to hold open

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        path = request.url.path
        self.got.append((path, dict(request.headers), body))
        if self.hang_next.get(path):
            self.hang_next[path] -= 1
            await self.hang.wait()  # held open past the hub's timeout: a sink that stopped answering
        queued = self.answers.get(path) or []
        return JSONResponse({}, status_code=queued.pop(0) if queued else 200)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = Starlette(routes=[Route("/{path:path}", rec.handle, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    rec.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await wait_for(lambda: server.started, what="the receiver")
    yield rec
    rec.hang.set()
    server.should_exit = True
    await task


# -- the warroom command in this process ------------------------------------------------------------


class Cli:
    """``warroom ...`` run in-process on a thread (a hub in the test keeps running), its output
    captured: the same parser, output and exit status as a subprocess, without its start-up.
    The environment holds no WARROOM_* of the developer's and an empty config dir."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    async def __call__(self, *args: str) -> Any:  # a tests.test_cli.Result
        from tests.test_cli import Result
        from warroom.cli.main import main

        self.capsys.readouterr()
        code = await asyncio.to_thread(main, list(args))
        out, err = self.capsys.readouterr()
        return Result(code, out, err)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Cli:
    for name in [k for k in os.environ if k.startswith("WARROOM_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("WARROOM_CONFIG_DIR", env["WARROOM_CONFIG_DIR"])
    monkeypatch.setenv("WARROOM_DATA_DIR", env["WARROOM_DATA_DIR"])
    return Cli(capsys)
