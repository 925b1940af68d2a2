"""Deadlines and a connection cap for the HTTP port, which uvicorn does not give.

uvicorn closes an idle keep-alive connection, but a caller that sends one header
line every few seconds (slowloris), or a body a byte at a time, holds its
connection and a file descriptor for as long as it likes. This protocol gives
each request a deadline for its headers, counted from the connection's start
or from the previous response, and one for its body, counted from its headers;
a caller that misses one is cut off. Past the connection cap a new connection
is answered 503 and closed at once, before it costs anything more.
"""

from __future__ import annotations

import asyncio
import json
import resource
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from warroom.core.errors import Code, WarroomError


def error_response(status: int, reason: str, err: WarroomError) -> bytes:
    """A whole HTTP/1.1 response carrying the API's JSON error body, and Connection: close."""
    body = json.dumps({"error": err.to_dict()}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class GuardedH11(H11Protocol):
    """uvicorn's h11 protocol with header and body deadlines and a cap on open connections."""

    header_timeout = 10.0
    body_timeout = 60.0
    max_connections = 4000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._timing: object = None  # what the deadline is for: None (headers), or a request's cycle

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            err = WarroomError(Code.SHUTTING_DOWN, "the hub has too many open connections; retry shortly")
            transport.write(error_response(503, "Service Unavailable", err))
            transport.close()
            return
        self._arm(self.header_timeout)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._track()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start a pipelined request
        if not self.transport.is_closing():
            self._track()

    def _track(self) -> None:
        """Move the deadline along with the request: headers, then body, then none."""
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            if self._timing is not None or self._deadline is None:
                # The next request's headers, counted from here; more data does not extend it.
                self._timing = None
                self._arm(self.header_timeout)
        elif cycle.more_body:
            if self._timing is not cycle:
                self._timing = cycle
                self._arm(self.body_timeout)
        else:
            self._timing = cycle
            self._disarm()  # the whole request is in; the app's own time is not limited here

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """A request h11 cannot parse gets the API's JSON error, like every other refusal."""
        err = WarroomError(Code.BAD_FRAME, "not a valid HTTP request")
        self.transport.write(error_response(400, "Bad Request", err))
        self.transport.close()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            if self._timing is None:
                err = WarroomError(Code.BAD_FRAME, "the request's headers took too long")
                self.transport.write(error_response(408, "Request Timeout", err))
            self.transport.close()  # mid-body: the app sees the client as gone


def guarded(header_timeout: float, body_timeout: float, max_connections: int) -> type[GuardedH11]:
    """The protocol class for one hub, with its own limits."""
    return type(
        "HubH11",
        (GuardedH11,),
        {"header_timeout": header_timeout, "body_timeout": body_timeout, "max_connections": max_connections},
    )


def raise_nofile() -> int:
    """Raise the soft file-descriptor limit to the hard one: a hub under load holds one per caller."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
