"""Hostile input, generated: the hub never crashes, never leaks a traceback, and always answers.

Bounded in size and count so it runs with the rest of the suite.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

import httpx
import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from server.runner import HubServer
from tests.conftest import TOKEN
from warroom.client import HubClient
from warroom.core.errors import Code
from warroom.core.events import EVENT_TYPES
from warroom.core.protocol import CLIENT_FRAMES, new_id

CODES = {c.value for c in Code}
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.binary(max_size=30),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
frame_types = st.sampled_from([*CLIENT_FRAMES, "cmd", "cmd", "teleport"])
event_types = st.sampled_from([*EVENT_TYPES, "nope"])
field_names = st.sampled_from(["rid", "room", "id", "type", "data", "epoch", "after", "v", "name", "x"])
structured = st.builds(
    lambda t, fields, etype, data: {
        "t": t,
        **fields,
        **({"type": etype, "data": data} if t == "cmd" else {}),
    },
    frame_types,
    st.dictionaries(field_names, values, max_size=5),
    event_types,
    st.one_of(
        values,
        st.dictionaries(
            st.sampled_from(
                [
                    "text",
                    "entry",
                    "kind",
                    "role",
                    "name",
                    "fingerprint",
                    "severity",
                    "status",
                    "title",
                    "minutes",
                ]
            ),
            values,
            max_size=4,
        ),
    ),
)
raw_bytes = st.one_of(
    st.binary(max_size=200),
    values.map(lambda v: msgpack.packb(v, use_bin_type=True)),
    structured.map(lambda f: msgpack.packb(f, use_bin_type=True)),
)


async def fuzz_session(db: Path, frames: list[bytes], hello_first: bool) -> None:
    server = HubServer(db, TOKEN)
    await server.start()
    steady = HubClient(server.url, TOKEN, "steady")
    try:
        await steady.connect()
        room = (await steady.send("incident.declared", {"title": "t", "severity": "SEV3"}))["room"]
        view = await steady.join(room)
        async with connect(
            server.url,
            additional_headers={"Authorization": f"Bearer {TOKEN}"},
            compression=None,
            max_size=None,
        ) as ws:
            if hello_first:
                await ws.send(msgpack.packb({"t": "hello", "v": 1, "name": "fuzz"}))
                assert msgpack.unpackb(await ws.recv(decode=False))["t"] == "welcome"
            for frame in frames:
                await ws.send(frame)
            await ws.send(msgpack.packb({"t": "list", "rid": "end"}))
            while True:  # every frame is answered before the closing list, in order
                reply = msgpack.unpackb(await asyncio.wait_for(ws.recv(decode=False), 10), raw=False)
                assert "Traceback" not in json.dumps(reply, default=str)
                if reply["t"] == "error":
                    assert reply["code"] in CODES and reply["code"] != "internal", reply
                if reply.get("rid") == "end" and reply["t"] in ("incidents", "error"):
                    break
        ack = await steady.send("entry.added", {"text": "still serving"}, room)  # the room kept working
        assert view.state.entries[ack["seq"]].text == "still serving"
    except ConnectionClosed as closed:  # only an oversized frame may close it, and only with 1009
        assert closed.rcvd is not None and closed.rcvd.code in (1009, 4002), closed
    finally:
        await steady.close()
        await server.stop()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(raw_bytes, min_size=1, max_size=12), st.booleans())
def test_random_frames_get_documented_answers(frames: list[bytes], hello_first: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(fuzz_session(Path(tmp) / "hub.db", frames, hello_first))


ROUTES = [
    "/api/v1/incidents",
    "/api/v1/incidents/INC-1/entries",
    "/api/v1/incidents/INC-1/status",
    "/api/v1/incidents/INC-1/severity",
    "/api/v1/incidents/INC-1/broadcasts",
    "/api/v1/incidents/INC-1/roles/comms",
    "/api/v1/incidents/INC-1/milestones/detected",
    "/api/v1/alerts",
    "/api/v1/alerts/alertmanager",
    "/api/v1/alerts/pagerduty",
    "/api/v1/tokens",
]
bodies = st.one_of(
    st.binary(max_size=100),
    values.map(lambda v: json.dumps(v, default=str).encode()),
    st.dictionaries(st.text(max_size=12), values, max_size=6).map(
        lambda d: json.dumps(d, default=str).encode()
    ),
)


async def fuzz_http(db: Path, requests: list[tuple[str, bytes]]) -> None:
    server = HubServer(db, TOKEN)
    await server.start()
    try:
        async with httpx.AsyncClient(
            base_url=server.http_url, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as http:
            await http.post("/api/v1/incidents", json={"title": "t", "severity": "SEV3", "actor": "ann"})
            for path, body in requests:
                response = await http.post(path, content=body, headers={"Idempotency-Key": new_id()})
                assert response.status_code < 500, (path, body, response.text)
                if response.status_code >= 400:
                    error = response.json()["error"]
                    assert error["code"] in CODES and "Traceback" not in response.text
            assert (await http.get("/api/v1/incidents/INC-1")).status_code == 200
    finally:
        await server.stop()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(ROUTES), bodies), min_size=1, max_size=10))
def test_random_http_bodies_get_a_4xx_with_json(requests: list[tuple[str, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(fuzz_http(Path(tmp) / "hub.db", requests))
