"""Screenshots of the main screen in every shipped theme, at 120x40 and 80x24.

The hub runs on its own thread with a fixed clock and the demo's incident, so
every time on screen is the same from run to run. Refresh with --snapshot-update.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from server.runner import HubServer
from tests.conftest import TOKEN, wait_for
from warroom.app.app import WarroomApp
from warroom.app.themes import load_themes, shipped_dir
from warroom.client import HubClient
from warroom.demo import demo_config, seed

DECLARED = datetime(2026, 11, 28, 3, 12, 0, tzinfo=UTC)
NOW = DECLARED + timedelta(minutes=17, seconds=30)


class ThreadedHub:
    """A real hub in its own event loop, since snap_compare runs the app in another."""

    def __init__(self, db: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server = HubServer(db, TOKEN, clock=lambda: DECLARED, config=demo_config())

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def __enter__(self) -> ThreadedHub:
        self.thread.start()
        self.call(self.server.start())
        self.room = self.call(seed(self.server, "you", now=DECLARED)).room
        return self

    def __exit__(self, *exc: object) -> None:
        self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def demo_hub(tmp_path: Path) -> Iterator[ThreadedHub]:
    with ThreadedHub(tmp_path / "hub.db") as hub:
        yield hub


THEMES = ["warroom-dark", "warroom-light", "warroom-high-contrast"]
SIZES = [(120, 40), (80, 24)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("theme", THEMES)
def test_main_screen(snap_compare: Any, demo_hub: ThreadedHub, theme: str, size: tuple[int, int]) -> None:
    client = HubClient(demo_hub.server.url, TOKEN, "you")
    app = WarroomApp(client, demo_hub.room, load_themes(shipped_dir()), theme, clock=lambda: NOW)

    async def joined(pilot: Pilot[None]) -> None:
        await wait_for(
            lambda: demo_hub.room in client.rooms and client.rooms[demo_hub.room].synced, what="join"
        )
        await wait_for(lambda: len(client.rooms[demo_hub.room].presence) == 1, what="presence")
        await wait_for(
            lambda: "you" in client.rooms[demo_hub.room].state.responders, what="the join on record"
        )
        await pilot.pause()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=joined)


def test_the_readme_screenshot_is_the_real_screen() -> None:
    here = Path(__file__).parent
    shot = here.parent / "docs" / "screenshot.svg"
    snapshot = here / "__snapshots__" / "test_snapshots" / "test_main_screen[warroom-dark-120x40].svg"
    assert shot.read_text() == snapshot.read_text(), "copy the dark 120x40 snapshot to docs/screenshot.svg"


def test_every_snapshot_file_is_a_case_here() -> None:
    """No stale snapshot lingers: syrupy says so itself only in a one-process run, not under xdist."""
    cases = {f"test_main_screen[{theme}-{w}x{h}].svg" for theme in THEMES for w, h in SIZES}
    stored = Path(__file__).parent / "__snapshots__" / "test_snapshots"
    assert {path.name for path in stored.iterdir()} == cases
