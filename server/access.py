"""Who may connect and what they may do: tokens, levels, scopes, and the audit log.

Both transports ask the same questions here, so a rule holds on the sync port
and on every HTTP endpoint alike. The hub's own token is an admin whose users
name themselves (the bootstrap, the demo, small trusted teams); every personal
token binds its name, so nobody can speak as someone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from server.limits import FailureLimiter, Limits
from server.room import ROOM_ID
from server.store import AccessStore, AuditRecord, StorageError, TokenRecord
from server.tokens import (
    HUB_IDENTITY,
    BadToken,
    Identity,
    Level,
    duration,
    expired,
    expiry,
    new_token_id,
    sign,
    verify,
)
from warroom.core.errors import Code, WarroomError, unknown_room
from warroom.core.events import NAME_MAX, Command
from warroom.core.schema import Choice, Field, Int, Text, TextList, format_time, parse_time, validate

log = logging.getLogger("warroom.access")

EVERY = "*"  # stands for "every incident" where a request reaches beyond one room
FLUSH_EVERY = 1.0  # seconds between audit writes; repeats within one are counted, not repeated
REFRESH_EVERY = 1.0  # seconds between re-reading revocations another hub may have made: at most this late
PRUNE_EVERY = 3600.0  # seconds between dropping audit lines past their keep time
AUDIT_BUFFER = 10_000  # audit lines held while the store refuses writes
VERIFIED_CACHE = 4096  # tokens whose signature was checked, so a webhook storm checks each once

ADMIN_ARGS: dict[str, tuple[Field, ...]] = {
    "token.create": (
        Text("name", max_len=NAME_MAX),
        Choice("level", required=False, default="responder", options=tuple(m.label for m in Level)),
        TextList("scope", required=False, max_items=100, max_len=64),
        Text("expires", required=False, default="90d", max_len=16),
    ),
    "token.list": (),
    "config.show": (),
    "config.reload": (),
    "token.revoke": (Text("id", max_len=32),),
    "audit": (
        Text("since", required=False, max_len=40),
        Text("kind", required=False, max_len=40),
        Int("limit", required=False, default=1000, minimum=1, maximum=10_000),
    ),
}


class OutOfScope(WarroomError):
    """A room outside the token's scope, answered as if it did not exist; the audit log hears why."""

    def __init__(self, code: Code, message: str, field: str | None, *, why: str) -> None:
        super().__init__(code, message, field)
        self.why = why


class Access:
    def __init__(
        self,
        store: AccessStore,
        secret: bytes,
        hub_token: str,
        clock: Callable[[], datetime],
        limits: Limits | None = None,
    ) -> None:
        self.store = store
        limits = limits or Limits()
        self.keep = timedelta(days=limits.audit_days)
        self.failures = FailureLimiter(limits.auth_failures_per_second, limits.auth_failure_burst)
        self._secret = secret
        self._hub_token = hub_token.encode()
        self.clock = clock
        self.revoked: set[str] = set()
        self.on_change: list[Callable[[], None]] = []  # told when an open identity may have lapsed
        self.on_refused: list[Callable[[WarroomError, str], None]] = []  # every refusal, and its transport
        self.on_rejected: list[Callable[[str, str], None]] = []  # every failed sign-in: transport, reason
        self._lines: dict[tuple[Any, ...], AuditRecord] = {}
        self._dropped: dict[str, int] = {}  # kind -> lines the full buffer could not hold
        self._used: dict[str, str] = {}  # token id -> last use, written with the next flush
        self._loop: asyncio.Task[None] | None = None
        self._verified: dict[str, Identity] = {}  # token -> its checked claims; lapses are checked apart
        # Admin operations the hub server adds (its config); each takes no arguments.
        self.extra_ops: dict[str, Callable[[], Awaitable[Any]]] = {}

    def configure(self, limits: Limits) -> None:
        """New limits from a reloaded config."""
        self.keep = timedelta(days=limits.audit_days)
        self.failures.configure(limits.auth_failures_per_second, limits.auth_failure_burst)

    async def start(self) -> None:
        await self._refresh()
        self._loop = asyncio.create_task(self._run(), name="warroom-access")

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        await self.flush()

    async def _run(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(FLUSH_EVERY)  # a periodic job, not a wait for an event
            ticks += 1
            try:
                if ticks % int(REFRESH_EVERY / FLUSH_EVERY) == 0:
                    await self._refresh()
                if ticks % int(PRUNE_EVERY / FLUSH_EVERY) == 1:
                    await self.prune()
                self._changed()  # tokens expire with time
                await self.flush()
            except StorageError as exc:
                log.warning("access upkeep postponed: %s", exc)
            except Exception:  # this loop cuts lapsed tokens off; it must outlive any one bug
                log.exception("access upkeep failed")

    async def prune(self) -> None:
        await self.store.prune_audit(format_time(self.clock() - self.keep))

    async def _refresh(self) -> None:
        self.revoked = {t.id for t in await self.store.tokens() if t.revoked_at is not None}

    def _changed(self) -> None:
        for listener in list(self.on_change):
            listener()

    # -- who is calling --------------------------------------------------------------

    def authenticate(self, token: str | None, *, via: str, remote: str | None) -> Identity:
        """The identity behind a token, or ``unauthorized``; either way the audit log hears of it.

        An address past its allowance of failed attempts is answered ``rate_limited``
        without the token being checked, unless it is one already proven good here:
        guessing stops, and people behind the same proxy keep working.
        """
        if not token:
            raise self._reject("no token", via, remote)
        if not token.isascii():
            raise self._reject("malformed", via, remote)
        wait = self.failures.wait(remote)
        if wait and token not in self._verified and not hmac.compare_digest(token.encode(), self._hub_token):
            self.record("auth.throttled", None, via, remote, coalesce=True)
            for listener in self.on_rejected:
                listener(via, "throttled")
            raise WarroomError(
                Code.RATE_LIMITED,
                f"too many failed authentications from this address; retry in {wait:.0f}s",
                retry_after=round(wait, 3),
            )
        if hmac.compare_digest(token.encode(), self._hub_token):
            identity = HUB_IDENTITY
        elif token in self._verified:
            identity = self._verified[token]
        else:
            try:
                identity = verify(self._secret, token)
            except BadToken as exc:
                raise self._reject(str(exc), via, remote) from None
            if len(self._verified) >= VERIFIED_CACHE:
                self._verified.clear()
            self._verified[token] = identity  # a signature checks out the same every time
        lapsed = self.lapsed(identity)
        if lapsed is not None:
            raise self._reject(lapsed, via, remote, identity)
        self.record("token.used", identity, via, remote, coalesce=True)
        if not identity.is_hub_token:
            self._used[identity.token_id] = format_time(self.clock())
        return identity

    def _reject(
        self, reason: str, via: str, remote: str | None, identity: Identity | None = None
    ) -> WarroomError:
        self.record("auth.rejected", identity, via, remote, {"reason": reason}, coalesce=True)
        self.failures.failed(remote)
        for listener in self.on_rejected:
            listener(via, reason)
        if reason in ("revoked", "expired"):
            return lapse_error(reason)
        return WarroomError(Code.UNAUTHORIZED, "missing or wrong token")

    def lapsed(self, identity: Identity) -> str | None:
        """Why a token that was good is no longer: "revoked", "expired", or None."""
        if identity.token_id in self.revoked:
            return "revoked"
        if expired(identity, self.clock()):
            return "expired"
        return None

    def require(
        self,
        identity: Identity,
        level: Level,
        room: str | None = None,
        *,
        doing: str,
        field: str | None = None,
    ) -> None:
        """Refuse what this token may not do: ``unauthorized`` once lapsed, else ``forbidden``.

        ``room`` is the incident reached, or ``EVERY`` for requests beyond one
        incident (declaring, alert intake). A room outside the token's scope
        gets the same answer whether it exists or not, so a scoped token never
        learns which incidents there are.
        """
        lapsed = self.lapsed(identity)
        if lapsed is not None:
            raise lapse_error(lapsed)
        if identity.level < level:
            raise WarroomError(
                Code.FORBIDDEN,
                f"{doing} needs {_a(level.label)} token; this one is {_a(identity.level.label)}'s",
            )
        if room is not None and not identity.covers(None if room == EVERY else room):
            covered = ", ".join(sorted(identity.scope or ()))
            if room == EVERY:
                raise WarroomError(
                    Code.FORBIDDEN, f"{doing} reaches every incident; this token covers {covered} only"
                )
            hidden = unknown_room(room, field or "room")
            raise OutOfScope(
                hidden.code,
                hidden.message,
                hidden.field,
                why=f"{doing} reaches {room}; the token covers {covered} only",
            )

    def require_command(self, identity: Identity, command: Command) -> None:
        """A command needs a responder token covering every room it reaches: moving an alert, both."""
        if command.type == "incident.declared":
            self.require(identity, Level.RESPONDER, EVERY, doing=command.type)
            return
        self.require(identity, Level.RESPONDER, command.room, doing=command.type, field="room")
        target = command.data.get("to") if isinstance(command.data, dict) else None
        if command.type == "alert.moved" and isinstance(target, str):
            self.require(identity, Level.RESPONDER, target, doing=command.type, field="to")

    def visible(self, identity: Identity, incidents: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        return [i for i in incidents if identity.covers(i.get("id"))]

    def refused(
        self,
        identity: Identity,
        actor: str | None,
        err: WarroomError,
        *,
        via: str,
        remote: str | None,
        **detail: Any,
    ) -> None:
        """Note a permission refusal, wherever it was decided (a level, a scope, a role rule).

        Repeats within one flush fold into one line with a count, like failed logins.
        """
        for listener in self.on_refused:
            listener(err, via)
        if err.code == Code.FORBIDDEN or isinstance(err, OutOfScope):
            why = err.why if isinstance(err, OutOfScope) else err.message
            self.record(
                "permission.denied",
                identity,
                via,
                remote,
                {**detail, "why": why},
                actor=actor,
                coalesce=True,
            )

    # -- the audit log ---------------------------------------------------------------

    def record(
        self,
        kind: str,
        identity: Identity | None,
        via: str,
        remote: str | None,
        detail: dict[str, Any] | None = None,
        *,
        actor: str | None = None,
        coalesce: bool = False,
    ) -> None:
        """Queue an audit line; ``coalesce`` folds repeats within one flush into a count."""
        detail = detail or {}
        token = identity.token_id if identity is not None else None
        actor = actor or (identity.name if identity is not None else None)
        key: tuple[Any, ...] = (
            (kind, token, actor, via, remote, json.dumps(detail, sort_keys=True)) if coalesce else (object(),)
        )
        line = self._lines.get(key)
        if line is not None:
            self._lines[key] = replace(line, count=line.count + 1)
        elif len(self._lines) < AUDIT_BUFFER:
            self._lines[key] = AuditRecord(format_time(self.clock()), kind, actor, token, via, remote, detail)
        else:  # counted, and written as one audit.dropped line with the next flush
            if not self._dropped:
                log.warning("audit buffer full: counting what it cannot hold")
            self._dropped[kind] = self._dropped.get(kind, 0) + 1

    async def flush(self) -> None:
        if not self._lines and not self._used and not self._dropped:
            return
        if self._dropped:
            dropped, self._dropped = self._dropped, {}
            line = AuditRecord(
                format_time(self.clock()), "audit.dropped", None, None, "hub", None, {"kinds": dropped}
            )
            self._lines[("audit.dropped", object())] = replace(line, count=sum(dropped.values()))
        lines, self._lines = self._lines, {}
        used, self._used = self._used, {}
        try:
            await self.store.append_audit(list(lines.values()), used)
        except StorageError as exc:
            log.warning("audit log write failed, kept for the next try: %s", exc)
            self._lines = {**lines, **self._lines}
            self._used = {**used, **self._used}

    # -- admin -----------------------------------------------------------------------

    async def admin(
        self, identity: Identity, actor: str, op: str, args: Any, *, via: str, remote: str | None
    ) -> Any:
        """Run one admin operation for an admin token; both transports come through here.

        The token must cover every incident: an admin scoped to one incident
        could otherwise mint itself a token for all of them.
        """
        self.require(identity, Level.ADMIN, EVERY, doing=op)
        fields = ADMIN_ARGS.get(op)
        if fields is None:
            raise WarroomError(Code.INVALID_VALUE, f"op: unknown admin operation {op!r}", "op")
        clean = validate(args or {}, fields, where=op)
        if op in self.extra_ops:
            result = await self.extra_ops[op]()
            if op == "config.reload":
                self.record(
                    "config.reloaded", identity, via, remote, {"changed": result["changed"]}, actor=actor
                )
            return result
        if op == "token.list":
            return [t.to_dict() for t in await self.store.tokens()]
        if op == "audit":
            await self.flush()
            since = _since(clean.get("since"), self.clock())
            return [r.to_dict() for r in await self.store.audit(since, clean.get("kind"), clean["limit"])]
        if op == "token.create":
            token, record = await self._create(actor, clean)
            self.record("token.created", identity, via, remote, record.to_dict(), actor=actor)
            return {"token": token, **record.to_dict()}
        record = await self._revoke(actor, clean["id"])
        self.record(
            "token.revoked", identity, via, remote, {"id": record.id, "name": record.name}, actor=actor
        )
        return record.to_dict()

    async def _create(self, actor: str, args: dict[str, Any]) -> tuple[str, TokenRecord]:
        scope = args.get("scope")
        if scope is not None:
            if scope == ["all"]:
                scope = None
            else:
                for room in scope:
                    if not ROOM_ID.match(room):
                        raise WarroomError(
                            Code.INVALID_VALUE, f"scope: {room!r} is not an incident id", "scope"
                        )
        now = self.clock()
        identity = Identity(
            new_token_id(),
            args["name"],
            Level.parse(args["level"]),
            frozenset(scope) if scope is not None else None,
            expiry(args["expires"], now),
        )
        record = TokenRecord(
            id=identity.token_id,
            name=args["name"],
            level=identity.level.label,
            scope=sorted(identity.scope) if identity.scope is not None else None,
            created_at=format_time(now),
            created_by=actor,
            expires_at=identity.expires_at,
        )
        await self.store.save_token(record)  # stored before the token is shown: it can be revoked
        return sign(self._secret, identity, record.created_at), record

    async def _revoke(self, actor: str, token_id: str) -> TokenRecord:
        record = await self.store.revoke_token(token_id, format_time(self.clock()), actor)
        if record is None:
            raise WarroomError(Code.NOT_FOUND, f"no token {token_id!r}", "id")
        self.revoked.add(token_id)
        self._changed()  # open connections on it close now
        return record

    async def tokens(self) -> list[TokenRecord]:
        return await self.store.tokens()


def lapse_error(reason: str) -> WarroomError:
    said = "was revoked" if reason == "revoked" else "has expired"
    return WarroomError(Code.UNAUTHORIZED, f"this token {said}; ask an admin for a new one")


def _since(text: str | None, now: datetime) -> str | None:
    """An ISO time, or a duration back from now (``1h``, ``7d``)."""
    if text is None:
        return None
    try:
        return format_time(now - timedelta(seconds=duration(text, "since")))
    except WarroomError:
        pass
    try:
        return format_time(parse_time(text))
    except ValueError:
        raise WarroomError(
            Code.INVALID_VALUE, f"since: {text!r} is neither a time nor a duration like 1h or 7d", "since"
        ) from None


def _a(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"
