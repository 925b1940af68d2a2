"""A runbook step's command from the app, and a drill's debrief, through a real hub and the real app.

ctrl+y copies the filled command, ctrl+g runs it on this machine after a yes,
both from the local library as ``warroom runbook run`` takes it; f3 (or
/debrief) opens a resolved drill's debrief. The commands write files under
the test's own directory, so what ran (and what did not) is checked on disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Label

from server.runner import HubServer
from tests.conftest import wait_for
from tests.hostile import HOSTILE, assert_safe
from tests.test_app import incident, joined, make_app, running, settle
from tests.test_keys import answer
from tests.test_runbook_app import on_step
from warroom.app.app import WarroomApp
from warroom.app.debrief import DebriefScreen
from warroom.app.dialogs import ConfirmScreen
from warroom.app.keymap import help_rows
from warroom.app.slash import Action, Context, SlashError, parse
from warroom.app.step_run import RunScreen
from warroom.app.widgets.panels import ChecklistPanel
from warroom.app.widgets.timeline import Timeline
from warroom.cli.runbook_run import RunRefused, split_step
from warroom.core.events import Command
from warroom.core.protocol import new_id
from warroom.core.schema import parse_time
from warroom.core.state import AttachedRunbook, IncidentState, RunbookStep
from warroom.runbooks.library import load_library
from warroom.runbooks.steps import AMBIGUOUS, NO_SUCH_STEP, NOT_ATTACHED, NOWHERE, StepLookup, resolve_step

RUNBOOK = """---
id: probe
title: Probe a service
match:
  - 'alertname="Probe"'
---
# Probe a service

## Look
- [ ] Mark which service {#mark}
  ```sh
  printf '%s\\n' {{labels.service}} | tee marker
  ```
- [ ] Say which region {#region}
  ```sh
  echo {{labels.region}} > region
  ```
- [ ] Think about it {#think}
"""
FP = "fp-probe"


@pytest.fixture
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The responder's own library (WARROOM_RUNBOOKS), and a working directory the commands write in."""
    where = tmp_path / "runbooks"
    where.mkdir()
    (where / "probe.md").write_text(RUNBOOK)
    monkeypatch.setenv("WARROOM_RUNBOOKS", str(where))
    monkeypatch.setenv("WARROOM_CONFIG_DIR", str(tmp_path / "config"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return where


async def execute(hub: HubServer, type_: str, data: dict[str, Any], room: str | None, actor: str) -> str:
    internal = type_ in ("alert.upserted", "runbook.attached")  # intake's and the hub library's own
    return (await hub.hub.execute(Command(new_id(), type_, data, room), actor, internal=internal)).room


async def probe_room(hub: HubServer, library: Path, service: str) -> str:
    """A room with a Probe alert, and the probe runbook attached by it (as the hub's auto-attach does)."""
    room = await execute(
        hub, "incident.declared", {"title": "Probe fails", "severity": "SEV3"}, None, "maria"
    )
    await execute(hub, "role.released", {"role": "commander"}, room, "maria")
    labels = {"alertname": "Probe", "service": service}
    alert = {"fingerprint": FP, "alertname": "Probe", "labels": labels, "annotations": {"summary": "down"}}
    await execute(hub, "alert.upserted", alert, room, "alertmanager")
    snapshot = load_library(library).runbooks["probe"].to_dict()
    data = {"runbook": "probe", "snapshot": snapshot, "why": 'match alertname="Probe"', "alert": FP}
    await execute(hub, "runbook.attached", data, room, "runbooks")
    return room


def findings(app: WarroomApp, room: str) -> list[str]:
    return [e.text for e in app.client.rooms[room].state.entries.values() if e.kind == "finding"]


def told(app: WarroomApp, title: str) -> list[str]:
    return [n.message for n in app._notifications if n.title == title]


async def opened(pilot: Pilot[None], app: WarroomApp, room: str, step: str) -> None:
    await settle(pilot, joined(app, room), "join")
    await settle(pilot, lambda: "probe" in app.client.rooms[room].state.runbooks, "the runbook")
    await on_step(pilot, app, step, runbook="probe")


async def test_ctrl_y_copies_the_filled_command(hub: HubServer, library: Path) -> None:
    room = await probe_room(hub, library, "api")
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await opened(pilot, app, room, "mark")
        keys = incident(app).active_bindings  # what the footer shows while the runbook has the focus
        assert keys["ctrl+y"].binding.description == "Copy command"
        assert keys["ctrl+g"].binding.description == "Run command"
        await pilot.press("ctrl+y")
        await settle(pilot, lambda: bool(told(app, "copied")), "the copy")
        assert app.clipboard == "printf '%s\\n' api | tee marker"
        assert "probe/mark: printf '%s\\n' api | tee marker" in told(app, "copied")[0]
        assert not (Path.cwd() / "marker").exists()  # copied, not run


async def test_ctrl_g_asks_first_and_only_yes_runs_it(hub: HubServer, library: Path) -> None:
    room = await probe_room(hub, library, "api")
    app = make_app(hub.url, "alice", room)
    marker = Path.cwd() / "marker"
    async with running(app) as pilot:
        await opened(pilot, app, room, "mark")
        await pilot.press("ctrl+g")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        detail = str(app.screen.query_one("#confirm-detail", Label).render())
        assert "printf '%s\\n' api | tee marker" in detail  # the exact command
        await answer(pilot, app, "n")
        assert not marker.exists() and not isinstance(app.screen, RunScreen)
        assert findings(app, room) == []

        await pilot.press("ctrl+g")
        await answer(pilot, app, "y")
        shown = app.screen
        assert isinstance(shown, RunScreen)
        await settle(pilot, lambda: shown.result is not None, "the run")
        assert marker.read_text() == "api\n"
        assert shown.output == "api\n"  # the output, as it came
        assert shown.result is not None and shown.result.startswith("exit 0 after")
        assert "exit 0 after" in str(shown.query_one("#run-status", Label).render())
        await settle(pilot, lambda: len(findings(app, room)) == 1, "the finding")
        text = findings(app, room)[0]
        assert text.startswith("ran probe/mark locally: printf '%s\\n' api | tee marker")
        assert "exit 0 after" in text and "output:\napi" in text
        steps = app.client.rooms[room].state.runbooks["probe"].steps
        await settle(pilot, lambda: bool(steps["mark"].notes), "the step note")
        assert steps["mark"].notes[0].text.startswith("ran locally: exit 0 after")
        await pilot.press("escape")
        await settle(pilot, lambda: not isinstance(app.screen, RunScreen), "back to the room")
        entries = app.client.rooms[room].state.entries
        [entry] = [n for n, e in entries.items() if e.kind == "finding"]
        timeline = incident(app).query_one(Timeline)
        await settle(pilot, lambda: entry in timeline._shown, "the finding on the timeline")


async def test_a_hostile_label_is_one_quoted_argument(hub: HubServer, library: Path) -> None:
    hostile = "payments; touch PWNED"
    room = await probe_room(hub, library, hostile)
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await opened(pilot, app, room, "mark")
        await pilot.press("ctrl+g")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        detail = str(app.screen.query_one("#confirm-detail", Label).render())
        assert "printf '%s\\n' 'payments; touch PWNED' | tee marker" in detail
        await answer(pilot, app, "y")
        await settle(pilot, lambda: len(findings(app, room)) == 1, "the finding")
        assert (Path.cwd() / "marker").read_text() == f"{hostile}\n"  # printed literally
        assert not (Path.cwd() / "PWNED").exists()  # the touch inside the value never ran
        assert "'payments; touch PWNED'" in findings(app, room)[0]


async def test_refusals_run_nothing_and_say_why(hub: HubServer, library: Path, tmp_path: Path) -> None:
    room = await probe_room(hub, library, "api")
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await opened(pilot, app, room, "region")
        await pilot.press("ctrl+g")  # the alert has no region label
        await settle(pilot, lambda: bool(told(app, "not run")), "the refusal")
        assert told(app, "not run") == ["missing label: region"]
        await pilot.press("ctrl+y")
        await settle(pilot, lambda: bool(told(app, "not copied")), "the copy's refusal")
        assert told(app, "not copied") == ["missing label: region"]

        await on_step(pilot, app, "think", runbook="probe")
        await pilot.press("ctrl+g")
        await settle(pilot, lambda: len(told(app, "not run")) == 2, "no command")
        assert told(app, "not run")[1] == "step probe/think has no command in the local library"

        # The command comes from the responder's library, not the room: without one, nothing runs.
        (library / "probe.md").unlink()
        await on_step(pilot, app, "mark", runbook="probe")
        await pilot.press("ctrl+g")
        await settle(pilot, lambda: len(told(app, "not run")) == 3, "not in the library")
        assert told(app, "not run")[2] == "the local runbook library has no step probe/mark"

        incident(app).query_one(ChecklistPanel).highlighted = 0  # a hand-typed row: no step
        await pilot.press("ctrl+g")
        await settle(
            pilot, lambda: any("select a runbook step" in n.message for n in app._notifications), "off"
        )

        assert not isinstance(app.screen, ConfirmScreen | RunScreen)
        assert not any(Path.cwd().iterdir())  # nothing ran
        assert findings(app, room) == []


async def test_a_value_starting_with_a_dash_is_refused(hub: HubServer, library: Path) -> None:
    room = await probe_room(hub, library, "--help")
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await opened(pilot, app, room, "mark")
        await pilot.press("ctrl+g")
        await settle(pilot, lambda: bool(told(app, "not run")), "the refusal")
        assert "label service starts with '-'" in told(app, "not run")[0]
        assert not isinstance(app.screen, ConfirmScreen)


# -- the debrief ----------------------------------------------------------------------------------


async def drill_room(hub: HubServer, title: str) -> str:
    """A drill with an alert acknowledged, one left firing, a broadcast, a note and a step worked."""
    data = {"title": title, "severity": "SEV2", "drill": True}
    room = await execute(hub, "incident.declared", data, None, "drillbot")
    for fp, name in (("d1", "HighErrorRate"), ("d2", "DiskFull")):
        alert = {"fingerprint": fp, "alertname": name, "labels": {"alertname": name}}
        await execute(hub, "alert.upserted", alert, room, "alertmanager")
    await execute(hub, "alert.acknowledged", {"fingerprint": "d1"}, room, "bob")
    await execute(hub, "status.broadcast", {"message": "on it"}, room, "drillbot")
    await execute(hub, "entry.added", {"text": HOSTILE["click-action-space"]}, room, "bob")
    await execute(hub, "entry.added", {"text": HOSTILE["variable"]}, room, "bob")
    return room


def since(state: IncidentState, when: str) -> str:
    assert state.declared_at is not None
    return f"{round((parse_time(when) - parse_time(state.declared_at)).total_seconds(), 3):g}s"


async def test_f3_shows_a_resolved_drills_debrief(hub: HubServer) -> None:
    room = await drill_room(hub, "Game day " + HOSTILE["click-action"])  # the hub refuses controls
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        state = app.client.rooms[room].state
        await pilot.press("f3")  # not resolved yet
        await settle(pilot, lambda: bool(told(app, "no debrief")), "why not")
        assert "opens once it is resolved" in told(app, "no debrief")[0]

        await execute(hub, "incident.status_changed", {"status": "resolved"}, room, "drillbot")
        await settle(pilot, lambda: state.status == "resolved", "resolved")
        await pilot.press("f3")
        await settle(pilot, lambda: isinstance(app.screen, DebriefScreen), "the debrief")
        shown = str(app.screen.query_one("#debrief-text").render())
        assert_safe(shown, "the debrief")
        acked = state.alerts["d1"].acked_at
        assert acked is not None and state.broadcast is not None
        assert f"first acknowledgement  {since(state, acked)}" in shown
        assert f"first broadcast        {since(state, state.broadcast.ts)}" in shown
        assert "unacknowledged alerts  DiskFull" in shown
        assert HOSTILE["click-action-space"] in shown  # shown as the text it is, never run as markup
        assert HOSTILE["variable"] in shown and f"Game day {HOSTILE['click-action']}" in shown
        await pilot.press("escape")
        await settle(pilot, lambda: app.screen is incident(app), "closed")

        # /debrief does the same.
        await pilot.press("slash", *"debrief", "enter")
        await settle(pilot, lambda: isinstance(app.screen, DebriefScreen), "the debrief by /debrief")


async def test_f3_in_a_real_incident_says_why_it_does_nothing(hub: HubServer) -> None:
    room = await execute(hub, "incident.declared", {"title": "Real", "severity": "SEV2"}, None, "maria")
    await execute(hub, "incident.status_changed", {"status": "resolved"}, room, "maria")
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        await pilot.press("f3")
        await settle(pilot, lambda: bool(told(app, "no debrief")), "why not")
        assert told(app, "no debrief") == [
            f"{room} is not a drill: the debrief is for drills (warroom drill)"
        ]
        assert not isinstance(app.screen, DebriefScreen)
        await wait_for(lambda: app.screen is incident(app), what="still the room")


# -- one step lookup, two wordings (pure) ---------------------------------------------------------

STEPS = (
    ("db-failover", "check"),
    ("db-failover", "promote"),
    ("high-errors", "check"),
    ("high-errors", "deploys"),
)


@pytest.mark.parametrize(
    ("given", "runbook", "found"),
    [
        ("db-failover/check", None, ("db-failover", "check")),
        ("promote", None, ("db-failover", "promote")),
        ("check", "high-errors", ("high-errors", "check")),
    ],
)
def test_a_step_is_found_by_runbook_and_id_or_by_a_unique_id(
    given: str, runbook: str | None, found: tuple[str, str]
) -> None:
    assert resolve_step(given, STEPS, runbook) == found


@pytest.mark.parametrize(
    ("given", "kind", "extra"),
    [
        ("nope/check", NOT_ATTACHED, ()),
        ("db-failover/deploys", NO_SUCH_STEP, ()),
        ("nothing", NOWHERE, ()),
        ("check", AMBIGUOUS, ("db-failover", "high-errors")),
    ],
)
def test_no_single_step_says_which_case(given: str, kind: str, extra: tuple[str, ...]) -> None:
    with pytest.raises(StepLookup) as why:
        resolve_step(given, STEPS)
    assert why.value.kind == kind and why.value.found == extra


def test_the_cli_and_the_composer_word_the_same_lookup_their_own_way() -> None:
    state = IncidentState(room="INC-7")
    for rb_id in ("db-failover", "high-errors"):
        steps = {st: RunbookStep(st, st, "") for rb, st in STEPS if rb == rb_id}
        state.runbooks[rb_id] = AttachedRunbook(rb_id, rb_id, "why", "hub", "t", steps=steps)
    with pytest.raises(RunRefused, match="step 'check' is in db-failover, high-errors: give RUNBOOK/check"):
        split_step("check", None, state)
    with pytest.raises(RunRefused, match="no runbook 'nope' is attached to INC-7"):
        split_step("nope/check", None, state)
    ctx = Context(me="alice", steps=STEPS, selected_step=("high-errors", "deploys"))
    with pytest.raises(SlashError, match="/skip: 2 runbooks have a step check: write RUNBOOK/check"):
        parse("/skip check not needed", ctx)
    # A word that names no step starts the reason, for the selected step.
    assert parse("/skip nothing deployed", ctx) == Action(
        "step.skipped", {"runbook": "high-errors", "step": "deploys", "reason": "nothing deployed"}
    )
    assert parse("/skip db-failover/check done by hand", ctx).data["step"] == "check"


def test_the_help_lists_the_step_and_debrief_keys() -> None:
    keys = {key for key, _ in help_rows()}
    assert {"ctrl+y", "ctrl+g", "f3"} <= keys


def test_debrief_is_a_slash_command_the_screen_answers() -> None:
    assert parse("/debrief", Context(me="alice")) == Action("debrief.open")
    with pytest.raises(SlashError, match="usage: /debrief"):
        parse("/debrief INC-3", Context(me="alice"))


# -- the one runner -------------------------------------------------------------------------------


def test_the_app_and_the_cli_run_with_the_same_timeout() -> None:
    from warroom.cli.main import build_parser
    from warroom.cli.runbook_run import DEFAULT_TIMEOUT

    args = build_parser().parse_args(["runbook", "run", "INC-1", "probe/mark"])
    assert args.timeout == DEFAULT_TIMEOUT


async def test_a_cancelled_run_kills_its_process_group(tmp_path: Path) -> None:
    """Quitting the app (or ctrl+c) cancels the run: the command's own process group goes with it."""
    import asyncio

    from warroom.cli.runbook_run import run_local

    pieces: list[str] = []
    running = asyncio.ensure_future(run_local("echo $$; exec sleep 30", 60, pieces.append))
    await wait_for(lambda: "\n" in "".join(pieces), what="the command's pid")
    pid = int("".join(pieces).split()[0])

    def stat() -> list[str] | None:
        try:
            return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].split()
        except (FileNotFoundError, ProcessLookupError):
            return None

    started = stat()
    assert started is not None
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running

    def gone() -> bool:
        now = stat()
        # Gone, killed but not reaped yet, or reaped and the pid already reused by another process
        # (its start time differs): a busy machine hands pids out again quickly.
        return now is None or now[0] == "Z" or now[19] != started[19]

    await wait_for(gone, what="the command killed")
