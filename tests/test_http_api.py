"""The HTTP API goes through the same command path as the websocket."""

from __future__ import annotations

import httpx
import pytest

from server.runner import HubServer
from tests.conftest import TOKEN, ClientFactory, wait_for
from warroom.core.protocol import new_id

pytestmark = pytest.mark.stores  # the store-backed tests run on SQLite and on PostgreSQL


async def test_declare_list_show_and_log_over_http(hub: HubServer, make_client: ClientFactory) -> None:
    async with httpx.AsyncClient(base_url=hub.http_url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        created = await http.post(
            "/api/v1/incidents", json={"title": "Queue backlog", "severity": "SEV2", "actor": "pagerbot"}
        )
        assert created.status_code == 201
        room = created.json()["id"]
        assert created.json()["seq"] == 1

        watcher = await make_client(hub.url, "watcher")
        view = await watcher.join(room)
        await wait_for(lambda: view.state.seq == 2, what="the watcher's join on the record")

        logged = await http.post(
            f"/api/v1/incidents/{room}/entries",
            json={
                "text": "deploy 2026.11.28-3 started",
                "kind": "action",
                "author": "ci-pipeline",
                "happened_at": "2026-11-28T01:02:03Z",
            },
        )
        assert logged.status_code == 201 and logged.json()["seq"] == 3
        await wait_for(lambda: view.state.seq == 3, what="the websocket client to see the HTTP entry")
        entry = view.state.entries[3]
        assert (entry.author, entry.kind, entry.happened_at) == (
            "ci-pipeline",
            "action",
            "2026-11-28T01:02:03.000Z",
        )

        listed = (await http.get("/api/v1/incidents")).json()["incidents"]
        assert [(i["id"], i["title"], i["seq"]) for i in listed] == [(room, "Queue backlog", 3)]

        state = (await http.get(f"/api/v1/incidents/{room}")).json()
        assert (
            state["declared_by"] == "pagerbot"
            and state["entries"][2]["text"] == "deploy 2026.11.28-3 started"
        )
        assert state == view.state.to_dict()


async def test_idempotency_key_makes_a_retried_post_land_once(hub: HubServer) -> None:
    async with httpx.AsyncClient(base_url=hub.http_url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        room = (await http.post("/api/v1/incidents", json={"title": "t", "severity": "SEV4"})).json()["id"]
        key = new_id()
        first = await http.post(
            f"/api/v1/incidents/{room}/entries", json={"text": "once"}, headers={"Idempotency-Key": key}
        )
        second = await http.post(
            f"/api/v1/incidents/{room}/entries", json={"text": "once"}, headers={"Idempotency-Key": key}
        )
        assert (first.status_code, second.status_code) == (201, 200)
        assert first.json()["seq"] == second.json()["seq"] and second.json()["duplicate"] is True
        state = (await http.get(f"/api/v1/incidents/{room}")).json()
        assert [e["text"] for e in state["entries"]].count("once") == 1


async def test_websocket_and_http_share_one_sequence(hub: HubServer, make_client: ClientFactory) -> None:
    client = await make_client(hub.url)
    room = (await client.send("incident.declared", {"title": "t", "severity": "SEV3"}))["room"]
    async with httpx.AsyncClient(base_url=hub.http_url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        seqs = []
        for n in range(6):
            if n % 2:
                seqs.append(
                    (await http.post(f"/api/v1/incidents/{room}/entries", json={"text": str(n)})).json()[
                        "seq"
                    ]
                )
            else:
                seqs.append((await client.send("entry.added", {"text": str(n)}, room))["seq"])
    assert seqs == [2, 3, 4, 5, 6, 7]
