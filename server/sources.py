"""Where alerts come from, as the hub's config names them: Alertmanagers, Grafana, resolve timeouts.

An alert remembers its ``origin`` (an Alertmanager's name, or ``grafana``), so
its silence is made where it came from and reconciliation knows whom to ask.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from warroom.core.errors import Code, WarroomError

DEFAULT = "default"  # the name of the one Alertmanager given as ``alertmanager = URL``
GRAFANA = "grafana"
GRAFANA_API = "/api/alertmanager/grafana"  # Grafana's Alertmanager-compatible API
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)\Z")
UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
DEFAULT_RESOLVE = 300.0  # Alertmanager's own resolve_timeout
DEFAULT_INTERVAL = 30.0

Fail = Callable[[str, str], Exception]


@dataclass(frozen=True)
class Alertmanager:
    name: str
    url: str
    external_url: str | None = None  # what it puts in webhook bodies' externalURL
    resolve_timeout: float = DEFAULT_RESOLVE  # seconds a stale alert waits before it resolves


@dataclass(frozen=True)
class Grafana:
    url: str
    token: str


@dataclass(frozen=True)
class Upstream:
    """Somewhere a silence can be made: an Alertmanager API v2 at ``base``."""

    origin: str
    base: str
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return "Grafana" if self.origin == GRAFANA else f"Alertmanager {self.origin}"


@dataclass(frozen=True)
class Sources:
    alertmanagers: tuple[Alertmanager, ...] = ()
    grafana: Grafana | None = None
    interval: float = DEFAULT_INTERVAL  # seconds between reconciliations
    resolve_timeouts: tuple[tuple[str, float], ...] = ()  # source -> seconds unseen before stale

    def alertmanager(self, name: str | None) -> Alertmanager | None:
        return next((am for am in self.alertmanagers if am.name == name), None)

    def upstream(self, origin: str | None) -> Upstream | None:
        """Where a silence for an alert of ``origin`` is made; None: in the room only."""
        am = self.alertmanager(origin)
        if am is not None:
            return Upstream(am.name, am.url)
        if origin == GRAFANA and self.grafana is not None:
            auth = {"Authorization": f"Bearer {self.grafana.token}"}
            return Upstream(GRAFANA, self.grafana.url + GRAFANA_API, auth)
        return None

    def origin_of_batch(self, named: str | None, external_url: Any) -> str | None:
        """Which Alertmanager sent a webhook batch: named in the query, by externalURL, or the only one."""
        if named is not None:
            if self.alertmanager(named) is None:
                known = ", ".join(am.name for am in self.alertmanagers) or "none configured"
                raise WarroomError(
                    Code.INVALID_VALUE,
                    f"alertmanager: no Alertmanager named {named!r} in this hub's config ({known})",
                    "alertmanager",
                )
            return named
        if isinstance(external_url, str) and external_url:
            wanted = external_url.rstrip("/")
            for am in self.alertmanagers:
                if wanted in (am.external_url, am.url):
                    return am.name
        return self.alertmanagers[0].name if len(self.alertmanagers) == 1 else None


def describe_sources(sources: Sources) -> dict[str, Any]:
    """The sources in force, for admins: Grafana's token is not shown."""
    return {
        "alertmanagers": {
            am.name: {"url": am.url, "external_url": am.external_url, "resolve_timeout": am.resolve_timeout}
            for am in sources.alertmanagers
        },
        "grafana": sources.grafana.url if sources.grafana else None,
        "reconcile_interval": sources.interval,
        "resolve_timeout": dict(sources.resolve_timeouts),
    }


def parse_sources(raw: Mapping[str, Any], fail: Fail) -> Sources:
    """``alertmanager``, ``[alertmanagers.NAME]``, ``[grafana]``, ``[reconcile]``, ``[resolve_timeout]``."""
    ams = []
    legacy = raw.get("alertmanager")
    if legacy is not None:
        if not is_http_url(legacy):
            raise fail("alertmanager", f"{legacy!r} is not an http(s) URL")
        ams.append(Alertmanager(DEFAULT, legacy.rstrip("/")))
    table = raw.get("alertmanagers", {})
    if not isinstance(table, dict):
        raise fail("alertmanagers", "must be a table of [alertmanagers.NAME]")
    for name, item in table.items():
        if any(am.name == name for am in ams):
            raise fail(f"alertmanagers.{name}", f"{name!r} is also the name of `alertmanager = URL`")
        ams.append(_alertmanager(name, item, fail))
    return Sources(
        tuple(ams),
        _grafana(raw.get("grafana"), fail),
        _interval(raw.get("reconcile", {}), fail),
        _timeouts(raw.get("resolve_timeout", {}), fail),
    )


def _alertmanager(name: str, item: Any, fail: Fail) -> Alertmanager:
    where = f"alertmanagers.{name}"
    if not NAME.match(name) or name == GRAFANA:
        raise fail(where, "a name is letters, digits, _ . - (64 at most), and not grafana")
    if not isinstance(item, dict):
        raise fail(where, "must be a table with url")
    unknown = set(item) - {"url", "external_url", "resolve_timeout"}
    if unknown:
        raise fail(f"{where}.{sorted(unknown)[0]}", "unknown setting")
    url, external = item.get("url"), item.get("external_url")
    if not is_http_url(url):
        raise fail(f"{where}.url", f"{url!r} is not an http(s) URL")
    if external is not None and not is_http_url(external):
        raise fail(f"{where}.external_url", f"{external!r} is not an http(s) URL")
    timeout = DEFAULT_RESOLVE
    if "resolve_timeout" in item:
        timeout = duration(item["resolve_timeout"], f"{where}.resolve_timeout", fail)
    return Alertmanager(name, str(url).rstrip("/"), external.rstrip("/") if external else None, timeout)


def _grafana(item: Any, fail: Fail) -> Grafana | None:
    if item is None:
        return None
    if not isinstance(item, dict) or set(item) - {"url", "token"}:
        raise fail("grafana", "a table with url and token")
    url, token = item.get("url"), item.get("token")
    if not is_http_url(url):
        raise fail("grafana.url", f"{url!r} is not an http(s) URL")
    if not isinstance(token, str) or not token or any(ch.isspace() for ch in token):
        raise fail("grafana.token", "a service account token, as text without spaces")
    return Grafana(str(url).rstrip("/"), token)


def _interval(item: Any, fail: Fail) -> float:
    if not isinstance(item, dict) or set(item) - {"interval"}:
        raise fail("reconcile", "a table with interval (seconds)")
    value = item.get("interval", DEFAULT_INTERVAL)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 86400:
        raise fail("reconcile.interval", "seconds above 0, a day at most")
    return float(value)


def _timeouts(item: Any, fail: Fail) -> tuple[tuple[str, float], ...]:
    if not isinstance(item, dict):
        raise fail("resolve_timeout", 'a table of source = duration, such as webhook = "1h"')
    out = []
    for source, value in item.items():
        if not NAME.match(source):
            raise fail(f"resolve_timeout.{source}", "a source name such as webhook, grafana or pagerduty")
        out.append((source, duration(value, f"resolve_timeout.{source}", fail)))
    return tuple(out)


def duration(value: Any, where: str, fail: Fail) -> float:
    """Seconds from a number or text like ``"90s"``, ``"5m"``, ``"2h"``, ``"1d"``."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := DURATION.match(value.strip())):
        seconds = float(match.group(1)) * UNITS[match.group(2)]
    if seconds is None or not 0 < seconds <= 30 * 86400:
        raise fail(where, 'a duration above 0 and up to 30 days: seconds, or text like "90s", "5m", "2h"')
    return seconds


def is_http_url(value: Any) -> bool:
    """An http(s) URL with a host: what every URL in the hub's config must be."""
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
