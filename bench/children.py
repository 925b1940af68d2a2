"""The child processes a benchmark starts: made to die with it, and stopped on any exit."""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing.process
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

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
# Benchmarks pipeline far more than a person would: lift the per-person rate limits.
[limits]
commands_per_second = 1000000
command_burst = 10000000
http_per_second = 1000000
http_burst = 10000000
"""


def serve_argv(db: Path, token: str) -> list[str]:
    """``warroom serve`` on loopback, both ports chosen by the OS, with rate limits for bulk load."""
    config = db.with_suffix(".bench.toml")
    config.write_text(BULK_CONFIG)
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
