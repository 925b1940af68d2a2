"""Alert intake over real HTTP: Alertmanager, Grafana, PagerDuty-style and generic senders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.config import parse_hub_config
from server.http_api import MAX_INTAKE
from server.intake import parse_alertmanager
from server.runner import HubServer
from tests.conftest import TOKEN, ClientFactory, assert_log_is_whole, log_of, wait_for
from warroom.core.events import Command
from warroom.core.protocol import new_id

FIXTURES = Path(__file__).parent / "fixtures"
FIRING = json.loads((FIXTURES / "webhook-firing-truncated.json").read_text())
RESOLVED = json.loads((FIXTURES / "webhook-resolved-truncated.json").read_text())


def http(server: HubServer, **kw: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.http_url, headers={"Authorization": f"Bearer {TOKEN}"}, **kw)


async def declare(server: HubServer, title: str = "Checkout 5xx") -> str:
    ack = await server.hub.execute(
        Command(new_id(), "incident.declared", {"title": title, "severity": "SEV2"}), "ann"
    )
    return ack.room


def test_the_captured_alertmanager_payloads_parse() -> None:
    firing = parse_alertmanager(FIRING)
    assert [(a.fingerprint, a.status, a.alertname) for a in firing] == [
        ("84f529bd8e08e1cf", "firing", "HighErrorRate"),
        ("3f554609d5e6811e", "firing", "HighErrorRate"),
    ]
    assert firing[0].ends_at is None and firing[0].starts_at == "2026-11-28T00:11:53.000Z"
    assert firing[0].labels["service"] == "checkout" and firing[0].url and firing[0].url.startswith("http://")
    resolved = parse_alertmanager(RESOLVED)
    assert {a.fingerprint for a in resolved} == {
        a.fingerprint for a in firing
    }  # a resolve keeps its fingerprint
    assert all(a.status == "resolved" and a.ends_at for a in resolved)


async def test_alertmanager_webhook_dedups_and_resolves(hub: HubServer, make_client: ClientFactory) -> None:
    room = await declare(hub)
    watcher = await make_client(hub.url, "watcher")
    view = await watcher.join(room)
    async with httpx.AsyncClient(base_url=hub.http_url) as anonymous:  # the token rides in the query
        for _ in range(3):  # Alertmanager repeats a group on every interval
            response = await anonymous.post(
                f"/api/v1/alerts/alertmanager?incident={room}&token={TOKEN}", json=FIRING
            )
            assert response.status_code == 202 and response.json() == {"accepted": 2, "routed": {room: 2}}
    await wait_for(
        lambda: len(view.state.alerts) == 2 and view.state.alerts["84f529bd8e08e1cf"].count == 3,
        what="deduplicated alerts",
    )
    assert view.state.milestones["detected"] == "2026-11-28T00:11:53.000Z"
    async with http(hub) as client:
        assert (
            await client.post(f"/api/v1/alerts/alertmanager?incident={room}", json=RESOLVED)
        ).status_code == 202
    await wait_for(lambda: all(a.status == "resolved" for a in view.state.alerts.values()), what="resolution")
    assert all(a.ends_at == "2026-11-28T00:11:53.000Z" for a in view.state.alerts.values())


async def test_grafana_and_generic_senders(hub: HubServer) -> None:
    room = await declare(hub)
    grafana = {  # Grafana's webhook (grafana.com/docs, "Configure webhook notifications"), version 1
        "receiver": "warroom",
        "status": "firing",
        "orgId": 1,
        "version": "1",
        "groupKey": '{}:{alertname="DiskFull"}',
        "truncatedAlerts": 0,
        "title": "[FIRING:1] DiskFull",
        "state": "alerting",
        "message": "disk full",
        "externalURL": "http://grafana.example.internal/",
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": {"alertname": "DiskFull"},
        "commonAnnotations": {},
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "DiskFull", "instance": "db-1"},
                "annotations": {"summary": "disk 95% full"},
                "startsAt": "2026-11-28T01:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://grafana.example.internal/alerting/1/view",
                "fingerprint": "a1b2c3d4",
                "silenceURL": "http://grafana.example.internal/alerting/silence/new",
                "dashboardURL": "",
                "panelURL": "",
                "values": {"B": 95.1},
                "valueString": "[ var='B' value=95.1 ]",
            }
        ],
    }
    generic = {
        "alerts": [
            {
                "name": "QueueBacklog",
                "severity": "warning",
                "summary": "10k messages waiting",
                "labels": {"queue": "orders"},
                "incident": room,
            }
        ]
    }
    async with http(hub) as client:
        assert (
            await client.post(f"/api/v1/alerts/alertmanager?incident={room}", json=grafana)
        ).status_code == 202
        assert (await client.post("/api/v1/alerts", json=generic)).status_code == 202
    state = await hub.hub.settled_state(room)
    assert state.alerts["a1b2c3d4"].source == "grafana"
    backlog = next(a for a in state.alerts.values() if a.alertname == "QueueBacklog")
    assert (backlog.severity, backlog.annotations["summary"]) == ("warning", "10k messages waiting")


async def test_pagerduty_trigger_acknowledge_resolve_retrigger(hub: HubServer) -> None:
    room = await declare(hub)
    # The documented Events API v2 payload (developer.pagerduty.com, "Send an Alert Event").
    trigger = {
        "routing_key": "R0UT1NGK3Y0000000000000000000000",
        "event_action": "trigger",
        "dedup_key": "checkout-502",
        "links": [{"href": "https://grafana.example.internal/d/1", "text": "dash"}],
        "images": [],
        "payload": {
            "summary": "Checkout returning 502s",
            "source": "lb-eu-1",
            "severity": "critical",
            "timestamp": "2026-11-28T01:10:00.000+00:00",
            "component": "checkout",
            "group": "payments",
            "class": "http-5xx",
            "custom_details": {"error_rate": "8.2%"},
        },
    }
    async with http(hub) as client:
        answer = await client.post(f"/api/v1/alerts/pagerduty?incident={room}", json=trigger)
        assert answer.status_code == 202
        assert answer.json() == {
            "status": "success",
            "message": "Event processed",
            "dedup_key": "checkout-502",
        }
        for action in ("acknowledge", "resolve"):
            body = {
                "routing_key": trigger["routing_key"],
                "event_action": action,
                "dedup_key": "checkout-502",
            }
            assert (await client.post("/api/v1/alerts/pagerduty", json=body)).status_code == 202
        state = await hub.hub.settled_state(room)
        alert = state.alerts["pd:checkout-502"]
        assert (alert.status, alert.acked_by, alert.occurrence) == ("resolved", "pagerduty", 1)
        assert alert.labels["component"] == "checkout" and "8.2%" in alert.annotations["custom_details"]

        await client.post("/api/v1/alerts/pagerduty", json=trigger)  # fires again after the resolve
        state = await hub.hub.settled_state(room)
        alert = state.alerts["pd:checkout-502"]
        assert (alert.status, alert.acked_by, alert.occurrence) == ("firing", None, 2)  # a new occurrence

        no_key = {k: v for k, v in trigger.items() if k != "dedup_key"}
        generated = (await client.post(f"/api/v1/alerts/pagerduty?incident={room}", json=no_key)).json()
        assert len(generated["dedup_key"]) == 32
        assert f"pd:{generated['dedup_key']}" in (await hub.hub.settled_state(room)).alerts


async def test_routing_rules_labels_and_the_inbox(db_path: Path) -> None:
    server = HubServer(db_path, TOKEN)
    await server.start()
    try:
        checkout = await declare(server, "Checkout")
        search = await declare(server, "Search")
    finally:
        await server.stop()
    config = parse_hub_config(
        {
            "routes": [
                {"match": {"service": "checkout"}, "incident": checkout},
                {"match": {"severity": "info"}, "inbox": True},
            ]
        }
    )
    server = HubServer(db_path, TOKEN, config=config)
    await server.start()
    try:
        alerts = {
            "alerts": [
                {"name": "A", "labels": {"service": "checkout"}},
                {"name": "B", "labels": {"incident": search}},
                {"name": "C", "labels": {"service": "billing"}},
                {"name": "D", "labels": {"incident": "INC-404"}},  # no such incident: kept in the inbox
            ]
        }
        async with http(server) as client:
            routed = (await client.post("/api/v1/alerts", json=alerts)).json()["routed"]
            assert routed == {checkout: 1, search: 1, "inbox": 2}
            listed = [i["id"] for i in (await client.get("/api/v1/incidents")).json()["incidents"]]
            assert "inbox" not in listed  # a room, not an incident

            inbox = await server.hub.settled_state("inbox")
            stray = next(a for a in inbox.alerts.values() if a.alertname == "C")
            await server.hub.execute(
                Command(new_id(), "alert.moved", {"fingerprint": stray.fingerprint, "to": checkout}, "inbox"),
                "ann",
            )
            assert stray.fingerprint not in (await server.hub.settled_state("inbox")).alerts
            assert stray.fingerprint in (await server.hub.settled_state(checkout)).alerts
            # Once attached, its later firings follow it there, not back to the inbox.
            again = {"alerts": [{"name": "C", "labels": {"service": "billing"}}]}
            assert (await client.post("/api/v1/alerts", json=again)).json()["routed"] == {checkout: 1}
        assert_log_is_whole(db_path)  # the restart lost and doubled nothing
    finally:
        await server.stop()
    head = len(log_of(db_path))
    server = HubServer(db_path, TOKEN, config=config)  # and across a restart, it still follows it
    await server.start()
    try:
        async with http(server) as client:
            assert (await client.post("/api/v1/alerts", json=again)).json()["routed"] == {checkout: 1}
        alert = (await server.hub.settled_state(checkout)).alerts[stray.fingerprint]
        assert alert.count == 3 and stray.fingerprint not in (await server.hub.settled_state("inbox")).alerts
    finally:
        await server.stop()
    assert len(log_of(db_path)) == head + 1
    assert_log_is_whole(db_path)


@pytest.mark.parametrize(
    ("path", "body", "status", "code", "field"),
    [
        ("/api/v1/alerts/alertmanager", b"{not json", 400, "bad_json", None),
        ("/api/v1/alerts/alertmanager", {"receiver": "x"}, 400, "missing_field", "alerts"),
        ("/api/v1/alerts/alertmanager", {"alerts": {"a": 1}}, 400, "wrong_type", "alerts"),
        (
            "/api/v1/alerts/alertmanager",
            {"alerts": [{"status": "firing"}]},
            400,
            "missing_field",
            "alerts[0].labels",
        ),
        (
            "/api/v1/alerts/alertmanager",
            {"alerts": [{"status": "firing", "labels": {"a": 1}}]},
            400,
            "wrong_type",
            "alerts[0].labels",
        ),
        (
            "/api/v1/alerts/alertmanager",
            {"alerts": [{"status": "burning", "labels": {}}]},
            400,
            "invalid_value",
            "alerts[0].status",
        ),
        (
            "/api/v1/alerts/alertmanager",
            {"alerts": [{"status": "firing", "labels": {}, "startsAt": "soon"}]},
            400,
            "invalid_value",
            "alerts[0].startsAt",
        ),
        ("/api/v1/alerts/pagerduty", {"event_action": "trigger"}, 400, "missing_field", "body.routing_key"),
        (
            "/api/v1/alerts/pagerduty",
            {"routing_key": "k", "event_action": "explode"},
            400,
            "invalid_value",
            "event_action",
        ),
        (
            "/api/v1/alerts/pagerduty",
            {"routing_key": "k", "event_action": "resolve"},
            400,
            "missing_field",
            "dedup_key",
        ),
        (
            "/api/v1/alerts/pagerduty",
            {
                "routing_key": "k",
                "event_action": "trigger",
                "payload": {"summary": "s", "source": "x", "severity": "apocalyptic"},
            },
            400,
            "invalid_value",
            "payload.severity",
        ),
        ("/api/v1/alerts", {"alerts": [{"labels": {}}]}, 400, "missing_field", "alerts[0].name"),
        ("/api/v1/alerts", b"x" * (MAX_INTAKE + 1), 413, "too_large", None),
    ],
)
async def test_bad_intake_bodies_are_refused_whole(
    hub: HubServer, path: str, body: Any, status: int, code: str, field: str | None
) -> None:
    room = await declare(hub)
    generic = path == "/api/v1/alerts"
    good = {"name": "Fine"} if generic else {"status": "firing", "labels": {"alertname": "Fine"}}
    if isinstance(body, dict) and isinstance(body.get("alerts"), list):
        body = {**body, "alerts": [good, *body["alerts"]]}  # a valid alert first: nothing may be half-applied
        field = field.replace("[0]", "[1]") if field else field
    async with http(hub) as client:
        kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
        response = await client.post(f"{path}?incident={room}", **kwargs)
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert (error["code"], error.get("field")) == (code, field)
        assert (await client.get("/healthz")).status_code == 200
    assert (await hub.hub.settled_state(room)).alerts == {}


async def test_intake_needs_the_token(hub: HubServer) -> None:
    async with httpx.AsyncClient(base_url=hub.http_url) as anonymous:
        for url in ("/api/v1/alerts/alertmanager", "/api/v1/alerts/alertmanager?token=wrong"):
            response = await anonymous.post(url, json=FIRING)
            assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
        assert (await anonymous.get(f"/api/v1/incidents?token={TOKEN}")).status_code == 401  # intake only


async def test_inbox_actions_from_the_app(hub: HubServer) -> None:
    """Silence and escalate from the terminal: the inbox alert becomes an incident of its own."""
    from tests.test_app import make_app
    from warroom.app.dialogs import ConfirmScreen
    from warroom.app.screens import IncidentScreen
    from warroom.app.widgets.alert_feed import AlertFeed

    async with http(hub) as client:
        body = {
            "alerts": [
                {
                    "name": "PaymentsTimeout",
                    "severity": "critical",
                    "summary": "Payments API timing out",
                    "starts_at": "2026-11-28T01:00:00Z",
                    "labels": {"service": "payments"},
                }
            ]
        }
        assert (await client.post("/api/v1/alerts", json=body)).json()["routed"] == {"inbox": 1}
    app = make_app(hub.url, "ann", None)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: app.client.connected, what="connect")
        await pilot.press("i")  # the picker's key for the alert inbox
        await wait_for(
            lambda: "inbox" in app.client.rooms and bool(app.client.rooms["inbox"].state.alerts),
            what="the inbox",
        )
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, IncidentScreen)
        feed = screen.query_one(AlertFeed)
        feed.focus()
        feed.move_cursor(feed.root.children[0].children[0])
        await pilot.pause()
        await pilot.press("i", *"/silence 30m known flake", "enter")
        fingerprint = next(iter(app.client.rooms["inbox"].state.alerts))
        await wait_for(
            lambda: app.client.rooms["inbox"].state.alerts[fingerprint].silenced_until is not None,
            what="the silence",
        )
        await pilot.press(*"/escalate", "enter")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")  # escalating declares an incident: it asks first
        await wait_for(
            lambda: isinstance(app.screen, IncidentScreen) and app.screen.room != "inbox",
            what="the new incident to open",
        )
        opened = app.screen
        assert isinstance(opened, IncidentScreen)
        state = await hub.hub.settled_state(opened.room)
        assert (state.title, state.severity) == ("Payments API timing out", "SEV1")
        assert state.milestones["detected"] == "2026-11-28T01:00:00.000Z"  # detection time came with it
        assert (
            fingerprint in state.alerts and fingerprint not in (await hub.hub.settled_state("inbox")).alerts
        )


async def test_alert_commands_on_the_cli(hub: HubServer, tmp_path: Path) -> None:
    import os

    from tests.test_cli import hub_args, warroom

    env = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}
    env["WARROOM_CONFIG_DIR"] = str(tmp_path / "c")
    room = await declare(hub)
    async with http(hub) as client:
        await client.post(f"/api/v1/alerts/alertmanager?incident={room}", json=FIRING)
    grouped = await warroom(env, "alerts", room, *hub_args(hub))  # one line per alertname
    assert grouped.code == 0 and grouped.out.count("HighErrorRate") == 1 and "2/2" in grouped.out
    listed = await warroom(env, "alerts", room, "--all", *hub_args(hub))
    assert listed.code == 0 and listed.out.count("HighErrorRate") == 2 and "84f529bd8e08e1cf" in listed.out
    as_json = json.loads((await warroom(env, "alerts", room, "--json", *hub_args(hub))).out)
    assert {a["fingerprint"] for a in as_json} == {"84f529bd8e08e1cf", "3f554609d5e6811e"}

    acked = await warroom(env, "ack", room, "84f5", *hub_args(hub), "--as", "sam")  # a unique prefix will do
    assert acked.code == 0 and "84f529bd8e08e1cf acknowledged" in acked.out
    silenced = await warroom(env, "silence", room, "3f55", "--for", "2h", "--reason", "known", *hub_args(hub))
    assert (
        silenced.code == 0 and "silenced for 120m in this room only" in silenced.out
    )  # this hub has no Alertmanager
    state = await hub.hub.settled_state(room)
    assert (
        state.alerts["84f529bd8e08e1cf"].acked_by == "sam" and state.alerts["3f554609d5e6811e"].silenced_until
    )
    assert (await warroom(env, "silence", room, "3f55", "--expire", *hub_args(hub))).code == 0
    assert (await hub.hub.settled_state(room)).alerts["3f554609d5e6811e"].silenced_until is None

    assert (
        "more than one alert matches"
        in (await warroom(env, "ack", room, "HighErrorRate", *hub_args(hub))).one_line_error()
    )
    assert "no alert matches" in (await warroom(env, "ack", room, "nope", *hub_args(hub))).one_line_error()
    assert (
        "--for 2h --reason" in (await warroom(env, "silence", room, "3f55", *hub_args(hub))).one_line_error()
    )


async def test_hostile_alert_text_is_kept_and_made_visible(hub: HubServer) -> None:
    """Escapes in labels and annotations arrive as placeholders; no alert of the batch is lost."""
    from tests.hostile import HOSTILE, assert_safe

    room = await declare(hub)
    batch = [
        {
            "status": "firing",
            "labels": {"alertname": f"Hostile {name}", "service": text[:200], "severity": "critical"},
            "annotations": {"summary": text, "description": f"line one\n{text}\r\nline three"},
            "startsAt": "2026-11-28T00:11:53Z",
            "generatorURL": f"http://prometheus.example/graph?g0={name}",
        }
        for name, text in HOSTILE.items()
    ]
    body = {**FIRING, "alerts": batch}
    async with http(hub) as client:
        response = await client.post(f"/api/v1/alerts/alertmanager?incident={room}", json=body)
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": len(HOSTILE), "routed": {room: len(HOSTILE)}}
    state = await hub.hub.settled_state(room)
    assert len(state.alerts) == len(HOSTILE)
    by_name = {a.alertname: a for a in state.alerts.values()}
    title = by_name["Hostile osc-title"]
    assert title.labels["service"] == "note ␛]0;pwned␇ after"
    assert title.annotations["description"] == "line one\nnote ␛]0;pwned␇ after\nline three"
    assert by_name["Hostile bidi-override"].annotations["summary"] == "file⁅bidi⁆gnp.exe"
    assert by_name["Hostile rich-markup"].labels["service"] == HOSTILE["rich-markup"]  # markup is just text
    for alert in state.alerts.values():
        for key, value in [*alert.labels.items(), (alert.alertname, alert.fingerprint)]:
            assert_safe(key + value, alert.alertname)
        for value in alert.annotations.values():
            assert_safe(value.replace("\n", " "), alert.alertname)


async def test_hostile_text_from_the_generic_and_pagerduty_senders(hub: HubServer) -> None:
    room = await declare(hub)
    async with http(hub) as client:
        generic = await client.post(
            f"/api/v1/alerts?incident={room}",
            json={"alerts": [{"name": "disk \x1b[2J full", "summary": "df\r\n\x9b2J", "source": "cron\x07"}]},
        )
        assert generic.status_code == 202, generic.text
        paged = await client.post(
            f"/api/v1/alerts/pagerduty?incident={room}",
            json={
                "routing_key": "k",
                "event_action": "trigger",
                "dedup_key": "pd\x1b]0;x\x07",
                "payload": {"summary": "CPU\x1b[31m hot", "source": "db\u202e1", "severity": "critical"},
            },
        )
        assert paged.status_code == 202, paged.text
    alerts = {a.alertname: a for a in (await hub.hub.settled_state(room)).alerts.values()}
    assert set(alerts) == {"disk ␛[2J full", "CPU␛[31m hot"}
    assert alerts["disk ␛[2J full"].annotations["summary"] == "df\n\ufffd2J"
    assert alerts["disk ␛[2J full"].source == "cron␇"
    assert alerts["CPU␛[31m hot"].fingerprint == "pd:pd␛]0;x␇"
    assert alerts["CPU␛[31m hot"].labels["source"] == "db⁅bidi⁆1"
