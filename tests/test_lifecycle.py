"""The incident lifecycle: role rules the hub enforces, handover, cadence, sinks and the status page."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.config import HubConfigError, parse_hub_config
from server.runner import HubServer
from tests.conftest import TOKEN, ClientFactory, Clock, Receiver, wait_for
from tests.test_cli import hub_args, warroom
from warroom.client import CommandRejected
from warroom.core.events import Command
from warroom.core.protocol import new_id


async def do(server: HubServer, type_: str, data: dict[str, Any], room: str | None, actor: str) -> str:
    internal = type_ == "alert.upserted"  # as alert intake sends it: clients cannot
    ack = await server.hub.execute(Command(new_id(), type_, data, room), actor, internal=internal)
    return ack.room


# -- role rules ------------------------------------------------------------------------------


async def test_role_gated_commands_are_refused_on_every_transport(
    hub: HubServer, make_client: ClientFactory, env: dict[str, str]
) -> None:
    ann = await make_client(hub.url, "ann")
    room = (await ann.send("incident.declared", {"title": "Payments down", "severity": "SEV2"}))["room"]
    bob = await make_client(hub.url, "bob")  # a client that skips every check a UI would make

    for type_, data, needs in [
        ("incident.severity_changed", {"severity": "SEV1"}, "incident commander"),
        ("incident.status_changed", {"status": "resolved"}, "incident commander"),
        ("status.broadcast", {"message": "all good"}, "incident commander or the communications lead"),
        ("role.assigned", {"role": "commander", "name": "bob"}, "ann holds the incident commander"),
    ]:
        with pytest.raises(CommandRejected) as refused:
            await bob.send(type_, data, room)
        assert refused.value.error.code == "forbidden" and needs in refused.value.error.message

    await bob.send("entry.added", {"text": "anyone may log"}, room)
    item = await ann.send("checklist.item_added", {"text": "Page the DBA"}, room)
    await bob.send("checklist.item_checked", {"item": item["seq"]}, room)
    await bob.send("role.assigned", {"role": "scribe", "name": "bob"}, room)  # claiming an empty seat is fine
    await ann.send("role.assigned", {"role": "comms", "name": "cy"}, room)  # the commander fills a seat
    with pytest.raises(CommandRejected):
        await bob.send("role.assigned", {"role": "tech", "name": "dee"}, room)  # but bob may not

    async with httpx.AsyncClient(base_url=hub.http_url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        response = await http.post(
            f"/api/v1/incidents/{room}/severity", json={"severity": "SEV1", "actor": "bob"}
        )
        assert response.status_code == 403
        assert (
            response.json()["error"]["code"] == "forbidden"
            and "commander" in response.json()["error"]["message"]
        )
        ok = await http.post(
            f"/api/v1/incidents/{room}/severity",
            json={"severity": "SEV1", "reason": "all EU", "actor": "ann"},
        )
        assert ok.status_code == 201

    cli = await warroom(env, "status", room, "resolved", *hub_args(hub), "--as", "bob")
    assert "needs the incident commander" in cli.one_line_error()
    assert (await warroom(env, "status", room, "monitoring", *hub_args(hub), "--as", "ann")).code == 0
    state = await hub.hub.settled_state(room)
    assert (state.severity, state.status) == ("SEV1", "monitoring")
    assert any(e.text == "severity SEV2 → SEV1: all EU" and e.author == "ann" for e in state.entries.values())


# -- handover ----------------------------------------------------------------------------------


async def test_handover_is_a_handshake_and_an_offer_expires(
    db_path: Path, make_client: ClientFactory, env: dict[str, str]
) -> None:
    clock = Clock()
    server = HubServer(db_path, TOKEN, clock=clock)
    await server.start()
    try:
        room = await do(server, "incident.declared", {"title": "t", "severity": "SEV2"}, None, "ann")
        # The commander's role is held, so giving it away is an offer, not a transfer.
        offered = await warroom(env, "role", room, "commander", "bob", *hub_args(server), "--as", "ann")
        assert offered.code == 0 and "offered to bob" in offered.out
        state = await server.hub.settled_state(room)
        assert state.roles["commander"].name == "ann" and state.offers["commander"].to == "bob"

        stolen = await warroom(env, "role", room, "commander", "--accept", *hub_args(server), "--as", "eve")
        assert "offered to bob, not to eve" in stolen.one_line_error()
        assert (
            await warroom(env, "role", room, "commander", "--accept", *hub_args(server), "--as", "bob")
        ).code == 0
        state = await server.hub.settled_state(room)
        assert state.roles["commander"].name == "bob" and not state.offers
        texts = [e.text for e in state.entries.values()]
        assert "ann offered incident commander to bob" in texts
        assert "bob accepted incident commander from ann" in texts

        # An empty seat is filled at once by the commander.
        filled = await warroom(env, "role", room, "comms", "cy", *hub_args(server), "--as", "bob")
        assert "given to cy" in filled.out

        # An offer nobody answers expires.
        await warroom(env, "role", room, "comms", "dee", *hub_args(server), "--as", "bob")
        clock.now += timedelta(seconds=server.hub.policy.offer_expires_after - 1)
        server.hub.sweep()
        assert "comms" in (await server.hub.settled_state(room)).offers
        clock.now += timedelta(seconds=2)
        server.hub.sweep()
        await wait_for(lambda: not server.hub._rooms[room].state.offers, what="the offer to expire")
        state = await server.hub.settled_state(room)
        assert state.roles["comms"].name == "cy"
        assert "offer of communications lead to dee expired unanswered" in [
            e.text for e in state.entries.values()
        ]
        late = await warroom(env, "role", room, "comms", "--accept", *hub_args(server), "--as", "dee")
        assert "no open offer" in late.one_line_error()

        # A role whose holder is connected cannot be taken; nor until they have been gone a while.
        cy = await make_client(server.url, "cy")
        await cy.join(room)
        dee = await make_client(server.url, "dee")
        with pytest.raises(CommandRejected) as refused:
            await dee.send("role.taken_over", {"role": "comms"}, room)
        assert "cy is connected" in refused.value.error.message
        await cy.close()
        await wait_for(lambda: "cy" not in server.hub._rooms[room].present(), what="cy gone")
        clock.now += timedelta(seconds=server.hub.policy.takeover_after - 1)
        with pytest.raises(CommandRejected) as refused:
            await dee.send("role.taken_over", {"role": "comms"}, room)
        assert refused.value.error.code == "forbidden" and "in 1s" in refused.value.error.message
        clock.now += timedelta(seconds=31)
        with pytest.raises(CommandRejected) as refused:  # the hub fills the absence in, not the client
            await dee.send("role.taken_over", {"role": "comms", "absent_for": 9999}, room)
        assert (refused.value.error.code, refused.value.error.field) == ("invalid_value", "absent_for")
        await dee.send("role.taken_over", {"role": "comms", "reason": "cy dropped off the VPN"}, room)
        state = await server.hub.settled_state(room)
        assert state.roles["comms"].name == "dee"
        assert any(
            e.text == "dee took over communications lead from cy (not seen for 150 s): cy dropped off the VPN"
            for e in state.entries.values()
        )
    finally:
        await server.stop()


# -- cadence and milestones ----------------------------------------------------------------------


async def test_cadence_sets_the_next_update_and_milestones_are_recorded(
    db_path: Path, make_client: ClientFactory, env: dict[str, str]
) -> None:
    clock = Clock()
    config = parse_hub_config({"severities": {"SEV1": {"cadence": 15, "meaning": "Everything is on fire"}}})
    server = HubServer(db_path, TOKEN, clock=clock, config=config)
    await server.start()
    try:
        room = await do(server, "incident.declared", {"title": "t", "severity": "SEV1"}, None, "ann")
        await do(
            server,
            "alert.upserted",
            {"fingerprint": "f", "alertname": "Down", "starts_at": "2026-11-28T02:55:00Z"},
            room,
            "alertmanager",
        )
        clock.now += timedelta(minutes=2)
        responder = await make_client(server.url, "bob")
        await responder.join(room)
        await wait_for(lambda: "bob" in server.hub._rooms[room].state.responders, what="bob on record")
        assert responder.policy["meanings"]["SEV1"] == "Everything is on fire"
        assert responder.policy["cadence"]["SEV1"] == 15

        await do(server, "status.broadcast", {"message": "Checkout down"}, room, "ann")  # no interval given
        state = await server.hub.settled_state(room)
        assert state.broadcast is not None and state.broadcast.next_update_due == "2026-11-28T03:17:00.000Z"

        clock.now += timedelta(minutes=8)
        await do(server, "incident.status_changed", {"status": "monitoring"}, room, "ann")
        clock.now += timedelta(minutes=5)
        await do(server, "incident.status_changed", {"status": "resolved"}, room, "ann")
        await do(
            server,
            "incident.milestone_corrected",
            {"milestone": "acknowledged", "at": "2026-11-28T03:01:00Z", "reason": "bob paged in first"},
            room,
            "ann",
        )
        shown = json.loads((await warroom(env, "show", room, "--json", *hub_args(server))).out)
        assert shown["milestones"] == {
            "declared": "2026-11-28T03:00:00.000Z",
            "detected": "2026-11-28T02:55:00.000Z",
            "acknowledged": "2026-11-28T03:01:00.000Z",
            "mitigated": "2026-11-28T03:10:00.000Z",
            "resolved": "2026-11-28T03:15:00.000Z",
        }
        assert any(
            "milestone acknowledged corrected: 2026-11-28T03:02:00.000Z" in e["text"]
            for e in shown["entries"]
        )
    finally:
        await server.stop()


# -- sinks ---------------------------------------------------------------------------------------




async def test_sinks_get_slack_and_signed_webhooks_and_failures_are_recorded(
    db_path: Path, receiver: Receiver, make_client: ClientFactory
) -> None:
    config = parse_hub_config(
        {
            "sinks": [
                {"name": "#incidents", "kind": "slack", "url": f"{receiver.url}/slack"},
                {
                    "name": "pager-bridge",
                    "kind": "webhook",
                    "url": f"{receiver.url}/hook",
                    "secret": "s3cret",
                    "timeout": 0.3,
                    "retries": 2,
                },
            ]
        }
    )
    server = HubServer(db_path, TOKEN, config=config)
    server.notifier.backoff = lambda attempt: 0.01
    await server.start()
    try:
        ann = await make_client(server.url, "ann")
        room = (await ann.send("incident.declared", {"title": "Checkout 502s", "severity": "SEV2"}))["room"]
        await wait_for(lambda: len(receiver.got) == 2, what="the declaration to go out")
        slack = next(json.loads(b) for p, _, b in receiver.got if p == "/slack")
        assert "Checkout 502s" in slack["text"] and slack["blocks"][0]["type"] == "section"
        _, headers, body = next(g for g in receiver.got if g[0] == "/hook")
        signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
        mac = base64.b64encode(hmac.new(b"s3cret", signed, hashlib.sha256).digest()).decode()
        assert headers["webhook-signature"] == f"v1,{mac}"  # Standard Webhooks: id and time are signed
        hook = json.loads(body)
        assert (hook["event"], hook["incident"]["id"], hook["actor"]) == ("incident.declared", room, "ann")

        receiver.got.clear()
        receiver.answers = {"/slack": [500]}  # the slack sink fails once
        receiver.hang_next = {"/hook": 1}  # and the webhook hangs past its timeout once
        await ann.send(
            "status.broadcast",
            {"message": "Rolling back", "impact": "EU card payments", "next_update_in": 30},
            room,
        )
        view = await ann.join(room)
        for n in range(5):  # the room keeps working while a sink struggles
            await ann.send("entry.added", {"text": f"still working {n}"}, room)
        await wait_for(
            lambda: sum(1 for e in view.state.entries.values() if "notification to" in e.text) >= 2,
            what="both failures on the timeline",
        )
        await wait_for(lambda: server.notifier.delivered >= 4, what="the retries to land")
        failures = sorted(e.text for e in view.state.entries.values() if "notification to" in e.text)
        assert any(
            t.startswith("notification to #incidents failed: 500") and "retrying" in t for t in failures
        )
        assert any(t.startswith("notification to pager-bridge failed: timed out") for t in failures)
        slack_posts = [json.loads(b) for p, _, b in receiver.got if p == "/slack"]
        assert len(slack_posts) == 2 and all("Rolling back" in s["text"] for s in slack_posts)
        assert "EU card payments" in slack_posts[-1]["blocks"][0]["text"]["text"]
        receiver.hang.set()
    finally:
        await server.stop()


async def test_drills_stay_off_the_sinks(db_path: Path, receiver: Receiver) -> None:
    config = parse_hub_config({"sinks": [{"kind": "webhook", "url": f"{receiver.url}/hook"}]})
    server = HubServer(db_path, TOKEN, config=config)
    await server.start()
    try:
        drill = await do(
            server, "incident.declared", {"title": "Game day", "severity": "SEV1", "drill": True}, None, "ann"
        )
        await do(server, "status.broadcast", {"message": "drill broadcast"}, drill, "ann")
        real = await do(server, "incident.declared", {"title": "Real one", "severity": "SEV3"}, None, "ann")
        await wait_for(lambda: len(receiver.got) == 1, what="the real declaration")
        assert json.loads(receiver.got[0][2])["incident"]["id"] == real
    finally:
        await server.stop()


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({"sinks": [{"kind": "slack", "url": "not a url"}]}, "sinks[0].url"),
        ({"sinks": [{"kind": "carrier-pigeon", "url": "https://x"}]}, "sinks[0].kind"),
        ({"severities": {"SEV9": {}}}, "severities.SEV9"),
        ({"severities": {"SEV1": {"cadence": -5}}}, "severities.SEV1.cadence"),
        ({"permissions": {"status.broadcast": ["king"]}}, "permissions.status.broadcast"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_bad_hub_config_names_the_field(config: dict[str, Any], needle: str) -> None:
    with pytest.raises(HubConfigError) as caught:
        parse_hub_config(config, "hub.toml")
    assert str(caught.value).startswith(f"hub.toml: {needle}")


async def test_serve_refuses_a_bad_config_at_start(env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text('[[sinks]]\nkind = "slack"\nurl = "ftp://example"\n')
    result = await warroom(
        env,
        "serve",
        "--port",
        "0",
        "--http-port",
        "0",
        "--db",
        str(tmp_path / "h.db"),
        "--config",
        str(config),
    )
    line = result.one_line_error()
    assert str(config) in line and "sinks[0].url" in line


# -- the status page ----------------------------------------------------------------------------


async def test_the_status_page_shows_public_fields_only(hub: HubServer) -> None:
    public = await do(
        hub,
        "incident.declared",
        {"title": "Checkout degraded", "severity": "SEV2", "public": True},
        None,
        "maria.secret",
    )
    await do(
        hub,
        "status.broadcast",
        {"message": "We are rolling back a bad deploy", "impact": "EU payments"},
        public,
        "maria.secret",
    )
    await do(hub, "entry.added", {"text": "db-primary-7.internal is OOM"}, public, "sam.secret")
    await do(
        hub,
        "alert.upserted",
        {"fingerprint": "f", "alertname": "HighErrorRate", "labels": {"instance": "10.1.2.3:9100"}},
        public,
        "alertmanager",
    )
    await do(hub, "incident.declared", {"title": "Private: HR system", "severity": "SEV1"}, None, "ann")
    await do(
        hub,
        "incident.declared",
        {"title": "Game day drill", "severity": "SEV1", "public": True, "drill": True},
        None,
        "ann",
    )
    fixed = await do(
        hub, "incident.declared", {"title": "Login slow", "severity": "SEV3", "public": True}, None, "ann"
    )
    await do(hub, "incident.status_changed", {"status": "resolved"}, fixed, "ann")

    async with httpx.AsyncClient(base_url=hub.http_url) as anonymous:  # no token
        page = await anonymous.get("/status")
        data = await anonymous.get("/status.json")
    assert page.status_code == data.status_code == 200
    html, body = page.text, data.text
    assert "<meta http-equiv=refresh content=30>" in html and "width=device-width" in html
    assert "<script" not in html
    for text in (
        "Checkout degraded",
        "We are rolling back a bad deploy",
        "EU payments",
        "SEV2",
        "Login slow",
    ):
        assert text in html and text in body
    for secret in (
        "maria.secret",
        "sam.secret",
        "db-primary-7",
        "10.1.2.3",
        "HighErrorRate",
        "Private: HR",
        "Game day drill",
        "alertmanager",
        public,
    ):
        assert secret not in html and secret not in body
    view = data.json()
    assert [i["title"] for i in view["incidents"]] == ["Checkout degraded"]
    assert [i["title"] for i in view["resolved"]] == ["Login slow"] and view["operational"] is False


# -- the terminal app ------------------------------------------------------------------------


async def test_declaring_from_the_app_and_a_handover_offer(hub: HubServer) -> None:
    from textual.widgets import Checkbox, Input

    from tests.test_app import make_app
    from warroom.app.dialogs import ConfirmScreen
    from warroom.app.forms import DeclareForm
    from warroom.app.screens import IncidentScreen

    app = make_app(hub.url, "ann", None)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(lambda: app.client.connected, what="connect")
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, DeclareForm)
        app.screen.query_one("#title", Input).value = "Search is timing out"
        app.screen.query_one("#public", Checkbox).value = True
        await pilot.click("#submit")
        await wait_for(lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")  # declaring asks first
        await wait_for(lambda: isinstance(app.screen, IncidentScreen), what="the new room to open")
        opened = app.screen
        assert isinstance(opened, IncidentScreen)
        room = opened.room
        state = await hub.hub.settled_state(room)
        assert (state.title, state.severity, state.public, state.roles["commander"].name) == (
            "Search is timing out",
            "SEV2",
            True,
            "ann",
        )

        # ann offers command to bob, who is told, and accepts from his terminal.
        bob = make_app(hub.url, "bob", room)
        async with bob.run_test(size=(120, 40)) as bob_pilot:
            await wait_for(
                lambda: room in bob.client.rooms and bob.client.rooms[room].synced, what="bob joins"
            )
            await pilot.press("i", *"/role ic @bob", "enter")
            await wait_for(lambda: "commander" in bob.client.rooms[room].state.offers, what="the offer")
            await bob_pilot.pause()
            assert any("offers you the incident commander" in n.message for n in bob._notifications)
            await bob_pilot.press("i", *"/accept ic", "enter")
            await wait_for(
                lambda: app.client.rooms[room].state.roles["commander"].name == "bob", what="handover"
            )


async def test_the_broadcast_form_and_the_due_nudge(db_path: Path) -> None:
    from textual.widgets import Input

    from tests.test_app import make_app
    from warroom.app.forms import BroadcastForm

    clock = Clock()
    server = HubServer(db_path, TOKEN, clock=clock)
    await server.start()
    try:
        room = await do(server, "incident.declared", {"title": "t", "severity": "SEV1"}, None, "ann")
        app = make_app(server.url, "ann", room)
        app.now = lambda: clock.now
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(lambda: room in app.client.rooms and app.client.rooms[room].synced, what="join")
            await pilot.press("ctrl+r")
            await pilot.pause()
            assert isinstance(app.screen, BroadcastForm)
            assert app.screen.query_one("#next", Input).value == "15"  # SEV1's cadence
            for field_id, text in (
                ("message", "Search down"),
                ("impact", "No results"),
                ("doing", "Failover"),
            ):
                app.screen.query_one(f"#{field_id}", Input).value = text
            await pilot.press("ctrl+s")
            await wait_for(lambda: app.client.rooms[room].state.broadcast is not None, what="the broadcast")
            broadcast = app.client.rooms[room].state.broadcast
            assert broadcast is not None
            assert (broadcast.impact, broadcast.doing, broadcast.next_update_due) == (
                "No results",
                "Failover",
                "2026-11-28T03:15:00.000Z",
            )
            from warroom.app.screens import IncidentScreen

            clock.now += timedelta(minutes=16)
            assert isinstance(app.screen, IncidentScreen)
            app.screen.refresh_state()  # what the screen's one-second tick does
            await pilot.pause()
            assert [n.title for n in app._notifications].count("update due") == 1
            app.screen.refresh_state()
            await pilot.pause()
            assert [n.title for n in app._notifications].count("update due") == 1  # said once, not every tick
    finally:
        await server.stop()
