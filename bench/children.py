"""The child processes a benchmark starts: made to die with it, and stopped on any exit."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing.process
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

try:
    _LIBC: Any = ctypes.CDLL(None, use_errno=True)
except OSError:  # not Linux: no parent-death signal; cleanup_children still stops them
    _LIBC = None

PROCESSES: list[subprocess.Popen[bytes]] = []
WORKERS: list[multiprocessing.process.BaseProcess] = []


def die_with_parent() -> None:
    """preexec_fn: ask Linux to SIGTERM the child if this process dies, even by SIGKILL."""
    if _LIBC is not None:
        with contextlib.suppress(Exception):
            _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


BULK_CONFIG = """\
# Benchmarks pipeline far more than a person would, and open thousands of connections
# on one token: lift the per-token rates and the connection cap.
[limits]
commands_per_second = 1000000
command_burst = 10000000
http_per_second = 1000000
http_burst = 10000000
connections_per_token = 100000
"""


def serve_argv(db: Path, token: str, limits: str = "") -> list[str]:
    """``warroom serve`` on loopback, both ports chosen by the OS, with rate limits for bulk load;
    ``limits`` adds lines to the config's [limits] (``alerts_per_room = 100000``)."""
    config = db.with_suffix(".bench.toml")
    config.write_text(BULK_CONFIG.replace("[limits]\n", f"[limits]\n{limits}\n") if limits else BULK_CONFIG)
    serve = ["serve", "--host", "127.0.0.1", "--port", "0", "--http-port", "0"]
    return [
        sys.executable,
        "-m",
        "warroom",
        *serve,
        "--db",
        str(db),
        "--token",
        token,
        "--config",
        str(config),
    ]


def spawn(argv: list[str], stderr_path: Path, stdin: int = subprocess.PIPE) -> subprocess.Popen[bytes]:
    """A child in its own session (Ctrl-C reaches only us; we stop it), stderr to a file."""
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(
            argv,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=err,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
    PROCESSES.append(proc)
    return proc


def stop_child(proc: subprocess.Popen[bytes], label: str, timeout: float) -> None:
    """SIGTERM, a grace period, then SIGKILL; and forget it."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            print(f"{label} did not stop within {timeout:.0f}s; killing it", file=sys.stderr, flush=True)
            proc.kill()
            proc.wait(5)
    if proc.stdout is not None:
        proc.stdout.close()
    if proc in PROCESSES:
        PROCESSES.remove(proc)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Child:
    """A server started by ``start_child``: its process, the URLs it printed, its stderr file."""

    proc: subprocess.Popen[bytes]
    urls: dict[str, str]  # word -> URL, from its "<word> <url>" lines: "sync" -> "ws://...", ...
    stderr_path: Path
    label: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def ws_url(self) -> str:
        """The first websocket URL it printed (the hub's "sync" line; the raw server's line)."""
        return next((url for url in self.urls.values() if url.startswith(("ws://", "wss://"))), "")

    @property
    def http_url(self) -> str:
        return self.urls.get("http", "")

    @property
    def port(self) -> int:
        return urlsplit(self.ws_url).port or 0

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stderr_text(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def stderr_tail(self, lines: int = 15) -> str:
        return "\n".join(self.stderr_text().splitlines()[-lines:])

    def stop(self, timeout: float = 30.0) -> None:
        stop_child(self.proc, self.label, timeout)

    def kill(self) -> None:
        """SIGKILL, no grace period (a crash); reap it and forget it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self.proc in PROCESSES:
            PROCESSES.remove(self.proc)


async def start_child(
    argv: list[str],
    workdir: Path,
    label: str,
    want: Sequence[str] = ("sync", "http"),
    timeout: float = 30.0,
    stdin: int = subprocess.DEVNULL,
) -> Child:
    """Start a server (stderr to ``workdir/<label>.stderr.log``) and read its stdout until it has
    printed a ``<word> <url>`` line for every word in ``want``. If it exits or the deadline passes
    first, stop it and raise with the end of its stderr."""
    stderr_path = workdir / f"{label}.stderr.log"
    proc = spawn(argv, stderr_path, stdin=stdin)
    child = Child(proc, {}, stderr_path, label)
    assert proc.stdout is not None
    stdout: IO[bytes] = proc.stdout
    deadline = time.monotonic() + timeout
    while not all(word in child.urls for word in want):
        left = deadline - time.monotonic()
        try:
            line = await asyncio.wait_for(asyncio.to_thread(stdout.readline), left) if left > 0 else b""
        except TimeoutError:
            line = b""
        if not line:
            child.stop(2)
            raise RuntimeError(f"{label} did not start:\n{child.stderr_tail()}")
        words = line.decode(errors="replace").split()
        if len(words) == 2 and words[0] in want and "://" in words[1]:
            child.urls[words[0]] = words[1]
    return child


def cleanup_children(grace: float = 20.0) -> None:
    """Terminate every process and worker this run started; kill the ones that linger."""
    for worker in WORKERS:
        if worker.is_alive():
            worker.terminate()
    for proc in PROCESSES:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
    deadline = time.monotonic() + grace
    for proc in PROCESSES:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
    for worker in WORKERS:
        worker.join(max(0.1, deadline - time.monotonic()))
        if worker.is_alive():
            worker.kill()
            worker.join(5)
    PROCESSES.clear()
    WORKERS.clear()


def run_guarded(name: str, work: Callable[[Path], bool]) -> int:
    """Run one benchmark in a scratch folder; whatever happens, its children stop and the folder goes.

    Exit status: 0 when ``work`` says every target passed, 1 when one failed or
    the run broke, 130 on Ctrl-C.
    """
    started = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix=f"warroom-{name}-"))
    try:
        ok = work(folder)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping child processes", file=sys.stderr)
        return 130
    except Exception as exc:
        print(f"\n!! {name} failed: {type(exc).__name__}: {exc}", flush=True)
        return 1
    finally:
        cleanup_children()
        shutil.rmtree(folder, ignore_errors=True)
    print(f"\ntotal time {time.perf_counter() - started:.0f} s")
    return 0 if ok else 1
