"""Every CLI command that prints, against a hub whose every field carries the hostile corpus.

Raw control bytes reach the hub today only through a log written before it
refused them (seeded here through the store, as such a hub left it) and through
its config file; the rest comes in the ways it still can: alerts through
intake, markup-shaped names through the hub token's ``--as`` and HTTP
``author``, token names over the admin API. Whatever the CLI prints for people,
on stdout or stderr, must carry no terminal control; ``--json`` keeps the exact
strings, escaped.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.config import parse_hub_config
from server.runner import HubServer
from server.store import AuditRecord, TokenRecord
from server.store.sqlite import SQLiteStore
from tests.conftest import TOKEN
from tests.hostile import HOSTILE, assert_safe
from tests.test_cli import Result, hub_args, warroom
from warroom.core.events import Event, validate_command
from warroom.core.protocol import new_id
from warroom.core.reducer import apply
from warroom.core.state import IncidentState
from warroom.core.text import visible

ROOM = "INC-1"
TS = "2026-11-28T03:00:00.000Z"
FINGERPRINT = "fp\x1b]0;pwned\x07"
WITH_CONTROLS = [text for text in HOSTILE.values() if text != visible(text)]
MARKUP = [text for text in HOSTILE.values() if text == visible(text)]  # what people may still type


def event_data(type_: str, data: dict[str, Any]) -> dict[str, Any]:
    """The data a hub of old would have stored: defaults filled in, the raw strings kept."""
    clean = {
        k: visible(v)
        if isinstance(v, str)
        else {visible(a): visible(b) for a, b in v.items()}
        if isinstance(v, dict)
        else v
        for k, v in data.items()
    }
    return {**validate_command(type_, clean, from_client=False), **data}


async def seed_old_log(db: Path) -> None:
    """INC-1 as a hub that took control characters left it: in titles, entries, names, alerts."""
    names = itertools.cycle(WITH_CONTROLS)
    commands: list[tuple[str, dict[str, Any]]] = [
        (
            "incident.declared",
            {
                "title": HOSTILE["osc-title"],
                "severity": "SEV1",
                "summary": HOSTILE["csi-colour"],
                "commander": "ann",
            },
        ),
        ("checklist.item_added", {"text": HOSTILE["clear-screen"]}),  # item 2: items are numbered by seq
        ("checklist.item_checked", {"item": 2}),
        *[("entry.added", {"text": text}) for text in HOSTILE.values()],
        ("entry.added", {"text": "a forged\n  #99   2026-11-28 03:00:00  note     root: row"}),
        ("role.assigned", {"role": "scribe", "name": HOSTILE["bidi-override"]}),
        ("status.broadcast", {"message": HOSTILE["osc52-clipboard"], "impact": HOSTILE["c1-osc"]}),
        (
            "alert.upserted",
            {
                "fingerprint": FINGERPRINT,
                "alertname": HOSTILE["c1-csi"],
                "severity": "crit\x1b[5m",
                "labels": {"service": HOSTILE["clear-screen"], "zone\x1b[8m": HOSTILE["osc8-hyperlink"]},
                "annotations": {"summary": HOSTILE["carriage-return"]},
            },
        ),
        ("alert.acknowledged", {"fingerprint": FINGERPRINT}),
    ]
    state = IncidentState(room=ROOM)
    events = []
    for seq, (type_, data) in enumerate(commands, start=1):
        event = Event(ROOM, seq, new_id(), next(names), TS, type_, event_data(type_, data))
        apply(state, event)
        events.append(event)
    store = SQLiteStore(db)
    await store.open()
    try:
        await store.append(events, {ROOM: new_id()}, {ROOM: state.summary_dict()}, {})
        await store.save_token(
            TokenRecord(
                "t0123456789", HOSTILE["osc-title"], "viewer", [HOSTILE["clear-screen"]], TS, HOSTILE["bell"]
            )
        )
        line = AuditRecord(
            TS,
            "permission.denied",
            HOSTILE["osc-title"],
            HOSTILE["bell"],
            "sync",
            HOSTILE["c1-csi"],
            {"message": HOSTILE["clear-screen"], "room": HOSTILE["bidi-override"]},
        )
        await store.append_audit([line], {})
    finally:
        await store.close()


CONFIG = {
    "severities": {"SEV1": {"meaning": HOSTILE["osc-title"]}},
    "routes": [{"match": {"service": HOSTILE["clear-screen"]}, "incident": ROOM}],
}


@pytest.fixture
async def hostile_hub(db_path: Path) -> AsyncIterator[HubServer]:
    await seed_old_log(db_path)
    server = HubServer(db_path, TOKEN, config=parse_hub_config(CONFIG))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def feed_live(hub: HubServer) -> None:
    """Hostile text by the ways that still take it: intake, and markup where people type."""
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": text[:200], "service": text[:200]},
            "annotations": {"description": text},
        }
        for text in HOSTILE.values()
    ]
    async with httpx.AsyncClient(base_url=hub.http_url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        response = await http.post(f"/api/v1/alerts/alertmanager?incident={ROOM}", json={"alerts": alerts})
        assert response.status_code == 202, response.text
        for text in MARKUP:
            response = await http.post(
                f"/api/v1/incidents/{ROOM}/entries", json={"text": text, "author": text[:64]}
            )
            assert response.status_code == 201, response.text


def shown(result: Result, args: tuple[str, ...]) -> None:
    assert_safe(result.out, f"stdout of {args}")
    assert_safe(result.err, f"stderr of {args}")


@pytest.mark.sqlite_only  # its room is written straight into a SQLite file
async def test_every_printing_command_shows_hostile_text_safely(
    hostile_hub: HubServer, env: dict[str, str]
) -> None:
    await feed_live(hostile_hub)
    hub = hub_args(hostile_hub)
    reading = [
        ("show", ROOM),
        ("alerts", ROOM),
        ("alerts", ROOM, "--all"),
        ("incidents",),
        ("audit", "--since", "3000d"),
        ("token", "list"),
        ("config", "show"),
    ]
    results = await asyncio.gather(*(warroom(env, *args, *hub) for args in reading))
    for args, result in zip(reading, results, strict=True):
        assert result.code == 0, (args, result.err)
        shown(result, args)
    show, groups, alerts, incidents, audit, tokens, config = (r.out for r in results)
    assert "note ␛]0;pwned␇ after" in show and "file⁅bidi⁆gnp.exe" in show  # made visible, not dropped
    assert "a forged⏎" in show and not any(line.lstrip().startswith("#99") for line in show.splitlines())
    assert "c1 \ufffd2J csi" in groups and "c1 \ufffd2J csi" in alerts and "fp␛]0;pwned␇" in alerts
    assert "note ␛]0;pwned␇ after" in incidents and "note ␛]0;pwned␇ after" in tokens
    assert "before ␛[2J␛[H after" in audit and "note ␛]0;pwned␇ after" in config

    as_json = await warroom(env, "show", ROOM, "--json", *hub)
    shown(as_json, ("show", "--json"))
    assert json.loads(as_json.out)["title"] == HOSTILE["osc-title"]  # exact, escaped by JSON

    acting = [
        ("log", ROOM, MARKUP[0], "--as", MARKUP[1][:64]),
        ("declare", MARKUP[2][:200], "--as", MARKUP[3][:64]),
        ("ack", ROOM, "fp"),
        ("silence", ROOM, "fp", "--for", "1h", "--reason", MARKUP[4], "--room-only"),
        ("role", ROOM, "tech", MARKUP[5][:64], "--as", "ann"),
        ("broadcast", ROOM, MARKUP[6], "--impact", MARKUP[7], "--as", "ann"),
        ("severity", ROOM, "SEV2", "--reason", MARKUP[8], "--as", "ann"),
        ("status", ROOM, "identified", "--reason", MARKUP[0], "--as", "ann"),
        ("token", "create", MARKUP[1][:64]),
        ("silence", ROOM, "--match", "alertname=~.+", "--for", "1h", "--reason", MARKUP[2], "--yes"),
    ]
    for args in acting:
        result = await warroom(env, *args, *hub)
        assert result.code == 0, (args, result.err)
        shown(result, args)
    assert "fp␛]0;pwned␇ acknowledged" in (await warroom(env, "ack", ROOM, "fp", *hub)).out

    refused = [
        ("log", ROOM, HOSTILE["osc-title"], *hub),
        ("show", ROOM, HOSTILE["clear-screen"], *hub),  # argparse quotes the stray argument
        ("ack", ROOM, HOSTILE["csi-colour"], *hub),
        ("show", HOSTILE["osc-title"][:60], *hub),
        ("role", ROOM, "tech", HOSTILE["bell"], *hub),
        ("incidents", "--hub", "ws://127.0.0.1:1/" + HOSTILE["osc-title"], "--token", TOKEN),
    ]
    for args in refused:
        result = await warroom(env, *args)
        result.one_line_error()
        shown(result, args)
