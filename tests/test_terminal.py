"""The app in a real terminal (tmux), fed the hostile corpus: the terminal obeys none of it.

A pane title, a clipboard buffer and a blanked screen are what a terminal does
with escape sequences; only a real terminal shows whether any got through.
"""

from __future__ import annotations

from typing import Any

import httpx

from server.runner import HubServer
from tests.conftest import TOKEN, wait_for
from tests.hostile import HOSTILE
from tests.tmux import Tmux, join, shows
from warroom.core.events import Command
from warroom.core.protocol import new_id
from warroom.core.text import find_control


async def test_a_real_terminal_obeys_no_hostile_text(hub: HubServer, tmux: Tmux) -> None:
    async def run(type_: str, data: dict[str, Any], room: str | None = None, actor: str = "maria") -> str:
        return (await hub.hub.execute(Command(new_id(), type_, data, room), actor)).room

    room = await run("incident.declared", {"title": "Checkout 502s", "severity": "SEV2"})
    tmux.start("main", join(hub.url, room, "A"))
    await shows(tmux, lambda s: "Checkout 502s" in s and "A joined" in s, "the app to join")
    title = tmux.title()

    typed = [text for text in HOSTILE.values() if find_control(text, multiline=True) is None]
    for text in typed:  # markup, as anyone may type it
        await run("entry.added", {"text": text}, room, "mallory")
    alerts = [  # named to sort in the corpus's order: the title, clear-screen and clipboard ones first
        {
            "name": f"{n:02} {text}"[:200],
            "fingerprint": key,
            "labels": {"instance": text[:256]},
            "summary": text,
        }
        for n, (key, text) in enumerate(HOSTILE.items())
    ]
    async with httpx.AsyncClient(base_url=hub.http_url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        answer = await http.post(f"/api/v1/alerts?incident={room}", json={"alerts": alerts})
        assert answer.status_code == 202, answer.text
    await run("alert.acknowledged", {"fingerprint": "osc-title"}, room, "bob")

    screen = await shows(
        tmux,
        lambda s: f"Alerts {len(HOSTILE)} firing" in s and "[ @click=" in s and "ack bob" in s,
        "the alerts, the ack and the entries",
    )
    assert tmux.title() == title and "pwned" not in title, "an OSC sequence retitled the terminal"
    assert tmux("list-buffers") == "", "an OSC 52 sequence set the clipboard"
    assert "␛]0;pwned␇" in screen, "the alert is not shown as data"
    lines = screen.splitlines()
    assert lines[0].lstrip().startswith(room) and "Checkout 502s" in lines[0], "the header is gone"
    assert sum(bool(line.strip()) for line in lines) >= 35, f"the screen was blanked:\n{screen}"
    assert "Timeline" in screen and "Runbook" in screen


async def test_a_group_acked_in_one_terminal_shows_acked_in_the_other(hub: HubServer, tmux: Tmux) -> None:
    """Two terminals on one hub: A acks a group row with a and a yes, then silences it with s;
    B's panel shows every alert acked, then silenced."""

    async def run(type_: str, data: dict[str, Any], room: str | None = None, actor: str = "maria") -> str:
        internal = type_ == "alert.upserted"
        return (await hub.hub.execute(Command(new_id(), type_, data, room), actor, internal=internal)).room

    room = await run("incident.declared", {"title": "Disk storm", "severity": "SEV2"})
    await run("role.released", {"role": "commander"}, room)
    await run("checklist.item_added", {"text": "Free space on db hosts"}, room)
    for n in range(8):  # a big group: it stays one closed line
        labels = {"alertname": "DiskWillFillIn4h", "instance": f"db-{n}"}
        data = {
            "fingerprint": f"d{n}",
            "alertname": "DiskWillFillIn4h",
            "severity": "warning",
            "labels": labels,
        }
        await run("alert.upserted", data, room, "am")

    tmux.start("main", join(hub.url, room, "A"))
    tmux.start("other", join(hub.url, room, "B"))
    await shows(tmux, lambda s: "A joined" in s and "DiskWillFillIn4h 8/8" in s, "A to join")
    await shows(tmux, lambda s: "DiskWillFillIn4h 8/8" in s, "the group", session="other")

    tmux("send-keys", "-t", "main", "F2")  # the key that goes to the alerts, as in the help
    await shows(
        tmux, lambda s: "Details" in s.splitlines()[-1], "the alerts focused (their keys in the footer)"
    )
    tmux("send-keys", "-t", "main", "a")
    await shows(tmux, lambda s: "Acknowledge 8 firing alerts of DiskWillFillIn4h?" in s, "the question")
    tmux("send-keys", "-t", "main", "y")

    screen = await shows(tmux, lambda s: "DiskWillFillIn4h 8/8 ✓8" in s, "the group acked", session="other")
    state = await hub.hub.settled_state(room)
    assert all(alert.acked_by == "A" for alert in state.alerts.values())
    assert "acknowledged 8 alerts matching" in screen  # the timeline line, in B

    # s on the same row: the composer opens with the group's /silence, the rest is typed.
    tmux("send-keys", "-t", "main", "s")
    await shows(tmux, lambda s: "/silence DiskWillFillIn4h * " in s, "the silence started")
    tmux("send-keys", "-t", "main", "-l", "1h disks")
    tmux("send-keys", "-t", "main", "Enter")
    await shows(tmux, lambda s: "Silence 8 alerts of DiskWillFillIn4h for 1h?" in s, "the question")
    tmux("send-keys", "-t", "main", "y")
    await shows(tmux, lambda s: "⏸8" in s, "the group silenced", session="other")


async def test_lines_typed_in_one_burst_arrive_whole_and_apart(hub: HubServer, tmux: Tmux) -> None:
    """A fast typist (or a slow link) sends a line, Enter, the next line, Enter: each arrives as typed.

    Textual ran the Enter binding only after the letters behind it were in the line, so
    "one line" + Enter + "second" went out as "one lines" and "econd".
    """
    room = (
        await hub.hub.execute(
            Command(new_id(), "incident.declared", {"title": "Burst", "severity": "SEV3"}), "maria"
        )
    ).room
    tmux.start("main", join(hub.url, room, "A"))
    await shows(tmux, lambda s: "A joined" in s, "the app to join")
    tmux("send-keys", "-t", "main", "i")  # into the composer
    lines = ["one line typed fast", "second line right behind", "/action Size the pool @bob"]
    for line in lines:  # one burst: nothing waits between the keys
        tmux("send-keys", "-t", "main", "-l", line)
        tmux("send-keys", "-t", "main", "Enter")
    state = hub.hub.rooms.loaded[room].state
    await shows(tmux, lambda s: "Size the pool" in s, "the action item")
    notes = [e.text for e in state.entries.values() if e.kind == "note"]
    assert notes == lines[:2]
    assert [a.text for a in state.actions.values()] == ["Size the pool"]


async def test_a_pasted_log_with_escape_bytes_arrives_whole_and_in_order(
    hub: HubServer, tmux: Tmux, tmp_path: Any
) -> None:
    """Textual's parser read an ESC inside a paste as a key sequence: what followed it came first."""
    room = (
        await hub.hub.execute(
            Command(new_id(), "incident.declared", {"title": "Paste", "severity": "SEV3"}), "maria"
        )
    ).room
    tmux.start("main", join(hub.url, room, "A"))
    await shows(tmux, lambda s: "A joined" in s, "the app to join")
    title = tmux.title()
    pasted = "one \x1b]0;pwned\x07 two \x1b[2J three [bold]four[/]"
    (tmp_path / "paste.txt").write_text(pasted, encoding="utf-8")
    tmux("load-buffer", str(tmp_path / "paste.txt"))
    tmux("send-keys", "-t", "main", "i")  # into the composer
    tmux("paste-buffer", "-p", "-t", "main")  # bracketed, as a terminal pastes
    tmux("send-keys", "-t", "main", "Enter")
    state = hub.hub.rooms.loaded[room].state
    await shows(tmux, lambda s: "four[/]" in s, "the pasted line")  # shown pending at first
    await wait_for(lambda: any(e.kind == "note" for e in state.entries.values()), what="the hub to have it")
    notes = [e.text for e in state.entries.values() if e.kind == "note"]
    assert notes == ["one ␛]0;pwned␇ two ␛[2J three [bold]four[/]"]  # whole, in order, controls as shown
    assert tmux.title() == title
