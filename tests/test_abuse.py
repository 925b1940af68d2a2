"""Abuse: no caller can starve the hub, secrets stay secret, malformed requests get a 4xx.

Each test drives a real hub through its ports with small configured limits, and
checks afterwards that the log has no gap and no command twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

import server.access
import server.alerts
from server.config import load_hub_config, parse_hub_config
from server.notify import signature
from server.runner import HubServer
from tests.conftest import TOKEN, ClientFactory, Receiver, assert_log_is_whole, issue, wait_for

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextlib.asynccontextmanager
async def running(db_path: Path, **config: Any) -> AsyncIterator[HubServer]:
    """A hub with this config; on the way out, its log must be whole."""
    server = HubServer(db_path, TOKEN, config=parse_hub_config(config))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
    assert_log_is_whole(db_path)


async def read_to_eof(reader: asyncio.StreamReader, timeout: float) -> bytes:
    data = b""
    async with asyncio.timeout(timeout):
        with contextlib.suppress(ConnectionResetError):  # cut off while it was still sending
            while chunk := await reader.read(65536):
                data += chunk
    return data


async def trickle(writer: asyncio.StreamWriter, line: bytes) -> None:
    """A slowloris: one more line every 0.1 s, for as long as the socket takes it."""
    with contextlib.suppress(OSError):
        while not writer.is_closing():
            writer.write(line)
            await asyncio.sleep(0.1)  # the attacker's pace, not a wait for an event


# -- bounded work per caller -------------------------------------------------------------


async def test_a_slowloris_is_cut_off_on_both_ports_and_the_hub_keeps_answering(db_path: Path) -> None:
    async with running(db_path, limits={"header_timeout": 0.5}) as hub:
        conns = []
        for port in (hub.http_port, hub.port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            conns.append((reader, writer, asyncio.create_task(trickle(writer, b"X-Slow: y\r\n"))))
        started = time.monotonic()
        answers = [await read_to_eof(reader, 5.0) for reader, _, _ in conns]
        assert 0.4 <= time.monotonic() - started < 5.0  # cut at the deadline, however it trickles
        assert answers[0].startswith(b"HTTP/1.1 408")
        assert json.loads(answers[0].split(b"\r\n\r\n", 1)[1])["error"]["code"] == "bad_frame"
        for _, writer, task in conns:
            task.cancel()
            writer.close()
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{hub.http_url}/healthz")).status_code == 200


async def test_a_kept_alive_connection_gets_a_new_header_deadline_per_request(db_path: Path) -> None:
    async with running(db_path, limits={"header_timeout": 0.5}) as hub:
        reader, writer = await asyncio.open_connection("127.0.0.1", hub.http_port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = await reader.readuntil(b"}")  # the whole JSON answer
        assert first.startswith(b"HTTP/1.1 200")
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # the next request, never finished
        task = asyncio.create_task(trickle(writer, b"X-Slow: y\r\n"))
        started = time.monotonic()
        assert (await read_to_eof(reader, 5.0)).startswith(b"HTTP/1.1 408")
        assert time.monotonic() - started < 5.0
        task.cancel()
        writer.close()


async def test_a_body_sent_too_slowly_is_cut_off(db_path: Path) -> None:
    async with running(db_path, limits={"body_timeout": 0.5}) as hub:
        reader, writer = await asyncio.open_connection("127.0.0.1", hub.http_port)
        head = f"POST /api/v1/incidents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        writer.write(f"{head}Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{".encode())
        task = asyncio.create_task(trickle(writer, b" "))
        started = time.monotonic()
        await read_to_eof(reader, 5.0)
        assert 0.4 <= time.monotonic() - started < 5.0
        task.cancel()
        writer.close()
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{hub.http_url}/api/v1/incidents", headers=AUTH)).status_code == 200


async def test_connections_past_the_cap_are_refused_at_once_on_both_ports(db_path: Path) -> None:
    async with running(db_path, limits={"connections": 3}) as hub:
        idle = [await asyncio.open_connection("127.0.0.1", hub.http_port) for _ in range(3)]
        idle += [await asyncio.open_connection("127.0.0.1", hub.port) for _ in range(3)]
        for port in (hub.http_port, hub.port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            answer = await read_to_eof(reader, 5.0)
            assert answer.startswith(b"HTTP/1.1 503"), answer
            writer.close()
            if port == hub.http_port:
                assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "shutting_down"
        for _, w in idle:
            w.close()
        async with httpx.AsyncClient() as http:  # once they are gone, callers get in again
            await wait_for(lambda: len(hub._http.server_state.connections) == 0 if hub._http else False)
            assert (await http.get(f"{hub.http_url}/healthz")).status_code == 200


async def test_a_join_flood_is_rate_limited_and_catch_ups_stay_whole(
    db_path: Path, raw_client: Any, make_client: ClientFactory
) -> None:
    limits = {"join_burst": 5, "joins_per_second": 0.5, "commands_per_second": 1e6, "command_burst": 10**6}
    async with running(db_path, limits=limits) as hub:
        writer = await make_client(hub.url, "writer")
        room = (await writer.send("incident.declared", {"title": "Long", "severity": "SEV3"}))["room"]
        await asyncio.gather(*(writer.send("entry.added", {"text": f"n{n}"}, room) for n in range(1100)))
        viewer = await raw_client(hub.url, await issue(hub, "watcher", level="viewer"))
        await viewer.hello("watcher")
        for n in range(20):
            await viewer.send({"t": "join", "rid": n, "room": room, "after": 0})
        synced, refused, seqs = 0, list[dict[str, Any]](), list[int]()
        while synced + len(refused) < 20:
            frame = await viewer.recv()
            if frame["t"] == "events" and synced == 0:
                seqs += [e["seq"] for e in frame["events"]]
            elif frame["t"] == "synced":
                synced += 1
            elif frame["t"] == "error":
                refused.append(frame)
        assert synced == 5 and len(refused) == 15
        assert all(r["code"] == "rate_limited" and r["retry_after"] > 0 for r in refused)
        assert seqs == list(range(1, 1102))  # the first catch-up, read and encoded off the loop: whole


async def test_a_big_alert_batch_is_taken_and_a_room_past_its_cap_refuses_the_whole_batch(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server.alerts, "LOCATED_MAX", 100)
    async with running(db_path, limits={"alerts_per_room": 150}) as hub, httpx.AsyncClient() as http:
        made = await http.post(
            f"{hub.http_url}/api/v1/incidents", json={"title": "t", "severity": "SEV3"}, headers=AUTH
        )
        room = made.json()["id"]
        url = f"{hub.http_url}/api/v1/alerts?incident={room}"

        def batch(first: int, count: int) -> dict[str, Any]:
            return {
                "alerts": [{"name": "Disk", "labels": {"n": str(n)}} for n in range(first, first + count)]
            }

        too_many = await http.post(url, json=batch(0, 151), headers=AUTH)
        assert too_many.status_code == 400
        assert too_many.json()["error"]["code"] == "limit_reached"
        assert "alerts_per_room" in too_many.json()["error"]["message"]
        assert not (await hub.hub.settled_state(room)).alerts  # nothing from it was stored
        assert (await http.post(url, json=batch(0, 150), headers=AUTH)).status_code == 202
        assert (await http.post(url, json=batch(0, 150), headers=AUTH)).status_code == 202  # updates fit
        assert (await http.post(url, json=batch(150, 1), headers=AUTH)).status_code == 400
        assert len((await hub.hub.settled_state(room)).alerts) == 150
        # The fingerprint -> room map keeps the most recently seen LOCATED_MAX alerts only.
        assert len(hub.alerts.located) == 100
        state = await hub.hub.settled_state(room)
        assert list(hub.alerts.located) == list(state.alerts)[50:]


async def test_listing_and_the_status_page_follow_every_change_from_memory(db_path: Path) -> None:
    async with running(db_path, limits={"rooms": 3}) as hub, httpx.AsyncClient() as http:
        api = f"{hub.http_url}/api/v1/incidents"
        first = await http.post(
            api, json={"title": "Public one", "severity": "SEV2", "public": True}, headers=AUTH
        )
        room = first.json()["id"]
        page = (await http.get(f"{hub.http_url}/status.json")).json()
        assert [i["title"] for i in page["incidents"]] == ["Public one"]
        await http.post(f"{api}/{room}/status", json={"status": "resolved"}, headers=AUTH)
        page = (await http.get(f"{hub.http_url}/status.json")).json()  # at once, not after a cache expires
        assert page["operational"] and [i["status"] for i in page["resolved"]] == ["resolved"]
        second = await http.post(api, json={"title": "Two", "severity": "SEV3"}, headers=AUTH)
        assert second.status_code == 201
        listed = (await http.get(api, headers=AUTH)).json()["incidents"]
        assert [i["title"] for i in listed] == ["Two", "Public one"]
        await http.post(api, json={"title": "Three", "severity": "SEV3"}, headers=AUTH)
        full = await http.post(api, json={"title": "Four", "severity": "SEV3"}, headers=AUTH)
        assert full.status_code == 409 and full.json()["error"]["code"] == "limit_reached"


async def test_failed_authentications_from_one_address_get_429_and_good_tokens_still_work(
    db_path: Path,
) -> None:
    limits = {"auth_failure_burst": 5, "auth_failures_per_second": 0.01}
    async with running(db_path, limits=limits) as hub, httpx.AsyncClient() as http:
        api = f"{hub.http_url}/api/v1/incidents"
        codes = [
            (await http.get(api, headers={"Authorization": f"Bearer wrong-{n}"})).status_code
            for n in range(8)
        ]
        assert codes == [401] * 5 + [429] * 3
        throttled = await http.get(api, headers={"Authorization": "Bearer wrong-again"})
        assert int(throttled.headers["Retry-After"]) >= 1
        assert throttled.json()["error"]["code"] == "rate_limited"
        assert (await http.get(api, headers=AUTH)).status_code == 200  # the right token is not slowed
        with pytest.raises(InvalidStatus) as refused:
            await connect(hub.url, additional_headers={"Authorization": "Bearer wrong"})
        assert refused.value.response.status_code == 429
        assert int(refused.value.response.headers["Retry-After"]) >= 1
        await hub.access.flush()
        audit = (await http.get(f"{hub.http_url}/api/v1/audit?kind=auth.throttled", headers=AUTH)).json()
        assert sum(line["count"] for line in audit["audit"]) == 5  # 3 + 1 over HTTP, 1 on the sync port


async def test_refusals_are_coalesced_and_a_full_audit_buffer_says_what_it_dropped(
    db_path: Path, raw_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits = {"join_burst": 10**6, "joins_per_second": 1e6}
    async with running(db_path, limits=limits) as hub, httpx.AsyncClient() as http:
        viewer = await raw_client(hub.url, await issue(hub, "nosy", level="viewer", scope=["INC-1"]))
        await viewer.hello("nosy")
        await hub.access.flush()
        for n in range(300):
            await viewer.send({"t": "join", "rid": n, "room": "INC-9"})
        await viewer.recv_until("error")
        await wait_for(lambda: sum(line.count for line in hub.access._lines.values()) >= 300)
        monkeypatch.setattr(server.access, "AUDIT_BUFFER", len(hub.access._lines) + 3)
        for n in range(20):  # twenty different rooms: lines that do not fold into one
            await viewer.send({"t": "join", "rid": f"x{n}", "room": f"INC-{100 + n}"})
        await viewer.send({"t": "join", "rid": "last", "room": "INC-99"})
        await viewer.recv_until("error", rid="last")
        await hub.access.flush()
        audit = (await http.get(f"{hub.http_url}/api/v1/audit", headers=AUTH)).json()["audit"]
        denied = [line for line in audit if line["kind"] == "permission.denied"]
        assert [line["count"] for line in denied if "reaches INC-9;" in line["detail"]["why"]] == [300]
        dropped = [line for line in audit if line["kind"] == "audit.dropped"]
        assert len(dropped) == 1 and dropped[0]["count"] == 21 - 3
        assert dropped[0]["detail"] == {"kinds": {"permission.denied": 18}}


# -- secrets -----------------------------------------------------------------------------


@pytest.mark.sqlite_only  # it reads the SQLite file's bytes
async def test_sink_urls_and_their_passwords_stay_out_of_names_config_timeline_and_files(
    db_path: Path, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="warroom")
    sink = {"kind": "webhook", "url": "http://bob:hunter2@127.0.0.1:9/hook", "retries": 0, "timeout": 0.5}
    async with running(db_path, sinks=[sink]) as hub, httpx.AsyncClient() as http:
        assert hub.config.sinks[0].name == "127.0.0.1:9"
        shown = (await http.get(f"{hub.http_url}/api/v1/config", headers=AUTH)).text
        assert "hunter2" not in shown and "bob" not in shown
        client = await make_client(hub.url, "ann")
        room = (await client.send("incident.declared", {"title": "t", "severity": "SEV2"}))["room"]
        view = await client.join(room)
        await wait_for(lambda: any("notification to" in e.text for e in view.state.entries.values()))
        assert not any("hunter2" in e.text or "bob" in e.text for e in view.state.entries.values())
        assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING  # it logs whole URLs
        assert caplog.records and not any("hunter2" in r.getMessage() for r in caplog.records)
        for suffix in ("", "-wal", "-shm"):
            mode = stat.S_IMODE(os.stat(f"{db_path}{suffix}").st_mode)
            assert mode == 0o600, f"{db_path.name}{suffix} is {oct(mode)}"


def test_webhook_signatures_follow_standard_webhooks() -> None:
    """The Standard Webhooks specification's own example."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == expected


async def test_slack_text_is_escaped(db_path: Path, receiver: Receiver, make_client: ClientFactory) -> None:
    sink = {"name": "#ops", "kind": "slack", "url": f"{receiver.url}/slack"}
    async with running(db_path, sinks=[sink]) as hub:
        client = await make_client(hub.url, "ann")
        await client.send(
            "incident.declared", {"title": "<!channel> a & b <https://x|y>", "severity": "SEV2"}
        )
        await wait_for(lambda: len(receiver.got) == 1)
        text = json.loads(receiver.got[0][2])["text"]
        assert "&lt;!channel&gt; a &amp; b &lt;https://x|y&gt;" in text and "<" not in text


# -- malformed requests ------------------------------------------------------------------


async def test_malformed_requests_get_a_4xx_on_both_ports(db_path: Path) -> None:
    async with running(db_path) as hub, httpx.AsyncClient() as http:
        nested = b"[" * 30_000 + b"]" * 30_000  # deeper than the parser's recursion, under 64 KB
        for path in ("/api/v1/incidents", "/api/v1/alerts", "/api/v1/tokens", "/api/v1/alerts/pagerduty"):
            answer = await http.post(f"{hub.http_url}{path}", content=nested, headers=AUTH)
            assert answer.status_code == 400, path
            assert answer.json()["error"]["code"] == "bad_json"
        twice = [("Authorization", f"Bearer {TOKEN}"), ("Authorization", "Bearer other")]
        answer = await http.get(f"{hub.http_url}/api/v1/incidents", headers=twice)
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthorized"
        with pytest.raises(InvalidStatus) as refused:
            await connect(hub.url, additional_headers=twice)
        assert refused.value.response.status_code == 400
        reader, writer = await asyncio.open_connection("127.0.0.1", hub.http_port)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        answer_bytes = await read_to_eof(reader, 5.0)
        assert answer_bytes.startswith(b"HTTP/1.1 400")
        assert json.loads(answer_bytes.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "bad_frame"
        writer.close()
        plain = await http.get(f"{hub.url.replace('ws://', 'http://')}/")  # no upgrade on the sync port
        assert 400 <= plain.status_code < 500


async def test_a_reload_moves_the_http_deadlines_for_new_connections(tmp_path: Path, db_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text("[limits]\nheader_timeout = 30\n")
    hub = HubServer(db_path, TOKEN, config=load_hub_config(config), config_path=config)
    await hub.start()
    try:
        config.write_text("[limits]\nheader_timeout = 0.3\n")
        assert "limits" in (await hub.reload_config())["changed"]
        reader, writer = await asyncio.open_connection("127.0.0.1", hub.http_port)
        writer.write(b"GET /healthz HTTP/1.1\r\n")
        assert (await read_to_eof(reader, 5.0)).startswith(b"HTTP/1.1 408")
        writer.close()
    finally:
        await hub.stop()
    assert_log_is_whole(db_path)
