"""The roles panel shows who is on call for the incident, and F7 pages them: Pilot, then two real
terminals (tmux), against a real hub with a controllable clock and a local webhook receiver
(tests/test_oncall_hub.py has the hub's side)."""

from __future__ import annotations

from pathlib import Path

from server.runner import HubServer
from tests.conftest import Clock, Receiver, declare, wait_for
from tests.test_app import incident, joined, make_app, running, settle
from tests.test_escalation_hub import client_of, pages
from tests.test_oncall_hub import handoffs, http, oncall_hub
from tests.tmux import Tmux, join, shows
from warroom.app.dialogs import ConfirmScreen
from warroom.app.widgets.panels import RolesPanel


async def test_the_roles_panel_follows_handoffs_and_overrides_and_f7_pages_after_a_yes(
    tmp_path: Path, receiver: Receiver, clock: Clock, hubs: list[HubServer]
) -> None:
    server = await oncall_hub(tmp_path, receiver, clock)
    hubs.append(server)
    frank = await client_of(server, "frank")
    try:
        room = await declare(frank, "Payments failing", "SEV2")
    finally:
        await frank.close()
    app = make_app(server.url, "zoe", room, clock=clock)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "joined")

        def roles() -> str:
            return str(incident(app).query_one(RolesPanel).render())

        await settle(pilot, lambda: "alice" in roles(), "alice on call in the roles panel")
        assert "on call: platform" in roles()
        clock.now = clock.now.replace(hour=8)  # the 09:00 Berlin handoff
        await settle(pilot, lambda: "bob" in roles() and "alice" not in roles(), "bob after the handoff")
        assert len(handoffs(receiver)) == 1
        async with http(server) as api:  # an override now: the panel follows at once
            body = {"schedule": "platform", "user": "dave", "from": "now", "to": "2026-11-28T18:00"}
            assert (await api.post("/api/v1/oncall/overrides", json=body)).status_code == 201
        await settle(pilot, lambda: "dave" in roles() and "bob" not in roles(), "dave after the override")
        before = len(pages(receiver))
        await pilot.press("f7")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert isinstance(app.screen, ConfirmScreen) and app.screen.question == "Page dave now?"
        await pilot.press("n")  # no: nothing is sent
        await settle(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "the question closed")
        await pilot.press("f7")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question again")
        await pilot.press("y")
        await wait_for(lambda: any(p.get("by") == "zoe" for p in pages(receiver)), what="zoe's page")
        page = next(p for p in pages(receiver) if p.get("by") == "zoe")
        assert page["notify"] == ["dave"]
        assert len([p for p in pages(receiver)[before:] if p.get("by")]) == 1

        def lines() -> list[str]:
            return [e.text for e in app.client.rooms[room].state.entries.values()]

        await settle(pilot, lambda: "zoe paged dave (on call: schedule:platform)" in lines(), "the page line")


async def test_two_real_terminals_show_who_is_on_call_and_follow_the_handoff(
    tmp_path: Path, receiver: Receiver, clock: Clock, hubs: list[HubServer], tmux: Tmux
) -> None:
    server = await oncall_hub(tmp_path, receiver, clock)
    hubs.append(server)
    frank = await client_of(server, "frank")
    try:
        room = await declare(frank, "Payments failing", "SEV2")
    finally:
        await frank.close()
    await wait_for(lambda: server.hub._rooms[room].state.oncall == {"platform": "alice"}, what="alice")
    tmux.start("main", join(server.url, room, "A"))
    tmux.start("other", join(server.url, room, "B"))
    for session in ("main", "other"):
        await shows(
            tmux, lambda s: "on call: platform" in s and "alice" in s, "alice on call", session=session
        )
    clock.now = clock.now.replace(hour=8)  # the handoff: both terminals follow
    for session in ("main", "other"):
        await shows(tmux, lambda s: "alice → bob" in s, "the handoff line", session=session)
    tmux("send-keys", "-t", "main", "F7")
    await shows(tmux, lambda s: "Page bob now?" in s, "the question")
    tmux("send-keys", "-t", "main", "y")
    await shows(tmux, lambda s: "A paged bob (on call: schedule:platform)" in s, "the page", session="other")


async def test_f7_with_nobody_on_call_says_so_and_sends_nothing(
    tmp_path: Path, receiver: Receiver, clock: Clock, hubs: list[HubServer]
) -> None:
    server = await oncall_hub(tmp_path, receiver, clock)
    hubs.append(server)
    frank = await client_of(server, "frank")
    try:  # a drill: nobody is paged for it, so the hub writes no on-call line into it
        ack = await frank.send("incident.declared", {"title": "Game day", "severity": "SEV2", "drill": True})
        room = str(ack["room"])
    finally:
        await frank.close()
    app = make_app(server.url, "zoe", room, clock=clock)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "joined")
        await pilot.press("f7")
        await settle(
            pilot, lambda: any("nobody is on call" in str(n.message) for n in app._notifications), "said"
        )
        assert not isinstance(app.screen, ConfirmScreen)
        await server.hub.writer.settled()
        types = [e.type for e in await server.hub.store.read(room, 0, 1000)]
        assert "page.requested" not in types and "page.sent" not in types
