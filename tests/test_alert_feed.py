"""The alert panel in a storm, driven through Pilot against a real hub on 127.0.0.1:0.

An alert in full (and hostile text in it kept inert), group ack and silence
with the count asked first, the order that puts a new critical group on top,
the marks a narrow terminal keeps, and an update that redraws only its group.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from server.runner import HubServer
from tests.conftest import Calls, Clock, wait_for
from tests.hostile import HOSTILE, assert_safe
from tests.test_app import incident, joined, make_app, paste_line, running, settle
from warroom.app import screens
from warroom.app.alert_detail import AlertDetailScreen
from warroom.app.app import WarroomApp
from warroom.app.dialogs import ConfirmScreen
from warroom.app.screens import SEVERITY_OF_RANK
from warroom.app.slash import Action, Context, SlashError, parse
from warroom.app.widgets.alert_feed import HOLD, AlertFeed
from warroom.app.widgets.composer import Composer
from warroom.core.alert_groups import Tally, group_stats, part_of, severity_rank
from warroom.core.events import Command
from warroom.core.matchers import format_matcher, group_matchers, quote_value
from warroom.core.protocol import new_id
from warroom.core.schema import format_time
from warroom.core.state import Alert
from warroom.core.text import find_control


def ago(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


async def run(
    hub: HubServer, type_: str, data: dict[str, Any], room: str | None = None, actor: str = "maria"
) -> str:
    internal = type_ in ("alert.upserted", "alert.stale")  # from intake and reconciliation only
    return (await hub.hub.execute(Command(new_id(), type_, data, room), actor, internal=internal)).room


async def room_with(hub: HubServer) -> str:
    room = await run(hub, "incident.declared", {"title": "Storage storm", "severity": "SEV2"})
    await run(hub, "role.released", {"role": "commander"}, room)
    return room


async def upsert(hub: HubServer, room: str, fp: str, name: str, **extra: Any) -> None:
    labels = {"alertname": name, "job": "node", **extra.pop("labels", {})}
    await run(
        hub, "alert.upserted", {"fingerprint": fp, "alertname": name, "labels": labels, **extra}, room, "am"
    )


async def storm(
    hub: HubServer, room: str, name: str, count: int, severity: str = "warning", **extra: Any
) -> None:
    for n in range(count):
        labels = {"instance": f"db-{n}"}
        await upsert(hub, room, f"{name}-{n}", name, severity=severity, labels=labels, **extra)


def feed_of(app: WarroomApp) -> AlertFeed:
    return incident(app).query_one(AlertFeed)


def screen_lines(feed: AlertFeed) -> list[str]:
    """The panel's lines as drawn, cut to its width as a terminal shows them."""
    return [feed.render_line(y).text for y in range(feed.size.height)]


def notices(app: WarroomApp) -> list[str]:
    return [n.message for n in app._notifications]


def confirm_of(app: WarroomApp) -> ConfirmScreen:
    screen = app.screen
    assert isinstance(screen, ConfirmScreen)
    return screen


async def select_alert(pilot: Any, app: WarroomApp, room: str, fingerprint: str) -> Any:
    """Join, then put the alert panel's cursor on one alert's row."""
    await settle(pilot, joined(app, room), "join")
    feed = feed_of(app)
    await settle(pilot, lambda: feed.alert_node(fingerprint) is not None, "the row")
    feed.focus()
    row = feed.alert_node(fingerprint)
    assert row is not None
    feed.move_cursor(row)
    await pilot.pause()
    return row


async def test_an_alert_in_full_with_every_field_and_hostile_text_inert(hub: HubServer) -> None:
    room = await room_with(hub)
    # What the hub takes from anyone: markup, click actions, wide and bidi-free text (controls are
    # refused at the door, or made visible by intake, which the terminal test covers).
    hostile = " | ".join(text for text in HOSTILE.values() if find_control(text, multiline=True) is None)
    await upsert(
        hub,
        room,
        "fp-full",
        "DiskWillFillIn4h",
        severity="critical",
        labels={"instance": "db-7", "mountpoint": "/var", "evil": hostile[:256]},
        annotations={
            "summary": "Disk /var on db-7 fills in 4h",
            "description": "line one\nline two " + hostile[:1000],
        },
        starts_at="2026-11-28T01:00:00.000Z",
        origin="am1",
        url="https://prom.example/graph?g0.expr=x",
        runbook_url="https://runbooks.example/disk",
        links={
            "dashboard": "https://grafana.example/d/abc",
            "panel": "https://grafana.example/d/abc?viewPanel=2",
            "silence": "https://grafana.example/alerting/silence/new",
            "image": "https://img.example/1.png",
        },
        values={"B": "97.5", "C": "1"},
        value="[ var='B' labels={instance=db-7} value=97.5 ]",
    )
    await upsert(
        hub,
        room,
        "fp-full",
        "DiskWillFillIn4h",
        severity="critical",
        labels={"instance": "db-7", "mountpoint": "/var", "evil": hostile[:256]},
    )
    await run(hub, "alert.acknowledged", {"fingerprint": "fp-full"}, room, "bob")
    await run(
        hub,
        "alert.silenced",
        {"fingerprint": "fp-full", "minutes": 120, "reason": "resize " + HOSTILE["click-action"]},
        room,
        "carol",
    )
    await run(hub, "alert.stale", {"fingerprint": "fp-full", "reason": "am1 no longer lists it"}, room, "am")

    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        row = await select_alert(pilot, app, room, "fp-full")
        assert "⌛stale" in str(row.label) and "✓ack bob" in str(row.label)  # marked on the row too
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, AlertDetailScreen), "the details")
        shown = str(app.screen.query_one("#alert-detail", Static).render())
        assert_safe(shown, "alert details")
        for expected in (
            "DiskWillFillIn4h{instance=db-7, job=node}",
            "critical",
            "Disk /var on db-7 fills in 4h",
            "line one\nline two",
            "mountpoint=/var",
            "[ var='B' labels={instance=db-7} value=97.5 ]",
            "B = 97.5",
            "2026-11-28 01:00:00 UTC",  # starts
            "first seen",
            "last seen",
            "2 (occurrence #1)",
            "stale since",
            "Alertmanager am1",  # origin
            "by bob at",
            "carol",
            "resize [@click=app.quit]quit[/]",  # the reason, as typed: not markup
            "this room only",  # where the silence lives
            "https://prom.example/graph?g0.expr=x",
            "https://grafana.example/d/abc",
            "https://grafana.example/d/abc?viewPanel=2",
            "https://grafana.example/alerting/silence/new",
            "https://img.example/1.png",
            "https://runbooks.example/disk",
            "[bold red]loud[/] [link=http://evil.example]x[/link]",
            "[ @click=screen.send_status('resolved')]Check dashboards[/]",
        ):
            assert expected in shown, expected
        await pilot.press("s")  # silence: the composer, with the alert named
        await settle(pilot, lambda: not isinstance(app.screen, AlertDetailScreen), "closed")
        assert incident(app).query_one("#composer-input", Input).value == "/silence fp-full "
    state = await hub.hub.settled_state(room)
    assert state.status != "resolved"  # no click action ran


async def test_the_details_follow_the_live_alert_and_say_when_it_moved_out(hub: HubServer) -> None:
    room = await room_with(hub)
    other = await room_with(hub)
    await upsert(hub, room, "fp-live", "NodeDown", severity="critical", labels={"instance": "db-1"})
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await select_alert(pilot, app, room, "fp-live")
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, AlertDetailScreen), "the details")
        detail = app.screen
        assert isinstance(detail, AlertDetailScreen)

        def shown() -> str:
            return str(detail.query_one("#alert-detail", Static).render())

        assert "nobody acknowledged it" in shown()
        # Someone else acts while the details are open: they show it, without reopening.
        await run(hub, "alert.acknowledged", {"fingerprint": "fp-live"}, room, "bob")
        await settle(pilot, lambda: "by bob at" in shown(), "bob's ack, live")
        resolved = Command(new_id(), "alert.resolved", {"fingerprint": "fp-live"}, room)
        await hub.hub.execute(resolved, "am", internal=True)
        await settle(pilot, lambda: "resolved" in shown().splitlines()[0], "resolved, live")

        # Moved to another incident: still shown as it was, and said so; a and s do nothing.
        await run(hub, "alert.moved", {"fingerprint": "fp-live", "to": other}, room, "bob")
        gone = detail.query_one("#alert-gone")
        await settle(pilot, lambda: gone.display, "the notice")
        assert str(gone.render()) == f"moved to {other}: shown as it was when it left"
        assert "by bob at" in shown()
        assert str(detail.query_one("#alert-keys").render()) == "escape close"
        await pilot.press("a")
        await pilot.pause()
        assert app.screen is detail
        assert any("nothing to ack here" in n for n in notices(app))
        await pilot.press("escape")
        await settle(pilot, lambda: app.screen is incident(app), "closed")


async def test_a_on_a_group_row_acks_every_firing_alert_after_a_yes(hub: HubServer) -> None:
    room = await room_with(hub)
    await storm(hub, room, "DiskWillFillIn4h", 25)
    await run(hub, "alert.acknowledged", {"fingerprint": "DiskWillFillIn4h-0"}, room, "bob")
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        feed = feed_of(app)
        await settle(pilot, lambda: feed.group_node("DiskWillFillIn4h") is not None, "the group")
        await pilot.press("f2")  # from the timeline, the key that goes to the alerts
        await settle(pilot, lambda: feed.has_focus, "the alerts focused")
        assert feed.selected_group == "DiskWillFillIn4h"  # a big group is closed: the cursor on its row
        await pilot.press("a")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        question = app.screen
        assert isinstance(question, ConfirmScreen)
        assert question.question == "Acknowledge 24 firing alerts of DiskWillFillIn4h?"
        await pilot.press("y")
    state = await hub.hub.settled_state(room)
    assert sum(a.acked_by == "alice" for a in state.alerts.values()) == 24
    assert state.alerts["DiskWillFillIn4h-0"].acked_by == "bob"


async def test_slash_ack_offers_the_group_and_acks_it_with_a_star(hub: HubServer) -> None:
    room = await room_with(hub)
    await storm(hub, room, "Disk Will Fill", 3)
    await storm(hub, room, "NodeDown", 2)
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        state = app.client.rooms[room].state
        await pilot.press("slash")
        await paste_line(pilot, "ack NodeDown")
        await pilot.press("enter")
        await pilot.pause()
        hint = str(incident(app).query_one("#composer-hint").render())
        offer = "2 alerts are named NodeDown: select one in the alert panel, or /ack NodeDown * for the whole"
        assert offer in hint
        assert not any(a.acked_by for a in state.alerts.values())  # refused: nothing sent

        await pilot.press("ctrl+a", "ctrl+k")
        await paste_line(pilot, '/ack "Disk Will Fill" *')
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert confirm_of(app).question == "Acknowledge 3 firing alerts of Disk Will Fill?"
        assert confirm_of(app).detail == 'alertname="Disk Will Fill"'
        await pilot.press("y")
        await settle(
            pilot,
            lambda: all(
                a.acked_by == "alice" for a in state.alerts.values() if a.alertname == "Disk Will Fill"
            ),
            "the group acked",
        )
        assert not any(a.acked_by for a in state.alerts.values() if a.alertname == "NodeDown")

        # Again: nothing is left to ack, and the hub's refusal is said.
        await paste_line(pilot, '/ack "Disk Will Fill" *')
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")
        await settle(pilot, lambda: any("cover no firing" in n for n in notices(app)), "the refusal")


async def test_silence_on_a_group_sends_the_groups_matchers(hub: HubServer) -> None:
    room = await room_with(hub)
    await storm(hub, room, "NodeDown", 4)
    await storm(hub, room, "HighLoad", 3)
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        state = app.client.rooms[room].state
        await pilot.press("slash")
        await paste_line(pilot, "silence NodeDown * 2h rack swap")
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert confirm_of(app).question == "Silence 4 alerts of NodeDown for 2h?"
        await pilot.press("y")
        await settle(
            pilot,
            lambda: all(a.silenced_until for a in state.alerts.values() if a.alertname == "NodeDown"),
            "the group silenced",
        )
        assert not any(a.silenced_until for a in state.alerts.values() if a.alertname == "HighLoad")
        [silence] = state.silences.values()
        labels = [a.labels for a in state.alerts.values() if a.alertname == "NodeDown"]
        assert silence.matchers == group_matchers("NodeDown", labels) == ["alertname=NodeDown", "job=node"]

        # On a group's row, /silence with no name silences that group.
        feed = feed_of(app)
        node = feed.group_node("HighLoad")
        assert node is not None
        feed.focus()
        feed.move_cursor(node)
        await pilot.pause()
        await pilot.press("slash")
        await paste_line(pilot, "silence 30m noisy")
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert confirm_of(app).question == "Silence 3 alerts of HighLoad for 30m?"
        await pilot.press("y")
        await settle(pilot, lambda: all(a.silenced_until for a in state.alerts.values()), "both silenced")
        await pilot.pause()
        assert "⏸3" in str(node.label)


async def test_s_in_the_alert_panel_starts_a_silence_of_the_alert_or_its_group(hub: HubServer) -> None:
    room = await room_with(hub)
    await storm(hub, room, "Disk Full", 8)  # a big group: closed, its row first
    await storm(hub, room, "NodeDown", 2, severity="info")
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        state = app.client.rooms[room].state
        feed = feed_of(app)
        await settle(pilot, lambda: feed.group_node("NodeDown") is not None, "the groups")
        composer = incident(app).query_one(Composer).input
        await pilot.press("f2")
        await settle(pilot, lambda: feed.has_focus, "the alerts focused")
        group = feed.group_node("Disk Full")
        assert group is not None
        feed.move_cursor(group)
        await pilot.pause()
        await pilot.press("s")
        await settle(pilot, lambda: composer.has_focus, "the composer")
        assert composer.value == '/silence "Disk Full" * '
        assert composer.cursor_position == len(composer.value)
        assert not state.silences  # nothing sent: how long and why are still to be typed
        await paste_line(pilot, "30m disks")
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert confirm_of(app).question == "Silence 8 alerts of Disk Full for 30m?"
        await pilot.press("y")
        await settle(
            pilot,
            lambda: all(a.silenced_until for a in state.alerts.values() if a.alertname == "Disk Full"),
            "the group silenced",
        )

        # On an alert's row: that alert, by fingerprint, as s in its details does.
        await pilot.press("escape", "f2")
        await settle(pilot, lambda: feed.has_focus, "the alerts again")
        node = feed.alert_node("NodeDown-1")
        assert node is not None
        feed.move_cursor(node)
        await pilot.pause()
        await pilot.press("s")
        await settle(pilot, lambda: composer.has_focus, "the composer")
        assert composer.value == "/silence NodeDown-1 "
        await paste_line(pilot, "2h rack swap")
        await pilot.press("enter")
        await settle(pilot, lambda: state.alerts["NodeDown-1"].silenced_until is not None, "one silenced")
        assert state.alerts["NodeDown-1"].silence_reason == "rack swap"
        assert state.alerts["NodeDown-0"].silenced_until is None


async def test_a_new_critical_group_in_a_storm_lands_on_top_and_is_marked_new(hub: HubServer) -> None:
    room = await room_with(hub)
    for n in range(20):  # they started firing ten minutes ago
        await storm(hub, room, f"Warn{n:02}", 3 if n % 2 else 12, starts_at=format_time(ago(600)))
    app = make_app(hub.url, "alice", room)
    async with running(app, size=(120, 30)) as pilot:
        await settle(pilot, joined(app, room), "join")
        feed = feed_of(app)
        await settle(pilot, lambda: len(feed.root.children) == 20, "the storm")
        await upsert(hub, room, "boom", "PaymentsDown", severity="page", labels={"instance": "pay-1"})
        await settle(pilot, lambda: feed.group_node("PaymentsDown") is not None, "the new group")
        await pilot.pause()
        assert feed.root.children[0].data == "group:PaymentsDown"  # page ranks as critical
        top = screen_lines(feed)[0]
        assert "PaymentsDown" in top and "★new" in top and "page" in top
        # then severity, then the newest first: another warning group comes before the older ones.
        await storm(hub, room, "WarnLate", 1)
        await settle(pilot, lambda: feed.group_node("WarnLate") is not None, "the late warning")
        await pilot.pause()
        assert [str(n.data) for n in feed.root.children[:2]] == ["group:PaymentsDown", "group:WarnLate"]


async def test_marks_that_matter_stay_visible_at_80_columns(hub: HubServer) -> None:
    room = await room_with(hub)
    name = "KubePersistentVolumeFillingUpQuicklyInNamespace"
    await storm(hub, room, name, 25, severity="critical")
    for n in range(7):
        await run(hub, "alert.acknowledged", {"fingerprint": f"{name}-{n}"}, room, "bob")
    for n in range(7, 10):
        await run(
            hub, "alert.silenced", {"fingerprint": f"{name}-{n}", "minutes": 60, "reason": "r"}, room, "bob"
        )
    app = make_app(hub.url, "alice", room)
    async with running(app, size=(80, 30)) as pilot:
        await settle(pilot, joined(app, room), "join")
        feed = feed_of(app)
        await settle(pilot, lambda: feed.group_node(name) is not None, "the group")
        await pilot.pause()
        row = screen_lines(feed)[0]
        assert "25/25" in row and "✓7" in row and "⏸3" in row, row
        assert "…" in row and name not in row  # the name was cut, not the counts


async def test_an_update_redraws_only_its_group(hub: HubServer) -> None:
    room = await room_with(hub)
    for n in range(6):
        await storm(hub, room, f"Group{n}", 4)
    still = datetime.now(UTC)
    app = make_app(hub.url, "alice", room, clock=lambda: still)  # no minute tick redraws ages meanwhile
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        feed = feed_of(app)
        await settle(pilot, lambda: len(feed.root.children) == 6, "the groups")
        await pilot.pause()
        before = {str(n.data): (n, n.label, [(c, c.label) for c in n.children]) for n in feed.root.children}
        seq = app.client.rooms[room].state.seq
        await run(hub, "alert.acknowledged", {"fingerprint": "Group3-1"}, room, "bob")
        await settle(pilot, lambda: app.client.rooms[room].state.seq > seq, "the ack")
        await wait_for(
            lambda: "✓1" in str(getattr(feed.group_node("Group3"), "label", "")), what="the redraw"
        )
        for data, (node, label, rows) in before.items():
            assert feed.group_node(data[len("group:") :]) is node  # no group node was rebuilt
            if data != "group:Group3":
                assert node.label is label and list(node.children) == [c for c, _ in rows]
                assert all(c.label is old for c, old in rows)
        changed = before["group:Group3"]
        assert changed[0].label is not changed[1]
        relabelled = [c for (c, old) in changed[2] if c.label is not old]
        assert [c.data for c in relabelled] == ["Group3-1"]  # only the acked row was drawn again


@asynccontextmanager
async def still_feed(hub: HubServer, room: str) -> AsyncIterator[tuple[WarroomApp, Pilot[None], AlertFeed]]:
    """The app joined to ``room``, its clock stopped (no minute tick redraws ages meanwhile)."""
    still = datetime.now(UTC)
    app = make_app(hub.url, "alice", room, clock=lambda: still)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        yield app, pilot, feed_of(app)


async def test_new_alerts_in_a_closed_group_redraw_its_row_and_show_when_it_opens(
    hub: HubServer,
) -> None:
    """A storm into closed groups changes their counts; the feed's other lines are not drawn again."""
    room = await room_with(hub)
    await storm(hub, room, "Big", 8)
    await storm(hub, room, "Small", 2)
    async with still_feed(hub, room) as (app, pilot, feed):
        await settle(pilot, lambda: len(feed.root.children) == 2, "the groups")
        big = feed.group_node("Big")
        assert big is not None and not big.is_expanded
        await pilot.pause()
        builds, label = feed._updates, big.label
        for n in range(8, 20):
            await upsert(hub, room, f"Big-{n}", "Big", severity="warning", labels={"instance": f"db-{n}"})
        await settle(pilot, lambda: len(app.client.rooms[room].state.alerts) == 22, "the storm")
        await settle(pilot, lambda: big.label is not label and "20" in str(big.label), "the group's count")
        assert feed._updates == builds  # no line moved: the feed's lines were not all drawn again
        big.expand()
        await settle(pilot, lambda: len(big.children) == 20, "the rows once it opens")
        assert {str(c.data) for c in big.children} == {f"Big-{n}" for n in range(20)}


async def test_a_stream_of_alert_changes_is_drawn_in_a_few_draws_ending_with_the_last(hub: HubServer) -> None:
    room = await room_with(hub)
    await storm(hub, room, "Flappy", 2)
    async with still_feed(hub, room) as (app, pilot, feed):
        await settle(pilot, lambda: feed.alert_node("Flappy-1") is not None, "the open group's rows")
        draws = Calls(feed, "_update")
        started = time.monotonic()

        def past(seq: int) -> Callable[[], bool]:
            return lambda: app.client.rooms[room].state.seq > seq

        for n in range(10):  # each change is in the app's state before the next is sent
            seq = app.client.rooms[room].state.seq
            await upsert(hub, room, "Flappy-1", "Flappy", severity="warning", labels={"instance": f"db-{n}"})
            await settle(pilot, past(seq), f"change {n}")
        row = feed.alert_node("Flappy-1")
        assert row is not None
        await settle(pilot, lambda: "db-9" in str(row.label), "the last change drawn")
        took = time.monotonic() - started
        assert 1 <= draws.count <= took / HOLD + 2, (draws.count, took)  # held, then drawn together


async def test_a_big_rooms_feed_says_it_is_loading_then_is_built_once_the_room_caught_up(
    hub: HubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(screens, "REBUILD_OVER", 20)  # "big" at 20 alerts, so the test stays quick
    room = await room_with(hub)
    await storm(hub, room, "Many", 30)
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        feed = feed_of(app)
        await settle(pilot, lambda: str(feed.border_title) == "Alerts 30 firing", "the feed built")
        stats = feed.group_stats("Many")
        assert stats is not None and stats.total == 30  # every alert, none stuck behind "loading…"
        await upsert(hub, room, "Many-30", "Many", labels={"instance": "db-30"})
        await settle(pilot, lambda: str(feed.border_title) == "Alerts 31 firing", "a live one after it")


# -- the pure parts: the running tally, severity ranks, and the group slash commands ----------


def test_the_running_tally_always_equals_a_recount() -> None:
    """Adding and taking away one alert's part, in any order, counts what a recount counts."""
    rng = random.Random(7)
    now = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    now_text = format_time(now)
    alerts: dict[str, Alert] = {}
    tally = Tally("G")
    for step in range(2_000):
        fp = f"f{rng.randrange(40)}"
        if rng.random() < 0.15:
            alerts.pop(fp, None)
            tally.put(fp, None)
        else:
            seen = format_time(now - timedelta(minutes=rng.randrange(60)))
            alert = alerts.get(fp) or Alert(fp, "G", "firing", seen, seen)
            alert.status = rng.choice(["firing", "firing", "resolved"])
            alert.severity = rng.choice([None, "critical", "warning", "info", "Page", "bogus"])
            alert.acked_by = rng.choice([None, "bob"])
            alert.silenced_until = rng.choice(
                [None, format_time(now + timedelta(minutes=5)), "2026-01-01T00:00:00.000Z"]
            )
            alert.stale_since = rng.choice([None, seen])
            alert.starts_at = rng.choice([None, seen])
            alerts[fp] = alert
            tally.put(fp, part_of(alert, now_text))
        if alerts:
            assert tally.stats() == group_stats("G", alerts.values(), now), step
            filled = Tally("G")  # counted in bulk, as a rebuild and warroom alerts count
            filled.fill({fp: part_of(a, now_text) for fp, a in alerts.items()})
            assert filled.stats() == tally.stats(), step
            filled.put(fp, None)  # and it goes on one alert at a time from there
            tally.put(fp, None)
            assert filled.stats() == tally.stats(), step
            if fp in alerts:
                tally.put(fp, part_of(alerts[fp], now_text))


def test_severities_rank_as_people_spell_them() -> None:
    # and an incident declared from an alert (/escalate) takes its severity from the same rank.
    assert [
        SEVERITY_OF_RANK[severity_rank(s)] for s in ("p1", "FATAL", "major", "warn", "low", None, "?")
    ] == ["SEV1", "SEV1", "SEV2", "SEV3", "SEV4", "SEV3", "SEV3"]
    assert [
        severity_rank(s) for s in ("critical", "PAGE", "p1", "error", "high", "warning", "info", None, "?")
    ] == [
        0,
        0,
        0,
        1,
        1,
        2,
        3,
        4,
        4,
    ]


def context(*alerts: tuple[str, str, dict[str, str]], group: str | None = None) -> Context:
    return Context(
        me="alice",
        selected_group=group,
        alerts=tuple((fp, name) for fp, name, _ in alerts),
        labels={fp: labels for fp, _, labels in alerts},
        alertmanager=True,
    )


def test_group_slash_commands_name_the_group_and_quote_it() -> None:
    disks = [
        (f"d{n}", "Disk Full", {"alertname": "Disk Full", "instance": f"db-{n}", "job": "node"})
        for n in range(3)
    ]
    ctx = context(*disks, ("n1", "NodeDown", {"alertname": "NodeDown"}))
    assert parse('/ack "Disk Full" *', ctx) == Action(
        "alerts.acknowledged", {"matchers": ['alertname="Disk Full"']}
    )
    silenced = parse('/silence "Disk Full" * 2h rack swap', ctx)
    assert silenced == Action(
        "alerts.silenced",
        {
            "matchers": ['alertname="Disk Full"', "job=node"],
            "minutes": 120,
            "reason": "rack swap",
            "upstream": True,
        },
    )
    assert parse("/ack NodeDown", ctx) == Action("alert.acknowledged", {"fingerprint": "n1"})  # one: no group
    with pytest.raises(
        SlashError,
        match=r"3 alerts are named Disk: select one in the alert panel, or /ack Disk \* for the whole group",
    ):
        parse("/ack Disk", context(*[(fp, "Disk", labels) for fp, _, labels in disks]))
    with pytest.raises(SlashError, match="no alert named 'Nope'"):
        parse("/ack Nope *", ctx)
    on_row = context(*disks, group="Disk Full")
    assert parse("/ack", on_row).type == "alerts.acknowledged"
    # A name with quotes, a backslash or a brace is quoted as a matcher's value is, and read back.
    for odd in ('Disk "Full" \\ soon', "Disk{full}", "Dísk,Full"):
        quoted = quote_value(odd)
        ctx = context((f"{odd}-1", odd, {"alertname": odd}), (f"{odd}-2", odd, {"alertname": odd}))
        assert parse(f"/ack {quoted} *", ctx).data["matchers"] == [format_matcher("alertname", "=", odd)]
        with pytest.raises(SlashError, match=re.escape(f"or /ack {quoted} * for the whole group")):
            parse(f"/ack {odd}", ctx)
    assert parse("/silence 30m noisy", on_row).data["matchers"] == ['alertname="Disk Full"', "job=node"]


async def test_the_minute_tick_redraws_open_groups_and_a_closed_one_when_it_opens(hub: HubServer) -> None:
    room = await room_with(hub)
    started = format_time(ago(120))
    await storm(hub, room, "Small", 2, starts_at=started)
    await storm(hub, room, "Big", 8, starts_at=started)
    clock = Clock()
    clock.now = datetime.now(UTC)
    app = make_app(hub.url, "alice", room, clock=clock)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        feed = feed_of(app)
        await settle(pilot, lambda: feed.group_node("Big") is not None, "the groups")
        small, big = feed.alert_node("Small-0"), feed.alert_node("Big-0")
        assert small is not None and big is not None
        assert " 2m x1" in str(small.label) and " 2m x1" in str(big.label)
        big_label = big.label
        clock.now += timedelta(minutes=3)
        await settle(pilot, lambda: " 5m x1" in str(small.label), "the open group's ages")
        assert big.label is big_label  # closed: not drawn for nobody
        group = feed.group_node("Big")
        assert group is not None
        group.expand()
        await settle(pilot, lambda: " 5m x1" in str(big.label), "the ages once it opens")
