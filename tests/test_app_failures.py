"""The app when things go wrong: refusals, an offline hub, a dead connection worker, hostile notices."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from server.runner import HubServer
from tests.conftest import TOKEN, refused_port
from tests.test_app import incident, joined, make_app, running, seeded, settle
from warroom.app import picker
from warroom.app.forms import DeclareForm
from warroom.app.picker import PickerScreen
from warroom.app.slash import Action
from warroom.cli.main import main
from warroom.core.events import Command
from warroom.core.protocol import new_id
from warroom.core.state import IncidentState


async def test_a_refused_join_goes_back_to_the_picker_with_the_reason(hub: HubServer) -> None:
    """``warroom join INC-NOPE``: the join goes out from connect(); a refusal must not leave a blank one."""
    app = make_app(hub.url, "alice", "INC-NOPE")
    async with running(app) as pilot:
        await settle(pilot, lambda: isinstance(app.screen, PickerScreen), "the picker")
        assert any(n.title == "not joined" and "INC-NOPE" in n.message for n in app._notifications)
        assert "INC-NOPE" not in app.client.rooms


async def test_reload_while_offline_leaves_the_keys_working(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(picker, "RELOAD_WAIT", 0.2)
    app = make_app(f"ws://127.0.0.1:{refused_port()}", "alice", None)
    async with running(app) as pilot:
        await settle(pilot, lambda: isinstance(app.screen, PickerScreen), "the picker")
        await asyncio.wait_for(pilot.press("r"), 5)
        await settle(pilot, lambda: any(n.title == "not reloaded" for n in app._notifications), "the notice")
        await asyncio.wait_for(pilot.press("n"), 5)
        await settle(pilot, lambda: isinstance(app.screen, DeclareForm), "the next key to work")


async def test_a_refusal_carrying_escapes_is_shown_as_text(hub: HubServer) -> None:
    room = await seeded(hub)
    app = make_app(hub.url, "alice", room)
    async with running(app) as pilot:
        await settle(pilot, joined(app, room), "join")
        incident(app).send(Action("entry.added", {"text": "a note"}))
        command = app.client.outbox.pending(room)[-1]
        # As the hub's error frame arrives: its message is the hub's text, not ours.
        app.client._dispatch(
            {"t": "error", "id": command.id, "code": "forbidden", "message": "\x1b]0;pwned\x07 \u202egone"}
        )
        await settle(pilot, lambda: any(n.title == "refused" for n in app._notifications), "the refusal")
        shown = next(n.message for n in app._notifications if n.title == "refused")
        assert "␛" in shown and "\x1b" not in shown and "\u202e" not in shown


async def test_a_failed_connection_worker_is_said_and_not_shown_live(hub: HubServer) -> None:
    room = await seeded(hub)
    app = make_app(hub.url, "alice", room)
    client = app.client
    connect = client.connect

    async def broken() -> None:
        await connect()
        raise RuntimeError("a bug in the client")

    client.run = broken  # type: ignore[method-assign]
    async with running(app) as pilot:
        await settle(pilot, lambda: any(n.title == "not connected" for n in app._notifications), "the notice")
        assert not client.connected
        await settle(
            pilot,
            lambda: "live" not in str(incident(app).query_one("#connection").render()),
            "the header to stop saying live",
        )


async def test_alerts_json_renders_the_state_once(
    hub: HubServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An alert storm is thousands of alerts: the whole state is rendered once, not once an alert."""
    room = await seeded(hub)
    for n in range(2, 6):
        data = {"fingerprint": f"fp{n}", "alertname": "Busy", "labels": {"instance": f"api-{n}"}}
        await hub.hub.execute(Command(new_id(), "alert.upserted", data, room), "am", internal=True)
    monkeypatch.setenv("WARROOM_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("WARROOM_DATA_DIR", str(tmp_path / "data"))
    calls: list[int] = []
    to_dict = IncidentState.to_dict

    def counted(self: IncidentState) -> dict[str, Any]:
        calls.append(1)
        return to_dict(self)

    monkeypatch.setattr(IncidentState, "to_dict", counted)
    code = await asyncio.to_thread(main, ["alerts", room, "--json", "--hub", hub.url, "--token", TOKEN])
    assert code == 0
    shown = json.loads(capsys.readouterr().out)
    assert sorted(a["fingerprint"] for a in shown) == ["fp1", "fp2", "fp3", "fp4", "fp5"]
    assert len(calls) <= 1  # once at most, never once an alert
