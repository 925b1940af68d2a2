"""What reconciliation would write in one room: pure decisions from the room's state and a listing.

Every decision compares with the room's state, which is rebuilt from the log,
so a poll that finds nothing new writes nothing, across polls and across hub
restarts alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from server.intake import parse_alertmanager
from warroom.core.errors import WarroomError
from warroom.core.events import Command, validate_command
from warroom.core.matchers import format_matcher, parse_matchers
from warroom.core.schema import format_time, parse_time
from warroom.core.state import Alert, IncidentState, Silence, origin_title

ENDS_AT_SLACK = 5.0  # seconds: a silence made here and read back there differ by the request's time
IDS = uuid.UUID("6f1d3c1e-8f0b-4a57-9d0e-52c1a1e0b7aa")  # namespace of reconciliation's command ids


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
    """An ``alert.upserted`` from the alert as Alertmanager lists it; None if it does not parse."""
    try:
        alert = parse_alertmanager({"alerts": [{**listed, "status": "firing"}]})[0]
        data = validate_command("alert.upserted", alert.to_event_data(), from_client=False)
    except WarroomError:
        return None
    data["origin"] = origin
    return data


def plan_silences(
    state: IncidentState, origin: str, silences: list[dict[str, Any]], idle: dict[str, int] | None = None
) -> list[Command]:
    """Silences of ``origin`` new to the room (covering its alerts), changed there, or gone.

    ``idle`` remembers, per silence id, how many alerts the room held when that
    silence covered none of them: it is not tried again until the room gains
    alerts, so a poll does not match every silence against every alert.
    """
    out, listed = [], set()
    idle = {} if idle is None else idle
    index: Index | None = None  # built once, and only if a silence is new here
    for raw in silences:
        data = synced(raw, origin)
        if data is None:
            continue
        listed.add(data["id"])
        known = state.silences.get(data["id"])
        if known is None:
            if data["state"] != "expired" and idle.get(data["id"]) != len(state.alerts):
                index = by_alertname(state, origin) if index is None else index
                if covers(index, data["matchers"]):
                    out.append(command(state, "silence.synced", data["id"], data))
                else:
                    idle[data["id"]] = len(state.alerts)
        elif known.origin == origin and changed(known, data):
            out.append(command(state, "silence.synced", data["id"], data))
    for known in state.silences.values():
        if known.origin == origin and known.state != "expired" and known.id not in listed:
            out.append(command(state, "silence.synced", known.id, gone(known)))
    for silence_id in set(idle) - listed:
        del idle[silence_id]
    return out


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
    """Most silences name an alertname, so few alerts are tried against them."""
    index: dict[str, list[Alert]] = {}
    for alert in state.alerts.values():
        if alert.origin == origin:
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
    """A ``silence.synced`` from a silence as API v2 lists it; None for what is not one."""
    try:
        data = {
            "id": str(raw["id"]),
            "origin": origin,
            "state": str(raw["status"]["state"]),
            "matchers": [matcher_text(m) for m in raw["matchers"]],
            "ends_at": format_time(parse_time(str(raw["endsAt"]))),
            "created_by": str(raw.get("createdBy") or ""),
            "comment": str(raw.get("comment") or ""),
        }
        return validate_command("silence.synced", without_empty(data), from_client=False)
    except (KeyError, TypeError, ValueError, WarroomError):
        return None


def without_empty(data: dict[str, Any]) -> dict[str, Any]:
    """Who made it and why are optional: an empty one is left out, as the event's schema wants."""
    return {k: v for k, v in data.items() if k not in ("created_by", "comment") or v.strip()}


def matcher_text(matcher: dict[str, Any]) -> str:
    """A matcher of API v2 in Alertmanager's text syntax, as parse_matcher reads it back."""
    regex, equal = bool(matcher.get("isRegex")), matcher.get("isEqual", True) is not False
    op = ("=~" if regex else "=") if equal else ("!~" if regex else "!=")
    return format_matcher(str(matcher["name"]), op, str(matcher["value"]))


def source_checked(state: IncidentState, origin: str, error: str | None) -> list[Command]:
    """Say once that a source stopped answering (where its alerts fire), and once that it answers."""
    if error is None:
        if origin not in state.source_errors:
            return []
        return [command(state, "source.checked", origin, {"origin": origin})]
    if origin in state.source_errors or next(firing(state, lambda a: a.origin == origin), None) is None:
        return []
    return [command(state, "source.checked", origin, {"origin": origin, "error": error})]
