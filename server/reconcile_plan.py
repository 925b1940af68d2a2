"""What reconciliation would write in one room: pure decisions from the room's state and a listing.

Every decision compares with the room's state, which is rebuilt from the log,
so a poll that finds nothing new writes nothing, across polls and across hub
restarts alike.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from server.intake import parse_alertmanager
from warroom.core.errors import WarroomError
from warroom.core.events import TITLE_MAX, Command, validate_command
from warroom.core.matchers import MAX_MATCHER_LEN, MAX_MATCHERS, format_matcher, parse_matchers
from warroom.core.schema import format_time, parse_time
from warroom.core.state import Alert, IncidentState, Silence, origin_title
from warroom.core.text import visible

log = logging.getLogger("warroom.reconcile")

ENDS_AT_SLACK = 5.0  # seconds: a silence made here and read back there differ by the request's time
IDS = uuid.UUID("6f1d3c1e-8f0b-4a57-9d0e-52c1a1e0b7aa")  # namespace of reconciliation's command ids
COMMENT_MAX = 4000  # silence.synced's comment, as the schema bounds it
WARNED_MAX = 10_000  # ids already warned about: each is said once, and the memory stays bounded
_warned: dict[str, None] = {}


@dataclass(frozen=True)
class Listing:
    """What one Alertmanager said in one poll."""

    uptime: str
    alerts: dict[str, dict[str, Any]]  # fingerprint -> the alert as API v2 lists it
    silences: list[dict[str, Any]]
    fetched_at: str  # as the log writes times: alerts seen by the room after this may be missing from it


def command(state: IncidentState, type_: str, key: str, data: dict[str, Any]) -> Command:
    """The same decision from the same room state gets the same id: a second hub's copy is a duplicate."""
    name = f"{state.room}|{state.seq}|{type_}|{key}"
    return Command(str(uuid.uuid5(IDS, name)), type_, data, state.room)


def clock(moment: datetime) -> str:
    return format_time(moment)[11:16] + " UTC"


def span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def firing(state: IncidentState, keep: Any) -> Iterator[Alert]:
    return (a for a in state.alerts.values() if a.status == "firing" and keep(a))


def plan_alerts(
    state: IncidentState, origin: str, listing: Listing, timeout: float, now: datetime
) -> list[Command]:
    """Alerts of ``origin`` it no longer lists go stale, then resolve; one listed again is refreshed.

    Listed again means firing: stale here, or resolved here before the listing
    was fetched (Alertmanager, restarted with its notification log, may not
    send a firing it believes it sent already).
    """
    out = []
    where = origin_title(origin)
    for alert in state.alerts.values():
        if alert.origin != origin:
            continue
        listed = listing.alerts.get(alert.fingerprint)
        before = alert.last_seen < listing.fetched_at  # not changed here mid-poll (one time format)
        if alert.status == "resolved":
            if listed is not None and before and (data := refreshed(listed, origin)) is not None:
                out.append(command(state, "alert.upserted", alert.fingerprint, data))
        elif listed is not None:
            if alert.stale_since is not None and (data := refreshed(listed, origin)) is not None:
                out.append(command(state, "alert.upserted", alert.fingerprint, data))
        elif before or alert.stale_since is not None:
            gone = fade(
                state, alert, timeout, now, f"{where} no longer lists it", f"{where} has not listed it"
            )
            out.extend(gone)
    return out


def fade(
    state: IncidentState, alert: Alert, timeout: float, now: datetime, gone: str, still: str
) -> list[Command]:
    """An alert its source no longer shows: stale first, then resolved once stale for ``timeout``."""
    if alert.stale_since is None:
        reason = f"{gone}; it resolves at {clock(now + timedelta(seconds=timeout))} unless it fires again"
        return [command(state, "alert.stale", alert.fingerprint, because(alert, reason))]
    if (now - parse_time(alert.stale_since)).total_seconds() >= timeout:
        return [
            command(
                state, "alert.resolved", alert.fingerprint, because(alert, f"{still} for {span(timeout)}")
            )
        ]
    return []


def plan_unseen(
    state: IncidentState, source: str, skip: Iterable[str], timeout: float, now: datetime
) -> list[Command]:
    """Alerts of a source that sends no resolve: unseen for ``timeout``, stale; stale as long, resolved."""
    out = []
    skipped = set(skip)
    for alert in firing(state, lambda a: a.source == source and a.origin not in skipped):
        if alert.stale_since is not None or (now - parse_time(alert.last_seen)).total_seconds() >= timeout:
            quiet = f"nothing from {source}"
            out.extend(
                fade(state, alert, timeout, now, f"{quiet} for {span(timeout)}", f"{quiet} while stale")
            )
    return out


def because(alert: Alert, reason: str) -> dict[str, Any]:
    return {"fingerprint": alert.fingerprint, "reason": reason}


def refreshed(listed: dict[str, Any], origin: str) -> dict[str, Any] | None:
    """An ``alert.upserted`` from the alert as Alertmanager lists it; None (said once) if it cannot be.

    Its text is made visible and cut to the schema's bounds first, so a long
    annotation or a control character never keeps a stale alert from coming back.
    """
    try:
        alert = parse_alertmanager({"alerts": [{**fit_listed(listed), "status": "firing"}]})[0]
        data = validate_command("alert.upserted", alert.to_event_data(), from_client=False)
    except WarroomError as exc:
        warn_once(
            f"alert:{origin}:{listed.get('fingerprint')}",
            "alert %s listed by %s cannot be taken (%s): it stays as the room has it",
            visible(str(listed.get("fingerprint"))[:64]),
            origin_title(origin),
            exc.message,
        )
        return None
    data["origin"] = origin
    return data


LISTED_MAPS = (("labels", 32, 256), ("annotations", 16, 2048))  # as intake bounds them


def fit_listed(listed: dict[str, Any]) -> dict[str, Any]:
    """A listed alert cut to what intake takes: the first keys of each map, each text cut short."""
    out = dict(listed)
    for key, max_keys, limit in LISTED_MAPS:
        raw = listed.get(key)
        if not isinstance(raw, Mapping):
            continue
        kept: dict[Any, Any] = {}
        counted = 0
        for name, value in sorted(raw.items(), key=lambda kv: str(kv[0])):
            # Grafana's __panelId__-style annotations are dropped by intake and do not count.
            internal = key == "annotations" and str(name).startswith("__") and str(name).endswith("__")
            if not internal:
                if counted == max_keys:
                    continue
                counted += 1
            if isinstance(name, str) and isinstance(value, str):
                multiline = key == "annotations"
                name, value = cut(visible(name), limit), cut(visible(value, multiline=multiline), limit)
            kept[name] = value
        out[key] = kept
    return out


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def warn_once(key: str, message: str, *args: Any) -> None:
    """A warning said once per silence or alert, not once a round."""
    if key in _warned:
        return
    _warned[key] = None
    while len(_warned) > WARNED_MAX:
        del _warned[next(iter(_warned))]
    log.warning(message, *args)


def plan_silences(
    state: IncidentState,
    origin: str,
    silences: list[dict[str, Any]],
    fetched_at: str,
    idle: dict[str, tuple[int, int]],
) -> list[Command]:
    """Silences of ``origin`` new to the room (covering its firing alerts), changed there, or gone.

    A silence the room changed at or after ``fetched_at`` (made, ended or
    synced while the listing was read) is left to the next round: the listing
    may not show that change yet. ``idle`` remembers, per silence id, which
    firing alerts the room held when that silence covered none of them: it is
    not tried again until that set changes, so a poll does not match every
    silence against every alert.
    """
    out, listed = [], set()
    index: Index | None = None  # built once, and only if a silence is new here
    key: tuple[int, int] | None = None
    for raw in silences:
        data = synced(raw, origin)
        if data is None:
            continue
        listed.add(data["id"])
        known = state.silences.get(data["id"])
        if known is None:
            if data["state"] == "expired":
                continue
            key = firing_key(state, origin) if key is None else key
            if idle.get(data["id"]) != key:
                index = by_alertname(state, origin) if index is None else index
                if covers(index, data["matchers"]):
                    out.append(command(state, "silence.synced", data["id"], data))
                else:
                    idle[data["id"]] = key
        elif known.origin == origin and known.updated_at < fetched_at and changed(known, data):
            out.append(command(state, "silence.synced", data["id"], data))
    for known in state.silences.values():
        if (
            known.origin == origin
            and known.state != "expired"
            and known.id not in listed
            and known.updated_at < fetched_at
        ):
            out.append(command(state, "silence.synced", known.id, gone(known)))
    for silence_id in set(idle) - listed:
        del idle[silence_id]
    return out


def firing_key(state: IncidentState, origin: str) -> tuple[int, int]:
    """Which firing alerts of ``origin`` the room holds, in two numbers: their count and a hash
    of their fingerprints, so one alert out and another in is a change."""
    count, mixed = 0, 0
    for alert in state.alerts.values():
        if alert.origin == origin and alert.status == "firing":
            count += 1
            mixed ^= hash(alert.fingerprint)
    return count, mixed


@dataclass
class Index:
    """A room's alerts of one origin, by name, with each label's distinct values: built once a round."""

    by_name: dict[str, list[Alert]]
    _values: dict[str, set[str]]

    def values(self, label: str) -> set[str]:
        found = self._values.get(label)
        if found is None:
            found = self._values[label] = {
                a.labels.get(label, "") for group in self.by_name.values() for a in group
            }
        return found


def by_alertname(state: IncidentState, origin: str) -> Index:
    """The room's firing alerts of ``origin``: a silence new to the room is written only where it
    quiets something (not into a long-finished incident). By name, as most silences name one."""
    index: dict[str, list[Alert]] = {}
    for alert in state.alerts.values():
        if alert.origin == origin and alert.status == "firing":
            index.setdefault(alert.labels.get("alertname", ""), []).append(alert)
    return Index(index, {})


def covers(index: Index, texts: list[str]) -> bool:
    """Whether the matchers cover any alert of the index.

    A matcher that no value of its label meets rules the silence out without
    trying each alert, which is what most silences of other teams come to.
    """
    try:
        matchers = parse_matchers(texts)
    except WarroomError:
        return False
    hits = [{v for v in index.values(m.name) if m.matches({m.name: v})} for m in matchers]
    if not all(hits):
        return False
    named = next((m.value for m in matchers if m.name == "alertname" and m.op == "="), None)
    groups = [index.by_name.get(named, [])] if named is not None else list(index.by_name.values())
    return any(
        all(a.labels.get(m.name, "") in hit for m, hit in zip(matchers, hits, strict=True))
        for group in groups
        for a in group
    )


def changed(known: Silence, data: dict[str, Any]) -> bool:
    """Whether the room's copy is out of date; an expired silence stays as the room last said it."""
    if known.state == data["state"] == "expired":
        return False
    if known.state != data["state"] or known.comment.strip() != data.get("comment", "").strip():
        return True
    moved = (parse_time(known.ends_at) - parse_time(data["ends_at"])).total_seconds()
    return abs(moved) > ENDS_AT_SLACK


def gone(known: Silence) -> dict[str, Any]:
    """A silence the room knows that its Alertmanager no longer has (lost in a restart, say): expired."""
    data = {
        "id": known.id,
        "origin": str(known.origin),
        "state": "expired",
        "matchers": list(known.matchers),
        "ends_at": known.ends_at,
        "created_by": known.created_by,
        "comment": known.comment,
    }
    return without_empty(data)


def synced(raw: Any, origin: str) -> dict[str, Any] | None:
    """A ``silence.synced`` from a silence as API v2 lists it; None for what is not one.

    Who made it and why are made visible and cut to the schema's bounds; a
    silence whose matchers the room cannot hold (more than 16, or one too long)
    is left out, and said once in the hub's log.
    """
    try:
        silence_id = str(raw["id"])
        matchers = [matcher_text(m) for m in raw["matchers"]]
        state = str(raw["status"]["state"])
        ends_at = format_time(parse_time(str(raw["endsAt"])))
        created_by = raw.get("createdBy") or ""
        comment = raw.get("comment") or ""
    except (KeyError, TypeError, ValueError, AttributeError):
        return None  # not a silence at all: nothing to say about it
    where = f"silence {visible(silence_id[:128])} of {origin_title(origin)}"
    if len(matchers) > MAX_MATCHERS or any(len(m) > MAX_MATCHER_LEN for m in matchers):
        warn_once(
            f"silence:{origin}:{silence_id}",
            "%s is not shown in rooms: the room holds %d matchers of %d characters at most",
            where,
            MAX_MATCHERS,
            MAX_MATCHER_LEN,
        )
        return None
    data = {
        "id": silence_id,
        "origin": origin,
        "state": state,
        "matchers": matchers,
        "ends_at": ends_at,
        "created_by": cut(visible(str(created_by)), TITLE_MAX),
        "comment": cut(visible(str(comment), multiline=True).strip(), COMMENT_MAX),
    }
    try:
        return validate_command("silence.synced", without_empty(data), from_client=False)
    except WarroomError as exc:
        warn_once(f"silence:{origin}:{silence_id}", "%s is not shown in rooms: %s", where, exc.message)
        return None


def without_empty(data: dict[str, Any]) -> dict[str, Any]:
    """Who made it and why are optional: an empty one is left out, as the event's schema wants."""
    return {k: v for k, v in data.items() if k not in ("created_by", "comment") or v.strip()}


def matcher_text(matcher: dict[str, Any]) -> str:
    """A matcher of API v2 in Alertmanager's text syntax, as parse_matcher reads it back."""
    regex, equal = bool(matcher.get("isRegex")), matcher.get("isEqual", True) is not False
    op = ("=~" if regex else "=") if equal else ("!~" if regex else "!=")
    return format_matcher(str(matcher["name"]), op, str(matcher["value"]))


def holds(state: IncidentState, key: str) -> bool:
    """Whether the room has anything of ``key`` (an origin or a source) left to reconcile:
    a firing alert, an alert or silence under a silence in force, or a failure it was told of."""
    if key in state.source_errors:
        return True
    if any(s.origin == key and s.state != "expired" for s in state.silences.values()):
        return True
    return any(
        (a.origin == key or a.source == key) and (a.status == "firing" or a.silenced_until is not None)
        for a in state.alerts.values()
    )


def source_checked(state: IncidentState, origin: str, error: str | None) -> list[Command]:
    """Say once that a source stopped answering (where its alerts fire), and once that it answers."""
    if error is None:
        if origin not in state.source_errors:
            return []
        return [command(state, "source.checked", origin, {"origin": origin})]
    if origin in state.source_errors or next(firing(state, lambda a: a.origin == origin), None) is None:
        return []
    return [command(state, "source.checked", origin, {"origin": origin, "error": error})]
