"""The hub's runbook library: from its config, attached by alerts once or by hand, worked from the CLI."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.config import load_hub_config
from server.runner import HubServer
from tests.conftest import TOKEN, ClientFactory, declare, wait_for
from tests.test_cli import hub_args, warroom
from warroom.core.errors import Code
from warroom.core.events import Event
from warroom.runbooks.library import shipped_dir

BROKEN = """---
id: broken
title: Broken
match:
  - 'alertname=~"("'
---
- [ ] a step
"""


@pytest.fixture
async def served(
    tmp_path: Path, db_path: Path, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[tuple[HubServer, Path]]:
    """A hub whose config names a copy of the shipped runbooks, plus one broken file."""
    library = tmp_path / "runbooks"
    shutil.copytree(shipped_dir(), library)
    (library / "broken.md").write_text(BROKEN)
    path = tmp_path / "hub.toml"
    path.write_text('runbooks = "runbooks"\n')
    caplog.set_level(logging.INFO, logger="warroom.runbooks")
    server = HubServer(db_path, TOKEN, config=load_hub_config(path), config_path=path)
    await server.start()
    yield server, library
    await server.stop()


def webhook(*alerts: dict[str, Any]) -> dict[str, Any]:
    """An Alertmanager webhook (version 4) carrying these alerts."""
    return {
        "version": "4",
        "status": "firing",
        "receiver": "warroom",
        "groupKey": "{}:{}",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://am.example:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": a["labels"],
                "annotations": a.get("annotations", {}),
                "startsAt": "2026-11-28T00:11:53Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example:9090/graph",
                "fingerprint": a["fingerprint"],
            }
            for a in alerts
        ],
    }


async def post(server: HubServer, room: str, *alerts: dict[str, Any]) -> None:
    async with httpx.AsyncClient(
        base_url=server.http_url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as client:
        response = await client.post(f"/api/v1/alerts/alertmanager?incident={room}", json=webhook(*alerts))
        assert response.status_code == 202, response.text


async def attaches(server: HubServer, room: str) -> list[Event]:
    """The room's runbook.attached events, once every attach the hub queued is committed."""
    await server.runbooks.settled()
    await server.hub.writer.settled()
    return [e for e in await server.hub.store.read(room, 0, 1000) if e.type == "runbook.attached"]


HIGH = {"labels": {"alertname": "HighErrorRate", "severity": "critical", "job": "api"}, "fingerprint": "fp1"}


async def test_a_broken_runbook_is_named_at_start_and_the_hub_keeps_the_good_ones(
    served: tuple[HubServer, Path], caplog: pytest.LogCaptureFixture, env: dict[str, str]
) -> None:
    server, _ = served
    started = caplog.get_records("setup")  # the hub started in the fixture
    left_out = [r.getMessage() for r in started if "left out" in r.getMessage()]
    assert len(left_out) == 1 and "broken.md:5: " in left_out[0], left_out
    shown = await warroom(env, "config", "show", "--json", *hub_args(server))
    assert shown.code == 0, shown.err
    runbooks = json.loads(shown.out)["runbooks"]
    assert runbooks["loaded"] == 4 and len(runbooks["broken"]) == 1 and "broken.md:5" in runbooks["broken"][0]
    text = await warroom(env, "config", "show", *hub_args(server))
    assert "runbooks      4 from" in text.out and "left out" in text.out


async def test_welcome_lists_the_library(served: tuple[HubServer, Path], raw_client: Any) -> None:
    server, _ = served
    raw = await raw_client(server.url)
    welcome = await raw.hello()
    listed = {r["id"]: r for r in welcome["runbooks"]}
    assert set(listed) == {
        "bad-deploy-rollback",
        "certificate-expiry",
        "database-failover",
        "high-error-rate",
    }
    assert listed["high-error-rate"] == {
        "id": "high-error-rate",
        "title": "Service returns a high rate of 5xx errors",
        "owner": "platform-team",
    }


async def test_an_alert_attaches_what_it_matches_once(
    served: tuple[HubServer, Path], make_client: ClientFactory
) -> None:
    server, _ = served
    client = await make_client(server.url, "ann")
    room = await declare(client)
    view = await client.join(room)
    await post(server, room, HIGH)
    await wait_for(lambda: "high-error-rate" in view.state.runbooks, what="auto-attach")
    attached = view.state.runbooks["high-error-rate"]
    assert attached.why == 'match alertname="HighErrorRate", severity="critical"' and attached.alert == "fp1"
    await post(server, room, HIGH)  # re-fired
    second = {"labels": {"alertname": "HighErrorRate", "job": "web"}, "fingerprint": "fp2"}
    await post(server, room, second)  # another alert the same runbook answers
    await wait_for(lambda: view.state.alerts.get("fp2") is not None and view.state.alerts["fp1"].count == 2)
    events = await attaches(server, room)
    assert [(e.data["runbook"], e.actor) for e in events] == [("high-error-rate", "runbooks")]


async def test_the_inbox_gets_no_runbooks_and_an_alert_moved_out_of_it_attaches(
    served: tuple[HubServer, Path], make_client: ClientFactory
) -> None:
    server, _ = served
    client = await make_client(server.url, "ann")
    room = await declare(client)
    async with httpx.AsyncClient(
        base_url=server.http_url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as http:
        assert (await http.post("/api/v1/alerts/alertmanager", json=webhook(HIGH))).status_code == 202
    assert await attaches(server, "inbox") == []
    await client.send("alert.moved", {"fingerprint": "fp1", "to": room}, "inbox")
    view = await client.join(room)
    await wait_for(lambda: "high-error-rate" in view.state.runbooks, what="attach on the move")


async def test_an_alert_attaches_by_its_runbook_url(
    served: tuple[HubServer, Path], make_client: ClientFactory
) -> None:
    server, _ = served
    client = await make_client(server.url, "ann")
    room = await declare(client)
    view = await client.join(room)
    url = "https://runbooks.example.com/database-failover"
    await post(
        server,
        room,
        {"labels": {"alertname": "DbDown"}, "annotations": {"runbook_url": url}, "fingerprint": "db1"},
    )
    await wait_for(lambda: "database-failover" in view.state.runbooks, what="attach by alias")
    assert view.state.runbooks["database-failover"].why == f"runbook_url {url}"
    assert [e.data["runbook"] for e in await attaches(server, room)] == ["database-failover"]


async def test_attach_by_hand_is_a_snapshot_and_a_reload_reads_the_files_again(
    served: tuple[HubServer, Path], make_client: ClientFactory, raw_client: Any
) -> None:
    server, library = served
    client = await make_client(server.url, "ann")
    first, second = await declare(client), await declare(client, "Second")
    raw = await raw_client(server.url)
    await raw.hello("ann")
    reply = await raw.command("runbook.attached", {"runbook": "certificate-expiry"}, first)
    assert reply["t"] == "ack", reply
    view = await client.join(first)
    await wait_for(lambda: "certificate-expiry" in view.state.runbooks)
    attached = view.state.runbooks["certificate-expiry"]
    assert attached.why == "attached by hand" and attached.by == "ann"
    old_title = attached.title

    path = library / "certificate-expiry.md"
    path.write_text(path.read_text().replace(f"title: {old_title}", "title: Renewed title"))
    await server.reload_config()
    assert (await server.hub.settled_state(first)).runbooks["certificate-expiry"].title == old_title
    reply = await raw.command("runbook.attached", {"runbook": "certificate-expiry"}, second)
    assert reply["t"] == "ack", reply
    assert (await server.hub.settled_state(second)).runbooks["certificate-expiry"].title == "Renewed title"
    assert (await server.hub.settled_state(first)).runbooks["certificate-expiry"].title == old_title


async def test_attach_by_hand_refusals_are_error_frames(
    served: tuple[HubServer, Path], make_client: ClientFactory, raw_client: Any
) -> None:
    server, _ = served
    room = await declare(await make_client(server.url, "ann"))
    raw = await raw_client(server.url)
    await raw.hello("ann")
    unknown = await raw.command("runbook.attached", {"runbook": "nope"}, room)
    assert (unknown["t"], unknown["code"], unknown["field"]) == ("error", Code.UNKNOWN_REF, "runbook")
    assert "no runbook 'nope' in this hub's library" in unknown["message"]
    forged = await raw.command("runbook.attached", {"runbook": "nope", "snapshot": {"id": "nope"}}, room)
    assert (forged["t"], forged["code"], forged["field"]) == ("error", Code.INVALID_VALUE, "snapshot")
    assert (await raw.command("runbook.attached", {"runbook": "high-error-rate"}, room))["t"] == "ack"
    twice = await raw.command("runbook.attached", {"runbook": "high-error-rate"}, room)
    assert (twice["t"], twice["code"]) == ("error", Code.NO_CHANGE)


async def test_the_cli_attaches_and_works_steps_with_who_and_when(
    served: tuple[HubServer, Path], make_client: ClientFactory, env: dict[str, str]
) -> None:
    server, _ = served
    room = await declare(await make_client(server.url, "ann"))
    args = [*hub_args(server), "--as", "bob"]
    attached = await warroom(env, "runbook", "attach", room, "high-error-rate", *args)
    assert attached.code == 0 and attached.out.strip().startswith(f"{room} #"), attached.err
    unknown = await warroom(env, "runbook", "attach", room, "nope", *args)
    assert "no runbook 'nope' in this hub's library" in unknown.one_line_error()

    for step_args in (
        ["dashboard", "--check"],
        ["upstream", "--check"],
        ["upstream", "--uncheck"],
        ["recent-deploys", "--skip", "no deploys today"],
        ["db", "--assign", "carol"],
        ["db", "--note", "pool at 95%"],
    ):
        done = await warroom(env, "step", room, "high-error-rate", *step_args, *args)
        assert done.code == 0, done.err
    steps = (await server.hub.settled_state(room)).runbooks["high-error-rate"].steps
    assert (steps["dashboard"].state, steps["dashboard"].by) == ("done", "bob") and steps["dashboard"].at
    assert steps["upstream"].state == "open"
    assert (steps["recent-deploys"].state, steps["recent-deploys"].reason) == ("skipped", "no deploys today")
    assert steps["db"].assignee == "carol"
    note = steps["db"].notes[0]
    assert (note.text, note.by) == ("pool at 95%", "bob") and note.at

    refused = await warroom(env, "step", room, "high-error-rate", "nope", "--check", *args)
    assert "has no step 'nope'" in refused.one_line_error()
    both = await warroom(env, "step", room, "high-error-rate", "db", "--check", "--uncheck", *args)
    assert "not allowed with" in both.one_line_error()
    neither = await warroom(env, "step", room, "high-error-rate", "db", *args)
    assert "one of the arguments" in neither.one_line_error()


def test_the_welcome_list_stops_before_it_grows_past_its_cap(tmp_path: Path) -> None:
    """A library of a thousand long-titled runbooks still leaves welcome well inside a frame."""
    from server.runbooks import LISTING_BYTES, listing
    from warroom.runbooks.library import load_library

    for n in range(1000):
        (tmp_path / f"rb-{n:04d}.md").write_text(
            f"---\nid: rb-{n:04d}\ntitle: {'A long title ' * 15}{n}\nowner: team-{n % 7}\n---\n- [ ] look\n"
        )
    listed = listing(load_library(tmp_path))
    assert 100 < len(listed) < 1000 and listed[0]["id"] == "rb-0000"
    assert len(json.dumps(listed, separators=(",", ":")).encode()) <= LISTING_BYTES


async def test_overdue_steps_are_marked_in_show_and_in_the_incident_list(
    tmp_path: Path, db_path: Path, make_client: ClientFactory, env: dict[str, str]
) -> None:
    """Due times are judged by the reader's clock: a step falls due with no event to say so."""
    from warroom.core.events import Command
    from warroom.core.protocol import new_id
    from warroom.runbooks.library import load_library

    server = HubServer(db_path, TOKEN)
    await server.start()
    try:
        room = await declare(await make_client(server.url, "ann"))
        snap = load_library(shipped_dir()).runbooks["high-error-rate"].to_dict()
        for step in (step for section in snap["sections"] for step in section["steps"]):
            if step["id"] == "endpoints":
                step["due_minutes"] = -5  # fell due before it was attached: only a test does this
        data = {"runbook": snap["id"], "snapshot": snap, "why": "by hand"}
        await server.hub.execute(Command(new_id(), "runbook.attached", data, room), "runbooks", internal=True)
        shown = await warroom(env, "show", room, *hub_args(server))
        line = next(line for line in shown.out.splitlines() if "Check which endpoints fail" in line)
        assert "[ ] OVERDUE since" in line
        assert "high-error-rate  0/" in shown.out and "1 OVERDUE  Service returns" in shown.out
        assert "(done by" not in shown.out
        listed = await warroom(env, "incidents", *hub_args(server))
        assert "1 OVERDUE " in next(line for line in listed.out.splitlines() if line.startswith(room))
        step = ["step", room, "high-error-rate", "endpoints", "--check"]
        checked = await warroom(env, *step, *hub_args(server))
        assert checked.code == 0, checked.err
        shown = await warroom(env, "show", room, *hub_args(server))
        assert "OVERDUE" not in shown.out and "[x] $ Check which endpoints fail  (done by " in shown.out
        listed = await warroom(env, "incidents", *hub_args(server))
        assert "OVERDUE" not in listed.out
    finally:
        await server.stop()
