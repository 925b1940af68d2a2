"""Alert intake: webhook bodies from monitoring tools, turned into alert events.

A body is checked whole before anything is stored, so a bad alert in a batch
of 5,000 refuses the batch with the field named (``alerts[3].labels``) rather
than applying half of it. Alerts are deduplicated by fingerprint (Alertmanager)
or dedup key (PagerDuty), routed to an incident by label rules, an ``incident``
label or query parameter, or else to the hub-wide inbox.

Monitoring text is kept, not refused: every string is passed through
``visible`` before it is checked, so an escape sequence in a label arrives as
placeholders (``␛]0;…``) and the alert is still stored.

What a responder needs to act is kept in first-class fields: Grafana's
measured ``values`` and ``valueString``, every link a source gives (generator,
dashboard, panel, silence, image; PagerDuty's by their text), and the
``runbook_url``. Grafana's internal ``__name__`` annotations are dropped.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from warroom.core.errors import Code, WarroomError
from warroom.core.schema import format_time, parse_time
from warroom.core.text import visible

INBOX = "inbox"
ONCALL = "oncall"  # the hub's on-call log: overrides and handoffs (server/oncall.py)
HUB_ROOMS = (INBOX, ONCALL)  # rooms of the hub's own, not incidents
AM_ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's "not ended yet"
PD_SEVERITIES = ("critical", "error", "warning", "info")
PD_ACTIONS = ("trigger", "acknowledge", "resolve")
MAX_LINKS = 8  # what alert.upserted takes (protocol.md)
MAX_VALUES = 16
# Webhook field -> links key. The first three are also candidates for ``url``, in this order.
AM_LINKS = {
    "generatorURL": "generator",
    "panelURL": "panel",
    "dashboardURL": "dashboard",
    "silenceURL": "silence",
    "imageURL": "image",
}
RUNBOOK_KEYS = ("runbook_url", "runbook")


@dataclass(frozen=True)
class AlertIn:
    """One alert as every source reduces to it."""

    fingerprint: str
    alertname: str
    status: str  # firing | resolved
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    severity: str | None = None
    starts_at: str | None = None
    ends_at: str | None = None
    url: str | None = None
    source: str = "webhook"
    incident: str | None = None  # an `incident` label naming where it belongs
    runbook_url: str | None = None
    links: dict[str, str] = field(default_factory=dict)  # generator, dashboard, panel, silence, image
    values: dict[str, str] = field(default_factory=dict)  # Grafana's numbers by query ref, as text
    value: str | None = None  # Grafana's valueString

    def to_event_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "fingerprint": self.fingerprint,
            "alertname": self.alertname,
            "status": self.status,
            "labels": self.labels,
            "annotations": self.annotations,
            "source": self.source,
        }
        for key in ("severity", "starts_at", "ends_at", "url", "runbook_url", "value"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        for key in ("links", "values"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        return data


def _fail(code: Code, where: str, message: str) -> WarroomError:
    return WarroomError(code, f"{where}: {message}", field=where)


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(Code.WRONG_TYPE, where, "expected an object")
    return value


def _str(
    obj: Mapping[str, Any],
    key: str,
    where: str,
    *,
    required: bool = False,
    limit: int = 2048,
    multiline: bool = False,
) -> str | None:
    """A string field, made visible; its limit applies to what will be stored."""
    value = obj.get(key)
    if value is None:
        if required:
            raise _fail(Code.MISSING_FIELD, f"{where}.{key}", "is required")
        return None
    if not isinstance(value, str):
        raise _fail(Code.WRONG_TYPE, f"{where}.{key}", "expected a string")
    value = visible(value, multiline=multiline)
    if required and not value.strip():
        raise _fail(Code.INVALID_VALUE, f"{where}.{key}", "must not be empty")
    if len(value) > limit:
        raise _fail(Code.TOO_LONG, f"{where}.{key}", f"over {limit} characters")
    return value


def _labels(
    obj: Mapping[str, Any],
    key: str,
    where: str,
    *,
    required: bool = False,
    max_keys: int = 32,
    limit: int = 256,
    multiline: bool = False,
    internal: bool = False,
) -> dict[str, str]:
    """A string map, made visible: names on one line, values multi-line for annotations.

    ``internal``: drop Grafana's ``__dashboardUid__``-style keys first (they do not count).
    """
    value = obj.get(key)
    if value is None:
        if required:
            raise _fail(Code.MISSING_FIELD, f"{where}.{key}", "is required")
        return {}
    if not isinstance(value, Mapping):
        raise _fail(Code.WRONG_TYPE, f"{where}.{key}", "expected an object of strings")
    if internal:
        value = {k: v for k, v in value.items() if not _is_internal(k)}
    if len(value) > max_keys:
        raise _fail(Code.TOO_LONG, f"{where}.{key}", f"{len(value)} keys, the limit is {max_keys}")
    out = {}
    for name, item in value.items():
        if not isinstance(name, str) or not isinstance(item, str):
            raise _fail(Code.WRONG_TYPE, f"{where}.{key}", "keys and values must be strings")
        name, item = visible(name), visible(item, multiline=multiline)
        if len(name) > limit or len(item) > limit:
            raise _fail(Code.TOO_LONG, f"{where}.{key}.{name[:40]}", f"over {limit} characters")
        out[name] = item
    return dict(sorted(out.items()))


def _is_internal(name: Any) -> bool:
    """Grafana's own annotations (``__dashboardUid__``, ``__panelId__``, ``__values__``...)."""
    return isinstance(name, str) and len(name) > 4 and name.startswith("__") and name.endswith("__")


def _runbook(annotations: dict[str, str]) -> str | None:
    """Take the runbook annotation out into its own field: shown once, as a link."""
    found = None
    for key in RUNBOOK_KEYS:
        if key in annotations:
            found = found or annotations.pop(key).strip() or None
    return found


def _small_map(
    obj: Mapping[str, Any],
    key: str,
    where: str,
    limit: int,
    what: str,
    item: Callable[[str, Any, str], str | None],
) -> dict[str, str]:
    """An object of at most ``limit`` short names, each value made into text by ``item`` (None: left out)."""
    raw = obj.get(key)
    if raw is None:
        return {}
    field_ = f"{where}.{key}"
    if not isinstance(raw, Mapping):
        raise _fail(Code.WRONG_TYPE, field_, f"expected an object of {what}")
    if len(raw) > limit:
        raise _fail(Code.TOO_LONG, field_, f"{len(raw)} keys, the limit is {limit}")
    out = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not name.strip():
            raise _fail(Code.WRONG_TYPE, field_, "names must be non-empty strings")
        name = visible(name)
        if len(name) > 64:
            raise _fail(Code.TOO_LONG, f"{field_}.{name[:40]}", "over 64 characters")
        if (text := item(name, value, f"{field_}.{name[:40]}")) is not None:
            out[name] = text
    return dict(sorted(out.items()))


def _number(name: str, value: Any, where: str) -> str:
    """Grafana's ``values``: query ref -> the number it measured, kept as text (``95.1``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(Code.WRONG_TYPE, where, "expected a number")
    return repr(value)[:64]


def _values(obj: Mapping[str, Any], where: str) -> dict[str, str]:
    return _small_map(obj, "values", where, MAX_VALUES, "query refs mapped to numbers", _number)


def _links_map(obj: Mapping[str, Any], where: str) -> dict[str, str]:
    """The generic intake's ``links``: an object of name -> URL, at most 8."""
    return _small_map(obj, "links", where, MAX_LINKS, "name -> URL", lambda _name, href, at: _url(href, at))


def _url(value: Any, where: str) -> str | None:
    """A link: a string made visible, at most 2048 characters; empty means none (Grafana sends "")."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(Code.WRONG_TYPE, where, "expected a string")
    value = visible(value).strip()
    if len(value) > 2048:
        raise _fail(Code.TOO_LONG, where, "over 2048 characters")
    return value or None


def _time(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    value = _str(obj, key, where, limit=64)
    if value is None or value == AM_ZERO_TIME or value.startswith("0001-01-01"):
        return None
    if value.endswith("Z") and value[-7:-6] in ("+", "-") and value[-4:-3] == ":":
        value = value[:-1]  # "+00:00Z": what pagerduty 7.2's event_timestamp makes; the offset holds
    try:
        return format_time(parse_time(value))
    except (ValueError, OverflowError):
        raise _fail(Code.INVALID_VALUE, f"{where}.{key}", f"{value!r} is not an ISO-8601 time") from None


def fingerprint_of(labels: Mapping[str, str]) -> str:
    """A stable key for alerts that arrive without one: the hash of their sorted labels."""
    return hashlib.sha256(json.dumps(sorted(labels.items())).encode()).hexdigest()[:16]


def _one_alert(raw: Any, where: str, source: str) -> AlertIn:
    obj = _obj(raw, where)
    labels = _labels(obj, "labels", where, required=True)
    status = _str(obj, "status", where, required=True, limit=16)
    if status not in ("firing", "resolved"):
        raise _fail(Code.INVALID_VALUE, f"{where}.status", "must be firing or resolved")
    annotations = _labels(obj, "annotations", where, max_keys=16, limit=2048, multiline=True, internal=True)
    links = {
        name: url
        for key, name in AM_LINKS.items()
        if (url := _url(obj.get(key), f"{where}.{key}")) is not None
    }
    return AlertIn(
        fingerprint=_str(obj, "fingerprint", where, limit=256) or fingerprint_of(labels),
        alertname=labels.get("alertname") or "unnamed alert",
        status=status,
        labels=labels,
        annotations=annotations,
        severity=labels.get("severity"),
        starts_at=_time(obj, "startsAt", where),
        ends_at=_time(obj, "endsAt", where),
        url=links.get("generator") or links.get("panel") or links.get("dashboard"),
        source=source,
        incident=labels.get("incident"),
        runbook_url=_runbook(annotations),
        links=links,
        values=_values(obj, where),
        value=_str(obj, "valueString", where, limit=2048),
    )


def parse_alertmanager(body: Any) -> list[AlertIn]:
    """Alertmanager's webhook (version 4), and Grafana's variant of it (version 1, with orgId)."""
    obj = _obj(body, "body")
    alerts = obj.get("alerts")
    if alerts is None:
        raise _fail(Code.MISSING_FIELD, "alerts", "is required")
    if not isinstance(alerts, list):
        raise _fail(Code.WRONG_TYPE, "alerts", "expected a list")
    source = "grafana" if "orgId" in obj else "alertmanager"
    return [_one_alert(raw, f"alerts[{n}]", source) for n, raw in enumerate(alerts)]


def parse_generic(body: Any) -> list[AlertIn]:
    """``{"alerts": [{"name", "status"?, "severity"?, "summary"?, "labels"?, ...}]}`` (docs/api.md)."""
    obj = _obj(body, "body")
    alerts = obj.get("alerts")
    if not isinstance(alerts, list):
        raise _fail(Code.MISSING_FIELD if alerts is None else Code.WRONG_TYPE, "alerts", "a list is required")
    out = []
    for n, raw in enumerate(alerts):
        where = f"alerts[{n}]"
        item = _obj(raw, where)
        name = _str(item, "name", where, required=True, limit=200)
        assert name is not None
        labels = {**_labels(item, "labels", where), "alertname": name}
        status = _str(item, "status", where, limit=16) or "firing"
        if status not in ("firing", "resolved"):
            raise _fail(Code.INVALID_VALUE, f"{where}.status", "must be firing or resolved")
        severity = _str(item, "severity", where, limit=32)
        if severity:
            labels["severity"] = severity
        annotations = _labels(
            item, "annotations", where, max_keys=16, limit=2048, multiline=True, internal=True
        )
        for key in ("summary", "description"):
            if text := _str(item, key, where, limit=2048, multiline=True):
                annotations[key] = text
        if len(annotations) > 16:
            raise _fail(Code.TOO_LONG, f"{where}.annotations", "over 16 keys with summary and description")
        in_annotations = _runbook(annotations)
        runbook = _url(item.get("runbook_url"), f"{where}.runbook_url") or in_annotations
        out.append(
            AlertIn(
                fingerprint=_str(item, "fingerprint", where, limit=256) or fingerprint_of(labels),
                alertname=name,
                status=status,
                labels=dict(sorted(labels.items())),
                annotations=annotations,
                severity=severity,
                starts_at=_time(item, "starts_at", where),
                ends_at=_time(item, "ends_at", where),
                url=_str(item, "url", where),
                source=_str(item, "source", where, limit=64) or "webhook",
                incident=_str(item, "incident", where, limit=64) or labels.get("incident"),
                runbook_url=runbook,
                links=_links_map(item, where),
            )
        )
    return out


@dataclass(frozen=True)
class PagerDutyEvent:
    action: str
    dedup_key: str
    alert: AlertIn | None  # for triggers


def parse_pagerduty(body: Any) -> PagerDutyEvent:
    """The PagerDuty Events API v2 body (developer.pagerduty.com, "Send an Alert Event")."""
    obj = _obj(body, "body")
    _str(obj, "routing_key", "body", required=True, limit=128)
    action = _str(obj, "event_action", "body", required=True, limit=16)
    if action not in PD_ACTIONS:
        raise _fail(Code.INVALID_VALUE, "event_action", f"must be one of {', '.join(PD_ACTIONS)}")
    dedup = _str(obj, "dedup_key", "body", limit=255)
    if action != "trigger":
        if not dedup:
            raise _fail(Code.MISSING_FIELD, "dedup_key", f"is required to {action}")
        return PagerDutyEvent(action, dedup, None)
    dedup = dedup or uuid.uuid4().hex
    payload = obj.get("payload")
    if payload is None:
        raise _fail(Code.MISSING_FIELD, "payload", "is required to trigger")
    p = _obj(payload, "payload")
    summary = _str(p, "summary", "payload", required=True, limit=1024, multiline=True)
    source = _str(p, "source", "payload", required=True, limit=255)
    severity = _str(p, "severity", "payload", required=True, limit=16)
    if severity not in PD_SEVERITIES:
        raise _fail(Code.INVALID_VALUE, "payload.severity", f"must be one of {', '.join(PD_SEVERITIES)}")
    labels = {
        "alertname": visible(str(p.get("class") or summary))[:200],
        "source": str(source),
        "severity": str(severity),
    }
    for key in ("component", "group", "class"):
        if (value := _str(p, key, "payload", limit=255)) is not None:
            labels[key] = value
    annotations = {"summary": str(summary)}
    if (details := _details(p)) is not None:
        annotations["custom_details"] = details
    links = _pd_links(obj)
    alert = AlertIn(
        fingerprint=f"pd:{dedup}",
        alertname=labels["alertname"],
        status="firing",
        labels=dict(sorted(labels.items())),
        annotations=annotations,
        severity=severity,
        starts_at=_time(p, "timestamp", "payload"),
        url=next(iter(links.values()), None),
        source="pagerduty",
        incident=labels.get("incident"),
        links=links,
    )
    return PagerDutyEvent(action, dedup, alert)


DETAILS_MAX = 2048  # characters of custom_details kept, as an annotation holds at most


def _details(payload: Mapping[str, Any]) -> str | None:
    """``custom_details`` as one annotation: a string as it is, anything else as sorted JSON."""
    details = payload.get("custom_details")
    if details is None:
        return None
    # Cut early: a body may carry 16 MB of details, and only 2,048 characters are kept.
    head = DETAILS_MAX + 1
    text = details[:head] if isinstance(details, str) else _json_head(details, head)
    text = visible(text, multiline=True)
    return text if len(text) <= DETAILS_MAX else text[: DETAILS_MAX - 1] + "…"


def _json_head(value: Any, limit: int) -> str:
    """The first ``limit`` characters of ``value`` as sorted JSON, encoding no more than that."""
    encoder = json.JSONEncoder(sort_keys=True, default=str)
    parts, size = [], 0
    for chunk in encoder.iterencode(value):
        parts.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return "".join(parts)[:limit]


def _pd_links(obj: Mapping[str, Any]) -> dict[str, str]:
    """PagerDuty's ``links`` ({href, text}) and ``images`` ({src, href, alt}), by their text.

    A link without text is named ``link``, an image ``image``; a repeated name
    gets a number (``link 2``). Together at most 8, as an alert keeps them.
    """
    out: dict[str, str] = {}
    kinds = (("links", "href", "text", "link"), ("images", "src", "alt", "image"))
    for key, url_key, text_key, default in kinds:
        raw = obj.get(key)
        if raw is None:
            continue
        if not isinstance(raw, list):
            raise _fail(Code.WRONG_TYPE, key, "expected a list")
        for n, item in enumerate(raw):
            where = f"{key}[{n}]"
            link = _obj(item, where)
            url = _url(link.get(url_key), f"{where}.{url_key}")
            if url is None:
                raise _fail(Code.MISSING_FIELD, f"{where}.{url_key}", "is required")
            name = (_str(link, text_key, where, limit=2048) or "").strip()[:64] or default
            unique, count = name, 1
            while unique in out:
                count += 1
                unique = f"{name} {count}"
            out[unique] = url
            if len(out) > MAX_LINKS:
                raise _fail(Code.TOO_LONG, key, f"over {MAX_LINKS} links and images together")
    return out


@dataclass(frozen=True)
class ChangeIn:
    """A PagerDuty change event (a deploy, say), for the timeline of the incident it touches."""

    summary: str
    source: str | None
    timestamp: str | None
    details: str | None
    links: dict[str, str]
    labels: dict[str, str]  # source and the string custom_details: what route rules match

    def to_event_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"summary": self.summary}
        for key in ("source", "timestamp", "details"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.links:
            data["links"] = self.links
        return data


def parse_pagerduty_change(body: Any) -> ChangeIn:
    """PagerDuty's change event (developer.pagerduty.com, "Send a Change Event")."""
    obj = _obj(body, "body")
    _str(obj, "routing_key", "body", required=True, limit=128)
    p = _obj(obj.get("payload"), "payload") if obj.get("payload") is not None else None
    if p is None:
        raise _fail(Code.MISSING_FIELD, "payload", "is required")
    summary = _str(p, "summary", "payload", required=True, limit=1024, multiline=True)
    assert summary is not None
    source = _str(p, "source", "payload", limit=255)
    labels = {"source": source} if source else {}
    details = p.get("custom_details")
    if isinstance(details, Mapping):
        for key, value in details.items():
            if isinstance(key, str) and isinstance(value, str) and len(labels) < 32:
                labels.setdefault(visible(key[:256])[:256], visible(value[:256])[:256])
    return ChangeIn(
        summary=summary,
        source=source,
        timestamp=_time(p, "timestamp", "payload"),
        details=_details(p),
        links=_pd_links({"links": obj.get("links")}),
        labels=dict(sorted(labels.items())),
    )


@dataclass(frozen=True)
class Route:
    match: dict[str, str]
    incident: str  # a room id, or INBOX

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match.items())


def route(alert: AlertIn, routes: Sequence[Route], hint: str | None) -> str:
    """Where an alert goes: the query parameter, its `incident` label, a matching rule, or the inbox."""
    return route_labels(alert.labels, alert.incident, routes, hint)


def route_labels(
    labels: Mapping[str, str], incident: str | None, routes: Sequence[Route], hint: str | None
) -> str:
    """The same order for anything with labels: a change event's source and details, say."""
    if hint:
        return hint
    if incident:
        return incident
    for rule in routes:
        if rule.matches(labels):
            return rule.incident
    return INBOX
