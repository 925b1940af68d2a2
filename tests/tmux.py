"""A real terminal for the app's tests: a tmux server on its own socket, its panes read back as text.

Only a real terminal shows what reaches the screen (and what a terminal does with
escape sequences); the tests that need one share this, and the ``tmux`` fixture in
conftest.py that starts and kills the server.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import TOKEN, require_peer

WIDTH, HEIGHT = 120, 40


class Tmux:
    """One tmux server on its own socket; each app runs in a session of its own (``main``, ``other``)."""

    def __init__(self, binary: str, socket: str, config: Path, env: dict[str, str]) -> None:
        self.binary, self.socket, self.config, self.env = binary, socket, config, env

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            [self.binary, "-u", "-L", self.socket, "-f", str(self.config), *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=10,
            check=True,
        )
        return done.stdout

    def start(self, session: str, command: str) -> None:
        """A detached WIDTHxHEIGHT session running ``command`` (one shell line)."""
        self("new-session", "-d", "-x", str(WIDTH), "-y", str(HEIGHT), "-s", session, command)

    def screen(self, session: str = "main") -> str:
        return self("capture-pane", "-p", "-t", session)

    def title(self, session: str = "main") -> str:
        return self("display", "-p", "-t", session, "#{pane_title}").strip()


@contextmanager
def tmux_server(tmp_path: Path, env: dict[str, str]) -> Iterator[Tmux]:
    """A tmux server for one test (skipped without tmux, unless WARROOM_REQUIRE_PEERS=1), then killed."""
    binary = require_peer("tmux")
    config = tmp_path / "tmux.conf"
    # Let programs in the pane set tmux's clipboard buffers, so a buffer shows one did; keep a
    # crashed app's last screen to read.
    config.write_text("set -s set-clipboard on\nset -g remain-on-exit on\n")
    # A socket name of its own per test, so tests in parallel workers never share a tmux server.
    socket = f"warroom-test-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    server = Tmux(binary, socket, config, {**env, "LANG": "C.UTF-8", "TERM": "xterm-256color"})
    try:
        yield server
    finally:
        subprocess.run([binary, "-L", server.socket, "kill-server"], capture_output=True, timeout=10)


def join(hub_url: str, room: str, name: str) -> str:
    """The shell line of ``warroom join`` for one person, as a responder would type it."""
    command = [sys.executable, "-m", "warroom", "join", room, "--hub", hub_url, "--token", TOKEN]
    return subprocess.list2cmdline([*command, "--name", name])


async def shows(
    tmux: Tmux, condition: Callable[[str], bool], what: str, timeout: float = 30.0, session: str = "main"
) -> str:
    """The pane's text once ``condition`` holds for it, polled until a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        screen = tmux.screen(session)
        if condition(screen):
            return screen
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what} in {session}; the pane shows:\n{screen}")
        await asyncio.sleep(0.05)  # a poll interval, not a wait for an event: the condition decides
