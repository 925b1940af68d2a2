"""The hub's escalation engine against a real hub, a controllable clock, a webhook receiver and SMTP.

Pages are decided from the log and the hub's clock; the clock is moved by
hand and the engine's ticks are awaited, never slept on.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from server.config import HubConfigError, load_hub_config
from server.runner import HubServer
from tests.conftest import TOKEN, Clock, Receiver, declare, wait_for
from tests.test_escalation import PAYMENTS_LEVELS
from tests.test_metrics import scrape, value
from warroom.client import HubClient
from warroom.core.errors import WarroomError

ONCALL = (
    """
[teams]
payments = ["carol", "dave"]
execs = ["erin"]

[schedules.platform]
timezone = "Europe/Berlin"
[[schedules.platform.layers]]
name = "primary"
users = ["alice", "bob"]
rotation = "daily"
handoff = "09:00"
start = "2026-11-01"

[policies.payments]
repeat = {repeat}
sinks = ["pager"{more_sinks}]
"""
    + PAYMENTS_LEVELS
    + """
[policies.inbox]
triggers = ["alert"]
sinks = ["pager"]
services = ["orders"]
[[policies.inbox.levels]]
at = "5m"
notify = ["team:payments"]
[[policies.inbox.levels]]
at = "20m"
notify = ["user:erin"]

[policies.comms]
triggers = ["broadcast"]
sinks = ["pager"]
[[policies.comms.levels]]
at = "0m"
notify = ["user:erin"]
"""
)


def write_config(
    tmp: Path, url: str, *, repeat: int = 0, smtp_port: int | None = None, retries: int = 2
) -> Path:
    more = ', "mail"' if smtp_port is not None else ""
    (tmp / "oncall.toml").write_text(ONCALL.format(repeat=repeat, more_sinks=more), encoding="utf-8")
    sinks = f"""
[[sinks]]
name = "pager"
kind = "webhook"
url = "{url}/pages"
secret = "page-secret"
retries = {retries}
timeout = 0.5
"""
    if smtp_port is not None:
        sinks += f"""
[[sinks]]
name = "mail"
kind = "email"
url = "smtp://127.0.0.1:{smtp_port}"
sender = "warroom@example.com"
domain = "example.com"
"""
    path = tmp / "hub.toml"
    path.write_text('schedules = "oncall.toml"\n' + sinks, encoding="utf-8")
    return path


async def start_hub(db: Path, config: Path, clock: Clock) -> HubServer:
    server = HubServer(db, TOKEN, clock=clock, config=load_hub_config(config), config_path=config)
    server.escalation.interval = 0.01
    server.escalation.pager.backoff = lambda attempt: 0.01
    await server.start()
    return server


def pages(receiver: Receiver) -> list[dict[str, Any]]:
    """The pages the webhook sink received (the notifier's own posts left out)."""
    return [
        json.loads(body)
        for path, headers, body in receiver.got
        if path == "/pages" and headers.get("x-warroom-event") == "page.sent"
    ]


async def logged(server: HubServer, room: str, type_: str) -> list[dict[str, Any]]:
    events = await server.hub.store.read(room, 0, 10_000)
    return [{**e.data, "ts": e.ts, "actor": e.actor} for e in events if e.type == type_]


def paged(receiver: Receiver, count: int) -> Callable[[], bool]:
    return lambda: len(pages(receiver)) == count


def timeline(server: HubServer, room: str) -> list[str]:
    """The room's timeline lines as the hub holds them now."""
    return [e.text for e in server.hub._rooms[room].state.entries.values()]


async def ticks(server: HubServer, n: int = 3) -> None:
    """Let the engine look at the clock a few more times (and what it queued settle)."""
    start = server.escalation.ticks
    await wait_for(lambda: server.escalation.ticks >= start + n, what="escalation ticks")
    await server.hub.writer.settled()


async def client_of(server: HubServer, name: str) -> HubClient:
    client = HubClient(server.url, TOKEN, name)
    await client.connect()
    return client


async def test_levels_fire_in_order_at_their_times_and_an_ack_stops_them(
    tmp_path: Path, receiver: Receiver, clock: Clock, hubs: list[HubServer]
) -> None:
    server = await start_hub(tmp_path / "hub.db", write_config(tmp_path, receiver.url), clock)
    hubs.append(server)
    declared_at = clock.now
    alice = await client_of(server, "frank")
    try:
        room = await declare(alice, "Payments failing", "SEV2")
        await wait_for(lambda: len(pages(receiver)) == 1, what="level 1")
        first = pages(receiver)[0]
        # 03:00 UTC is 04:00 in Berlin, before the 09:00 handoff: the turn that began on the 27th
        # (alice, bob, alice, ... from the 1st).
        assert (first["level"], first["targets"], first["notify"]) == (1, ["schedule:platform"], ["alice"])
        assert first["incident"]["id"] == room and first["policy"] == "payments"
        clock.now = declared_at + timedelta(minutes=14, seconds=59)
        await ticks(server)
        assert len(pages(receiver)) == 1  # level 2 is not due before 15m
        clock.now = declared_at + timedelta(minutes=15)
        await wait_for(lambda: len(pages(receiver)) == 2, what="level 2")
        assert pages(receiver)[1]["notify"] == ["carol", "dave"]
        sent = await logged(server, room, "page.sent")
        assert [(p["level"], p["ts"]) for p in sent] == [
            (1, "2026-11-28T03:00:00.000Z"),
            (2, "2026-11-28T03:15:00.000Z"),
        ]
        carol = await client_of(server, "carol")
        try:
            await carol.send("page.acked", {}, room)
        finally:
            await carol.close()
        await wait_for(lambda: bool(server.escalation.tracks[room].runs["incident"].stopped), what="the stop")
        stops = await logged(server, room, "escalation.stopped")
        assert [(s["policy"], s["by"]) for s in stops] == [("payments", "carol")]
        clock.now = declared_at + timedelta(hours=3)
        await ticks(server)
        assert len(pages(receiver)) == 2  # nothing after the ack
        results = server.escalation.pager.results
        await wait_for(lambda: len(results) == 2, what="both deliveries")
        await wait_for(lambda: sum(line.startswith("page (level") for line in timeline(server, room)) == 2)
        await server.hub.writer.settled()
        delivered = await logged(server, room, "page.delivered")
        assert [(d["level"], d["sink"], d["ok"]) for d in delivered] == [
            (1, "pager", True),
            (2, "pager", True),
        ]
        assert value(await scrape(server), "warroom_pages_total", sink="pager", result="ok") == 2
        state = await server.hub.settled_state(room)
        lines = [e.text for e in state.entries.values()]
        assert any(line.startswith("paged alice (payments level 1") for line in lines)
        assert "escalation payments stopped by carol" in lines
    finally:
        await alice.close()


async def test_an_ack_by_someone_never_paged_does_not_stop_it_but_the_commander_claiming_does(
    tmp_path: Path, receiver: Receiver, clock: Clock, hubs: list[HubServer]
) -> None:
    server = await start_hub(tmp_path / "hub.db", write_config(tmp_path, receiver.url), clock)
    hubs.append(server)
    frank = await client_of(server, "frank")
    zoe = await client_of(server, "zoe")
    try:
        room = await declare(frank, "Payments failing", "SEV2")
        await wait_for(lambda: len(pages(receiver)) == 1, what="level 1")
        await zoe.send("page.acked", {}, room)  # zoe was never paged: on the record, stops nothing
        await ticks(server)
        assert not server.escalation.tracks[room].runs["incident"].stopped
        # The declarer holds commander from the start: that is no answer. Handing it over is not
        # either, until the other person takes it.
        await frank.send("role.offered", {"role": "commander", "to": "zoe"}, room)
        await ticks(server)
        assert not server.escalation.tracks[room].runs["incident"].stopped
        await zoe.send("role.accepted", {"role": "commander"}, room)
        await wait_for(lambda: bool(server.escalation.tracks[room].runs["incident"].stopped), what="the stop")
        assert [s["by"] for s in await logged(server, room, "escalation.stopped")] == ["zoe"]
    finally:
        await frank.close()
        await zoe.close()


async def test_a_restarted_hub_carries_on_nothing_repeated_nothing_skipped(
    tmp_path: Path, receiver: Receiver, clock: Clock, hubs: list[HubServer]
) -> None:
    config = write_config(tmp_path, receiver.url)
    db = tmp_path / "hub.db"
    server = await start_hub(db, config, clock)
    hubs.append(server)
    declared_at = clock.now
    client = await client_of(server, "frank")
    try:
        room = await declare(client, "Payments failing", "SEV2")
        await wait_for(lambda: len(pages(receiver)) == 1, what="level 1")
        await server.hub.writer.settled()
    finally:
        await client.close()
    await server.stop()
    clock.now = declared_at + timedelta(minutes=20)  # level 2 came due while the hub was down
    again = await start_hub(db, config, clock)
    hubs.append(again)
    await wait_for(lambda: len(pages(receiver)) == 2, what="level 2 after the restart")
    await ticks(again)
    assert [p["level"] for p in pages(receiver)] == [1, 2]
    clock.now = declared_at + timedelta(minutes=30)
    await wait_for(lambda: len(pages(receiver)) == 3, what="level 3")
    await ticks(again)
    sent = await logged(again, room, "page.sent")
    assert [p["level"] for p in sent] == [1, 2, 3]
    assert sent[1]["ts"] == "2026-11-28T03:20:00.000Z"  # sent late, once, when the hub came back


async def test_a_second_decision_of_the_same_page_is_a_duplicate_and_sends_nothing(
    tmp_path: Path, receiver: Receiver, clock: Clock, hubs: list[HubServer]
) -> None:
    server = await start_hub(tmp_path / "hub.db", write_config(tmp_path, receiver.url), clock)
    hubs.append(server)
    client = await client_of(server, "frank")
    try:
        room = await declare(client, "Payments failing", "SEV2")
        await wait_for(lambda: len(pages(receiver)) == 1, what="level 1")
        await ticks(server)
        # As a second hub that never folded the first one's page would: it decides level 1 again.
        server.escalation.tracks[room].runs["incident"].sent.clear()
        await ticks(server, 5)
        assert len(pages(receiver)) == 1
        assert len(await logged(server, room, "page.sent")) == 1
    finally:
        await client.close()


async def test_severities_pick_levels_and_repeat_runs_them_again(
    tmp_path: Path, receiver: Receiver, clock: Clock, hubs: list[HubServer]
) -> None:
    server = await start_hub(tmp_path / "hub.db", write_config(tmp_path, receiver.url, repeat=1), clock)
    hubs.append(server)
    declared_at = clock.now
    client = await client_of(server, "frank")
    try:
        room = await declare(client, "Everything is down", "SEV1")
        await wait_for(lambda: len(pages(receiver)) == 2, what="the SEV1 levels at 0m")
        assert sorted(p["level"] for p in pages(receiver)) == [1, 4]
        for minutes, count in ((15, 3), (30, 4), (45, 6), (60, 7), (75, 8)):
            clock.now = declared_at + timedelta(minutes=minutes)
            await wait_for(paged(receiver, count), what=f"pages at {minutes}m")
        clock.now = declared_at + timedelta(hours=5)
        await ticks(server)
        sent = await logged(server, room, "page.sent")
        assert [(p["level"], p.get("round", 0)) for p in sent] == [
            (1, 0),
            (4, 0),
            (2, 0),
            (3, 0),
            (1, 1),
            (4, 1),
            (2, 1),
            (3, 1),
        ]
    finally:
        await client.close()


async def test_a_sink_that_keeps_failing_is_retried_and_does_not_delay_the_next_level(
    tmp_path: Path, receiver: Receiver, clock: Clock, hubs: list[HubServer]
) -> None:
    receiver.hang_next["/pages"] = 1000  # the sink hangs past its timeout, every attempt of every page
    server = await start_hub(tmp_path / "hub.db", write_config(tmp_path, receiver.url, retries=2), clock)
    hubs.append(server)
    declared_at = clock.now
    client = await client_of(server, "frank")
    try:
        room = await declare(client, "Payments failing", "SEV2")
        await wait_for(lambda: len(pages(receiver)) == 1, what="level 1's first attempt")
        clock.now = declared_at + timedelta(minutes=15)
        await wait_for(lambda: any(p["level"] == 2 for p in pages(receiver)), what="level 2, on time")
        sent = await logged(server, room, "page.sent")
        assert [(p["level"], p["ts"]) for p in sent][1] == (2, "2026-11-28T03:15:00.000Z")

        results = server.escalation.pager.results
        await wait_for(lambda: sum(r["level"] == 1 for r in results) == 3, what="level 1's three attempts")
        failed = "page (level 1) to pager failed"
        await wait_for(
            lambda: sum(line.startswith(failed) for line in timeline(server, room)) == 3, what="on the record"
        )
        await server.hub.writer.settled()
        found = [d for d in await logged(server, room, "page.delivered") if d["level"] == 1]
        assert [(d["ok"], d["attempt"], d["error"]) for d in found] == [
            (False, 1, "timed out after 0.5s"),
            (False, 2, "timed out after 0.5s"),
            (False, 3, "timed out after 0.5s"),
        ]
    finally:
        receiver.hang.set()
        await client.close()


class Mailbox:
    """An aiosmtpd handler: keeps every message it is given."""

    def __init__(self) -> None:
        self.got: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.got.append(envelope)
        return "250 OK"


@pytest.fixture
async def smtp() -> AsyncIterator[tuple[int, Mailbox]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1, port 0, in this event loop."""
    box = Mailbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(box, hostname="test"), "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1], box
    server.close()
    await server.wait_closed()


async def test_pages_go_out_by_email_over_smtp(
    tmp_path: Path, receiver: Receiver, clock: Clock, hubs: list[HubServer], smtp: tuple[int, Mailbox]
) -> None:
    port, box = smtp
    server = await start_hub(tmp_path / "hub.db", write_config(tmp_path, receiver.url, smtp_port=port), clock)
    hubs.append(server)
    client = await client_of(server, "frank")
    try:
        await declare(client, "Payments <failing>", "SEV2")
        await wait_for(lambda: len(box.got) == 1, what="the e-mail")
        envelope = box.got[0]
        assert envelope.mail_from == "warroom@example.com"
        assert envelope.rcpt_tos == ["alice@example.com"]
        assert isinstance(envelope.content, bytes)
        assert b"Payments <failing>" in envelope.content and b"payments level 1" in envelope.content
        await wait_for(lambda: len(pages(receiver)) == 1, what="the webhook page too")
        results = server.escalation.pager.results
        await wait_for(lambda: {r["sink"] for r in results if r["ok"]} == {"pager", "mail"}, what="both")
    finally:
        await client.close()


async def test_an_overdue_broadcast_pages_and_the_next_broadcast_stops_it(
    tmp_path: Path, receiver: Receiver, clock: Clock, hubs: list[HubServer]
) -> None:
    server = await start_hub(tmp_path / "hub.db", write_config(tmp_path, receiver.url), clock)
    hubs.append(server)
    declared_at = clock.now
    frank = await client_of(server, "frank")

    def comms() -> list[dict[str, Any]]:
        return [p for p in pages(receiver) if p["policy"] == "comms"]

    try:
        room = await declare(frank, "Payments failing", "SEV2")
        first = await frank.send("status.broadcast", {"message": "Looking", "next_update_in": 10}, room)
        clock.now = declared_at + timedelta(minutes=9, seconds=59)
        await ticks(server)
        assert comms() == []  # not overdue yet
        clock.now = declared_at + timedelta(minutes=10)
        await wait_for(lambda: len(comms()) == 1, what="the overdue page")
        assert comms()[0]["notify"] == ["erin"]
        assert comms()[0]["trigger"] == f"broadcast/{first['seq']}"
        await frank.send("status.broadcast", {"message": "Found it", "next_update_in": 30}, room)
        await wait_for(
            lambda: "comms" in server.escalation.tracks[room].runs[f"broadcast/{first['seq']}"].stopped,
            what="the stop",
        )
        stops = [s for s in await logged(server, room, "escalation.stopped") if s["policy"] == "comms"]
        assert [(s["by"], s["trigger"]) for s in stops] == [("frank", f"broadcast/{first['seq']}")]
        clock.now = declared_at + timedelta(minutes=39)
        await ticks(server)
        assert len(comms()) == 1  # the second broadcast's update is due at 40m
        clock.now = declared_at + timedelta(minutes=40)
        await wait_for(lambda: len(comms()) == 2, what="the second overdue page")
    finally:
        await frank.close()


async def test_an_inbox_alert_nobody_claims_pages_until_someone_acks_it(
    tmp_path: Path, receiver: Receiver, clock: Clock, hubs: list[HubServer]
) -> None:
    import httpx

    server = await start_hub(tmp_path / "hub.db", write_config(tmp_path, receiver.url), clock)
    hubs.append(server)
    start = clock.now
    alerts = [
        {"name": "QueueBacklog", "fingerprint": "q1", "labels": {"service": "orders"}},
        {"name": "DiskFull", "fingerprint": "d1", "labels": {"service": "logs"}},  # no policy covers it
    ]
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        answer = await http.post(f"{server.http_url}/api/v1/alerts", json={"alerts": alerts})
    assert answer.status_code == 202, answer.text
    await server.hub.writer.settled()
    clock.now = start + timedelta(minutes=4, seconds=59)
    await ticks(server)
    assert pages(receiver) == []  # the inbox itself is no incident: nothing at 0m
    clock.now = start + timedelta(minutes=5)
    await wait_for(lambda: len(pages(receiver)) == 1, what="the alert's first page")
    page = pages(receiver)[0]
    trigger = page["trigger"]
    assert trigger.startswith("alert/q1/")  # the fingerprint, and the seq of the firing that started it
    assert (page["policy"], page["notify"]) == ("inbox", ["carol", "dave"])
    assert page["incident"]["title"] == "QueueBacklog"
    dave = await client_of(server, "dave")
    try:
        await dave.send("alert.acknowledged", {"fingerprint": "q1"}, "inbox")
    finally:
        await dave.close()
    await wait_for(
        lambda: "inbox" in server.escalation.tracks["inbox"].runs[trigger].stopped, what="the stop"
    )
    clock.now = start + timedelta(hours=1)
    await ticks(server)
    assert len(pages(receiver)) == 1
    stops = await logged(server, "inbox", "escalation.stopped")
    assert [(s["policy"], s["by"], s["trigger"]) for s in stops] == [("inbox", "dave", trigger)]
    # Alertmanager resends the firing alert: acknowledged, it starts nothing new.
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        answer = await http.post(f"{server.http_url}/api/v1/alerts", json={"alerts": alerts[:1]})
        assert answer.status_code == 202
        await server.hub.writer.settled()
        clock.now = start + timedelta(hours=2)
        await ticks(server)
        assert len(pages(receiver)) == 1
        # Resolved, then firing again: a new escalation, from the new firing's time.
        resolved = {**alerts[0], "status": "resolved"}
        assert (
            await http.post(f"{server.http_url}/api/v1/alerts", json={"alerts": [resolved]})
        ).status_code == 202
        await server.hub.writer.settled()
        assert (
            await http.post(f"{server.http_url}/api/v1/alerts", json={"alerts": alerts[:1]})
        ).status_code == 202
    await server.hub.writer.settled()
    clock.now = start + timedelta(hours=2, minutes=5)
    await wait_for(lambda: len(pages(receiver)) == 2, what="the new firing's page")
    assert pages(receiver)[1]["trigger"] not in (trigger,)


async def test_a_page_ack_for_an_unknown_incident_is_refused_with_a_code(
    tmp_path: Path, receiver: Receiver, clock: Clock, hubs: list[HubServer]
) -> None:
    from warroom.client.hub_client import CommandRejected

    server = await start_hub(tmp_path / "hub.db", write_config(tmp_path, receiver.url), clock)
    hubs.append(server)
    zoe = await client_of(server, "zoe")
    try:
        with pytest.raises(CommandRejected) as refused:
            await zoe.send("page.acked", {}, "INC-99")
        assert refused.value.error.code.value == "unknown_room"
        with pytest.raises(CommandRejected) as forged:
            await zoe.send("page.sent", {"policy": "x", "level": 1, "targets": ["user:zoe"]}, "INC-99")
        assert forged.value.error.code.value == "unknown_type"  # only the hub pages
    finally:
        await zoe.close()


def test_a_policy_naming_a_sink_the_hub_lacks_stops_the_hub_at_start(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9")
    text = (tmp_path / "oncall.toml").read_text(encoding="utf-8").replace('"pager"', '"pagr"', 1)
    (tmp_path / "oncall.toml").write_text(text, encoding="utf-8")
    with pytest.raises(HubConfigError, match="unknown sink 'pagr'"):
        load_hub_config(config)


def test_a_bad_policy_file_stops_the_hub_with_file_and_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9")
    text = (tmp_path / "oncall.toml").read_text(encoding="utf-8").replace("team:execs", "team:board")
    (tmp_path / "oncall.toml").write_text(text, encoding="utf-8")
    line = text.splitlines().index('notify = ["team:board"]') + 1
    with pytest.raises(HubConfigError, match=rf"oncall.toml:{line}: policy 'payments': unknown team 'board'"):
        load_hub_config(config)


async def test_a_reload_reads_the_policies_again(
    tmp_path: Path, receiver: Receiver, clock: Clock, hubs: list[HubServer]
) -> None:
    server = await start_hub(tmp_path / "hub.db", write_config(tmp_path, receiver.url), clock)
    hubs.append(server)
    path = tmp_path / "oncall.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('at = "15m"', 'at = "5m"'), encoding="utf-8")
    result = await server.reload_config()
    assert server.escalation.loaded is not None
    assert server.escalation.loaded.policies["payments"].levels[1].at == timedelta(minutes=5)
    assert "schedules" not in result["changed"]  # the same file, read afresh
    good = path.read_text(encoding="utf-8")
    path.write_text(good.replace("user:erin", "user:zed", 1), encoding="utf-8")
    with pytest.raises(WarroomError) as refused:
        await server.reload_config()
    assert "oncall.toml:" in refused.value.message and "unknown user 'zed'" in refused.value.message
    assert "nothing was reloaded" in refused.value.message
    assert server.escalation.loaded.policies["payments"].levels[1].at == timedelta(minutes=5)  # kept


@pytest.mark.parametrize(
    ("sink", "message"),
    [
        ({"kind": "email", "url": "smtp://127.0.0.1:25"}, "an email sink needs sender"),
        (
            {"kind": "email", "url": "http://mail:25", "sender": "w@x", "domain": "x"},
            "is not an smtp://host:port URL",
        ),
        ({"kind": "webhook", "url": "smtp://mail:25"}, "is not an http(s) URL"),
    ],
)
def test_email_sinks_are_checked(sink: dict[str, str], message: str) -> None:
    from server.config import parse_hub_config

    with pytest.raises(HubConfigError) as refused:
        parse_hub_config({"sinks": [sink]}, "hub.toml")
    assert message in str(refused.value)


async def test_a_hub_without_policies_reads_no_log_for_them_and_a_reload_that_adds_them_catches_up(
    tmp_path: Path, receiver: Receiver, clock: Clock, hubs: list[HubServer]
) -> None:
    config = write_config(tmp_path, receiver.url)
    with_policies = config.read_text(encoding="utf-8")
    config.write_text(with_policies.replace('schedules = "oncall.toml"\n', ""), encoding="utf-8")
    server = await start_hub(tmp_path / "hub.db", config, clock)
    hubs.append(server)
    try:
        assert server.escalation._task is None and server.escalation.on_events not in server.hub.followers
        frank = await client_of(server, "frank")
        try:
            room = await declare(frank, "Payments failing", "SEV2")
        finally:
            await frank.close()
        config.write_text(with_policies, encoding="utf-8")
        await server.reload_config()
        # Declared before there were policies: the log says so, and level 1 is due now.
        await wait_for(lambda: len(pages(receiver)) == 1, what="level 1 after the reload")
        assert pages(receiver)[0]["incident"]["id"] == room
    finally:
        await server.stop()
