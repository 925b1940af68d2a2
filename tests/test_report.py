"""``warroom report`` and the action-item commands against a real hub, with numbers worked by hand.

Seven incidents are scripted through the hub on a hand-moved clock: back-dated
milestones (``incident.milestone_corrected``), a reopened incident, a drill, an
open one, two from before the report's range (one straddling the SLO window),
and action items done on time, done late (``at``), dropped, and overdue.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.runner import HubServer
from tests.conftest import TOKEN, Clock
from tests.test_cli import hub_args, warroom
from warroom.core.events import Command
from warroom.core.protocol import new_id
from warroom.review.metrics import DEFINITIONS, Query, Slo, report


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


class Script:
    """Commands into the hub as ``ann`` (who declares, so commands), each at a time of our choosing."""

    def __init__(self, server: HubServer, clock: Clock) -> None:
        self.server, self.clock = server, clock

    async def __call__(self, when: str, type_: str, data: dict[str, Any], room: str | None = None) -> str:
        self.clock.now = at(when)
        ack = await self.server.hub.execute(Command(new_id(), type_, data, room), "ann")
        return ack.room

    async def milestone(self, when: str, room: str, name: str, value: str) -> None:
        await self(when, "incident.milestone_corrected", {"milestone": name, "at": value}, room)

    async def status(self, when: str, room: str, status: str) -> None:
        await self(when, "incident.status_changed", {"status": status}, room)


def declare(title: str, severity: str, services: list[str], drill: bool = False) -> dict[str, Any]:
    return {"title": title, "severity": severity, "services": services, "drill": drill}


async def script_incidents(s: Script) -> None:
    # INC-1, SEV2 checkout: impact from 09:40, detected 09:50, acknowledged 10:02 (all set after
    # the fact); mitigated 10:30, resolved 11:10; half the users hurt.
    # TTA 720, TTM 3000, TTR 5400.
    one = await s("2026-11-02T10:00:00Z", "incident.declared", declare("Checkout 500s", "SEV2", ["checkout"]))
    await s.status("2026-11-02T10:30:00Z", one, "monitoring")
    await s.status("2026-11-02T11:10:00Z", one, "resolved")
    await s.milestone("2026-11-02T12:00:00Z", one, "impact_started", "2026-11-02T09:40:00Z")
    await s.milestone("2026-11-02T12:00:01Z", one, "detected", "2026-11-02T09:50:00Z")
    await s.milestone("2026-11-02T12:00:02Z", one, "acknowledged", "2026-11-02T10:02:00Z")
    await s("2026-11-02T12:01:00Z", "incident.impact_set", {"fraction": 0.5}, one)
    added = "2026-11-02T12:05:00Z"
    await s(added, "action.added", {"text": "Alert on 5xx", "owner": "bo", "due": "2026-11-10"}, one)
    await s(added, "action.added", {"text": "Canary deploys", "owner": "carol", "due": "2026-11-12"}, one)
    await s(added, "action.added", {"text": "Runbook for rollback", "owner": "bo", "due": "2026-11-05"}, one)
    # A-1 marked done late in the evening of the 10th but done on the 9th: on time.
    done = {"action": "A-1", "status": "done", "at": "2026-11-09T16:00:00Z"}
    await s("2026-11-10T21:00:00Z", "action.updated", done, one)
    # A-3 done on the 7th, two days after its due day: late.
    await s("2026-11-07T12:00:00Z", "action.updated", {"action": "A-3", "status": "done"}, one)

    # INC-2, SEV2 checkout and search, no alert (detected is the declaration, 08:00), no impact_started:
    # acknowledged 08:15; mitigated 08:40; resolved 09:00, reopened 09:30, resolved again 10:00.
    # TTA 900, TTM 2400, TTR 7200 (the last resolution).
    two = await s(
        "2026-11-04T08:00:00Z", "incident.declared", declare("Search slow", "SEV2", ["checkout", "search"])
    )
    await s.milestone("2026-11-04T08:15:00Z", two, "acknowledged", "2026-11-04T08:15:00Z")
    await s.status("2026-11-04T08:40:00Z", two, "monitoring")
    await s.status("2026-11-04T09:00:00Z", two, "resolved")
    await s.status("2026-11-04T09:30:00Z", two, "investigating")
    await s.status("2026-11-04T10:00:00Z", two, "resolved")
    await s(
        "2026-11-04T11:00:00Z", "action.added", {"text": "Index", "owner": "dee", "due": "2026-11-30"}, two
    )
    await s("2026-11-04T11:00:00Z", "action.added", {"text": "Rewrite search"}, two)
    dropped = {"action": "A-2", "status": "wont_do", "reason": "replaced by A-1"}
    await s("2026-11-04T11:05:00Z", "action.updated", dropped, two)

    # INC-3, a SEV1 drill on checkout: excluded everywhere, its overdue item too.
    three = await s(
        "2026-11-05T12:00:00Z", "incident.declared", declare("Drill", "SEV1", ["checkout"], drill=True)
    )
    await s.status("2026-11-05T12:30:00Z", three, "resolved")
    await s("2026-11-05T12:31:00Z", "action.added", {"text": "Drill note", "due": "2026-11-06"}, three)

    # INC-4, SEV3 search, still open: excluded from the times, counted; its item is 5 days overdue.
    four = await s("2026-11-06T12:00:00Z", "incident.declared", declare("Search errors", "SEV3", ["search"]))
    await s.status("2026-11-06T12:10:00Z", four, "identified")
    await s(
        "2026-11-06T12:20:00Z", "action.added", {"text": "Fix", "owner": "eve", "due": "2026-11-15"}, four
    )

    # INC-5, SEV1 search, resolved straight away (mitigated then too); 30% of users hurt.
    # impact 23:00 the day before, detected 23:30, acknowledged 00:10; resolved 02:00.
    # TTA 2400, TTM 10800, TTR 10800.
    five = await s("2026-11-10T00:00:00Z", "incident.declared", declare("Search down", "SEV1", ["search"]))
    await s.milestone("2026-11-10T00:01:00Z", five, "impact_started", "2026-11-09T23:00:00Z")
    await s.milestone("2026-11-10T00:01:01Z", five, "detected", "2026-11-09T23:30:00Z")
    await s.milestone("2026-11-10T00:10:00Z", five, "acknowledged", "2026-11-10T00:10:00Z")
    await s("2026-11-10T00:20:00Z", "incident.impact_set", {"fraction": 0.3}, five)
    await s.status("2026-11-10T02:00:00Z", five, "resolved")

    # INC-6 and INC-7 come before --from: out of the report, inside the SLO window (or partly).
    six = await s("2026-10-25T10:00:00Z", "incident.declared", declare("Old", "SEV3", ["checkout"]))
    await s.status("2026-10-25T10:20:00Z", six, "monitoring")  # TTM 1200
    await s.status("2026-10-25T10:40:00Z", six, "resolved")
    seven = await s("2026-10-20T23:30:00Z", "incident.declared", declare("Older", "SEV3", ["checkout"]))
    await s.milestone("2026-10-20T23:31:00Z", seven, "impact_started", "2026-10-20T23:00:00Z")
    await s.status("2026-10-21T01:00:00Z", seven, "resolved")  # 3600 s of it inside the window


@pytest.fixture
async def scripted(db_path: Path) -> AsyncIterator[HubServer]:
    clock = Clock()
    server = HubServer(db_path, TOKEN, clock=clock)
    await server.start()
    try:
        await script_incidents(Script(server, clock))
        yield server
    finally:
        await server.stop()


DOC = (Path(__file__).parent.parent / "docs" / "report.md").read_text(encoding="utf-8")
RANGE = ["--from", "2026-11-01", "--to", "2026-12-01", "--now", "2026-11-20"]
SLOS = ["--slo", "checkout=99.5", "--slo", "search=99.9", "--window", "30d"]


def expected_overdue() -> list[dict[str, Any]]:
    return [
        {"id": "A-2", "incident": "INC-1", "owner": "carol", "due": "2026-11-12", "days_overdue": 8},
        {"id": "A-1", "incident": "INC-4", "owner": "eve", "due": "2026-11-15", "days_overdue": 5},
    ]


async def test_the_report_matches_the_numbers_worked_by_hand(
    scripted: HubServer, env: dict[str, str]
) -> None:
    got = await warroom(env, "report", *RANGE, *SLOS, "--json", *hub_args(scripted))
    assert got.code == 0, got.err
    n = json.loads(got.out)
    example = {"incidents", "drills_excluded", "open_excluded", "reopened", "mtta_s", "mttm_s", "mttr_s"}
    assert example | {"by_severity", "by_service", "actions", "slo", "definitions"} <= set(n)
    assert {"id", "owner", "due", "days_overdue"} <= set(n["actions"]["overdue"][0])
    assert {"objective", "window_s", "budget_s", "consumed_s", "consumed_pct"} <= set(n["slo"]["checkout"])
    assert {k: n[k] for k in ("incidents", "drills_excluded", "open_excluded", "reopened")} == {
        "incidents": 3,  # INC-1, INC-2, INC-5
        "drills_excluded": 1,  # INC-3
        "open_excluded": 1,  # INC-4
        "reopened": 1,  # INC-2
    }
    # TTA 720, 900, 2400; TTM 3000, 2400, 10800; TTR 5400, 7200, 10800
    assert (n["mtta_s"], n["mtta_median_s"], n["mtta_p90_s"]) == (1340, 900, 2400)
    assert (n["mttm_s"], n["mttm_median_s"], n["mttm_p90_s"]) == (5400, 3000, 10800)
    assert (n["mttr_s"], n["mttr_median_s"], n["mttr_p90_s"]) == (7800, 7200, 10800)
    assert n["unmeasured"] == {"tta": 0, "ttm": 0, "ttr": 0}
    assert n["by_severity"] == {
        "SEV1": {"incidents": 1, "mtta_s": 2400, "mttm_s": 10800, "mttr_s": 10800},
        "SEV2": {"incidents": 2, "mtta_s": 810, "mttm_s": 2700, "mttr_s": 6300},
    }
    assert n["by_service"] == {
        "checkout": {"incidents": 2, "mtta_s": 810, "mttm_s": 2700, "mttr_s": 6300},
        "search": {"incidents": 2, "mtta_s": 1650, "mttm_s": 6600, "mttr_s": 9000},
    }
    actions = n["actions"]
    assert [
        {k: v for k, v in item.items() if k != "text"} for item in actions["overdue"]
    ] == expected_overdue()
    assert {k: v for k, v in actions.items() if k != "overdue"} == {
        "total": 6,  # INC-1's three, INC-2's two, INC-4's one; not the drill's
        "done": 2,
        "done_on_time": 1,  # A-1 (back-dated to the 9th, due the 10th); A-3 was two days late
        "wont_do": 1,
        "open": 3,
    }
    checkout, search = n["slo"]["checkout"], n["slo"]["search"]
    # 0.5% of 30 days = 12960 s; spent: INC-1 3000 x 0.5 + INC-2 2400 + INC-6 1200 + INC-7's last 3600
    assert {k: checkout[k] for k in ("objective", "window_s", "budget_s", "consumed_s", "consumed_pct")} == {
        "objective": 99.5,
        "window_s": 2592000,
        "budget_s": 12960,
        "consumed_s": 8700,
        "consumed_pct": 67.13,
    }
    assert (checkout["incidents"], checkout["open_excluded"]) == (4, 0)
    assert checkout["burn"] == [
        {"day": "2026-10-21", "consumed_s": 3600},
        {"day": "2026-10-25", "consumed_s": 4800},
        {"day": "2026-11-02", "consumed_s": 6300},
        {"day": "2026-11-04", "consumed_s": 8700},
    ]
    # 0.1% = 2592 s; INC-2 2400 + INC-5 10800 x 0.3; the open INC-4 is left out and counted
    assert (search["budget_s"], search["consumed_s"], search["consumed_pct"]) == (2592, 5640, 217.59)
    assert (search["incidents"], search["open_excluded"]) == (2, 1)
    assert n["weeks"] == [
        {"week": "2026-10-26", "incidents": 0, "mttr_s": None},
        {"week": "2026-11-02", "incidents": 2, "mttr_s": 6300},
        {"week": "2026-11-09", "incidents": 1, "mttr_s": 10800},
        {"week": "2026-11-16", "incidents": 0, "mttr_s": None},
        {"week": "2026-11-23", "incidents": 0, "mttr_s": None},
        {"week": "2026-11-30", "incidents": 0, "mttr_s": None},
    ]
    assert n["definitions"] == DEFINITIONS and {"tta", "ttm", "ttr", "budget_s"} <= set(DEFINITIONS)
    shown = re.search(r"```json\n(.*?)```", DOC, re.S)
    assert shown is not None, "docs/report.md shows the JSON"
    documented = json.loads(shown.group(1))
    assert set(documented) == set(n) and set(documented["slo"]["checkout"]) == set(checkout)
    assert set(documented["actions"]) == set(actions) and set(documented["actions"]["overdue"][0]) == set(
        actions["overdue"][0]
    )


async def test_the_human_report_prints_the_numbers_and_draws_charts(
    scripted: HubServer, env: dict[str, str]
) -> None:
    got = await warroom(env, "report", *RANGE, *SLOS, *hub_args(scripted), "--as", "ann")
    assert got.code == 0, got.err
    out = got.out
    assert "3 counted; 1 drill and 1 open excluded; 1 reopened" in out
    assert re.search(r"TTR\s+2h 10m\s+2h 00m\s+3h 00m", out)  # 7800, 7200, 10800
    assert re.search(r"INC-1/A-2\s+carol\s+due 2026-11-12\s+8d OVERDUE\s+Canary deploys", out)
    assert re.search(r"checkout\s+99.5%\s+3h 36m\s+2h 25m\s+67.13%", out)
    for title in ("Incidents per week", "MTTR per week (minutes)", "checkout: error budget spent, %"):
        assert title in out
    assert "\x1b" not in out  # colourless: the charts go through the same filter as the rest


async def test_filters_and_the_half_open_range(scripted: HubServer) -> None:
    summaries = await scripted.hub.incidents()
    now = at("2026-11-20T00:00:00Z")
    search = report(summaries, Query(now, at("2026-11-01T00:00:00Z"), service="search"))
    assert (search["incidents"], search["open_excluded"], search["drills_excluded"]) == (2, 1, 0)
    assert search["mttr_s"] == 9000 and set(search["by_service"]) == {"checkout", "search"}
    sev1 = report(summaries, Query(now, severity="SEV1"))
    assert (sev1["incidents"], sev1["drills_excluded"], sev1["mttr_s"]) == (1, 1, 10800)
    # [from, to): INC-2 was declared at 08:00 on the 4th
    starting = report(summaries, Query(now, at("2026-11-04T08:00:00Z"), at("2026-11-05T00:00:00Z")))
    ending = report(summaries, Query(now, at("2026-11-03T00:00:00Z"), at("2026-11-04T08:00:00Z")))
    assert (starting["incidents"], ending["incidents"]) == (1, 0)
    everything = report(summaries, Query(now))
    assert everything["incidents"] == 5 and everything["mttr_s"] is not None
    # the SLO window ignores --from: the budget is the service's, whatever the report covers
    narrow = report(summaries, Query(now, at("2026-11-10T00:00:00Z"), slos=(Slo("checkout", 99.5),)))
    assert narrow["slo"]["checkout"]["consumed_s"] == 8700


def test_means_round_half_up_and_nothing_is_taken_as_zero() -> None:
    def resolved(n: int, detected: str, acknowledged: str | None) -> dict[str, Any]:
        marks = {"declared": detected, "detected": detected, "mitigated": detected, "resolved": detected}
        if acknowledged:
            marks["acknowledged"] = acknowledged
        return {"id": f"INC-{n}", "status": "resolved", "severity": "SEV2", "milestones": marks}

    base = "2026-11-02T10:00:00.000Z"
    summaries = [
        resolved(1, base, "2026-11-02T10:00:01.000Z"),
        resolved(2, base, "2026-11-02T10:00:02.000Z"),
        resolved(3, base, None),  # never acknowledged: not a zero, left out of MTTA and counted
        {"id": "INC-4", "status": "investigating", "milestones": {"declared": base}},
        {"id": "INC-5", "status": "resolved", "milestones": "garbage", "declared_at": 7},
    ]
    n = report(summaries, Query(at("2026-11-20T00:00:00Z")))
    assert (n["incidents"], n["open_excluded"]) == (3, 1)
    assert (n["mtta_s"], n["mtta_median_s"], n["unmeasured"]["tta"]) == (2, 2, 1)  # 1.5 -> 2, half up
    assert n["weeks"] == [{"week": "2026-11-02", "incidents": 3, "mttr_s": 0}]


async def test_bad_report_flags_are_one_line_and_exit_2(env: dict[str, str]) -> None:
    nowhere = ["--hub", "ws://127.0.0.1:9", "--token", TOKEN]  # refused before connecting
    cases = {
        ("--from", "yesterday"): "--from: 'yesterday' is not a date",
        ("--from", "2026-12-01", "--to", "2026-11-01"): "is not before --to",
        ("--slo", "checkout"): "--slo: 'checkout' is not SERVICE=OBJECTIVE",
        ("--slo", "checkout=100"): "--slo: 'checkout=100'",
        ("--window", "30x"): "--window: '30x' is not a window",
        ("--now", "2026-13-01"): "--now:",
        ("--severity", "SEV9"): "invalid choice",
    }
    for flags, message in cases.items():
        line = (await warroom(env, "report", *flags, *nowhere)).one_line_error()
        assert message in line, (flags, line)


# -- action items from the command line ------------------------------------------------------


async def test_action_add_done_update_and_list(hub: HubServer, env: dict[str, str]) -> None:
    me = [*hub_args(hub), "--as", "ann"]
    room = (
        await warroom(env, "declare", "Checkout 500s", "--service", "checkout", "--service", "db", *me)
    ).out
    room = room.strip()
    state = await hub.hub.settled_state(room)
    assert state.services == ["checkout", "db"]

    added = await warroom(
        env, "action", "add", room, "Alert on 5xx", "--owner", "bo", "--due", "2026-11-10", *me
    )
    assert added.code == 0 and added.out.strip() == f"{room}/A-1", added.err
    second = await warroom(env, "action", "add", room, "Canary deploys", *me)
    assert second.out.strip() == f"{room}/A-2"

    done = await warroom(
        env, "action", "done", "A-1", "--at", "2026-11-09T16:00:00Z", *me
    )  # bare: one has it
    assert done.code == 0 and done.out.strip().endswith("A-1 done"), done.err
    item = (await hub.hub.settled_state(room)).actions["A-1"]
    assert (item.status, item.done_at) == ("done", "2026-11-09T16:00:00.000Z")

    updated = await warroom(
        env, "action", "update", f"{room}/A-2", "--owner", "carol", "--due", "2026-11-01", *me
    )
    assert updated.code == 0, updated.err
    item = (await hub.hub.settled_state(room)).actions["A-2"]
    assert (item.owner, item.due, item.status) == ("carol", "2026-11-01", "open")

    listed = await warroom(env, "actions", "--now", "2026-11-04", *me)
    assert re.search(rf"{room}/A-2\s+open\s+carol\s+2026-11-01\s+3d OVERDUE Canary deploys", listed.out)
    assert "A-1" not in listed.out  # done items only with --all
    rows = json.loads((await warroom(env, "actions", "--all", "--json", "--now", "2026-11-04", *me)).out)
    assert [(r["id"], r["status"], r["days_overdue"]) for r in rows] == [
        ("A-2", "open", 3),
        ("A-1", "done", None),
    ]
    mine = json.loads((await warroom(env, "actions", "--owner", "bo", "--overdue", "--json", *me)).out)
    assert mine == []

    dropped = await warroom(env, "action", "update", "A-2", "--status", "wont_do", *me)
    assert "reason" in dropped.one_line_error()
    dropped = await warroom(env, "action", "update", "A-2", "--status", "wont_do", "--reason", "dup", *me)
    assert dropped.code == 0, dropped.err

    assert (await warroom(env, "services", room, "checkout", *me)).code == 0
    assert (await warroom(env, "impact", room, "0.3", "--reason", "EU only", *me)).code == 0
    state = await hub.hub.settled_state(room)
    assert (state.services, state.impact_fraction) == (["checkout"], 0.3)


async def test_a_bare_action_id_two_incidents_share_is_refused(hub: HubServer, env: dict[str, str]) -> None:
    me = [*hub_args(hub), "--as", "ann"]
    rooms = [(await warroom(env, "declare", title, *me)).out.strip() for title in ("One", "Two")]
    for room in rooms:
        assert (await warroom(env, "action", "add", room, "Same", *me)).code == 0
    line = (await warroom(env, "action", "done", "A-1", *me)).one_line_error()
    assert line == f"warroom: A-1 is in 2 incidents: {rooms[0]}, {rooms[1]}; say which, as {rooms[0]}/A-1"
    for args, message in (
        (["action", "done", "A-9"], "no incident has an action item A-9"),
        (["action", "done", "nonsense"], "'nonsense' is not an action id"),
        (["action", "done", f"{rooms[0]}/A-1", "--at", "soon"], "is not an ISO-8601 time"),
        (["action", "add", rooms[0], "x", "--due", "15/12/2026"], "is not a date like 2026-12-15"),
        (["action", "update", "A-1"], "say what changes"),
        (["action", "update", f"{rooms[1]}/A-7", "--owner", "x"], "A-7"),
        (["impact", rooms[0], "1.5"], "is not a number from 0 to 1"),
        (["actions", "--now", "soon"], "--now: 'soon' is not a date"),
    ):
        line = (await warroom(env, *args, *me)).one_line_error()
        assert message in line, (args, line)


async def test_the_http_api_lists_action_items(scripted: HubServer) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=scripted.http_url, headers=headers) as http:
        got = await http.get("/api/v1/actions", params={"overdue": "true", "now": "2026-11-20"})
        assert got.status_code == 200, got.text
        items = got.json()["actions"]
        assert [(i["incident"], i["id"], i["days_overdue"]) for i in items] == [
            ("INC-3", "A-1", 14),  # the drill's item is listed here, marked as a drill's
            ("INC-1", "A-2", 8),
            ("INC-4", "A-1", 5),
        ]
        assert items[0]["drill"] is True
        bo = (await http.get("/api/v1/actions", params={"owner": "bo", "all": "true"})).json()["actions"]
        assert [(i["incident"], i["id"], i["status"]) for i in bo] == [
            ("INC-1", "A-3", "done"),
            ("INC-1", "A-1", "done"),
        ]
        for params, field in (({"now": "soon"}, "now"), ({"overdue": "maybe"}, "overdue"), ({"x": "1"}, "x")):
            bad = await http.get("/api/v1/actions", params=params)
            assert bad.status_code == 422 and bad.json()["error"]["field"] == field, bad.text


@pytest.mark.sqlite_only  # its log is written straight into a SQLite file
async def test_hostile_text_in_action_items_and_services_prints_inert(
    db_path: Path, env: dict[str, str]
) -> None:
    from server.store.sqlite import SQLiteStore
    from tests.hostile import HOSTILE, assert_safe
    from tests.test_cli_hostile import event_data
    from warroom.core.events import Event
    from warroom.core.reducer import apply
    from warroom.core.state import IncidentState
    from warroom.core.text import visible

    service = HOSTILE["osc-title"]
    commands: list[tuple[str, dict[str, Any]]] = [
        (
            "incident.declared",
            {"title": "t", "severity": "SEV2", "services": [service, HOSTILE["bidi-override"]]},
        ),
        *[
            ("action.added", {"text": text, "owner": HOSTILE["clear-screen"], "due": "2026-11-01"})
            for text in HOSTILE.values()
        ],
        ("incident.status_changed", {"status": "resolved"}),
    ]
    state, events = IncidentState(room="INC-1"), []
    for seq, (type_, data) in enumerate(commands, start=1):  # a log from before the hub refused them
        clean = {k: [visible(x) for x in v] if isinstance(v, list) else v for k, v in data.items()}
        stored = {**event_data(type_, clean), **data}
        event = Event("INC-1", seq, new_id(), "ann", f"2026-11-0{1 + seq // 10}T03:00:00.000Z", type_, stored)
        apply(state, event)
        events.append(event)
    store = SQLiteStore(db_path)
    await store.open()
    await store.append(events, {"INC-1": new_id()}, {"INC-1": state.summary_dict()}, {})
    await store.close()
    server = HubServer(db_path, TOKEN)
    await server.start()
    try:
        for args in (
            ("actions", "--now", "2026-11-20"),
            ("report", "--now", "2026-11-20", "--slo", f"{service}=99.9", "--from", "2026-10-01"),
        ):
            got = await warroom(env, *args, *hub_args(server))
            assert got.code == 0, got.err
            assert_safe(got.out, f"stdout of {args}")
            assert "␛]0;pwned␇" in got.out, got.out  # shown, made visible
    finally:
        await server.stop()
