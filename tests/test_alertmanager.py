"""End to end with a real Prometheus Alertmanager on 127.0.0.1: webhooks in, silences out."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.config import parse_hub_config
from server.runner import HubServer
from tests.conftest import (
    TOKEN,
    ClientFactory,
    assert_log_is_whole,
    issue,
    refused_port,
    require_peer,
    wait_for,
)
from warroom.client import CommandRejected, HubClient
from warroom.core.events import Command
from warroom.core.protocol import new_id

BEARER = {"Authorization": f"Bearer {TOKEN}"}
CRITICAL = {"severity": "critical"}


UNROUTED = "http://127.0.0.1:9/unused"  # where an Alertmanager sends nothing it is asked to


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Alertmanager:
    """A real Alertmanager on 127.0.0.1.

    The first start binds port 0 and the port is read from its log, so tests in parallel workers
    never race for a port; a restart binds the port it had. The webhook can be pointed elsewhere
    while it runs (``route_to``), since the hub it posts to is started after it.
    """

    def __init__(self, binary: str, workdir: Path, prefix: str = "") -> None:
        self.binary, self.workdir, self.prefix = binary, workdir, prefix
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "alertmanager.log"

    @property
    def url(self) -> str:
        assert self.port, "the Alertmanager has not said which port it listens on"
        return f"http://127.0.0.1:{self.port}"

    def _configure(self, webhook_url: str) -> Path:
        config = self.workdir / "alertmanager.yml"
        config.write_text(
            "route:\n  receiver: warroom\n  group_by: ['alertname']\n"
            "  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n"
            "receivers:\n- name: warroom\n  webhook_configs:\n"
            f"  - url: '{webhook_url}'\n    send_resolved: true\n"
        )
        return config

    async def start(self, webhook_url: str, *extra: str) -> None:
        """Start it and wait until it answers ready."""
        config = self._configure(webhook_url)
        route_prefix = [f"--web.route-prefix={self.prefix}"] if self.prefix else []
        self.proc = subprocess.Popen(
            [
                self.binary,
                f"--config.file={config}",
                f"--storage.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                "--log.level=info",  # info says the address it listens on
                *route_prefix,
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while not self.port:
            found = re.search(rb'msg="Listening on" address=127\.0\.0\.1:(\d+)', self.log.read_bytes())
            if found:
                self.port = int(found.group(1))
            elif self.proc.poll() is not None or loop.time() > deadline:
                raise AssertionError("alertmanager did not start:\n" + self.log.read_text(errors="replace"))
            else:
                await asyncio.sleep(0.02)  # polling another process's log for its address
        async with httpx.AsyncClient(base_url=self.url + self.prefix) as http:

            async def ready() -> bool:
                try:
                    return (await http.get("/-/ready")).status_code == 200
                except httpx.HTTPError:
                    return False

            await wait_until(ready, 20, f"alertmanager at {self.url} to be ready")

    async def route_to(self, webhook_url: str) -> None:
        """Point its webhook at ``webhook_url``: the config rewritten, then reloaded in place."""
        self._configure(webhook_url)
        async with httpx.AsyncClient(base_url=self.url + self.prefix) as http:
            answer = await http.post("/-/reload")
            assert answer.status_code == 200, answer.text

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(20)


@pytest.fixture
def alertmanager_binary() -> str:
    return require_peer("prometheus-alertmanager")


@pytest.fixture
async def stack(
    alertmanager_binary: str, tmp_path: Path
) -> AsyncIterator[tuple[HubServer, Alertmanager, str]]:
    am = Alertmanager(alertmanager_binary, tmp_path)
    await am.start(UNROUTED)  # first, for its port; the hub it posts to needs that port in its config
    server = HubServer(tmp_path / "hub.db", TOKEN, config=parse_hub_config({"alertmanager": am.url}))
    try:
        await server.start()
        ack = await server.hub.execute(
            Command(new_id(), "incident.declared", {"title": "Checkout 5xx", "severity": "SEV2"}), "ann"
        )
        await am.route_to(f"{server.http_url}/api/v1/alerts/alertmanager?incident={ack.room}&token={TOKEN}")
        yield server, am, ack.room
    finally:
        am.stop()
        await server.stop()


async def wait_until(check: Any, timeout: float, what: str) -> None:
    """Like wait_for, for a condition that needs an await (an HTTP probe)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)  # polling a separate process's HTTP API


def alerts(now: datetime, ends: datetime | None = None) -> list[dict[str, Any]]:
    out = []
    for instance in ("10.0.0.11:8080", "10.0.0.12:8080"):
        alert: dict[str, Any] = {
            "labels": {
                "alertname": "HighErrorRate",
                "service": "checkout",
                "severity": "critical",
                "instance": instance,
            },
            "annotations": {"summary": f"5xx above 5% on {instance}"},
            "startsAt": iso(now),
            "generatorURL": "http://prometheus.example.internal:9090/graph",
        }
        if ends is not None:
            alert["endsAt"] = iso(ends)
        out.append(alert)
    return out


async def test_alerts_flow_from_alertmanager_and_silences_flow_back(
    stack: tuple[HubServer, Alertmanager, str], make_client: ClientFactory
) -> None:
    server, am, room = stack
    responder = await make_client(server.url, "ann")
    view = await responder.join(room)
    assert responder.alertmanager
    now = datetime.now(UTC)
    async with httpx.AsyncClient(base_url=am.url) as http:
        assert (await http.post("/api/v2/alerts", json=alerts(now))).status_code == 200
        await wait_for(lambda: len(view.state.alerts) == 2, timeout=30, what="alerts via the real webhook")
        assert (await http.post("/api/v2/alerts", json=alerts(now))).status_code == 200  # the same again
        firing = sorted(view.state.alerts.values(), key=lambda a: a.labels["instance"])
        assert [a.status for a in firing] == ["firing", "firing"] and len(view.state.alerts) == 2
        assert firing[0].source == "alertmanager" and firing[0].labels["service"] == "checkout"

        # A real silence, made from the war room, appears in Alertmanager.
        target = firing[0]
        silence = {
            "fingerprint": target.fingerprint,
            "minutes": 120,
            "reason": "rolling back, expected noise",
            "upstream": True,
        }
        command_id = new_id()
        await responder.submit("alert.silenced", silence, room, command_id=command_id)
        resent = await responder.submit("alert.silenced", silence, room, command_id=command_id)
        assert resent["duplicate"] is True  # a resend makes no second silence there
        assert len((await http.get("/api/v2/silences")).json()) == 1
        silence_id = view.state.alerts[target.fingerprint].silence_id
        assert silence_id
        silences = (await http.get("/api/v2/silences")).json()
        mine = next(s for s in silences if s["id"] == silence_id)
        assert mine["status"]["state"] == "active" and mine["createdBy"] == "ann"
        assert mine["comment"] == "rolling back, expected noise"
        assert {m["name"]: m["value"] for m in mine["matchers"]} == target.labels

        # Expiring it from the room expires it there too.
        await responder.send("alert.unsilenced", {"fingerprint": target.fingerprint}, room)
        assert view.state.alerts[target.fingerprint].silenced_until is None
        state = (await http.get(f"/api/v2/silence/{silence_id}")).json()["status"]["state"]
        assert state == "expired"

        # Resolving them in Alertmanager resolves them in the room.
        past = now + timedelta(seconds=1)
        assert (await http.post("/api/v2/alerts", json=alerts(now, ends=past))).status_code == 200
        await wait_for(
            lambda: all(a.status == "resolved" for a in view.state.alerts.values()),
            timeout=30,
            what="the resolved webhook",
        )
        assert len(view.state.alerts) == 2


async def test_an_unreachable_alertmanager_records_no_silence(
    db_path: Path, make_client: ClientFactory
) -> None:
    server = HubServer(
        db_path, TOKEN, config=parse_hub_config({"alertmanager": f"http://127.0.0.1:{refused_port()}"})
    )
    await server.start()
    try:
        ann = await make_client(server.url, "ann")
        room = (await ann.send("incident.declared", {"title": "t", "severity": "SEV3"}))["room"]
        view = await ann.join(room)
        async with httpx.AsyncClient(base_url=server.http_url, headers=BEARER) as http:
            fired = {"status": "firing", "fingerprint": "f1", "labels": {"alertname": "Disk", "a": "b"}}
            body = {"version": "4", "status": "firing", "alerts": [fired]}
            url = f"/api/v1/alerts/alertmanager?incident={room}"
            assert (await http.post(url, json=body)).status_code == 202
        await wait_for(lambda: "f1" in view.state.alerts, what="the alert from intake")
        with pytest.raises(CommandRejected) as refused:
            await ann.send(
                "alert.silenced",
                {"fingerprint": "f1", "minutes": 30, "reason": "noisy", "upstream": True},
                room,
            )
        assert (
            refused.value.error.code == "upstream_failed" and "did not answer" in refused.value.error.message
        )
        alert = view.state.alerts["f1"]
        assert alert.silenced_until is None  # nothing recorded as silenced that is not
        await ann.send("alert.silenced", {"fingerprint": "f1", "minutes": 30, "reason": "room only"}, room)
        silenced = view.state.alerts["f1"]
        assert silenced.silenced_until and not silenced.upstream_silence
    finally:
        await server.stop()


def test_the_peer_helper_turns_a_missing_binary_into_a_failure_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WARROOM_REQUIRE_PEERS", "1")
    with pytest.raises(pytest.fail.Exception, match="WARROOM_REQUIRE_PEERS=1"):
        require_peer("no-such-peer-binary-for-warroom")
    monkeypatch.setenv("WARROOM_REQUIRE_PEERS", "0")
    with pytest.raises(pytest.skip.Exception):
        require_peer("no-such-peer-binary-for-warroom")


async def test_a_scoped_responder_cannot_silence_a_whole_class_of_pages(
    stack: tuple[HubServer, Alertmanager, str], make_client: ClientFactory
) -> None:
    """The attack: an alert made up with one label, then a 14-day silence matching only that label."""
    server, am, room = stack
    sam = HubClient(server.url, await issue(server, "sam", scope=[room]), "sam")
    await sam.connect()
    try:
        view = await sam.join(room)
        with pytest.raises(CommandRejected) as refused:
            await sam.send("alert.upserted", {"fingerprint": "x", "alertname": "x", "labels": CRITICAL}, room)
        assert refused.value.error.code == "unknown_type"  # alerts come from intake only

        disk = {"alertname": "DiskFull", "instance": "db-1:9100", "severity": "critical"}
        now = datetime.now(UTC)
        async with httpx.AsyncClient(base_url=am.url) as http:
            fired = [{"labels": disk, "startsAt": iso(now)}, {"labels": CRITICAL, "startsAt": iso(now)}]
            assert (await http.post("/api/v2/alerts", json=fired)).status_code == 200
            await wait_for(lambda: len(view.state.alerts) == 2, timeout=30, what="alerts via the webhook")
            named = next(a for a in view.state.alerts.values() if a.labels == disk)
            bare = next(a for a in view.state.alerts.values() if a.labels == CRITICAL)

            def silence(alert: Any, minutes: int) -> dict[str, Any]:
                return {"fingerprint": alert.fingerprint, "minutes": minutes, "reason": "r", "upstream": True}

            for alert, minutes, field in ((bare, 60, "fingerprint"), (named, 14 * 24 * 60, "minutes")):
                with pytest.raises(CommandRejected) as refused:
                    await sam.send("alert.silenced", silence(alert, minutes), room)
                assert (refused.value.error.code, refused.value.error.field) == ("forbidden", field)
            assert (await http.get("/api/v2/silences")).json() == []  # nothing reached Alertmanager

            await sam.send("alert.silenced", silence(named, 60), room)
            made = (await http.get("/api/v2/silences")).json()
            assert len(made) == 1 and made[0]["createdBy"] == "sam"
            assert {m["name"]: m["value"] for m in made[0]["matchers"]} == disk  # as intake received them
            length = datetime.fromisoformat(made[0]["endsAt"]) - datetime.fromisoformat(made[0]["startsAt"])
            assert timedelta(minutes=59) < length <= timedelta(minutes=60)

            # An admin of every incident may go beyond the bounds; an admin of one incident may not.
            lou = HubClient(server.url, await issue(server, "lou", level="admin", scope=[room]), "lou")
            await lou.connect()
            try:
                with pytest.raises(CommandRejected) as refused:
                    await lou.send("alert.silenced", silence(named, 14 * 24 * 60), room)
                assert (refused.value.error.code, refused.value.error.field) == ("forbidden", "minutes")
            finally:
                await lou.close()
            ann = await make_client(server.url, "ann")
            await ann.send("alert.silenced", silence(bare, 14 * 24 * 60), room)
            assert len((await http.get("/api/v2/silences")).json()) == 2
    finally:
        await sam.close()
    assert_log_is_whole(server.db)
