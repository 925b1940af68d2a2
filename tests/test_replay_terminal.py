"""Replay in a real terminal (tmux), beside a second terminal that keeps working live."""

from __future__ import annotations

import re

from server.runner import HubServer
from tests.conftest import wait_for
from tests.tmux import Tmux, join, shows
from warroom.core.events import Command
from warroom.core.protocol import new_id


async def test_replay_in_one_terminal_while_another_writes(hub: HubServer, tmux: Tmux) -> None:
    """A steps back to before the pin and stays there while B writes; A sends nothing; end catches up."""

    async def run(type_: str, data: dict[str, object], room: str | None = None) -> int:
        return (await hub.hub.execute(Command(new_id(), type_, data, room), "maria")).seq

    room = (
        await hub.hub.execute(
            Command(new_id(), "incident.declared", {"title": "Checkout 502s", "severity": "SEV2"}), "maria"
        )
    ).room
    await run("role.released", {"role": "commander"}, room)
    finding = await run("entry.added", {"text": "the pool is exhausted", "kind": "finding"}, room)
    await run("entry.pinned", {"entry": finding}, room)

    tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", "main", join(hub.url, room, "A"))
    tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", "other", join(hub.url, room, "B"))
    await shows(tmux, lambda s: "A joined" in s and "B joined" in s, "both to join")
    head = (await hub.hub.settled_state(room)).seq

    tmux("send-keys", "-t", "main", "F4")
    await shows(tmux, lambda s: f"(seq {head} of {head})" in s and "Pinned 1" in s, "replay at the present")
    for _ in range(head - finding):  # back to just before the pin
        tmux("send-keys", "-t", "main", "Left")
    # The replay bar and the panels are drawn apart, so a capture may fall between them: wait for both.
    before_pin = await shows(
        tmux,
        lambda s: f"(seq {finding} of {head})" in s and "─ Pinned" not in s,  # no pinned panel yet
        "the point before the pin, its panels redrawn",
    )
    assert re.search(r"REPLAY \d\d:\d\d:\d\d", before_pin)

    tmux("send-keys", "-t", "other", "-l", "B writes while A looks back")
    tmux("send-keys", "-t", "other", "Enter")
    live = hub.hub.rooms.loaded[room]
    await wait_for(lambda: any(e.text == "B writes while A looks back" for e in live.state.entries.values()))
    tmux("send-keys", "-t", "main", "-l", "typed in replay")
    tmux("send-keys", "-t", "main", "Enter")
    still = await shows(tmux, lambda s: f"(seq {finding} of " in s, "replay unmoved")
    assert "B writes while A looks back" not in still

    now = (await hub.hub.settled_state(room)).seq
    # The bar counts the events this terminal has heard of, replay or not: then End goes there.
    await shows(tmux, lambda s: f"(seq {finding} of {now})" in s, "the bar to hear of the new events")
    tmux("send-keys", "-t", "main", "End")  # the present, as it is now
    await shows(
        tmux, lambda s: f"(seq {now} of {now})" in s and "B writes while A looks back" in s, "the present"
    )
    assert all(e.text != "typed in replay" for e in (await hub.hub.settled_state(room)).entries.values())
