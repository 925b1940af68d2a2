"""The sync channel: a websockets server whose handshake checks the token.

``/healthz`` answers over plain HTTP on the same port so a load balancer can
probe it. A missing, wrong, expired or revoked token is refused with 401 before
the upgrade, and a draining hub answers 503, which the websockets client treats
as retryable. A token revoked or run out while connected is cut off with 4001.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import weakref
from collections import Counter
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import MultipleValuesError
from websockets.http11 import Request, Response

from server.access import Access, lapse_error
from server.hub import Hub
from server.session import Session
from server.tokens import Identity, bearer
from warroom.core.errors import Code, WarroomError
from warroom.core.protocol import MAX_FRAME, Close, encode

SEND_BUFFER = 256 * 1024  # bytes of kernel send buffer per connection
FULL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 38\r\nConnection: close\r\n\r\n"
    b"the hub has too many open connections\n"
)


class _CappedConnection(ServerConnection):
    """Past ``cap`` connections (handshaking or open), a new one is answered 503 and closed
    at once, before its handshake holds anything; ``SyncServer`` sets the cap."""

    cap = 4000

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        full = len(self.server.handler_tasks) >= self.cap
        super().connection_made(transport)
        if full:
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(FULL)
            transport.close()


class SyncServer:
    def __init__(
        self,
        hub: Hub,
        access: Access,
        host: str = "127.0.0.1",
        port: int = 0,
        origins: tuple[str, ...] = (),
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.ssl_context = ssl_context
        self.hub = hub
        self.access = access
        access.on_change.append(self.cut_lapsed)
        self.origins = origins  # browser origins allowed to connect; terminals send none
        self.host = host
        self.port = port
        self.sessions: set[Session] = set()
        self._per_token: Counter[str] = Counter()
        # Between the token check and the handler; weak, as a failed upgrade never reaches the handler.
        self._admitted: weakref.WeakKeyDictionary[ServerConnection, Identity] = weakref.WeakKeyDictionary()
        self._server: Server | None = None

    async def start(self) -> None:
        capped = type("Capped", (_CappedConnection,), {"cap": self.hub.limits.connections})
        self._server = await serve(
            self._handler,
            self.host,
            self.port,
            process_request=self._process_request,
            compression=None,
            max_size=MAX_FRAME,
            max_queue=32,
            close_timeout=5,
            # A handshake that takes longer (slowloris: a header line now and then) is cut off.
            open_timeout=self.hub.limits.header_timeout,
            server_header="warroom",
            ssl=self.ssl_context,
            create_connection=capped,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        if request.path.split("?")[0] == "/healthz":
            if self.hub.log_error is not None:
                return conn.respond(HTTPStatus.SERVICE_UNAVAILABLE, "the event log is unavailable\n")
            return conn.respond(HTTPStatus.OK, "ok\n")
        if self.hub.closing:
            return conn.respond(HTTPStatus.SERVICE_UNAVAILABLE, "the hub is shutting down\n")
        try:
            origin = request.headers.get("Origin")
            header = request.headers.get("Authorization")
        except MultipleValuesError as exc:
            return conn.respond(HTTPStatus.BAD_REQUEST, f"send one {exc} header, not several\n")
        if origin is not None and origin not in self.origins:
            # A page in someone's browser must not ride on a responder's token.
            return conn.respond(HTTPStatus.FORBIDDEN, f"origin {origin} is not allowed\n")
        remote = conn.remote_address[0] if conn.remote_address else None
        try:
            identity = self.access.authenticate(bearer(header), via="sync", remote=remote)
        except WarroomError as err:
            if err.code != Code.RATE_LIMITED:
                return conn.respond(HTTPStatus.UNAUTHORIZED, err.message + "\n")
            response = conn.respond(HTTPStatus.TOO_MANY_REQUESTS, err.message + "\n")
            response.headers["Retry-After"] = str(max(1, round(err.retry_after or 1)))
            return response
        limit = self.hub.limits.connections_per_token
        if self._per_token[identity.token_id] >= limit:
            return conn.respond(
                HTTPStatus.TOO_MANY_REQUESTS, f"this token has {limit} connections open already\n"
            )
        self._admitted[conn] = identity
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        sock = ws.transport.get_extra_info("socket")
        if sock is not None:
            # A small kernel buffer: a client that stops reading fills the session's own
            # bounded queue in seconds, instead of first hiding megabytes in the kernel.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        identity = self._admitted.pop(ws)
        session = Session(self.hub, ws, identity, self.access)
        self.sessions.add(session)
        self._per_token[identity.token_id] += 1
        try:
            await session.run()
        finally:
            self.sessions.discard(session)
            self._per_token[identity.token_id] -= 1
            if not self._per_token[identity.token_id]:
                del self._per_token[identity.token_id]

    def send_all(self, frame: dict[str, Any]) -> None:
        """One frame to every connection, encoded once."""
        encoded = encode(frame)
        for session in list(self.sessions):
            session.send_encoded(encoded)

    def cut_lapsed(self) -> None:
        """Close every connection whose token was revoked or ran out, at once."""
        for session in list(self.sessions):
            lapsed = self.access.lapsed(session.identity)
            if lapsed is not None:
                session.close(Close.UNAUTHORIZED, lapse_error(lapsed).message)

    def stop_accepting(self) -> None:
        if self._server is not None:
            self._server.server.close()

    async def close(self, flush_timeout: float = 2.0) -> None:
        """Flush what each client is owed, then close every connection with 1001."""
        if self._server is None:
            return
        self.stop_accepting()
        flushes = [asyncio.create_task(s.flush()) for s in self.sessions]
        if flushes:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.gather(*flushes), flush_timeout)
        self._server.close()
        await self._server.wait_closed()
