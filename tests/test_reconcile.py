"""Reconciliation with real Alertmanagers on 127.0.0.1: silences and alerts stay true in the room.

Alerts are posted to Alertmanager's own API, reach the hub through its real
webhook, and the hub's reconciler reads Alertmanager back on a short interval.
A second Alertmanager under Grafana's API prefix stands in for Grafana's
Alertmanager-compatible silences API.
"""

from __future__ import annotations

import asyncio
import functools
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from server.config import parse_hub_config
from server.runner import HubServer
from server.sources import GRAFANA_API
from tests.conftest import (
    TOKEN,
    ClientFactory,
    assert_log_is_whole,
    issue,
    log_of,
    refused_port,
    require_peer,
    wait_for,
)
from tests.test_alertmanager import UNROUTED, Alertmanager, iso
from tests.test_metrics import scrape
from tests.test_metrics import value as metric
from warroom.client import CommandRejected, HubClient
from warroom.client.hub_client import RoomView
from warroom.core.events import Command
from warroom.core.protocol import new_id

BEARER = {"Authorization": f"Bearer {TOKEN}"}
INTERVAL = 0.3  # seconds between reconciliations in these tests
AM_FLAGS = ("--data.retention=10m",)


@dataclass
class Stack:
    server: HubServer
    am: Alertmanager
    room: str
    tmp: Path
    grafana: Alertmanager | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def webhook(self) -> str:
        return f"{self.server.http_url}/api/v1/alerts/alertmanager?incident={self.room}&token={TOKEN}"

    async def polls(self, rounds: int, name: str = "am1") -> None:
        """Wait until the reconciler has done ``rounds`` more rounds with ``name``."""
        polls = self.server.alerts.reconciler.polls
        start = polls.get(name, 0)
        await wait_for(lambda: polls.get(name, 0) >= start + rounds, 30, f"{rounds} reconciliations")

    def events(self, type_: str) -> list[tuple[str, int, str, str]]:
        return [row for row in log_of(self.server.db) if row[3] == type_]


def hub_config(am_url: str, **extra: Any) -> dict[str, Any]:
    more = extra.pop("alertmanagers", {})
    return {
        "alertmanagers": {
            "am1": {"url": am_url, "resolve_timeout": extra.pop("resolve_timeout", "2s")},
            **more,
        },
        "reconcile": {"interval": INTERVAL},
        **extra,
    }


async def start_stack(binary: str, tmp: Path, **extra: Any) -> Stack:
    (tmp / "am1").mkdir()
    am = Alertmanager(binary, tmp / "am1")
    await am.start(UNROUTED, *AM_FLAGS)  # first, for its port; the hub's config names it
    server = HubServer(tmp / "hub.db", TOKEN, config=parse_hub_config(hub_config(am.url, **extra)))
    await server.start()
    ack = await server.hub.execute(
        Command(new_id(), "incident.declared", {"title": "Storage", "severity": "SEV2"}), "ann"
    )
    stack = Stack(server, am, str(ack.room), tmp)
    await am.route_to(stack.webhook + "&alertmanager=am1")
    return stack


@pytest.fixture
def binary() -> str:
    return require_peer("prometheus-alertmanager")


@pytest.fixture
async def stack(binary: str, tmp_path: Path) -> AsyncIterator[Stack]:
    s = await start_stack(binary, tmp_path)
    try:
        yield s
    finally:
        s.am.stop()
        await s.server.stop()


def fired(name: str, instance: str, ends: datetime | None = None) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "labels": {"alertname": name, "instance": instance, "severity": "warning"},
        "annotations": {"summary": f"{name} on {instance}"},
        "startsAt": iso(datetime.now(UTC) - timedelta(minutes=1)),
    }
    if ends is not None:
        alert["endsAt"] = iso(ends)
    return alert


async def fire(stack: Stack, view: RoomView, alerts: list[dict[str, Any]]) -> None:
    async with httpx.AsyncClient(base_url=stack.am.url) as http:
        assert (await http.post("/api/v2/alerts", json=alerts)).status_code == 200
    wanted = {a["labels"]["instance"] for a in alerts}
    await wait_for(
        lambda: wanted <= {a.labels.get("instance") for a in view.state.alerts.values()},
        30,
        "alerts through the real webhook",
    )


def by_instance(view: RoomView, instance: str) -> Any:
    return next(a for a in view.state.alerts.values() if a.labels.get("instance") == instance)


def lines(view: RoomView) -> list[str]:
    return [e.text for e in view.state.entries.values()]


def their_silence(alertname: str, by: str, comment: str, hours: int = 2) -> dict[str, Any]:
    """A silence as a person makes it in Alertmanager's (or Grafana's) own API."""
    now = datetime.now(UTC)
    return {
        "matchers": [{"name": "alertname", "value": alertname, "isRegex": False, "isEqual": True}],
        "startsAt": iso(now),
        "endsAt": iso(now + timedelta(hours=hours)),
        "createdBy": by,
        "comment": comment,
    }


def amtool(stack: Stack, *args: str) -> str:
    tool = require_peer("amtool")
    done = subprocess.run(
        [tool, f"--alertmanager.url={stack.am.url}", *args], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_silences_expired_or_made_in_alertmanager_show_in_the_room_once(
    stack: Stack, make_client: ClientFactory
) -> None:
    ann = await make_client(stack.server.url, "ann")
    view = await ann.join(stack.room)
    await fire(stack, view, [fired("DiskFull", "db-1"), fired("NodeDown", "web-1")])
    disk, node = by_instance(view, "db-1"), by_instance(view, "web-1")
    assert disk.origin == "am1"

    body = {"fingerprint": disk.fingerprint, "minutes": 60, "reason": "migrating", "upstream": True}
    await ann.send("alert.silenced", body, stack.room)
    silence_id = view.state.alerts[disk.fingerprint].silence_id
    assert silence_id and view.state.alerts[disk.fingerprint].silence_origin == "am1"
    await stack.polls(3)
    assert stack.events("silence.synced") == []  # the room's own silence, read back: nothing new

    amtool(stack, "silence", "expire", silence_id)
    await wait_for(lambda: view.state.silences[silence_id].state == "expired", 5, "the expiry in the room")
    assert view.state.alerts[disk.fingerprint].silenced_until is None
    assert lines(view)[-1] == "the silence by ann on 1 alert expired in Alertmanager am1"

    # A silence made in Alertmanager's own API shows who made it.
    made = their_silence("NodeDown", "carol", "kernel upgrade")
    async with httpx.AsyncClient(base_url=stack.am.url) as http:
        their_id = (await http.post("/api/v2/silences", json=made)).json()["silenceID"]
    await wait_for(lambda: view.state.alerts[node.fingerprint].silenced_by == "carol", 5, "their silence")
    assert view.state.alerts[node.fingerprint].silence_id == their_id
    assert lines(view)[-1].startswith("carol silenced 1 alert in Alertmanager am1 until ")
    assert lines(view)[-1].endswith(": kernel upgrade")
    await stack.polls(3)
    assert len(stack.events("silence.synced")) == 2  # one each: nothing again while nothing changes


async def test_an_alert_resolved_while_silenced_resolves_in_the_room(
    stack: Stack, make_client: ClientFactory
) -> None:
    ann = await make_client(stack.server.url, "ann")
    view = await ann.join(stack.room)
    await fire(stack, view, [fired("DiskFull", "db-1")])
    disk = by_instance(view, "db-1")
    body = {"fingerprint": disk.fingerprint, "minutes": 60, "reason": "known", "upstream": True}
    await ann.send("alert.silenced", body, stack.room)
    # Resolved in Alertmanager while silenced: its webhook never tells the hub.
    await fire(stack, view, [fired("DiskFull", "db-1", ends=datetime.now(UTC) - timedelta(seconds=1))])
    await wait_for(lambda: view.state.alerts[disk.fingerprint].stale_since is not None, 30, "stale")
    assert "is stale: Alertmanager am1 no longer lists it; it resolves at " in lines(view)[-1]
    await wait_for(lambda: view.state.alerts[disk.fingerprint].status == "resolved", 30, "resolved")
    assert lines(view)[-1].endswith("resolved: Alertmanager am1 has not listed it for 2s")
    await stack.polls(3)
    assert len(stack.events("alert.stale")) == 1 and len(stack.events("alert.resolved")) == 1


async def test_an_alertmanager_restart_makes_its_lost_alerts_stale_then_resolved(
    stack: Stack, make_client: ClientFactory
) -> None:
    ann = await make_client(stack.server.url, "ann")
    view = await ann.join(stack.room)
    await fire(stack, view, [fired("NodeDown", "db-1"), fired("NodeDown", "db-2")])
    stack.am.stop()  # it forgets its alerts; its silences are on disk
    await stack.am.start(stack.webhook + "&alertmanager=am1", *AM_FLAGS)
    await wait_for(lambda: all(a.stale_since for a in view.state.alerts.values()), 15, "both alerts stale")
    await wait_for(
        lambda: all(a.status == "resolved" for a in view.state.alerts.values()), 15, "both resolved"
    )
    # Fired again after the restart: the room has it firing, fresh.
    await fire(stack, view, [fired("NodeDown", "db-1")])
    await wait_for(lambda: by_instance(view, "db-1").status == "firing", 15, "db-1 firing again")
    await stack.polls(3)
    assert by_instance(view, "db-1").stale_since is None
    assert len(stack.events("alert.stale")) == 2 and len(stack.events("alert.resolved")) == 2
    metrics = await scrape(stack.server)  # what reconciliation did, as Prometheus sees it
    assert metric(metrics, "warroom_reconcile_events_total", type="alert.stale") == 2
    assert metric(metrics, "warroom_reconcile_polls_total", source="am1") >= 3
    assert metric(metrics, "warroom_alerts_received_total", source="alertmanager") >= 3


async def test_a_silence_by_matcher_covers_every_instance_and_only_them(
    stack: Stack, make_client: ClientFactory
) -> None:
    ann = await make_client(stack.server.url, "ann")
    view = await ann.join(stack.room)
    await fire(stack, view, [fired("NodeDown", i) for i in ("db-1", "db-2", "db-3", "web-1")])

    for matchers, code, where in (
        (["instance=~nothing-.*"], "no_change", "matchers"),
        (["instance=~("], "invalid_value", "matchers[0]"),
    ):
        with pytest.raises(CommandRejected) as refused:
            await ann.send(
                "alerts.silenced",
                {"matchers": matchers, "minutes": 30, "reason": "r", "upstream": True},
                stack.room,
            )
        assert (refused.value.error.code, refused.value.error.field) == (code, where)

    body = {
        "matchers": ["alertname=NodeDown", "instance=~db-.*"],
        "minutes": 30,
        "reason": "db patching",
        "upstream": True,
    }
    command_id = new_id()
    await ann.submit("alerts.silenced", body, stack.room, command_id=command_id)
    resent = await ann.submit("alerts.silenced", body, stack.room, command_id=command_id)
    assert resent["duplicate"] is True
    silenced = {a.labels["instance"] for a in view.state.alerts.values() if a.silenced_until}
    assert silenced == {"db-1", "db-2", "db-3"}
    async with httpx.AsyncClient(base_url=stack.am.url) as http:
        silences = (await http.get("/api/v2/silences")).json()
        assert len(silences) == 1  # one silence, however many alerts and resends
        assert silences[0]["createdBy"] == "ann" and silences[0]["comment"] == "db patching"
        assert {(m["name"], m["value"], m["isRegex"]) for m in silences[0]["matchers"]} == {
            ("alertname", "NodeDown", False),
            ("instance", "db-.*", True),
        }
        listed = (await http.get("/api/v2/alerts")).json()
    held = {a["labels"]["instance"]: a["status"]["silencedBy"] for a in listed}
    assert held == {
        "db-1": [silences[0]["id"]],
        "db-2": [silences[0]["id"]],
        "db-3": [silences[0]["id"]],
        "web-1": [],
    }
    assert lines(view)[-1] == (
        "silenced 3 alerts matching alertname=NodeDown, instance=~db-.* "
        "for 30m in Alertmanager am1: db patching"
    )
    await stack.polls(3)
    assert stack.events("silence.synced") == []


async def test_silences_go_where_each_alert_came_from(
    binary: str, tmp_path: Path, make_client: ClientFactory
) -> None:
    (tmp_path / "grafana").mkdir()
    grafana = Alertmanager(binary, tmp_path / "grafana", prefix=GRAFANA_API)
    await grafana.start(UNROUTED, *AM_FLAGS)
    stack = await start_stack(binary, tmp_path, grafana={"url": grafana.url, "token": "glsa_test"})
    try:
        ann = await make_client(stack.server.url, "ann")
        view = await ann.join(stack.room)
        async with httpx.AsyncClient(base_url=stack.server.http_url, headers=BEARER) as http:
            rule = {
                "status": "firing",
                "labels": {"alertname": "CPU", "instance": "gf-1"},
                "fingerprint": "g1",
            }
            body = {"receiver": "warroom", "status": "firing", "orgId": 1, "alerts": [rule]}
            url = f"/api/v1/alerts/alertmanager?incident={stack.room}"
            assert (await http.post(url, json=body)).status_code == 202
            hook = {"alerts": [{"name": "Backup", "fingerprint": "w1", "labels": {"instance": "nas"}}]}
            assert (await http.post(f"/api/v1/alerts?incident={stack.room}", json=hook)).status_code == 202
            trigger = {
                "routing_key": "R0UT1NGK3Y0000000000000000000000",
                "event_action": "trigger",
                "dedup_key": "p1",
                "payload": {"summary": "Disk", "source": "nas", "severity": "error"},
            }
            url = f"/api/v1/alerts/pagerduty?incident={stack.room}"
            assert (await http.post(url, json=trigger)).status_code == 202
            unknown = await http.post(
                f"/api/v1/alerts/alertmanager?alertmanager=nope&incident={stack.room}", json=body
            )
            assert unknown.status_code == 400 and unknown.json()["error"]["field"] == "alertmanager"
        await wait_for(lambda: {"g1", "w1", "pd:p1"} <= set(view.state.alerts), 30, "three alerts")
        assert view.state.alerts["g1"].origin == "grafana" and view.state.alerts["w1"].origin is None

        body2 = {"fingerprint": "g1", "minutes": 30, "reason": "load test", "upstream": True}
        await ann.send("alert.silenced", body2, stack.room)
        g1 = view.state.alerts["g1"]
        assert g1.silence_id and g1.silence_origin == "grafana"
        assert lines(view)[-1] == "silenced CPU{instance=gf-1} for 30m in Grafana: load test"
        async with httpx.AsyncClient() as http:
            there = (await http.get(f"{grafana.url}{GRAFANA_API}/api/v2/silences")).json()
            assert [s["id"] for s in there] == [g1.silence_id]
            assert (await http.get(f"{stack.am.url}/api/v2/silences")).json() == []
            await ann.send("alert.unsilenced", {"fingerprint": "g1"}, stack.room)
            there = (await http.get(f"{grafana.url}{GRAFANA_API}/api/v2/silences")).json()
            assert there[0]["status"]["state"] == "expired"
            # A silence made in Grafana itself shows in the room, by who made it.
            made = their_silence("CPU", "gina", "load test", hours=1)
            answer = await http.post(f"{grafana.url}{GRAFANA_API}/api/v2/silences", json=made)
            assert answer.status_code == 200
        await wait_for(lambda: view.state.alerts["g1"].silenced_by == "gina", 30, "Grafana's own silence")
        assert view.state.alerts["g1"].silence_origin == "grafana"
        assert lines(view)[-1].startswith("gina silenced 1 alert in Grafana until ")

        for fingerprint in ("w1", "pd:p1"):
            body3 = {"fingerprint": fingerprint, "minutes": 30, "reason": "noisy", "upstream": True}
            await ann.send("alert.silenced", body3, stack.room)
            alert = view.state.alerts[fingerprint]
            assert alert.silenced_until and not alert.upstream_silence and alert.silence_origin is None
            assert lines(view)[-1].endswith("for 30m in this room only: noisy")
        last = (await stack.server.hub.store.scan(("alert.silenced",)))[-1]
        assert last.data["upstream"] is False and "silence_id" not in last.data  # room only
    finally:
        grafana.stop()
        stack.am.stop()
        await stack.server.stop()


@dataclass
class Flaky:
    """A tiny Alertmanager API on 127.0.0.1 that answers well, answers 500, talks nonsense or hangs."""

    mode: str = "ok"
    listed: list[dict[str, Any]] = field(default_factory=list)
    asked: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: Request) -> Response:
        self.asked += 1
        if self.mode == "500":
            return PlainTextResponse("boom", status_code=500)
        if self.mode == "garbage":
            return PlainTextResponse("<html>proxy says hi</html>")
        if self.mode == "hang":
            await self.release.wait()
        path = request.url.path
        if self.mode == "dict" and path.endswith("/alerts"):
            return JSONResponse({})  # a proxy's answer, say: not a listing
        if path.endswith("/status"):
            return JSONResponse({"uptime": "2026-12-01T00:00:00Z"})
        return JSONResponse(self.listed if path.endswith("/alerts") else [])


@pytest.fixture
async def flaky() -> AsyncIterator[tuple[Flaky, str]]:
    fake = Flaky()
    app = Starlette(routes=[Route("/{path:path}", fake.handle)])
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await wait_for(lambda: server.started, what="the fake Alertmanager")
    yield fake, f"http://127.0.0.1:{sock.getsockname()[1]}"
    fake.release.set()
    server.should_exit = True
    await task


async def test_an_alertmanager_that_fails_is_said_once_and_once_again_when_it_answers(
    flaky: tuple[Flaky, str], tmp_path: Path, make_client: ClientFactory
) -> None:
    fake, url = flaky
    listed = {
        "fingerprint": "f1",
        "labels": {"alertname": "Disk", "instance": "db-1"},
        "startsAt": iso(datetime.now(UTC)),
    }
    fake.listed = [listed]
    config = {**hub_config(url), "reconcile": {"interval": 0.1}}  # backoff: 0.2 s doubling to 1.6 s
    server = HubServer(tmp_path / "hub.db", TOKEN, config=parse_hub_config(config))
    await server.start()
    try:
        ann = await make_client(server.url, "ann")
        room = (await ann.send("incident.declared", {"title": "t", "severity": "SEV3"}))["room"]
        view = await ann.join(room)
        async with httpx.AsyncClient(base_url=server.http_url, headers=BEARER) as http:
            body = {"alerts": [{**listed, "status": "firing"}]}
            url_ = f"/api/v1/alerts/alertmanager?incident={room}&alertmanager=am1"
            assert (await http.post(url_, json=body)).status_code == 202
        await wait_for(lambda: "f1" in view.state.alerts, 30, "the alert")

        async def said() -> list[str]:
            return [e.data.get("error", "") for e in await server.hub.store.scan(("source.checked",))]

        for mode, tries in (("500", 2), ("garbage", 1), ("hang", 1)):
            fake.mode, goal = mode, fake.asked + tries
            await wait_for(
                functools.partial(lambda goal: fake.asked >= goal, goal), 30, f"tries while {mode}"
            )
        errors = await said()
        assert len(errors) == 1 and errors[0].startswith(
            "answered 500 to /api/v2/"
        )  # said once, whatever next
        assert view.state.source_errors == {"am1": errors[0]}
        alert = view.state.alerts["f1"]
        assert alert.status == "firing" and alert.stale_since is None  # its state is kept
        fake.mode = "ok"
        fake.release.set()
        await wait_for(lambda: not view.state.source_errors, 30, "the recovery")
        assert await said() == [errors[0], ""]
        assert "answers again" in lines(view)[-1]
        polls = server.alerts.reconciler.polls
        start = polls.get("am1", 0)
        await wait_for(lambda: polls.get("am1", 0) >= start + 3, 30, "more rounds")
        assert len(await said()) == 2 and view.state.alerts["f1"].stale_since is None
    finally:
        await server.stop()


async def test_a_source_that_sends_no_resolve_goes_stale_then_resolves(
    tmp_path: Path, make_client: ClientFactory
) -> None:
    config = {"reconcile": {"interval": INTERVAL}, "resolve_timeout": {"webhook": "1s"}}
    server = HubServer(tmp_path / "hub.db", TOKEN, config=parse_hub_config(config))
    await server.start()
    try:
        ann = await make_client(server.url, "ann")
        room = (await ann.send("incident.declared", {"title": "t", "severity": "SEV3"}))["room"]
        view = await ann.join(room)
        async with httpx.AsyncClient(base_url=server.http_url, headers=BEARER) as http:
            hook = {"alerts": [{"name": "Backup", "fingerprint": "w1"}]}
            assert (await http.post(f"/api/v1/alerts?incident={room}", json=hook)).status_code == 202
        await wait_for(lambda: "w1" in view.state.alerts, 30, "the alert")
        await wait_for(lambda: view.state.alerts["w1"].stale_since is not None, 30, "stale")
        assert "is stale: nothing from webhook for 1s" in lines(view)[-1]
        await wait_for(lambda: view.state.alerts["w1"].status == "resolved", 30, "resolved")
        assert lines(view)[-1].endswith("resolved: nothing from webhook while stale for 1s")
    finally:
        await server.stop()


async def test_a_hub_restart_loses_nothing_and_writes_nothing_twice(
    binary: str, tmp_path: Path, make_client: ClientFactory
) -> None:
    stack = await start_stack(binary, tmp_path, resolve_timeout="1h")
    acked: list[str] = []
    try:
        ann = await make_client(stack.server.url, "ann")
        view = await ann.join(stack.room)
        await fire(stack, view, [fired("DiskFull", "db-1"), fired("NodeDown", "db-2")])
        node = by_instance(view, "db-2")
        made = their_silence("DiskFull", "carol", "planned")
        async with httpx.AsyncClient(base_url=stack.am.url) as http:
            assert (await http.post("/api/v2/silences", json=made)).status_code == 200
        body = {"fingerprint": node.fingerprint, "minutes": 60, "reason": "r", "upstream": True}
        acked.append((await ann.submit("alert.silenced", body, stack.room))["id"])
        await fire(stack, view, [fired("NodeDown", "db-2", ends=datetime.now(UTC) - timedelta(seconds=1))])
        await wait_for(lambda: view.state.alerts[node.fingerprint].stale_since is not None, 30, "stale")
        await wait_for(lambda: len(stack.events("silence.synced")) == 1, 30, "carol's silence")
        await stack.polls(2)
        before = {t: len(stack.events(t)) for t in ("silence.synced", "alert.stale", "source.checked")}
        await ann.close()
    finally:
        await stack.server.stop()
    server = HubServer(
        tmp_path / "hub.db", TOKEN, config=parse_hub_config(hub_config(stack.am.url, resolve_timeout="1h"))
    )
    await server.start()
    try:
        stack.server = server
        await stack.polls(3)
        after = {t: len(stack.events(t)) for t in before}
        assert after == before == {"silence.synced": 1, "alert.stale": 1, "source.checked": 0}
    finally:
        stack.am.stop()
        await server.stop()
    assert_log_is_whole(tmp_path / "hub.db", acked)


def test_a_listed_silence_reads_back_into_matchers_the_core_parses_and_idle_ones_are_not_retried() -> None:
    from server.reconcile_plan import matcher_text, plan_silences
    from tests.test_core import run
    from warroom.core.matchers import parse_matcher

    for name, value, regex, equal in (
        ("summary", 'a "b" = c', False, True),
        ("instance", "db-.*", True, False),
    ):
        text = matcher_text({"name": name, "value": value, "isRegex": regex, "isEqual": equal})
        assert parse_matcher(text).to_alertmanager() == {
            "name": name,
            "value": value,
            "isRegex": regex,
            "isEqual": equal,
        }
    labels = {"alertname": "NodeDown", "instance": "db-1"}
    state = run(
        [("alert.upserted", {"fingerprint": "f", "alertname": "NodeDown", "labels": labels, "origin": "am1"})]
    )
    ends = iso(datetime.now(UTC) + timedelta(hours=1))

    def silence(sid: str, value: str) -> dict[str, Any]:  # no comment, no createdBy: still a silence
        matcher = {"name": "instance", "value": value, "isRegex": True, "isEqual": True}
        return {"id": sid, "status": {"state": "active"}, "endsAt": ends, "matchers": [matcher]}

    idle: dict[str, tuple[int, int]] = {}
    fetched = iso(datetime.now(UTC))
    made = plan_silences(state, "am1", [silence("s1", "db-.*"), silence("s2", "web-.*")], fetched, idle)
    assert [c.data["id"] for c in made] == ["s1"] and "comment" not in made[0].data
    assert list(idle) == ["s2"]  # covers nothing: not tried again until the room's firing alerts change
    assert plan_silences(state, "am2", [silence("s1", "db-.*")], fetched, {}) == []  # another origin's only


async def test_a_group_silence_is_bounded_and_all_or_nothing_across_alertmanagers(
    binary: str, tmp_path: Path, make_client: ClientFactory
) -> None:
    dead = f"http://127.0.0.1:{refused_port()}"  # an Alertmanager that is down: nothing listens there
    stack = await start_stack(binary, tmp_path, alertmanagers={"zz": {"url": dead}})
    try:
        ann = await make_client(stack.server.url, "ann")
        view = await ann.join(stack.room)
        await fire(stack, view, [fired("NodeDown", "db-1")])
        async with httpx.AsyncClient(base_url=stack.server.http_url, headers=BEARER) as http:
            other = {
                "status": "firing",
                "labels": {"alertname": "NodeDown", "instance": "db-2"},
                "fingerprint": "z1",
            }
            url = f"/api/v1/alerts/alertmanager?incident={stack.room}&alertmanager=zz"
            assert (await http.post(url, json={"alerts": [other]})).status_code == 202
        await wait_for(lambda: "z1" in view.state.alerts, 30, "zz's alert")
        assert view.state.alerts["z1"].origin == "zz"

        sam = HubClient(stack.server.url, await issue(stack.server, "sam", scope=[stack.room]), "sam")
        await sam.connect()
        try:
            await sam.join(stack.room)
            body = {"matchers": ["instance=~db-.*"], "minutes": 30, "reason": "r", "upstream": True}
            with pytest.raises(CommandRejected) as refused:  # no alertname=: the hub's bounds say no
                await sam.send("alerts.silenced", body, stack.room)
            assert (refused.value.error.code, refused.value.error.field) == ("forbidden", "matchers")
        finally:
            await sam.close()

        body = {"matchers": ["alertname=NodeDown"], "minutes": 30, "reason": "r", "upstream": True}
        with pytest.raises(CommandRejected) as refused:
            await ann.send("alerts.silenced", body, stack.room)
        assert refused.value.error.code == "upstream_failed" and "zz" in refused.value.error.message
        async with httpx.AsyncClient(base_url=stack.am.url) as http:
            made = (await http.get("/api/v2/silences")).json()
        assert [s["status"]["state"] for s in made] == ["expired"]  # am1 made its silence first: undone
        assert not any(a.silenced_until for a in view.state.alerts.values())  # nothing half-done
    finally:
        stack.am.stop()
        await stack.server.stop()


async def fake_stack(url: str, tmp_path: Path, **extra: Any) -> tuple[HubServer, str]:
    """A hub reconciling with the fake Alertmanager at ``url``, and a room to hold its alerts."""
    config = {**hub_config(url, **extra), "reconcile": {"interval": 0.1}}
    server = HubServer(tmp_path / "hub.db", TOKEN, config=parse_hub_config(config))
    await server.start()
    ack = await server.hub.execute(
        Command(new_id(), "incident.declared", {"title": "t", "severity": "SEV3"}), "ann"
    )
    return server, str(ack.room)


def listed_alert(n: int) -> dict[str, Any]:
    labels = {"alertname": "Disk", "instance": f"db-{n}"}
    return {"fingerprint": f"f{n}", "labels": labels, "startsAt": iso(datetime.now(UTC))}


async def post_listed(server: HubServer, room: str, alerts: list[dict[str, Any]]) -> None:
    async with httpx.AsyncClient(base_url=server.http_url, headers=BEARER) as http:
        body = {"alerts": [{**a, "status": "firing"} for a in alerts]}
        url = f"/api/v1/alerts/alertmanager?incident={room}&alertmanager=am1"
        assert (await http.post(url, json=body)).status_code == 202


async def test_a_large_round_is_written_a_chunk_at_a_time(flaky: tuple[Flaky, str], tmp_path: Path) -> None:
    fake, url = flaky
    fake.listed = [listed_alert(n) for n in range(600)]
    server, room = await fake_stack(url, tmp_path, resolve_timeout="1h")
    try:
        await post_listed(server, room, fake.listed)
        stale_per_batch: list[int] = []
        server.hub.listeners.append(
            lambda _room, events: stale_per_batch.append(sum(e.type == "alert.stale" for e in events))
        )
        fake.listed = []  # an Alertmanager restarted: every alert is gone from it at once
        await wait_for(lambda: sum(stale_per_batch) == 600, 30, "600 stale alerts committed")
        # Queued whole, the writer would commit them 512 at a time, people's lines behind them.
        assert max(stale_per_batch) <= 256
    finally:
        await server.stop()


async def test_an_alert_listing_that_is_not_a_list_is_a_failing_source_not_an_empty_one(
    flaky: tuple[Flaky, str], tmp_path: Path
) -> None:
    fake, url = flaky
    fake.listed = [listed_alert(1)]
    server, room = await fake_stack(url, tmp_path)  # resolve_timeout 2s: "empty" would resolve it
    try:
        await post_listed(server, room, fake.listed)
        state = (await server.hub.room(room)).state
        await wait_for(lambda: "f1" in state.alerts, 30, "the alert")
        fake.mode = "dict"
        await wait_for(lambda: "am1" in state.source_errors, 30, "the failure said")
        assert "not Alertmanager's API (alerts)" in state.source_errors["am1"]
        goal = fake.asked + 6
        await wait_for(lambda: fake.asked >= goal, 30, "more tries")
        assert state.alerts["f1"].stale_since is None and state.alerts["f1"].status == "firing"
    finally:
        await server.stop()


async def test_a_room_with_nothing_left_to_reconcile_is_not_loaded_by_each_round(
    flaky: tuple[Flaky, str], tmp_path: Path
) -> None:
    fake, url = flaky
    fake.listed = [listed_alert(1)]
    server, room = await fake_stack(url, tmp_path, resolve_timeout="0.3s")
    try:
        await post_listed(server, room, fake.listed)
        state = (await server.hub.room(room)).state
        await wait_for(lambda: "f1" in state.alerts, 30, "the alert")
        fake.listed = []
        await wait_for(lambda: state.alerts["f1"].status == "resolved", 30, "resolved")
        rooms_of = server.alerts.reconciler.service.rooms_of
        await wait_for(lambda: room not in rooms_of["am1"], 30, "the room let go")
        server.hub.rooms.loaded.pop(room)  # unloaded, as an idle room is
        polls = server.alerts.reconciler.polls
        goal = polls["am1"] + 5
        await wait_for(lambda: polls["am1"] >= goal, 30, "more rounds")
        assert room not in server.hub.rooms.loaded
        # It fires again: the room is loaded, and reconciled, again.
        fake.listed = [listed_alert(1)]
        await post_listed(server, room, fake.listed)
        assert room in rooms_of["am1"]
    finally:
        await server.stop()


async def test_a_decision_written_twice_is_a_duplicate_and_fails_nothing_beside_it(
    tmp_path: Path,
) -> None:
    server = HubServer(tmp_path / "hub.db", TOKEN)
    await server.start()
    try:
        hub = server.hub
        declared = Command(new_id(), "incident.declared", {"title": "t", "severity": "SEV3"})
        room = str((await hub.execute(declared, "ann")).room)
        decided = Command(new_id(), "entry.added", {"text": "a decision"}, room)  # its id names it
        first = await hub.submit(decided, "reconcile", internal=True, fixed_id=True)
        # Planned again from the same state; a person's line is committed in the same batch.
        twin = hub.submit(decided, "reconcile", internal=True, fixed_id=True)
        line = hub.submit(Command(new_id(), "entry.added", {"text": "mine"}, room), "ann")
        again, mine = await asyncio.gather(twin, line)
        assert again.duplicate and (again.room, again.seq) == (first.room, first.seq)
        assert not mine.duplicate and mine.seq == first.seq + 1
        assert hub.stats["storage_errors"] == 0
    finally:
        await server.stop()


async def test_an_alertmanager_restart_is_reconciled_within_seconds_not_at_the_next_interval(
    binary: str, tmp_path: Path, make_client: ClientFactory
) -> None:
    stack = await start_stack(binary, tmp_path, reconcile={"interval": 60}, resolve_timeout="1h")
    try:
        ann = await make_client(stack.server.url, "ann")
        view = await ann.join(stack.room)
        await fire(stack, view, [fired("NodeDown", "db-1"), fired("NodeDown", "db-2")])
        stack.am.stop()  # it forgets its alerts
        await stack.am.start(stack.webhook + "&alertmanager=am1", *AM_FLAGS)
        # The status, read every 5 s, shows another uptime: a round at once, not 60 s on.
        await wait_for(lambda: all(a.stale_since for a in view.state.alerts.values()), 20, "both stale")
    finally:
        stack.am.stop()
        await stack.server.stop()
