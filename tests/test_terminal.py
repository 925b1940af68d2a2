"""The app in a real terminal (tmux), fed the hostile corpus: the terminal obeys none of it.

A pane title, a clipboard buffer and a blanked screen are what a terminal does
with escape sequences; only a real terminal shows whether any got through.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.runner import HubServer
from tests.conftest import TOKEN, require_peer
from tests.hostile import HOSTILE
from warroom.core.events import Command
from warroom.core.protocol import new_id
from warroom.core.text import find_control


class Tmux:
    """One tmux server on its own socket (one per test), with one 120x40 pane running a command."""

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

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "main")

    def title(self) -> str:
        return self("display", "-p", "-t", "main", "#{pane_title}").strip()


@pytest.fixture
def tmux(tmp_path: Path, env: dict[str, str]) -> Iterator[Tmux]:
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


async def shows(tmux: Tmux, condition: Callable[[str], bool], what: str, timeout: float = 15.0) -> str:
    """The pane's text once ``condition`` holds for it, polled until a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        screen = tmux.screen()
        if condition(screen):
            return screen
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}; the pane shows:\n{screen}")
        await asyncio.sleep(0.05)  # a poll interval, not a wait for an event: the condition decides


async def test_a_real_terminal_obeys_no_hostile_text(hub: HubServer, tmux: Tmux) -> None:
    async def run(type_: str, data: dict[str, Any], room: str | None = None, actor: str = "maria") -> str:
        return (await hub.hub.execute(Command(new_id(), type_, data, room), actor)).room

    room = await run("incident.declared", {"title": "Checkout 502s", "severity": "SEV2"})
    command = [
        sys.executable,
        "-m",
        "warroom",
        "join",
        room,
        "--hub",
        hub.url,
        "--token",
        TOKEN,
        "--name",
        "A",
    ]
    tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", "main", subprocess.list2cmdline(command))
    await shows(tmux, lambda s: "Checkout 502s" in s and "A joined" in s, "the app to join")
    title = tmux.title()

    typed = [text for text in HOSTILE.values() if find_control(text, multiline=True) is None]
    for text in typed:  # markup, as anyone may type it
        await run("entry.added", {"text": text}, room, "mallory")
    alerts = [  # named to sort in the corpus's order: the title, clear-screen and clipboard ones first
        {
            "name": f"{n:02} {text}"[:200],
            "fingerprint": key,
            "labels": {"instance": text[:256]},
            "summary": text,
        }
        for n, (key, text) in enumerate(HOSTILE.items())
    ]
    async with httpx.AsyncClient(base_url=hub.http_url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        answer = await http.post(f"/api/v1/alerts?incident={room}", json={"alerts": alerts})
        assert answer.status_code == 202, answer.text
    await run("alert.acknowledged", {"fingerprint": "osc-title"}, room, "bob")

    screen = await shows(
        tmux,
        lambda s: f"Alerts {len(HOSTILE)} firing" in s and "[ @click=" in s and "ack bob" in s,
        "the alerts, the ack and the entries",
    )
    assert tmux.title() == title and "pwned" not in title, "an OSC sequence retitled the terminal"
    assert tmux("list-buffers") == "", "an OSC 52 sequence set the clipboard"
    assert "␛]0;pwned␇" in screen, "the alert is not shown as data"
    lines = screen.splitlines()
    assert lines[0].lstrip().startswith(room) and "Checkout 502s" in lines[0], "the header is gone"
    assert sum(bool(line.strip()) for line in lines) >= 35, f"the screen was blanked:\n{screen}"
    assert "Timeline" in screen and "Runbook" in screen


async def test_a_group_acked_in_one_terminal_shows_acked_in_the_other(hub: HubServer, tmux: Tmux) -> None:
    """Two terminals on one hub: A acks a group row with a and a yes, then silences it with s;
    B's panel shows every alert acked, then silenced."""

    async def run(type_: str, data: dict[str, Any], room: str | None = None, actor: str = "maria") -> str:
        internal = type_ == "alert.upserted"
        return (await hub.hub.execute(Command(new_id(), type_, data, room), actor, internal=internal)).room

    room = await run("incident.declared", {"title": "Disk storm", "severity": "SEV2"})
    await run("role.released", {"role": "commander"}, room)
    await run("checklist.item_added", {"text": "Free space on db hosts"}, room)
    for n in range(8):  # a big group: it stays one closed line
        labels = {"alertname": "DiskWillFillIn4h", "instance": f"db-{n}"}
        data = {
            "fingerprint": f"d{n}",
            "alertname": "DiskWillFillIn4h",
            "severity": "warning",
            "labels": labels,
        }
        await run("alert.upserted", data, room, "am")

    def join(name: str) -> str:
        command = [sys.executable, "-m", "warroom", "join", room, "--hub", hub.url, "--token", TOKEN]
        return subprocess.list2cmdline([*command, "--name", name])

    tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", "main", join("A"))
    tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", "other", join("B"))
    await shows(tmux, lambda s: "A joined" in s and "DiskWillFillIn4h 8/8" in s, "A to join")

    def b_screen() -> str:
        return tmux("capture-pane", "-p", "-t", "other")

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while "DiskWillFillIn4h 8/8" not in b_screen():
        assert loop.time() < deadline, f"B never showed the group:\n{b_screen()}"
        await asyncio.sleep(0.05)

    tmux("send-keys", "-t", "main", "F2")  # the key that goes to the alerts, as in the help
    await shows(
        tmux, lambda s: "Details" in s.splitlines()[-1], "the alerts focused (their keys in the footer)"
    )
    tmux("send-keys", "-t", "main", "a")
    await shows(tmux, lambda s: "Acknowledge 8 firing alerts of DiskWillFillIn4h?" in s, "the question")
    tmux("send-keys", "-t", "main", "y")

    deadline = loop.time() + 15
    while "DiskWillFillIn4h 8/8 ✓8" not in (screen := b_screen()):
        assert loop.time() < deadline, f"B never showed the group acked:\n{screen}"
        await asyncio.sleep(0.05)  # a poll of the other pane, as shows() polls the main one
    state = await hub.hub.settled_state(room)
    assert all(alert.acked_by == "A" for alert in state.alerts.values())
    assert "acknowledged 8 alerts matching" in screen  # the timeline line, in B

    # s on the same row: the composer opens with the group's /silence, the rest is typed.
    tmux("send-keys", "-t", "main", "s")
    await shows(tmux, lambda s: "/silence DiskWillFillIn4h * " in s, "the silence started")
    tmux("send-keys", "-t", "main", "-l", "1h disks")
    tmux("send-keys", "-t", "main", "Enter")
    await shows(tmux, lambda s: "Silence 8 alerts of DiskWillFillIn4h for 1h?" in s, "the question")
    tmux("send-keys", "-t", "main", "y")
    deadline = loop.time() + 15
    while "⏸8" not in (screen := b_screen()):
        assert loop.time() < deadline, f"B never showed the group silenced:\n{screen}"
        await asyncio.sleep(0.05)
