"""``/metrics`` scraped over real HTTP after real traffic: counters moved; only the right callers read it."""

from __future__ import annotations

import platform
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from server.config import load_hub_config, parse_hub_config
from server.runner import HubServer
from tests.conftest import TOKEN, ClientFactory, Receiver, issue, wait_for
from tests.test_intake import FIRING
from tests.test_storage_faults import FailingStore
from warroom import __version__
from warroom.core.events import Command
from warroom.core.protocol import new_id

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(server: HubServer, token: str | None = TOKEN) -> Samples:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{server.http_url}/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


@pytest.fixture
async def sinking_hub(db_path: Path, receiver: Receiver) -> AsyncIterator[HubServer]:
    config = parse_hub_config(
        {"sinks": [{"name": "ops", "kind": "webhook", "url": f"{receiver.url}/ops", "retries": 0}]}
    )
    server = HubServer(db_path, TOKEN, config=config)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_counters_move_with_real_traffic(
    sinking_hub: HubServer, receiver: Receiver, make_client: ClientFactory
) -> None:
    server = sinking_hub
    before = await scrape(server)
    assert value(before, "warroom_build_info", version=__version__, python=platform.python_version()) == 1

    receiver.answers["/ops"] = [500]  # the first notification fails, for good (no retries)
    client = await make_client(server.url, "ann")
    room = (await client.send("incident.declared", {"title": "Checkout down", "severity": "SEV1"}))["room"]
    await client.join(room)
    for n in range(5):
        await client.send("entry.added", {"text": f"line {n}"}, room)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        bad = await http.get("/api/v1/incidents", headers={"Authorization": "Bearer wrong-token-wrong"})
        assert bad.status_code == 401
        late = await http.post(
            f"/api/v1/incidents/{room}/status",
            json={"status": "investigating"},  # the status it already has: refused, no_change
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert 400 <= late.status_code < 500, late.text
        took = await http.post(
            f"/api/v1/alerts/alertmanager?incident={room}",
            json=FIRING,
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert took.status_code < 300, took.text
    await wait_for(lambda: len(receiver.got) >= 1, what="the sink's first post")
    await client.send("incident.declared", {"title": "Second", "severity": "SEV3"})
    await wait_for(lambda: server.notifier.delivered_to.get("ops", 0) >= 1, what="a delivery the sink took")

    after = await scrape(server)
    assert value(after, "warroom_events_total", type="entry.added") == 5
    assert value(after, "warroom_events_total", type="incident.declared") == 2
    assert value(after, "warroom_connections") == 1
    assert value(after, "warroom_incidents") == 2
    assert value(after, "warroom_rooms_loaded") >= 1
    assert value(after, "warroom_commit_seconds_count") >= 8
    assert value(after, "warroom_commit_batch_events_sum") >= value(
        after, "warroom_events_total", type="entry.added"
    )
    assert value(after, "warroom_fanout_seconds_count") >= 7
    assert value(after, "warroom_deliveries_total") >= 5  # the member in the room was handed every entry
    assert value(after, "warroom_auth_failures_total", via="http", reason="malformed") == 1
    assert value(after, "warroom_refusals_total", code=str(late.json()["error"]["code"]), via="http") == 1
    alerts = len(FIRING["alerts"])
    assert value(after, "warroom_alerts_received_total", source="alertmanager") == alerts
    assert value(after, "warroom_sink_failures_total", sink="ops", final="true") == 1
    assert value(after, "warroom_sink_deliveries_total", sink="ops") == 1
    assert value(after, "warroom_store_errors_total", op="append") == 0
    assert value(after, "warroom_send_queue_frames") >= 0


async def test_only_allowed_callers_read_metrics(hub: HubServer) -> None:
    responder = await issue(hub, "rita", level="responder")
    scraper = await issue(hub, "prometheus", level="viewer", scope=["metrics"])
    async with httpx.AsyncClient(base_url=hub.http_url) as http:
        anonymous = await http.get("/metrics")
        assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"
        assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
        wrong = await http.get("/metrics", headers={"Authorization": f"Bearer {responder}"})
        assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "forbidden"
        twice = await http.get("/metrics", headers=[("Authorization", f"Bearer {TOKEN}")] * 2)
        assert twice.status_code == 401
    assert value(await scrape(hub, scraper), "warroom_connections") == 0
    incidents = await issue(hub, "metrics-only", level="viewer", scope=["metrics"])
    async with httpx.AsyncClient(base_url=hub.http_url) as http:
        listed = await http.get("/api/v1/incidents", headers={"Authorization": f"Bearer {incidents}"})
    assert listed.status_code == 200 and listed.json()["incidents"] == []  # the scope reaches no incident
    samples = await scrape(hub)
    assert value(samples, "warroom_auth_failures_total", via="http", reason="no token") == 1
    assert value(samples, "warroom_refusals_total", code="forbidden", via="http") == 1


async def test_allowed_addresses_need_no_token(db_path: Path) -> None:
    open_to_me = HubServer(db_path, TOKEN, config=parse_hub_config({"metrics_from": ["127.0.0.0/8"]}))
    elsewhere = HubServer(
        db_path.with_name("b.db"), TOKEN, config=parse_hub_config({"metrics_from": ["10.0.0.0/8"]})
    )
    await open_to_me.start()
    await elsewhere.start()
    try:
        assert value(await scrape(open_to_me, None), "warroom_connections") == 0
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{elsewhere.http_url}/metrics")).status_code == 401
        declare = Command(new_id(), "incident.declared", {"title": "t", "severity": "SEV3"})
        await open_to_me.hub.execute(declare, "ann")
        # One registry per hub: what one hub counted, the other did not.
        assert value(await scrape(open_to_me, None), "warroom_events_total", type="incident.declared") == 1
        assert value(await scrape(elsewhere), "warroom_events_total", type="incident.declared") == 0
    finally:
        await open_to_me.stop()
        await elsewhere.stop()


def test_metrics_from_is_checked() -> None:
    from server.config import HubConfigError

    with pytest.raises(HubConfigError, match="metrics_from"):
        parse_hub_config({"metrics_from": ["not-a-network"]})
    with pytest.raises(HubConfigError, match="metrics_from"):
        parse_hub_config({"metrics_from": "127.0.0.1"})


async def test_store_errors_are_counted(db_path: Path, raw_client: Any) -> None:
    store = FailingStore(db_path)
    server = HubServer(db_path, TOKEN, store=store)
    await server.start()
    try:
        declared = Command(new_id(), "incident.declared", {"title": "t", "severity": "SEV3"})
        room = (await server.hub.execute(declared, "ann")).room
        store.failing = "disk I/O error"
        raw = await raw_client(server.url)
        await raw.hello("bo")
        refused = await raw.command("entry.added", {"text": "refused"}, room)
        assert refused["code"] == "storage_unavailable"
        down = await scrape(server)
        assert value(down, "warroom_event_log_up") == 0
        store.failing = None
        await wait_for(lambda: server.hub.log_health.error is None, what="the log found back")
        samples = await scrape(server)
        assert value(samples, "warroom_event_log_up") == 1
        assert (
            value(samples, "warroom_store_errors_total", op="append")
            == value(down, "warroom_store_errors_total", op="append")
            >= 1
        )
        assert value(samples, "warroom_refusals_total", code="storage_unavailable", via="sync") == 1
    finally:
        await server.stop()


async def test_a_reload_applies_a_changed_metrics_from(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text('metrics_from = ["10.0.0.0/8"]\n')
    server = HubServer(tmp_path / "hub.db", TOKEN, config=load_hub_config(config), config_path=config)
    await server.start()
    try:
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{server.http_url}/metrics")).status_code == 401
            config.write_text('metrics_from = ["127.0.0.1/32"]\n')
            assert (await server.reload_config())["changed"] == ["metrics_from"]
            assert (await http.get(f"{server.http_url}/metrics")).status_code == 200
    finally:
        await server.stop()
