"""Action items in two real terminals (tmux) on one hub: added in one, seen and done in the other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.runner import HubServer
from tests.tmux import Tmux, join, shows
from warroom.core.events import Command
from warroom.core.protocol import new_id


async def pane(terminals: Tmux, session: str, condition: str, what: str) -> str:
    """The text of ``session``'s pane once it shows ``condition``."""
    return await shows(terminals, lambda screen: condition in screen, what, session=session)


async def test_an_action_item_added_in_one_terminal_appears_in_the_other(hub: HubServer, tmux: Tmux) -> None:
    room = (
        await hub.hub.execute(
            Command(new_id(), "incident.declared", {"title": "Cert expired", "severity": "SEV2"}), "maria"
        )
    ).room
    await hub.hub.execute(Command(new_id(), "role.released", {"role": "commander"}, room), "maria")

    tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", "main", join(hub.url, room, "A"))
    tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", "other", join(hub.url, room, "B"))
    await shows(tmux, lambda s: "A joined" in s, "A to join")
    await pane(tmux, "other", "B joined", "B to join")

    past = (datetime.now(UTC) - timedelta(days=3)).date().isoformat()  # the app's clock is the real one
    tmux("send-keys", "-t", "main", "-l", "/")  # the composer opens on the slash
    await shows(tmux, lambda s: "/note TEXT" in s, "the composer's completions")
    tmux("send-keys", "-t", "main", "-l", f"action rotate the cert @carol due {past}")
    await shows(tmux, lambda s: "/action rotate the cert" in s, "the line typed")
    tmux("send-keys", "-t", "main", "Enter")

    screen = await pane(tmux, "other", "Actions 0/1 1 overdue", "the action item in B")
    shown_due = (
        past[5:] if past[:4] == datetime.now(UTC).date().isoformat()[:4] else past
    )  # this year's: MM-DD
    assert f"A-1  ☐ OVERDUE {shown_due} @carol rotate" in screen, screen

    tmux("send-keys", "-t", "other", "F5")  # B goes to the action items and marks it done
    await pane(tmux, "other", "Done/reopen", "the action items focused (their key in the footer)")
    tmux("send-keys", "-t", "other", "x")
    screen = await shows(tmux, lambda s: "Actions 1/1" in s, "the item done in A")
    assert "OVERDUE" not in screen
    state = await hub.hub.settled_state(room)
    assert state.actions["A-1"].status == "done" and state.actions["A-1"].updated_by == "B"
