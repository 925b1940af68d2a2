"""A throwaway PostgreSQL cluster for the tests: its own directory, a Unix socket in it, no TCP port.

Debian's server binaries (initdb, pg_ctl, postgres) are found through
``pg_config --bindir`` or under /usr/lib/postgresql. PostgreSQL refuses to run
as root, so under root the cluster belongs to the ``postgres`` user and its
programs run through ``runuser``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import asyncpg

T = TypeVar("T")
SUPERUSER = "warroom"
DATABASE = "warroom"  # the tests' database: each test's store is a schema in it


def pg_bindir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres, if this machine has them."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if found.returncode == 0:
            candidates.append(Path(found.stdout.strip()))
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _major(p.parent.name), reverse=True
    )
    candidates += debian
    initdb = shutil.which("initdb")
    if initdb is not None:
        candidates.append(Path(initdb).parent)
    return next((d for d in candidates if (d / "initdb").is_file() and (d / "pg_ctl").is_file()), None)


def has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _major(name: str) -> int:
    return int(name) if name.isdigit() else -1


def run_async(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to the end on a loop of its own, in a thread: callable from sync code and
    from inside a running test loop alike."""
    result: list[Any] = []

    def work() -> None:
        try:
            result.append(asyncio.run(_call(make)))
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    if isinstance(result[0], BaseException):
        raise result[0]
    return cast(T, result[0])


async def _call(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


class Cluster:
    """initdb in a temporary directory, started with pg_ctl; fsync stays on, as in production."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.owner: str | None = None
        if os.geteuid() == 0:
            self.owner = "postgres"  # Debian's package makes this user
        self.root = Path(tempfile.mkdtemp(prefix="warroom-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        if self.owner is not None:
            entry = pwd.getpwnam(self.owner)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._names = itertools.count(1)

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.owner is not None:
            command = ["runuser", "-u", self.owner, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed: {done.stdout}{done.stderr}{log}")

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-locale"
        )

    def start(self) -> None:
        options = (
            f"-k {self.root} -c listen_addresses='' -c fsync=on -c max_connections=200 -c shared_buffers=32MB"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        """``immediate`` is a crash: no shutdown checkpoint, recovery from the WAL at the next start."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@/{database}?host={self.root}"

    def sql(self, database: str, *statements: str) -> None:
        async def run() -> None:
            conn = await asyncpg.connect(self.url(database))
            try:
                for statement in statements:
                    await conn.execute(statement)
            finally:
                await conn.close()

        run_async(run)

    def fresh_url(self) -> str:
        """A store URL of its own: a new schema in the tests' database, named by ``search_path``.

        A schema costs milliseconds where a database copied from a template costs a few hundred
        (PostgreSQL writes every copied page to its WAL), and a store sees only its own schema.
        """
        name = f"test_{next(self._names)}"
        self.sql(DATABASE, f"CREATE SCHEMA {name}")
        return f"{self.url(DATABASE)}&search_path={name}"

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster(bindir: Path) -> Cluster:
    cluster = Cluster(bindir)
    try:
        cluster.init()
        cluster.start()
        cluster.sql("postgres", f"CREATE DATABASE {DATABASE}")
    except BaseException:
        cluster.remove()
        raise
    return cluster
