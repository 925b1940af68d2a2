"""Drills: scenario files good and bad, a drill played at speed against a real hub from start to debrief,
a replay of a recorded incident, and drills kept off the status page and sinks (unless a sink opts in)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from server.config import HubConfig, parse_hub_config
from server.runner import HubServer
from tests.conftest import TOKEN, ClientFactory, Receiver, wait_for
from tests.test_cli import hub_args, warroom
from warroom.core.schema import format_time, parse_time
from warroom.drills import ScenarioError, parse_scenario, shipped
from warroom.scenario_play import alert_body

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
title = "Drill: checkout errors"
severity = "SEV2"
expect_runbooks = ["high-error-rate"]

[[steps]]
at = 0
fire = { alertname = "HighErrorRate", labels = { severity = "critical", job = "checkout" } }

[[steps]]
at = 5
say = "the database primary is unreachable"
kind = "finding"

[[steps]]
at = 10
fire = { alertname = "CheckoutLatency", labels = { service = "checkout" }, shape = "pagerduty" }

[[steps]]
at = 20
fire = { alertname = "PostgresPrimaryDown", labels = { instance = "db-1" } }

[[steps]]
at = "30s"
resolve = { alertname = "PostgresPrimaryDown", labels = { instance = "db-1" } }
"""
SPEED = 100


# -- scenario files ------------------------------------------------------------------------------


def test_a_good_scenario_parses_in_time_order() -> None:
    text = SCRIPT.replace("at = 0\n", 'at = "2m"\n')
    scenario = parse_scenario(text, "s.toml")
    assert (scenario.title, scenario.severity, scenario.expect_runbooks) == (
        "Drill: checkout errors",
        "SEV2",
        ("high-error-rate",),
    )
    assert [(s.at, s.action) for s in scenario.steps] == [
        (5, "say"),
        (10, "fire"),
        (20, "fire"),
        (30, "resolve"),
        (120, "fire"),
    ]
    assert scenario.steps[1].shape == "pagerduty" and scenario.steps[0].kind == "finding"


def test_the_shipped_scenarios_parse_and_attach_shipped_runbooks() -> None:
    found = shipped()
    assert "checkout-errors" in found
    for path in found.values():
        scenario = parse_scenario(path.read_text(), str(path))
        names = {s.alertname for s in scenario.steps if s.action == "fire"}
        assert {"HighErrorRate", "PostgresPrimaryDown"} <= names
        assert set(scenario.expect_runbooks) <= {p.stem for p in (ROOT / "runbooks").glob("*.md")}


BAD = [
    ('title = "x"\nseverity = "SEV2"\n[[steps]\nat = 0\n', 3, "Expected ']]'"),
    ('title = "x"\nseverity = "SEV9"\n[[steps]]\nat = 0\nsay = "a"\n', 1, "severity must be one of"),
    ('severity = "SEV2"\n[[steps]]\nat = 0\nsay = "a"\n', 1, "needs a title"),
    ('title = "x"\nseverity = "SEV2"\n', 1, "at least one [[steps]]"),
    (
        'title = "x"\nseverity = "SEV2"\n[[steps]]\nat = 0\nsay = "a"\n\n[[steps]]\nat = 1\n',
        7,
        "steps[1]: a step needs exactly one of fire, resolve or say",
    ),
    (
        'title = "x"\nseverity = "SEV2"\n[[steps]]\nat = "soon"\nsay = "a"\n',
        3,
        "is not a time like",
    ),
    (
        'title = "x"\nseverity = "SEV2"\n[[steps]]\nat = 0\nfire = { labels = { a = "b" } }\n',
        3,
        "fire needs an alertname",
    ),
    (
        'title = "x"\nseverity = "SEV2"\n[[steps]]\nat = 0\nfire = { alertname = "A", shape = "smoke" }\n',
        3,
        "shape must be one of alertmanager, pagerduty",
    ),
    (
        'title = "x"\nseverity = "SEV2"\n[[steps]]\nat = 0\nsay = "a"\nkind = "system"\n',
        3,
        "kind must be one of note, finding",
    ),
]


@pytest.mark.parametrize(("text", "line", "needle"), BAD)
def test_bad_scenarios_say_file_and_line(text: str, line: int, needle: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "bad.toml")
    message = str(caught.value)
    assert message.startswith(f"bad.toml:{line}: "), message
    assert needle in message, message


async def test_a_bad_scenario_exits_2_and_starts_nothing(
    hub: HubServer, env: dict[str, str], tmp_path: Path, make_client: ClientFactory
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD[4][0])
    got = await warroom(env, "drill", str(bad), *hub_args(hub), "--http", hub.http_url)
    assert got.one_line_error() == f"{bad}:7: steps[1]: a step needs exactly one of fire, resolve or say"
    missing = await warroom(env, "drill", "no-such-scenario", *hub_args(hub))
    assert "checkout-errors" in missing.one_line_error()
    watcher = await make_client(hub.url, "watcher")
    assert await watcher.incidents() == []


async def test_list_names_the_shipped_scenarios(env: dict[str, str]) -> None:
    got = await warroom(env, "drill", "--list")
    assert got.code == 0 and got.out.startswith("checkout-errors  SEV2  "), got.out


# -- a drill from start to debrief ---------------------------------------------------------------


@pytest.fixture
async def library_hub(db_path: Path) -> AsyncIterator[HubServer]:
    server = HubServer(db_path, TOKEN, config=replace(HubConfig(), runbooks=ROOT / "runbooks"))
    await server.start()
    yield server
    await server.stop()


async def test_a_drill_at_speed_from_start_to_debrief(
    library_hub: HubServer, env: dict[str, str], tmp_path: Path, make_client: ClientFactory
) -> None:
    hub = library_hub
    script = tmp_path / "drill.toml"
    script.write_text(SCRIPT)
    args = ["drill", str(script), "--speed", str(SPEED), *hub_args(hub), "--as", "drill-bot"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "warroom",
        *args,
        "--http",
        hub.http_url,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    room = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
    assert room  # the id comes first, alone on its line

    bob = await make_client(hub.url, "bob")
    view = await bob.join(room)
    await wait_for(lambda: view.state.drill and "high-error-rate" in view.state.runbooks, what="the runbook")
    await wait_for(lambda: len(view.state.alerts) == 3, what="every alert of the script")
    await wait_for(
        lambda: any(e.text == "the database primary is unreachable" for e in view.state.entries.values()),
        what="the scripted line",
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert out.decode().strip().endswith("drill played, 5 steps")

    # The team acts: an ack, a commander, a broadcast, two runbook steps.
    await bob.send("alerts.acknowledged", {"matchers": ["alertname=HighErrorRate"]}, room)
    bot = await make_client(hub.url, "drill-bot")
    await bot.send("role.offered", {"role": "commander", "to": "bob"}, room)
    await bob.send("role.accepted", {"role": "commander"}, room)
    await bob.send("status.broadcast", {"message": "We are on it"}, room)
    await bob.send("step.checked", {"runbook": "high-error-rate", "step": "dashboard", "checked": True}, room)
    await bob.send(
        "step.skipped", {"runbook": "high-error-rate", "step": "endpoints", "reason": "drill"}, room
    )
    await wait_for(lambda: bool(view.state.broadcasts), what="the broadcast")

    got = await warroom(env, "drill", "report", room, "--json", *hub_args(hub))
    assert got.code == 0, got.err
    report = json.loads(got.out)
    state = view.state
    assert state.declared_at is not None
    start = parse_time(state.declared_at)

    def since(ts: str | None) -> float:
        assert ts is not None
        return round((parse_time(ts) - start).total_seconds(), 3)

    ack = state.alerts[next(fp for fp, a in state.alerts.items() if a.alertname == "HighErrorRate")]
    assert report["drill"] is True and report["incident"] == room
    assert report["to_first_ack"] == since(ack.acked_at)
    assert report["to_commander"] == since(state.roles["commander"].since)
    assert report["to_first_broadcast"] == since(state.broadcasts[0].ts)
    assert 0 < report["to_first_ack"] <= report["to_commander"] <= report["to_first_broadcast"]
    assert report["runbooks"] == ["database-failover", "high-error-rate"]  # the alerts attached them
    steps = report["steps"]
    total = sum(len(rb.steps) for rb in state.runbooks.values())
    assert (steps["done"], steps["skipped"], steps["open"]) == (1, 1, total - 2)
    assert steps["overdue"] == 0  # the earliest due step is 10 minutes out
    # PostgresPrimaryDown resolved; the PagerDuty alert nobody acknowledged is left.
    assert report["unacknowledged"] == ["CheckoutLatency"]  # PagerDuty's shape has no free labels
    said = next(e for e in report["timeline"] if e["text"] == "the database primary is unreachable")
    assert said["kind"] == "finding" and said["at"] >= 5 / SPEED  # played on the script's clock
    fired = {a.alertname: since(a.first_seen) for a in state.alerts.values()}
    assert fired["HighErrorRate"] <= fired["CheckoutLatency"] <= fired["PostgresPrimaryDown"]
    for name, at in (("CheckoutLatency", 10), ("PostgresPrimaryDown", 20)):
        assert fired[name] >= at / SPEED, fired  # never before its time on the script's clock

    human = await warroom(env, "drill", "report", room, *hub_args(hub))
    assert human.code == 0 and human.out.startswith(f"DRILL {room}: Drill: checkout errors")
    shown = await warroom(env, "incidents", *hub_args(hub))
    assert "DRILL Drill: checkout errors" in shown.out


# -- a replay of a recorded incident -------------------------------------------------------------


class SettableClock:
    """The hub's clock: fixed while the test records an incident, then real time for the replay."""

    def __init__(self) -> None:
        self.now: datetime | None = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now or datetime.now(UTC)


async def test_a_replay_plays_a_recorded_incident_on_its_own_clock(
    db_path: Path, env: dict[str, str], make_client: ClientFactory
) -> None:
    clock = SettableClock()
    hub = HubServer(db_path, TOKEN, clock=clock)
    await hub.start()
    try:
        ann = await make_client(hub.url, "ann")
        room = (await ann.send("incident.declared", {"title": "Checkout down", "severity": "SEV1"}))["room"]
        view = await ann.join(room)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=hub.http_url, headers=headers) as http:

            async def post(step_text: str, minutes: int) -> None:
                assert clock.now is not None
                clock.now = datetime(2026, 11, 28, 3, 0, tzinfo=UTC) + timedelta(minutes=minutes)
                step = parse_scenario(
                    f'title = "t"\nseverity = "SEV1"\n[[steps]]\nat = 0\n{step_text}\n', "s"
                )
                body = alert_body(step.steps[0], format_time(clock.now), room)
                shape = step.steps[0].shape
                answer = await http.post(f"/api/v1/alerts/{shape}", params={"incident": room}, json=body)
                assert answer.status_code < 300, answer.text

            await post('fire = { alertname = "HighErrorRate", labels = { job = "api" } }', 1)
            await post(
                'fire = { alertname = "DiskFull", labels = { host = "db-1" }, shape = "pagerduty" }', 2
            )
            clock.now = datetime(2026, 11, 28, 3, 3, tzinfo=UTC)
            await ann.send("entry.added", {"text": "disk on db-1 is full", "kind": "finding"}, room)
            await post('resolve = { alertname = "HighErrorRate", labels = { job = "api" } }', 4)
        await wait_for(
            lambda: any(a.status == "resolved" for a in view.state.alerts.values()), what="the recording"
        )
        clock.now = None  # the replay runs on real time
        before = {fp: (a.count, a.status) for fp, a in view.state.alerts.items()}

        speed = 600  # a minute of the recording is 0.1 s of the replay
        intake = ["--http", hub.http_url]
        got = await warroom(env, "drill", "replay", room, "--speed", str(speed), *hub_args(hub), *intake)
        assert got.code == 0, got.err
        copy = got.out.splitlines()[0]
        assert copy != room
        replayed = (await ann.join(copy)).state
        await wait_for(lambda: len(replayed.alerts) == 2 and len(replayed.entries) >= 2, what="the replay")
        assert replayed.drill and replayed.title == "Replay: Checkout down"
        alerts = {a.alertname: a for a in replayed.alerts.values()}
        assert set(alerts) == {"HighErrorRate", "DiskFull"}
        assert not set(replayed.alerts) & set(view.state.alerts)  # the recording's alerts are left alone
        assert {fp: (a.count, a.status) for fp, a in view.state.alerts.items()} == before
        assert alerts["HighErrorRate"].status == "resolved" and alerts["DiskFull"].status == "firing"
        assert alerts["DiskFull"].source == "pagerduty"
        line = next(e for e in replayed.entries.values() if e.text == "disk on db-1 is full")
        assert line.kind == "finding"
        assert replayed.declared_at is not None
        zero = parse_time(replayed.declared_at)

        def at(ts: str) -> float:
            return (parse_time(ts) - zero).total_seconds()

        # The recording's minutes 0 (declared), 1, 2, 3 and 4, at 0.1 s a minute, in order.
        marks = [
            at(alerts["HighErrorRate"].first_seen),
            at(alerts["DiskFull"].first_seen),
            at(line.ts),
            at(alerts["HighErrorRate"].last_seen),
        ]
        assert marks == sorted(marks)
        for n, mark in enumerate(marks, 1):
            assert mark >= n * 60 / speed - 0.01, marks
    finally:
        await hub.stop()


# -- drills stay in the hub ----------------------------------------------------------------------


async def test_a_drill_never_reaches_the_status_page(hub: HubServer, make_client: ClientFactory) -> None:
    ann = await make_client(hub.url, "ann")
    data = {"title": "Game day", "severity": "SEV1", "public": True, "drill": True}
    drill = (await ann.send("incident.declared", data))["room"]
    await ann.send("status.broadcast", {"message": "drill broadcast"}, drill)
    await ann.send("incident.declared", {"title": "Real one", "severity": "SEV3", "public": True})
    async with httpx.AsyncClient(base_url=hub.http_url) as http:
        listed = (await http.get("/status.json")).json()
        page = (await http.get("/status")).text
    assert [i["title"] for i in listed["incidents"] + listed["resolved"]] == ["Real one"]
    assert "drill broadcast" not in json.dumps(listed)
    assert "Game day" not in page and "Real one" in page


async def test_only_a_sink_that_opts_in_hears_drills(
    db_path: Path, receiver: Receiver, make_client: ClientFactory
) -> None:
    config = parse_hub_config(
        {
            "sinks": [
                {"name": "ops", "kind": "webhook", "url": f"{receiver.url}/ops"},
                {"name": "practice", "kind": "slack", "url": f"{receiver.url}/practice", "drills": True},
            ]
        }
    )
    server = HubServer(db_path, TOKEN, config=config)
    await server.start()
    try:
        ann = await make_client(server.url, "ann")
        data = {"title": "Game day", "severity": "SEV1", "drill": True}
        drill = (await ann.send("incident.declared", data))["room"]
        await ann.send("status.broadcast", {"message": "drill broadcast"}, drill)
        await wait_for(lambda: len(receiver.got) == 2, what="the drill's two notifications")
        assert {p for p, _, _ in receiver.got} == {"/practice"}
        texts = [json.loads(b)["text"] for _, _, b in receiver.got]
        assert all(t.startswith("DRILL ") or t.startswith("*DRILL ") for t in texts), texts
        receiver.got.clear()
        await ann.send("incident.declared", {"title": "Real one", "severity": "SEV3"})
        await wait_for(lambda: len(receiver.got) == 2, what="the real declaration to both sinks")
        hook = next(json.loads(b) for p, _, b in receiver.got if p == "/ops")
        assert hook["incident"]["drill"] is False
    finally:
        await server.stop()


def test_a_sink_drills_key_must_be_a_boolean() -> None:
    with pytest.raises(Exception, match=r"sinks\[0\]\.drills"):
        parse_hub_config({"sinks": [{"kind": "webhook", "url": "https://x.example", "drills": "yes"}]})


# -- DRILL on every screen -----------------------------------------------------------------------


async def test_the_app_marks_a_drill_in_its_picker_and_header(
    hub: HubServer, make_client: ClientFactory
) -> None:
    from textual.widgets import Label

    from tests.test_app import first_row, make_app, running, settle
    from warroom.app.screens import IncidentScreen
    from warroom.app.widgets.panels import IncidentHeader

    ann = await make_client(hub.url, "ann")
    data = {"title": "Game day", "severity": "SEV2", "drill": True}
    room = (await ann.send("incident.declared", data))["room"]
    app = make_app(hub.url, "fay", None)
    async with running(app) as pilot:

        await settle(pilot, lambda: room in first_row(app), "the drill in the picker")
        assert "DRILL Game day" in first_row(app)
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, IncidentScreen), "the incident to open")

        def status() -> str:
            return str(app.screen.query_one(IncidentHeader).query_one("#status", Label).render())

        await settle(pilot, lambda: "DRILL" in status(), "DRILL in the header")
        assert status().startswith("DRILL ")


async def test_show_marks_a_drill(hub: HubServer, env: dict[str, str], make_client: ClientFactory) -> None:
    ann = await make_client(hub.url, "ann")
    room = (await ann.send("incident.declared", {"title": "Game day", "severity": "SEV2", "drill": True}))[
        "room"
    ]
    shown = await warroom(env, "show", room, *hub_args(hub))
    assert shown.code == 0 and shown.out.startswith(f"{room}  DRILL  SEV2"), shown.out


# -- the debrief, pure ---------------------------------------------------------------------------


def test_the_debrief_counts_from_the_declaration() -> None:
    from warroom.core.state import (
        Alert,
        AttachedRunbook,
        Broadcast,
        Entry,
        IncidentState,
        RoleTerm,
        RunbookStep,
    )
    from warroom.drills import debrief

    t = "2026-11-28T03:{:02d}:00.000Z".format
    state = IncidentState(
        room="INC-9", seq=9, title="Game day", drill=True, declared_by="bot", declared_at=t(0)
    )
    state.entries = {
        1: Entry(1, "system", "declared drill SEV2: Game day", "bot", t(0)),
        4: Entry(4, "system", "bot offered incident commander to bob", "bot", t(3)),
        5: Entry(5, "system", "bob accepted incident commander", "bob", t(4)),
        6: Entry(6, "finding", "the primary is down", "bob", t(5)),
    }
    state.role_terms = [
        RoleTerm("commander", "bot", t(0), "bot"),
        RoleTerm("scribe", "carol", t(3), "bot"),  # another role is no commander
        RoleTerm("commander", "bob", t(4), "bot"),
        RoleTerm("commander", "dave", t(7), "dave"),
    ]
    state.alerts = {
        "a": Alert("a", "HighErrorRate", "firing", t(1), t(1), acked_by="bob", acked_at=t(2)),
        "b": Alert("b", "DiskFull", "firing", t(1), t(1)),
        "c": Alert("c", "Gone", "resolved", t(1), t(1)),
    }
    state.broadcasts = [Broadcast("on it", "bob", t(6))]
    steps = {
        "one": RunbookStep("one", "one", "", state="done"),
        "two": RunbookStep("two", "two", "", state="skipped"),
        "three": RunbookStep("three", "three", "", due_at=t(10)),
        "four": RunbookStep("four", "four", "", due_at=t(30)),
    }
    state.runbooks = {"rb": AttachedRunbook("rb", "RB", "why", "hub", t(1), steps=steps)}
    report = debrief(state, t(20))
    assert (report["to_first_ack"], report["to_commander"], report["to_first_broadcast"]) == (120, 240, 360)
    assert report["steps"] == {"done": 1, "skipped": 1, "overdue": 1, "open": 2}
    assert report["unacknowledged"] == ["DiskFull"]
    assert [e["at"] for e in report["timeline"]] == [0, 180, 240, 300]
    state.role_terms = state.role_terms[:2]
    assert debrief(state, t(20))["to_commander"] is None  # the driver holding the role is no commander
