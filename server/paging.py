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
    again = f" (repeat {page['round']})" if page["round"] else ""
    return (
        f"[{page['incident']['id']} {page['incident']['severity']}] {page['incident']['title']}: "
        f"paging {who}: {page['policy']} level {page['level']}{again}, nobody has acknowledged"
    )


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
        names = sinks or tuple(self.sinks)
        for name in names:
            sink = self.sinks.get(name)
            if sink is None:  # checked when the file was loaded; a reload may still race a page
                log.error("page for %s names unknown sink %s", page["incident"]["id"], name)
                continue
            task = asyncio.create_task(self._deliver(sink, page, event_id), name=f"page {name}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._http.aclose()

    async def _deliver(self, sink: Sink, page: dict[str, Any], event_id: str) -> None:
        for attempt in range(1, sink.retries + 2):
            started = time.monotonic()
            error = await self._attempt(sink, page, event_id)
            final = error is None or attempt > sink.retries
            result: dict[str, Any] = {
                "policy": page["policy"],
                "level": page["level"],
                "round": page["round"],
                "sink": visible(sink.name),
                "ok": error is None,
                "attempt": attempt,
            }
            if error is not None:
                result["error"] = visible(error)  # a remote server's words: data, made visible
                log.warning("page to %s failed (attempt %d): %s", sink.name, attempt, error)
            else:
                self.delivered += 1
                log.info("page to %s took %.0f ms", sink.name, 1000 * (time.monotonic() - started))
            self.results.append(result)
            self.hub.emit(page["incident"]["id"], "page.delivered", result)
            if final:
                return
            await asyncio.sleep(self.backoff(attempt))  # retry backoff, off every other page's path

    async def _attempt(self, sink: Sink, page: dict[str, Any], event_id: str) -> str | None:
        """None when the sink took the page, else what went wrong, safe to show."""
        if sink.kind == "email":
            return await self._email(sink, page)
        body = json.dumps(
            {"text": slack_text(page_summary(page))}
            if sink.kind == "slack"
            else {**page, "summary": page_summary(page)},
            separators=(",", ":"),
        ).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "warroom-hub"}
        if sink.kind == "webhook":
            now = int(time.time())
            headers.update(
                {"X-Warroom-Event": "page.sent", "webhook-id": event_id, "webhook-timestamp": str(now)}
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

    async def _email(self, sink: Sink, page: dict[str, Any]) -> str | None:
        if not page["notify"]:
            return "nobody to e-mail: the targets reached nobody"
        message = EmailMessage()
        message["From"] = sink.sender or "warroom"
        message["To"] = ", ".join(f"{user}@{sink.domain}" for user in page["notify"])
        message["Subject"] = visible(page_summary(page))[:200]
        message.set_content(visible(page_summary(page), multiline=True) + "\n")
        parts = urlsplit(sink.url)
        try:
            await aiosmtplib.send(
                message, hostname=parts.hostname or "", port=parts.port or 25, timeout=sink.timeout
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"[:200]
        return None
