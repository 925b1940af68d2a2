"""Alert intake: webhook bodies from monitoring tools, turned into alert events.

A body is checked whole before anything is stored, so a bad alert in a batch
of 5,000 refuses the batch with the field named (``alerts[3].labels``) rather
than applying half of it. Alerts are deduplicated by fingerprint (Alertmanager)
or dedup key (PagerDuty), routed to an incident by label rules, an ``incident``
label or query parameter, or else to the hub-wide inbox.

Monitoring text is kept, not refused: every string is passed through
``visible`` before it is checked, so an escape sequence in a label arrives as
placeholders (``␛]0;…``) and the alert is still stored.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from warroom.core.errors import Code, WarroomError
from warroom.core.schema import format_time, parse_time
from warroom.core.text import visible

INBOX = "inbox"
AM_ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's "not ended yet"
PD_SEVERITIES = ("critical", "error", "warning", "info")
PD_ACTIONS = ("trigger", "acknowledge", "resolve")


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

    def to_event_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "fingerprint": self.fingerprint,
            "alertname": self.alertname,
            "status": self.status,
            "labels": self.labels,
            "annotations": self.annotations,
            "source": self.source,
        }
        for key in ("severity", "starts_at", "ends_at", "url"):
            if getattr(self, key) is not None:
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
) -> dict[str, str]:
    """A string map, made visible: names on one line, values multi-line for annotations."""
    value = obj.get(key)
    if value is None:
        if required:
            raise _fail(Code.MISSING_FIELD, f"{where}.{key}", "is required")
        return {}
    if not isinstance(value, Mapping):
        raise _fail(Code.WRONG_TYPE, f"{where}.{key}", "expected an object of strings")
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


def _time(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    value = _str(obj, key, where, limit=64)
    if value is None or value == AM_ZERO_TIME or value.startswith("0001-01-01"):
        return None
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
    return AlertIn(
        fingerprint=_str(obj, "fingerprint", where, limit=256) or fingerprint_of(labels),
        alertname=labels.get("alertname") or "unnamed alert",
        status=status,
        labels=labels,
        annotations=_labels(obj, "annotations", where, max_keys=16, limit=2048, multiline=True),
        severity=labels.get("severity"),
        starts_at=_time(obj, "startsAt", where),
        ends_at=_time(obj, "endsAt", where),
        url=_str(obj, "generatorURL", where)
        or _str(obj, "panelURL", where)
        or _str(obj, "dashboardURL", where),
        source=source,
        incident=labels.get("incident"),
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
        annotations = _labels(item, "annotations", where, max_keys=16, limit=2048, multiline=True)
        if summary := _str(item, "summary", where, limit=2048, multiline=True):
            annotations["summary"] = summary
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
    details = p.get("custom_details")
    annotations = {"summary": str(summary)}
    if details is not None:
        annotations["custom_details"] = json.dumps(details, sort_keys=True)[:2048]
    links = obj.get("links")
    if links is not None and not isinstance(links, list):
        raise _fail(Code.WRONG_TYPE, "links", "expected a list")
    url = next(
        (
            visible(link["href"])
            for link in links or []
            if isinstance(link, Mapping) and isinstance(link.get("href"), str)
        ),
        None,
    )
    alert = AlertIn(
        fingerprint=f"pd:{dedup}",
        alertname=labels["alertname"],
        status="firing",
        labels=dict(sorted(labels.items())),
        annotations=annotations,
        severity=severity,
        starts_at=_time(p, "timestamp", "payload"),
        url=url,
        source="pagerduty",
        incident=labels.get("incident"),
    )
    return PagerDutyEvent(action, dedup, alert)


@dataclass(frozen=True)
class Route:
    match: dict[str, str]
    incident: str  # a room id, or INBOX

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match.items())


def route(alert: AlertIn, routes: Sequence[Route], hint: str | None) -> str:
    """Where an alert goes: the query parameter, its `incident` label, a matching rule, or the inbox."""
    if hint:
        return hint
    if alert.incident:
        return alert.incident
    for rule in routes:
        if rule.matches(alert.labels):
            return rule.incident
    return INBOX
