"""The details an alert arrives with, kept; PagerDuty's own paths, error body and change events.

Real hubs over real HTTP; the stock ``pagerduty`` client, unmodified, over HTTPS.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from server.config import parse_hub_config
from server.runner import HubServer
from tests.conftest import TOKEN
from tests.test_intake import declare, http

# Grafana's webhook as its documentation shows it ("Configure the webhook notifier"),
# with the internal annotations Grafana-managed rules carry.
GRAFANA: dict[str, Any] = {
    "receiver": "My Super Webhook",
    "status": "firing",
    "orgId": 1,
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1"},
            "annotations": {
                "description": "The system has high memory usage",
                "runbook_url": "https://myrunbook.com/runbook/1234",
                "summary": "This alert was triggered for zone us-1",
                "__dashboardUid__": "eWK3mDL4z",
                "__panelId__": "2",
                "__orgId__": "1",
                "__value_string__": "[ var='B' value=44.2 ]",
                "__values__": '{"B": 44.2}',
            },
            "startsAt": "2021-10-12T09:51:03.157076+02:00",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://play.grafana.org/alerting/1afz29v7z/edit",
            "fingerprint": "c6eadffa33fcdf37",
            "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana",
            "dashboardURL": "https://play.grafana.org/d/eWK3mDL4z",
            "panelURL": "https://play.grafana.org/d/eWK3mDL4z?viewPanel=2",
            "imageURL": "",
            "values": {"B": 44.23943737541908, "C": 1},
            "valueString": "[ var='B' labels={} value=44.23943737541908 ], [ var='C' labels={} value=1 ]",
        }
    ],
    "groupLabels": {},
    "commonLabels": {"team": "blue"},
    "commonAnnotations": {},
    "externalURL": "https://play.grafana.org/",
    "version": "1",
    "groupKey": "{}:{}",
    "truncatedAlerts": 0,
    "title": "[FIRING:1]  (blue)",
    "state": "alerting",
    "message": "**Firing**",
}


async def test_grafana_details_are_kept_and_its_internals_dropped(hub: HubServer) -> None:
    room = await declare(hub)
    async with http(hub) as client:
        response = await client.post(f"/api/v1/alerts/alertmanager?incident={room}", json=GRAFANA)
        assert response.status_code == 202, response.text
    alert = (await hub.hub.settled_state(room)).alerts["c6eadffa33fcdf37"]
    assert alert.values == {"B": "44.23943737541908", "C": "1"}
    assert alert.value and alert.value.startswith("[ var='B'")
    assert alert.runbook_url == "https://myrunbook.com/runbook/1234"
    assert alert.annotations == {  # no __x__ noise, and the runbook is a field of its own
        "description": "The system has high memory usage",
        "summary": "This alert was triggered for zone us-1",
    }
    assert alert.links == {
        "generator": "https://play.grafana.org/alerting/1afz29v7z/edit",
        "panel": "https://play.grafana.org/d/eWK3mDL4z?viewPanel=2",
        "dashboard": "https://play.grafana.org/d/eWK3mDL4z",
        "silence": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana",
    }  # an empty imageURL is no link
    assert alert.url == "https://play.grafana.org/alerting/1afz29v7z/edit" and alert.source == "grafana"


async def test_the_generic_intake_takes_runbook_links_and_description(hub: HubServer) -> None:
    room = await declare(hub)
    body = {
        "alerts": [
            {
                "name": "QueueBacklog",
                "summary": "10k waiting",
                "description": "the orders queue\nis backing up",
                "runbook_url": "https://runbooks.example/queue",
                "links": {"dashboard": "https://grafana.example/d/q", "logs": "https://logs.example/q"},
            }
        ]
    }
    async with http(hub) as client:
        assert (await client.post(f"/api/v1/alerts?incident={room}", json=body)).status_code == 202
    alert = next(iter((await hub.hub.settled_state(room)).alerts.values()))
    assert alert.annotations == {"summary": "10k waiting", "description": "the orders queue\nis backing up"}
    assert alert.runbook_url == "https://runbooks.example/queue"
    assert alert.links == {"dashboard": "https://grafana.example/d/q", "logs": "https://logs.example/q"}


def _grafana_with(**changes: Any) -> dict[str, Any]:
    return {**GRAFANA, "alerts": [{**GRAFANA["alerts"][0], **changes}]}


@pytest.mark.parametrize(
    ("path", "body", "code", "field"),
    [
        ("/api/v1/alerts/alertmanager", _grafana_with(values=[1, 2]), "wrong_type", "alerts[1].values"),
        (
            "/api/v1/alerts/alertmanager",
            _grafana_with(values={"B": "high"}),
            "wrong_type",
            "alerts[1].values.B",
        ),
        (
            "/api/v1/alerts/alertmanager",
            _grafana_with(values={"B": True}),
            "wrong_type",
            "alerts[1].values.B",
        ),
        ("/api/v1/alerts/alertmanager", _grafana_with(panelURL=7), "wrong_type", "alerts[1].panelURL"),
        (
            "/api/v1/alerts/alertmanager",
            _grafana_with(valueString=["x"]),
            "wrong_type",
            "alerts[1].valueString",
        ),
        (
            "/api/v1/alerts",
            {"alerts": [{"name": "X", "links": ["https://x"]}]},
            "wrong_type",
            "alerts[1].links",
        ),
        ("/api/v1/alerts", {"alerts": [{"name": "X", "links": {"d": 5}}]}, "wrong_type", "alerts[1].links.d"),
        (
            "/api/v1/alerts",
            {"alerts": [{"name": "X", "links": {str(n): "https://x" for n in range(9)}}]},
            "too_long",
            "alerts[1].links",
        ),
        (
            "/api/v1/alerts",
            {"alerts": [{"name": "X", "runbook_url": 3}]},
            "wrong_type",
            "alerts[1].runbook_url",
        ),
    ],
)
async def test_bad_details_are_refused_whole(
    hub: HubServer, path: str, body: dict[str, Any], code: str, field: str
) -> None:
    room = await declare(hub)
    generic = path == "/api/v1/alerts"
    good = {"name": "Fine"} if generic else {"status": "firing", "labels": {"alertname": "Fine"}}
    body = {**body, "alerts": [good, *body["alerts"]]}  # a valid alert first: nothing may be half-applied
    async with http(hub) as client:
        response = await client.post(f"{path}?incident={room}", json=body)
    assert response.status_code == 400, response.text
    assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (code, field)
    assert (await hub.hub.settled_state(room)).alerts == {}


ROUTING_KEY = "R0UT1NGK3Y0000000000000000000000"
TRIGGER: dict[str, Any] = {
    "routing_key": "R0UT1NGK3Y0000000000000000000000",
    "event_action": "trigger",
    "dedup_key": "checkout-502",
    "payload": {"summary": "Checkout 502s", "source": "lb-eu-1", "severity": "critical"},
}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/alerts/pagerduty/v2/enqueue", {"event_action": "trigger"}, "body.routing_key"),
        ("/api/v1/alerts/pagerduty/v2/enqueue", {**TRIGGER, "links": {"href": "x"}}, "links"),
        ("/api/v1/alerts/pagerduty/v2/enqueue", {**TRIGGER, "links": [{"text": "no href"}]}, "links[0].href"),
        ("/api/v1/alerts/pagerduty/v2/enqueue", {**TRIGGER, "images": [{"src": 5}]}, "images[0].src"),
        (
            "/api/v1/alerts/pagerduty/v2/enqueue",
            {**TRIGGER, "links": [{"href": f"https://x/{n}"} for n in range(9)]},
            "links",
        ),
        (
            "/api/v1/alerts/pagerduty",
            {**TRIGGER, "payload": {"summary": "s", "source": "x"}},
            "payload.severity",
        ),
        ("/api/v1/alerts/pagerduty/v2/change/enqueue", {"routing_key": "k"}, "payload"),
        (
            "/api/v1/alerts/pagerduty/v2/change/enqueue",
            {"routing_key": "k", "payload": {}},
            "payload.summary",
        ),
        (
            "/api/v1/alerts/pagerduty/v2/change/enqueue",
            {"routing_key": "k", "payload": {"summary": "deploy", "timestamp": "yesterday"}},
            "payload.timestamp",
        ),
    ],
)
async def test_pagerduty_refusals_have_pagerdutys_shape(
    hub: HubServer, path: str, body: dict[str, Any], field: str
) -> None:
    room = await declare(hub)
    async with http(hub) as client:
        response = await client.post(f"{path}?incident={room}", json=body)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert (answer["status"], answer["message"]) == ("invalid event", "Event object is invalid")
    assert answer["errors"] == [answer["error"]["message"]] and answer["error"]["field"] == field
    state = await hub.hub.settled_state(room)
    assert state.alerts == {} and not any(e.kind == "change" for e in state.entries.values())


async def test_pagerduty_links_images_and_details(hub: HubServer) -> None:
    room = await declare(hub)
    body = {
        **TRIGGER,
        "links": [
            {"href": "https://grafana.example/d/1", "text": "dashboard"},
            {"href": "https://logs.example/q"},
            {"href": "https://logs.example/r"},
        ],
        "images": [
            {"src": "https://chart.example/1.png", "href": "https://chart.example", "alt": "error rate"}
        ],
        "payload": {**TRIGGER["payload"], "custom_details": {"error_rate": "8.2%", "pods": 3}},
    }
    async with http(hub) as client:
        response = await client.post(f"/api/v1/alerts/pagerduty/v2/enqueue?incident={room}", json=body)
        assert response.status_code == 202 and response.json()["dedup_key"] == "checkout-502"
    alert = (await hub.hub.settled_state(room)).alerts["pd:checkout-502"]
    assert alert.links == {
        "dashboard": "https://grafana.example/d/1",
        "link": "https://logs.example/q",
        "link 2": "https://logs.example/r",
        "error rate": "https://chart.example/1.png",
    }
    assert alert.url == "https://grafana.example/d/1"
    assert alert.annotations["custom_details"] == '{"error_rate": "8.2%", "pods": 3}'


async def test_pagerduty_details_of_megabytes_are_kept_as_their_first_2048_characters(hub: HubServer) -> None:
    """custom_details near the body limit: parsed off the loop, and only its head is encoded."""
    room = await declare(hub)
    details = {f"k{n:06d}": "v\x1b" * 30 for n in range(50_000)}  # about 11 MB of JSON
    body = {**TRIGGER, "payload": {**TRIGGER["payload"], "custom_details": details}}
    change = {
        "routing_key": TRIGGER["routing_key"],
        "payload": {"summary": "Deployed v2", "source": "argo-cd", "custom_details": details},
    }
    async with http(hub) as client:
        response = await client.post(f"/api/v1/alerts/pagerduty/v2/enqueue?incident={room}", json=body)
        assert response.status_code == 202, response.text
        url = f"/api/v1/alerts/pagerduty/v2/change/enqueue?incident={room}"
        assert (await client.post(url, json=change)).status_code == 202
    state = await hub.hub.settled_state(room)
    kept = state.alerts["pd:checkout-502"].annotations["custom_details"]
    assert len(kept) == 2048 and kept.startswith('{"k000000": "v\\u001bv') and kept.endswith("…")
    entry = next(e for e in state.entries.values() if e.kind == "change")
    assert entry.text.startswith("Deployed v2")


async def test_a_change_event_lands_in_the_timeline(hub: HubServer) -> None:
    room = await declare(hub)
    change = {
        "routing_key": "R0UT1NGK3Y0000000000000000000000",
        "payload": {
            "summary": "Deployed checkout v4512",
            "timestamp": "2026-11-28T01:05:00.000+0000",
            "source": "argo-cd",
            "custom_details": {"build": "4512"},
        },
        "links": [{"href": "https://ci.example/4512", "text": "build"}],
    }
    async with http(hub) as client:
        response = await client.post(
            f"/api/v1/alerts/pagerduty/v2/change/enqueue?incident={room}", json=change
        )
        assert response.status_code == 202, response.text
        assert response.json() == {"status": "success", "message": "Change event processed"}
        # No incident named and no rule: the inbox, as an alert would go.
        assert (
            await client.post("/api/v1/alerts/pagerduty/v2/change/enqueue", json=change)
        ).status_code == 202
    entry = next(e for e in (await hub.hub.settled_state(room)).entries.values() if e.kind == "change")
    assert entry.text == "Deployed checkout v4512 (argo-cd) · build: https://ci.example/4512"
    assert (entry.when, entry.author) == ("2026-11-28T01:05:00.000Z", "pagerduty")
    inbox = await hub.hub.settled_state("inbox")
    assert [e.text for e in inbox.entries.values() if e.kind == "change"] == [entry.text]


@pytest.fixture
def ca(tmp_path: Path) -> tuple[Path, Path, ssl.SSLContext]:
    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1", "localhost")
    chain, key = tmp_path / "hub.pem", tmp_path / "hub.key"
    cert.private_key_pem.write_to_path(str(key))
    with chain.open("wb") as out:
        for blob in cert.cert_chain_pems:
            out.write(blob.bytes())
    trust = ssl.create_default_context()
    authority.configure_trust(trust)
    return chain, key, trust


async def test_the_stock_pagerduty_client_against_the_hub(
    ca: tuple[Path, Path, ssl.SSLContext], db_path: Path
) -> None:
    """``pagerduty`` 7.2, unmodified: a base URL under the intake, the hub token as a header.

    Its Events API client insists on https://, and appends /v2/enqueue and
    /v2/change/enqueue to the base URL; a route rule on ``source`` finds the incident.
    """
    import pagerduty

    chain, key, trust = ca
    server = HubServer(db_path, TOKEN, tls=(chain, key))
    await server.start()
    try:
        room = await declare(server)
    finally:
        await server.stop()
    config = parse_hub_config({"routes": [{"match": {"source": "lb-eu-1"}, "incident": room}]})
    server = HubServer(db_path, TOKEN, tls=(chain, key), config=config)
    await server.start()
    try:
        base = f"{server.http_url.replace('http://', 'https://')}/api/v1/alerts/pagerduty"

        def send() -> tuple[str, str, str]:
            with pagerduty.EventsApiV2Client(
                TRIGGER["routing_key"],
                base_url=base,
                headers={"Authorization": f"Bearer {TOKEN}"},
                verify=trust,
            ) as events:
                key = events.trigger(
                    "Checkout 502s",
                    "lb-eu-1",
                    dedup_key="checkout-502",
                    custom_details={"error_rate": "8.2%"},
                    links=[{"href": "https://grafana.example/d/1", "text": "dashboard"}],
                )
                acked = events.acknowledge(key)
                # Without a timestamp, 7.2's submit() fails before sending (datetime.timezone).
                events.submit(
                    "Deployed checkout v4512",
                    source="lb-eu-1",
                    custom_details={"build": "4512"},
                    timestamp="2026-11-28T01:05:00.000+00:00Z",  # the form that property would make
                )
                resolved = events.resolve(key)
                with pytest.raises(pagerduty.HttpError) as refused:
                    events.send_event("trigger", payload={"summary": "no source", "severity": "critical"})
                response = refused.value.response
                assert response is not None and response.status_code == 400
                assert response.json()["status"] == "invalid event"
                return key, acked, resolved

        assert await asyncio.to_thread(send) == ("checkout-502",) * 3
        state = await server.hub.settled_state(room)
        alert = state.alerts["pd:checkout-502"]
        assert (alert.status, alert.acked_by) == ("resolved", "pagerduty")
        assert alert.links == {"dashboard": "https://grafana.example/d/1"}
        changes = [e.text for e in state.entries.values() if e.kind == "change"]
        assert changes == ["Deployed checkout v4512 (lb-eu-1)"]
        async with httpx.AsyncClient(verify=trust) as plain:  # the stock path answers 404 no more
            answer = await plain.post(
                f"{base}/v2/enqueue", json=TRIGGER, headers={"Authorization": "Bearer x"}
            )
            assert answer.status_code == 401
    finally:
        await server.stop()


async def test_hostile_details_are_kept_and_made_visible(hub: HubServer) -> None:
    from tests.hostile import assert_safe

    room = await declare(hub)
    body = _grafana_with(
        valueString="[ var='B' value=1 ]\x1b]0;pwned\x07",
        values={"B\x1b[2J": 1.5},
        panelURL="https://grafana.example/d/1\u202e",
        annotations={"runbook_url": "https://rb.example/\x1b[31mred", "summary": "ok"},
    )
    async with http(hub) as client:
        response = await client.post(f"/api/v1/alerts/alertmanager?incident={room}", json=body)
        assert response.status_code == 202, response.text
        paged = {
            **TRIGGER,
            "dedup_key": "hostile",
            "links": [{"href": "https://x.example/\x1b]8;;evil\x07", "text": "dash\x1b[5m"}],
        }
        assert (await client.post(f"/api/v1/alerts/pagerduty?incident={room}", json=paged)).status_code == 202
    state = await hub.hub.settled_state(room)
    grafana, pd = state.alerts["c6eadffa33fcdf37"], state.alerts["pd:hostile"]
    assert grafana.value == "[ var='B' value=1 ]␛]0;pwned␇" and grafana.values == {"B␛[2J": "1.5"}
    assert grafana.links["panel"] == "https://grafana.example/d/1⁅bidi⁆"
    assert grafana.runbook_url == "https://rb.example/␛[31mred"
    assert pd.links == {"dash␛[5m": "https://x.example/␛]8;;evil␇"}
    for alert in (grafana, pd):
        for text in [
            *alert.links.items(),
            *alert.values.items(),
            (alert.value or "", alert.runbook_url or ""),
        ]:
            assert_safe(" ".join(text), alert.alertname)
