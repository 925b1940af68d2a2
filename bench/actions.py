"""Keys per action: how many presses each everyday action takes in the real app.

Each action is a recipe of key presses and typed text, walked with Pilot on the
real ``WarroomApp`` against a real hub (in this process, on 127.0.0.1:0) holding
the demo's incident. A recipe counts only if the hub then holds its effect, so a
recipe that stops working (a key moved, a form grew a step) fails here instead
of reporting a number it no longer reaches. Every recipe starts on the timeline
(Escape, not counted) with an empty composer (each recipe sends what it types),
as a responder's hands would.

Run alone with ``python bench/tui.py --actions``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.common import poll_until
from server.runner import HubServer
from warroom.app.app import WarroomApp
from warroom.app.themes import load_themes, shipped_dir
from warroom.client import HubClient
from warroom.core.events import Command
from warroom.core.protocol import new_id
from warroom.core.state import IncidentState
from warroom.demo import demo_config, seed

TARGET_KEYS = 3  # presses per action, besides the typed text
ME = "bench"


@dataclass(frozen=True)
class Text:
    """Typed words: counted apart from the keys, since they are the message itself."""

    text: str


Step = str | Text


@dataclass(frozen=True)
class Recipe:
    action: str
    steps: tuple[Step, ...]
    done: Callable[[IncidentState], bool]  # the effect, read from the hub's own state


@dataclass(frozen=True)
class Count:
    action: str
    keys: int
    typed: int
    recipe: str
    worked: bool
    why: str = ""  # the app's last notice, when the hub never saw the effect

    @property
    def ok(self) -> bool:
        return self.worked and self.keys <= TARGET_KEYS


def _entry(kind: str, text: str) -> Callable[[IncidentState], bool]:
    return lambda s: any(e.kind == kind and e.text == text and e.author == ME for e in s.entries.values())


# In this order: claiming the commander's seat first lets the same person broadcast and
# change status and severity, as the room's policy asks.
RECIPES = [
    Recipe("note", (Text("rolled back api-3"), "enter"), _entry("note", "rolled back api-3")),
    Recipe("decision", ("d", Text("roll back checkout"), "enter"), _entry("decision", "roll back checkout")),
    Recipe(
        "claim a role",
        ("slash", Text("role ic me"), "enter"),
        lambda s: "commander" in s.roles and s.roles["commander"].name == ME,
    ),
    Recipe(
        "broadcast",
        ("ctrl+r", Text("EU checkout recovering"), "enter"),
        lambda s: s.broadcast is not None and s.broadcast.message == "EU checkout recovering",
    ),
    # f2 goes to the alerts; a acknowledges the selected alert (or its group) after a yes
    # (s there opens the composer with /silence for it instead: see the silence recipe).
    # enter opens the alert in full instead, where a does the same.
    Recipe(
        "ack an alert", ("f2", "a", "y"), lambda s: any(a.acked_by == ME for a in s.alerts.values())
    ),
    Recipe(
        "silence an alert",
        ("f2", "s", Text("2h rack swap"), "enter"),
        lambda s: any(a.silenced_by == ME for a in s.alerts.values()),
    ),
    Recipe(
        "check a runbook step",
        ("tab", "x"),
        lambda s: any(st.by == ME for rb in s.runbooks.values() for st in rb.steps.values()),
    ),
    Recipe(
        "status",
        ("slash", Text("status monitoring"), "enter", "y"),
        lambda s: s.status == "monitoring",
    ),
    Recipe("severity", ("slash", Text("sev 1"), "enter", "y"), lambda s: s.severity == "SEV1"),
]


def describe(steps: tuple[Step, ...]) -> str:
    return " ".join(f'"{s.text}"' if isinstance(s, Text) else s for s in steps)


async def count_keys(size: tuple[int, int], timeout: float = 10.0) -> list[Count]:
    """Walk every recipe in one app on one demo incident; the hub's state says if it worked."""
    with tempfile.TemporaryDirectory(prefix="warroom-keys-bench-") as tmp:
        server = HubServer(Path(tmp) / "hub.db", "bench-token", config=demo_config())
        await server.start()
        try:
            room = (await seed(server, "someone-else")).room
            await server.hub.execute(Command(new_id(), "role.released", {"role": "commander"}, room), "maria")
            app = WarroomApp(HubClient(server.url, "bench-token", ME), room, load_themes(shipped_dir()))
            counts: list[Count] = []
            async with app.run_test(size=size) as pilot:
                await _until(lambda: room in app.client.rooms and app.client.rooms[room].synced, timeout)
                for recipe in RECIPES:
                    await pilot.press("escape")  # on the timeline, composer empty: not counted
                    await pilot.pause()
                    keys = typed = 0
                    for step in recipe.steps:
                        if isinstance(step, Text):
                            await pilot.press(*step.text)
                            typed += len(step.text)
                        else:
                            await pilot.press(step)
                            keys += 1
                        await pilot.pause()
                    try:
                        await _until_hub(server, room, recipe.done, timeout)
                        worked, why = True, ""
                    except TimeoutError:
                        notices = list(app._notifications)
                        worked, why = False, notices[-1].message if notices else ""
                    counts.append(Count(recipe.action, keys, typed, describe(recipe.steps), worked, why))
            return counts
        finally:
            await server.stop()


async def _until(condition: Callable[[], bool], timeout: float) -> None:
    """Poll the app's state (it has no event to await) until ``condition`` holds."""

    async def check() -> bool:
        return condition()

    if not await poll_until(check, timeout, every=0.01):
        raise TimeoutError


async def _until_hub(
    server: HubServer, room: str, done: Callable[[IncidentState], bool], timeout: float
) -> None:
    """Poll the hub's settled state until ``done`` holds."""

    async def check() -> bool:
        return done(await server.hub.settled_state(room))

    if not await poll_until(check, timeout):
        raise TimeoutError
