"""``warroom alerts``, and ack and silence by matcher, against a real hub over real sockets."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import sys
from typing import Any

import pytest

from server.runner import HubServer
from tests.test_alert_feed import feed_of, room_with, upsert
from tests.test_alert_feed import run as run_hub
from tests.test_app import joined, make_app, running, settle
from tests.test_cli import Result, hub_args
from tests.test_intake import declare, http
from warroom.core.events import Command
from warroom.core.protocol import new_id


async def run(env: dict[str, str], *args: str, answer: str | None = None) -> Result:
    """The CLI in a subprocess: stdin is /dev/null (no terminal), or a pty that types ``answer``."""
    if answer is None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "warroom",
            *args,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode is not None
        return Result(proc.returncode, out.decode(), err.decode())
    main, child = pty.openpty()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "warroom",
            *args,
            env=env,
            stdin=child,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        os.write(main, answer.encode() + b"\n")  # the terminal holds the line until input() reads it
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        os.close(main)
        os.close(child)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


def alert(name: str, instance: str, severity: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "severity": severity, "labels": {"instance": instance, "job": "node"}, **extra}


STORM = [
    alert("DiskWillFillIn4h", "db-1", "warning", starts_at="2026-11-28T01:00:00Z"),
    alert("NodeDown", "db-1", "critical", starts_at="2026-11-28T00:50:00Z"),
    alert("NodeDown", "db-2", "critical", starts_at="2026-11-28T00:51:00Z"),
    alert("NodeDown", "web-1", "critical", starts_at="2026-11-28T00:52:00Z"),
    alert("HighLatency", "web-1", "info", starts_at="2026-11-28T01:10:00Z"),
    alert("HighErrorRate", "web-1", "critical", starts_at="2026-11-28T01:20:00Z", status="resolved"),
    alert(
        "QueueBacklog",
        "mq-1",
        "warning",
        starts_at="2026-11-28T01:30:00Z",
        runbook_url="https://runbooks.example/queue",
        links={"dashboard": "https://grafana.example/d/q"},
    ),
]


@pytest.fixture
async def storm(hub: HubServer) -> str:
    room = await declare(hub)
    async with http(hub) as client:
        response = await client.post(f"/api/v1/alerts?incident={room}", json={"alerts": STORM})
        assert response.status_code == 202, response.text
    return room


def by_label(state: Any) -> dict[str, Any]:
    return {a.label: a for a in state.alerts.values()}


async def test_alerts_by_group_all_and_json(hub: HubServer, env: dict[str, str], storm: str) -> None:
    grouped = await run(env, "alerts", storm, *hub_args(hub))
    assert grouped.code == 0, grouped.err
    lines = grouped.out.splitlines()
    header = ["SEVERITY", "FIRING", "ACKED", "SILENCED", "STALE", "SINCE", "NEWEST", "ALERT"]
    assert lines[0].split() == header
    names = [line.split()[-1] for line in lines[1:]]
    # Worst severity first, the newest first-firing first among equals; nothing firing last.
    assert names == ["NodeDown", "QueueBacklog", "DiskWillFillIn4h", "HighLatency", "HighErrorRate"]
    assert lines[1].split()[:9] == [
        "critical",
        "3/3",
        "0",
        "0",
        "0",
        "2026-11-28",
        "00:50",  # since: its first alert
        "2026-11-28",
        "00:52",  # its newest
    ]
    assert lines[5].split()[:2] == ["critical", "0/1"]

    every = await run(env, "alerts", storm, "--all", *hub_args(hub))
    assert every.code == 0, every.err
    rows = every.out.splitlines()[1:]
    assert len(rows) == len(STORM)
    assert "NodeDown{instance=db-1, job=node}" in rows[0] and rows[0].startswith("firing")

    as_json = json.loads((await run(env, "alerts", storm, "--json", *hub_args(hub))).out)
    assert [a["alertname"] for a in as_json][:3] == ["NodeDown"] * 3
    queue = next(a for a in as_json if a["alertname"] == "QueueBacklog")
    assert queue["runbook_url"] == "https://runbooks.example/queue"
    assert queue["links"] == {"dashboard": "https://grafana.example/d/q"}
    state = await hub.hub.settled_state(storm)
    for item in as_json:  # every field of every alert, as the room holds it
        held = state.alerts[item["fingerprint"]]
        assert item == {name: getattr(held, name) for name in item}
        assert {"values", "value", "origin", "stale_since", "links", "silence_origin"} <= set(item)


async def test_silence_by_matcher_covers_exactly_what_it_printed(
    hub: HubServer, env: dict[str, str], storm: str
) -> None:
    args = [
        "--match",
        "alertname=NodeDown",
        "--match",
        "instance=~db-.*",
        "--for",
        "2h",
        "--reason",
        "rack 4",
    ]
    done = await run(env, "silence", storm, *args, "--yes", *hub_args(hub))
    assert done.code == 0, done.err
    assert "2 alerts in" in done.out and "silenced 2 alerts for 120m in the room only" in done.out
    assert "NodeDown{instance=db-1, job=node}" in done.out and "web-1" not in done.out
    state = await hub.hub.settled_state(storm)
    silenced = sorted(label for label, a in by_label(state).items() if a.silenced_until)
    assert silenced == ["NodeDown{instance=db-1, job=node}", "NodeDown{instance=db-2, job=node}"]


async def test_matchers_that_fail_or_cover_nothing_are_refused(
    hub: HubServer, env: dict[str, str], storm: str
) -> None:
    timed = ["--for", "2h", "--reason", "x", *hub_args(hub)]
    bad = await run(env, "silence", storm, "--match", "instance=~db-(", "--yes", *timed)
    assert "--match: matcher instance=~⟨here⟩db-(" in bad.one_line_error()
    bad_name = await run(env, "ack", storm, "--match", "bad name=x", "--yes", *hub_args(hub))
    assert "is not a label name" in bad_name.one_line_error()
    nothing = await run(env, "silence", storm, "--match", "alertname=Nope", "--yes", *timed)
    assert "cover no alert" in nothing.one_line_error()
    both = await run(env, "silence", storm, "NodeDown", "--match", "alertname=NodeDown", *timed)
    assert "not both" in both.one_line_error()

    # No terminal and no --yes: it shows what it would cover, and does nothing.
    asked = await run(env, "silence", storm, "--match", "alertname=NodeDown", *timed)
    assert "pass --yes" in asked.one_line_error() and asked.out.count("NodeDown{") == 3
    state = await hub.hub.settled_state(storm)
    assert not any(a.silenced_until for a in state.alerts.values())


async def test_ack_by_name_offers_the_group_and_ack_by_matcher(
    hub: HubServer, env: dict[str, str], storm: str
) -> None:
    ambiguous = await run(env, "ack", storm, "NodeDown", *hub_args(hub))
    line = ambiguous.one_line_error()
    assert "3 alerts are named so" in line and "--match 'alertname=NodeDown'" in line

    declined = await run(env, "ack", storm, "--match", "alertname=NodeDown", *hub_args(hub), answer="n")
    assert declined.code == 2 and "acknowledge these 3? [y/N]" in declined.out
    state = await hub.hub.settled_state(storm)
    assert not any(a.acked_by for a in state.alerts.values())

    acked = await run(
        env, "ack", storm, "--match", "alertname=NodeDown", *hub_args(hub), "--as", "sam", answer="y"
    )
    assert acked.code == 0, acked.err
    assert "acknowledged 3 alerts" in acked.out
    state = await hub.hub.settled_state(storm)
    assert sorted(a.alertname for a in state.alerts.values() if a.acked_by == "sam") == ["NodeDown"] * 3
    again = await run(env, "ack", storm, "--match", "alertname=NodeDown", "--yes", *hub_args(hub))
    assert "no firing, unacknowledged alert" in again.one_line_error()


async def test_the_cli_lists_groups_in_the_alert_panels_order_with_its_counts(
    hub: HubServer, env: dict[str, str]
) -> None:
    """One room, read by ``warroom alerts`` and by the app: the same groups, order and counts.

    Each group is a case the two once told apart: severities spelled p1, fatal or
    major; a group whose first alert fired long ago but whose newest is recent;
    a silence whose end has passed (not silenced now).
    """
    room = await room_with(hub)
    await upsert(hub, room, "o1", "OldGroup", severity="warning", starts_at="2026-11-28T00:00:00Z")
    await upsert(hub, room, "o2", "OldGroup", severity="warning", starts_at="2026-11-28T01:00:00Z")
    await upsert(hub, room, "m1", "MidGroup", severity="warn", starts_at="2026-11-28T00:40:00Z")
    await upsert(hub, room, "p1", "PagerOne", severity="p1", starts_at="2026-11-28T00:05:00Z")
    await upsert(hub, room, "f1", "Fatal", severity="fatal", starts_at="2026-11-28T00:06:00Z")
    await upsert(hub, room, "j1", "Major", severity="major", starts_at="2026-11-28T00:20:00Z")
    await upsert(hub, room, "e1", "Errors", severity="error", starts_at="2026-11-28T00:30:00Z")
    for n in range(3):
        await upsert(
            hub, room, f"q{n}", "Quiet", severity="info", origin="am1", starts_at="2026-11-28T00:10:00Z"
        )
    await run_hub(hub, "alert.acknowledged", {"fingerprint": "q0"}, room, "bob")
    synced = {
        "id": "s-past",
        "origin": "am1",
        "state": "active",  # as reconciliation last read it; its end has passed since
        "matchers": ["alertname=Quiet"],
        "ends_at": "2026-11-28T02:00:00.000Z",
    }
    await hub.hub.execute(Command(new_id(), "silence.synced", synced, room), "am", internal=True)
    listed = await run(env, "alerts", room, *hub_args(hub))
    assert listed.code == 0, listed.err
    cli = [line.split() for line in listed.out.splitlines()[1:]]
    expected = ["Fatal", "PagerOne", "Errors", "Major", "MidGroup", "OldGroup", "Quiet"]
    assert [row[-1] for row in cli] == expected

    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        feed = feed_of(app)
        await settle(pilot, lambda: len(feed.root.children) == len(expected), "the groups")
        shown = [str(node.data).removeprefix("group:") for node in feed.root.children]
        assert shown == expected
        for row, name in zip(cli, shown, strict=True):
            stats = feed.group_stats(name)
            assert stats is not None
            assert row[:5] == [
                stats.worst or "-",
                f"{stats.firing}/{stats.total}",
                str(stats.acked),
                str(stats.silenced),
                str(stats.stale),
            ]
    quiet = cli[-1]
    assert quiet[:4] == ["info", "3/3", "1", "0"]  # the silence ran out: not silenced now
