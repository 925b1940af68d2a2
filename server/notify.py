"""Outbound notifications: the commander's word, posted to chat and webhooks.

Each sink has its own queue and worker, so a slow or failing sink never holds
up the room or the other sinks. Failures are retried with backoff and each one
is written to the incident's timeline. Drills never leave the building.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from server.config import Sink, sink_host
from server.hub import Hub
from server.intake import HUB_ROOMS
from server.room import Room
from warroom.core.events import Event
from warroom.core.text import visible

log = logging.getLogger("warroom.notify")

QUEUE_LIMIT = 1000  # notifications waiting per sink; beyond this the oldest is dropped and logged


def notable(event: Event) -> bool:
    """Broadcasts, severity changes, declarations and resolutions go out; the rest stays in the room."""
    if event.type == "incident.status_changed":
        return bool(event.data.get("status") == "resolved")
    return event.type in ("incident.declared", "status.broadcast", "incident.severity_changed")


def headline(room: Room, event: Event) -> str:
    """One line a human reads in a chat channel; the reducer already wrote it for the timeline."""
    state = room.state
    entry = state.entries.get(event.seq)
    what = entry.text if entry is not None else event.type
    return f"[{state.room} {state.severity}] {state.title}: {what}"


def slack_text(text: str, multiline: bool = False) -> str:
    """People's text as Slack shows it, never as Slack markup: ``<!channel>`` in a title pings
    nobody. Controls and invisible characters are made visible first (the one rule, in
    warroom.core.text); then ``&``, ``<`` and ``>`` are escaped, as Slack's formatting docs ask."""
    shown = visible(text, multiline=multiline)
    return shown.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(room: Room, event: Event) -> dict[str, Any]:
    """Slack's incoming-webhook shape (Mattermost takes the same): text, plus blocks."""
    state = room.state
    lines = [slack_text(headline(room, event))]
    mark = "DRILL " if state.drill else ""  # a drill reaches a sink only if it opted in, and says so
    if event.type == "status.broadcast":
        d = event.data
        title = slack_text(state.title)
        head = f"*{mark}{state.room} {state.severity} · {state.status}*: {title}"
        lines = [head, slack_text(d["message"], True)]
        for label, key in (("Customer impact", "impact"), ("What we are doing", "doing")):
            if d.get(key):
                lines.append(f"*{label}:* {slack_text(d[key], True)}")
        if state.broadcast is not None and state.broadcast.next_update_due:
            lines.append(f"_Next update by {state.broadcast.next_update_due[11:16]} UTC_")
    if mark and event.type != "status.broadcast":
        lines[0] = mark + lines[0]
    return {
        "text": lines[0] if event.type != "status.broadcast" else "\n".join(lines[:2]),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"{slack_text(event.actor)} · {event.ts}"}],
            },
        ],
    }


def webhook_payload(room: Room, event: Event) -> dict[str, Any]:
    state = room.state
    return {
        "event": event.type,
        "incident": {
            "id": state.room,
            "title": state.title,
            "severity": state.severity,
            "status": state.status,
            "public": state.public,
            "drill": state.drill,
        },
        "summary": headline(room, event),
        "data": event.data,
        "actor": event.actor,
        "ts": event.ts,
        "seq": event.seq,
    }


def signing_key(secret: str) -> bytes:
    """A Standard Webhooks secret (``whsec_`` + base64) is its decoded bytes; any other is its text."""
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_") :], validate=True)
    return secret.encode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64>``: HMAC-SHA256 of ``id.timestamp.body``, as Standard Webhooks receivers check it.

    The timestamp is signed, so a receiver that refuses old ones cannot be replayed to.
    """
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(signing_key(secret), signed, hashlib.sha256).digest()).decode()


def redact(text: str, url: str) -> str:
    """An error as people may read it (timeline, log): the sink's URL and its user info taken out."""
    netloc = urlsplit(url).netloc
    return text.replace(url, sink_host(url)).replace(netloc, sink_host(url)) if netloc else text


class Notifier:
    def __init__(
        self, hub: Hub, sinks: tuple[Sink, ...], *, backoff: Callable[[int], float] | None = None
    ) -> None:
        self.hub = hub
        self.sinks = tuple(s for s in sinks if s.kind != "email")  # e-mail carries pages only
        self.backoff = backoff or (lambda attempt: min(60.0, 0.5 * 2**attempt) * random.uniform(0.5, 1.0))
        self._queues = {sink.name: asyncio.Queue[tuple[str, bytes, dict[str, str]]]() for sink in self.sinks}
        self._workers: list[asyncio.Task[None]] = []
        self._http = httpx.AsyncClient(follow_redirects=False)
        self.delivered = 0
        self.delivered_to: dict[str, int] = {}  # sink name -> notifications it took

    def start(self) -> None:
        self.hub.listeners.append(self.on_events)
        self._workers = [
            asyncio.create_task(self._work(sink), name=f"sink {sink.name}") for sink in self.sinks
        ]

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._http.aclose()

    def on_events(self, room: Room, events: list[Event]) -> None:
        if room.id in HUB_ROOMS:  # the alert inbox and the on-call log never leave the hub
            return
        drill = room.state.drill  # drills reach only the sinks that opted in (drills = true)
        for event in events:
            if not notable(event):
                continue
            for sink in self.sinks:
                if drill and not sink.drills:
                    continue
                payload = slack_payload(room, event) if sink.kind == "slack" else webhook_payload(room, event)
                body = json.dumps(payload, separators=(",", ":")).encode()
                headers = {"Content-Type": "application/json", "User-Agent": "warroom-hub"}
                if sink.kind == "webhook":
                    headers["X-Warroom-Event"] = event.type
                    headers["X-Warroom-Delivery"] = event.id
                    headers["webhook-id"] = event.id  # the same on every retry: receivers dedupe on it
                queue = self._queues[sink.name]
                if queue.qsize() >= QUEUE_LIMIT:
                    dropped = queue.get_nowait()
                    log.error(
                        "sink %s is %d behind; dropped a notification for %s",
                        sink.name,
                        QUEUE_LIMIT,
                        dropped[0],
                    )
                queue.put_nowait((room.id, body, headers))

    async def _work(self, sink: Sink) -> None:
        queue = self._queues[sink.name]
        while True:
            room_id, body, headers = await queue.get()
            await self._deliver(sink, room_id, body, headers)

    async def _deliver(self, sink: Sink, room_id: str, body: bytes, headers: dict[str, str]) -> None:
        for attempt in range(1, sink.retries + 2):
            started = time.monotonic()
            if sink.kind == "webhook":  # signed at each attempt: a retry carries a fresh timestamp
                now = int(time.time())
                headers["webhook-timestamp"] = str(now)
                if sink.secret:
                    headers["webhook-signature"] = signature(sink.secret, headers["webhook-id"], now, body)
            try:
                response = await self._http.post(
                    sink.url, content=body, headers=headers, timeout=sink.timeout
                )
            except httpx.TimeoutException:
                error = f"timed out after {sink.timeout:g}s"
            except httpx.HTTPError as exc:
                error = redact(f"{type(exc).__name__}: {exc}", sink.url)[:200]
            else:
                if response.is_success:
                    self.delivered += 1
                    self.delivered_to[sink.name] = self.delivered_to.get(sink.name, 0) + 1
                    log.info(
                        "sink %s took %s in %.0f ms", sink.name, room_id, 1000 * (time.monotonic() - started)
                    )
                    return
                error = f"{response.status_code} {response.reason_phrase}".strip()
            final = attempt > sink.retries
            log.warning("sink %s failed for %s (attempt %d): %s", sink.name, room_id, attempt, error)
            self.hub.emit(
                room_id,
                "notification.failed",
                # What a remote server answered is untrusted text: made visible, never refused for it.
                {"sink": visible(sink.name), "error": visible(error), "attempt": attempt, "final": final},
            )
            if final:
                return
            await asyncio.sleep(self.backoff(attempt))  # retry backoff, off the room's path
