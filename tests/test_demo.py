"""``warroom demo`` in a real pseudo-terminal, joined from a second client by its printed command."""

from __future__ import annotations

import asyncio
import os
import pty
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import wait_for
from warroom.client import HubClient
from warroom.drills import load_scenario, shipped


@pytest.fixture
def demo(tmp_path: Path):
    main, child = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}
    env.update(
        TERM="xterm-256color",
        COLUMNS="120",
        LINES="40",
        WARROOM_CONFIG_DIR=str(tmp_path / "c"),
        WARROOM_DATA_DIR=str(tmp_path / "d"),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "warroom", "demo", "--name", "alex"],
        stdin=child,
        stdout=child,
        stderr=child,
        env=env,
        start_new_session=True,
    )
    os.close(child)
    screen = bytearray()

    def read_until(pattern: bytes, timeout: float = 30) -> re.Match[bytes]:
        os.set_blocking(main, False)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            found = re.search(pattern, bytes(screen))
            if found:
                return found
            try:
                chunk = os.read(main, 65536)
            except BlockingIOError:
                time.sleep(0.05)  # nothing on the terminal yet; this polls a pty, not an event
                continue
            except OSError:
                break
            screen.extend(chunk)
        raise AssertionError(f"{pattern!r} never appeared; the terminal showed:\n{bytes(screen)[-2000:]!r}")

    def drain_until_exit(timeout: float = 30) -> int:
        """Keep reading the terminal (a full pty would block the app) until the demo exits."""
        end = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < end:
            try:
                screen.extend(os.read(main, 65536))
            except BlockingIOError:
                time.sleep(0.05)
            except OSError:
                break
        return proc.wait(max(0.1, end - time.monotonic()))

    yield proc, read_until, main, drain_until_exit
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
    os.close(main)


async def test_the_demo_opens_and_a_second_terminal_joins_it(demo) -> None:
    _, read_until, main, drain_until_exit = demo
    found = await asyncio.to_thread(
        read_until, rb"warroom join (\S+) --hub (\S+) --token (\S+) --name YOURNAME"
    )
    room, url, token = (part.decode() for part in found.groups())
    await asyncio.to_thread(read_until, rb"Checkout returning 5xx")  # the app drew the incident

    second = HubClient(url, token, "second-terminal")
    await second.connect()
    try:
        view = await second.join(room)
        assert view.state.title == "Checkout returning 5xx in eu-west-1"
        assert view.state.severity == "SEV2" and view.state.roles["commander"].name == "maria"
        # The shipped scenario's alerts came through the intake and attached the shipped runbooks.
        expected = load_scenario(shipped()["checkout-errors"]).expect_runbooks
        assert set(view.state.runbooks) == set(expected)
        assert {a.alertname for a in view.state.alerts.values()} >= {"HighErrorRate", "PostgresPrimaryDown"}
        await wait_for(lambda: "alex" in {m["name"] for m in view.presence}, what="the demo user's presence")
        await second.send("entry.added", {"text": "joined from a second terminal"}, room)
        await asyncio.to_thread(read_until, rb"joined from a second terminal")  # and the demo shows it
    finally:
        await second.close()
    os.write(main, b"\x11")  # ctrl+q
    assert await asyncio.to_thread(drain_until_exit) == 0


async def test_the_demo_shows_its_join_command_inside_the_app(tmp_path: Path) -> None:
    """The app covers what the demo printed, so the command is in a notification and on the help screen."""
    from server.runner import HubServer
    from warroom.app.app import WarroomApp
    from warroom.app.dialogs import HelpScreen
    from warroom.app.themes import load_themes, shipped_dir
    from warroom.cli.tui import join_command
    from warroom.demo import demo_config, seed

    server = HubServer(tmp_path / "demo.db", "demo-token", config=demo_config())
    await server.start()
    try:
        room = (await seed(server, "alex")).room
        join = join_command(room, server.url, "demo-token")
        app = WarroomApp(
            HubClient(server.url, "demo-token", "alex"), room, load_themes(shipped_dir()), join_hint=join
        )
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(lambda: room in app.client.rooms and app.client.rooms[room].synced, what="join")
            assert any(join in n.message for n in app._notifications)
            await pilot.press("f1")
            await wait_for(lambda: isinstance(app.screen, HelpScreen), what="the help screen")
            await pilot.pause()
            assert join in str(app.screen.query_one("#help-join").render()).replace("\n", " ")
    finally:
        await server.stop()
