"""Pages out of the hub: each one through every sink its policy names, each result on the record.

Slack-compatible and signed webhooks go over HTTP (the same payload shapes
and signatures as server/notify.py), e-mail over SMTP with an async client.
Every page's delivery to each sink runs as its own task: a sink that keeps
failing is retried with backoff but never holds up the next level's page.
Every attempt's result is written to the room as ``page.delivered``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import aiosmtplib
import httpx

from server.config import Sink
from server.hub import Hub
from server.notify import redact, signature, slack_text
from warroom.core.text import visible

log = logging.getLogger("warroom.paging")


def page_summary(page: dict[str, Any]) -> str:
    """The page as one line a person reads on a phone."""
    who = ", ".join(page["notify"]) or "nobody"
    head = f"[{page['incident']['id']} {page['incident']['severity']}] {page['incident']['title']}"
    if page.get("by"):  # asked for by hand, from the room
        return f"{head}: {page['by']} pages {who}, on call ({' '.join(page['targets'])})"
    again = f" (repeat {page['round']})" if page["round"] else ""
    return (
        f"[{page['incident']['id']} {page['incident']['severity']}] {page['incident']['title']}: "
        f"paging {who}: {page['policy']} level {page['level']}{again}, nobody has acknowledged"
    )


@dataclass(frozen=True)
class Outgoing:
    """One message for the sinks: a page, or a handoff notice (server/oncall.py)."""

    event: str  # "page.sent" or "oncall.handoff": a webhook's X-Warroom-Event
    body: dict[str, Any]  # a webhook's JSON body; its "summary" is the line Slack and e-mail get
    people: tuple[str, ...]  # whom e-mail sinks write to
    room: str  # where a page's delivery results are recorded
    keys: dict[str, Any]  # what names it in each result (a page's policy, level and round)


class Pager:
    def __init__(self, hub: Hub, sinks: tuple[Sink, ...], backoff: Callable[[int], float]) -> None:
        self.hub = hub
        self.sinks = {sink.name: sink for sink in sinks}
        self.backoff = backoff
        self._http = httpx.AsyncClient(follow_redirects=False)
        self._tasks: set[asyncio.Task[None]] = set()
        self.delivered = 0
        self.results: list[dict[str, Any]] = []  # every attempt's result, as recorded: for tests and status

    def send(self, page: dict[str, Any], event_id: str, sinks: tuple[str, ...]) -> None:
        """Start delivering a page to its sinks (every sink when none is named); returns at once."""
        room = page["incident"]["id"]
        keys = {"policy": page["policy"], "level": page["level"], "round": page["round"]}
        body = {**page, "summary": page_summary(page)}
        self.deliver(Outgoing("page.sent", body, tuple(page["notify"]), room, keys), event_id, sinks)

    def deliver(self, out: Outgoing, event_id: str, sinks: tuple[str, ...]) -> None:
        """Start delivering a message to these sinks (every sink when none is named); returns at once."""
        for name in sinks or tuple(self.sinks):
            sink = self.sinks.get(name)
            if sink is None:  # checked when the file was loaded; a reload may still race a page
                log.error("%s for %s names unknown sink %s", out.event, out.room, name)
                continue
            task = asyncio.create_task(self._deliver(sink, out, event_id), name=f"page {name}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._http.aclose()

    async def _deliver(self, sink: Sink, out: Outgoing, event_id: str) -> None:
        for attempt in range(1, sink.retries + 2):
            started = time.monotonic()
            error = await self._attempt(sink, out, event_id)
            final = error is None or attempt > sink.retries
            result: dict[str, Any] = {
                **out.keys,
                "sink": visible(sink.name),
                "ok": error is None,
                "attempt": attempt,
            }
            if error is not None:
                result["error"] = visible(error)  # a remote server's words: data, made visible
                log.warning("%s to %s failed (attempt %d): %s", out.event, sink.name, attempt, error)
            else:
                self.delivered += 1
                log.info("%s to %s took %.0f ms", out.event, sink.name, 1000 * (time.monotonic() - started))
            self.results.append(result)
            if out.event == "page.sent":  # a page's every answer is on its incident's timeline
                self.hub.emit(out.room, "page.delivered", result)
            if final:
                return
            await asyncio.sleep(self.backoff(attempt))  # retry backoff, off every other page's path

    async def _attempt(self, sink: Sink, out: Outgoing, event_id: str) -> str | None:
        """None when the sink took the message, else what went wrong, safe to show."""
        if sink.kind == "email":
            return await self._email(sink, out)
        body = json.dumps(
            {"text": slack_text(out.body["summary"])} if sink.kind == "slack" else out.body,
            separators=(",", ":"),
        ).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "warroom-hub"}
        if sink.kind == "webhook":
            now = int(time.time())
            headers.update(
                {"X-Warroom-Event": out.event, "webhook-id": event_id, "webhook-timestamp": str(now)}
            )
            if sink.secret:
                headers["webhook-signature"] = signature(sink.secret, event_id, now, body)
        try:
            response = await self._http.post(sink.url, content=body, headers=headers, timeout=sink.timeout)
        except httpx.TimeoutException:
            return f"timed out after {sink.timeout:g}s"
        except httpx.HTTPError as exc:
            return redact(f"{type(exc).__name__}: {exc}", sink.url)[:200]
        return None if response.is_success else f"{response.status_code} {response.reason_phrase}".strip()

    async def _email(self, sink: Sink, out: Outgoing) -> str | None:
        if not out.people:
            return "nobody to e-mail: the targets reached nobody"
        summary = out.body["summary"]
        message = EmailMessage()
        message["From"] = sink.sender or "warroom"
        message["To"] = ", ".join(f"{user}@{sink.domain}" for user in out.people)
        message["Subject"] = visible(summary)[:200]
        message.set_content(visible(summary, multiline=True) + "\n")
        parts = urlsplit(sink.url)
        try:
            await aiosmtplib.send(
                message, hostname=parts.hostname or "", port=parts.port or 25, timeout=sink.timeout
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"[:200]
        return None
