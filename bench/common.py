"""Helpers the benchmarks share: frames, raw protocol clients, pipes and reporting."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing.connection
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from types import FrameType
from typing import Any

import msgpack
from websockets.asyncio.client import ClientConnection, connect

from server.http_guard import raise_nofile as raise_nofile  # the hub's own, re-exported

Pipe = multiprocessing.connection.Connection


def packb(frame: dict[str, Any]) -> bytes:
    return msgpack.packb(frame, use_bin_type=True)


def unpackb(raw: bytes | str) -> Any:
    if isinstance(raw, str):
        raise ValueError("expected a binary frame")
    return msgpack.unpackb(raw, raw=False)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def terminate(signum: int, frame: FrameType | None) -> None:
    """SIGTERM handler: unwind like Ctrl-C, so every child is stopped on the way out."""
    raise KeyboardInterrupt


async def pipe_recv(conn: Pipe, timeout: float) -> Any:
    """One object from a multiprocessing pipe, without blocking the event loop."""
    if conn.poll():
        return conn.recv()
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not ready.done():
            ready.set_result(None)

    fd = conn.fileno()
    loop.add_reader(fd, readable)
    try:
        await asyncio.wait_for(ready, timeout)
    finally:
        loop.remove_reader(fd)
    return conn.recv()


async def open_client(
    url: str, name: str, timeout: float, token: str, sock: socket.socket | None = None, **kw: Any
) -> ClientConnection:
    """A raw protocol client: connected, authenticated and hello'd."""
    ws = await connect(
        url,
        additional_headers={"Authorization": f"Bearer {token}"},
        compression=None,
        max_size=None,
        open_timeout=timeout,
        close_timeout=2,
        proxy=None,
        sock=sock,
        **kw,
    )
    try:
        await ws.send(packb({"t": "hello", "v": 1, "name": name}))
        welcome = unpackb(await asyncio.wait_for(ws.recv(), timeout))
        if welcome.get("t") != "welcome":
            raise RuntimeError(f"expected welcome, got {welcome!r:.200}")
    except BaseException:
        await ws.close()
        raise
    return ws


async def close_all(sockets: Sequence[ClientConnection], timeout: float = 15.0) -> None:
    async def close_one(ws: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            await ws.close()

    for start in range(0, len(sockets), 250):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(close_one(ws) for ws in sockets[start : start + 250])), timeout
            )


def status_kib(pid: int | str, key: str) -> int:
    """A ``kB`` line of /proc/PID/status (VmRSS, VmHWM); 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


async def poll_until(check: Callable[[], Awaitable[bool]], timeout: float, every: float = 0.02) -> bool:
    """Await a condition that lives in another process (counters, /proc): True once it holds."""
    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(every)  # the pace of polling, not a wait for an event


async def settle_rss(pid: int, max_wait: float = 8.0) -> int:
    """VmRSS once it stops moving (two readings 0.5 s apart within 0.5%), or after max_wait."""
    last = status_kib(pid, "VmRSS")
    end = asyncio.get_running_loop().time() + max_wait
    while asyncio.get_running_loop().time() < end:
        await asyncio.sleep(0.5)  # sampling a process's memory, not waiting for an event
        now = status_kib(pid, "VmRSS")
        if abs(now - last) <= max(64, last // 200):
            return now
        last = now
    return last
