"""The hub's config file: severity meanings, broadcast cadence, role rules and sinks.

TOML, given to ``warroom serve --config``. Everything has a default, so a hub
runs without one. A bad file stops the hub at start with one line naming the
file and the field, never halfway through an incident.

    [severities.SEV1]
    meaning = "Critical: checkout or login down for many customers"
    cadence = 15            # minutes between status broadcasts
    commander_within = 5    # minutes until a commander must be named

    [roles]
    offer_expires_after = 300      # seconds
    takeover_after = 120           # seconds a holder must be gone before their role can be taken

    [silences]                     # silences the hub makes in Alertmanager (admins may go beyond)
    max_minutes = 1440
    must_match = ["alertname"]     # labels every such silence must match

    [permissions]
    "status.broadcast" = ["commander", "comms"]

    alertmanager = "http://am:9093"   # one Alertmanager, named "default"
    [alertmanagers.am1]                # or several, each with a name
    url = "http://am1:9093"
    external_url = "https://am1.example.com"  # its --web.external-url, as webhooks carry it
    resolve_timeout = "5m"             # stale alerts it no longer lists resolve after this

    [grafana]                          # silences for Grafana's alerts go to its Alertmanager API
    url = "https://grafana.example.com"
    token = "glsa_..."

    metrics_from = ["127.0.0.1/32"]    # addresses that may read /metrics without a token
    log_format = "json"                # or "text" (the default); --log-format overrides it

    schedules = "oncall.toml"          # schedules, teams and escalation policies (relative to this file);
                                       # checked at start and re-read on config reload

    runbooks = "runbooks"              # the runbook library: every *.md under it (relative to this file);
                                       # re-read on config reload, broken files logged and left out

    [reconcile]
    interval = 30                      # seconds between reads of each Alertmanager

    [resolve_timeout]                  # sources that send no resolve: unseen this long -> stale
    webhook = "1h"
    grafana = "2h"

    store = "postgresql://warroom@db.internal/warroom"  # the log (default: the SQLite file of --db);
    store_password_file = "/etc/warroom/pgpass"         # its password, if not in the URL or PGPASSWORD

    [[sinks]]
    name = "#incidents"
    kind = "slack"                 # or "webhook"
    url = "https://hooks.slack.com/services/..."
    secret = "..."                 # webhook only: Standard Webhooks signature (docs/api.md)
"""

from __future__ import annotations

import base64
import ipaddress
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from server.intake import INBOX, Route
from server.limits import Limits
from server.sources import Sources, is_http_url, parse_sources
from warroom.core.events import EVENT_TYPES, ROLES, SEVERITIES
from warroom.core.policy import (
    DEFAULT_CADENCE,
    DEFAULT_COMMANDER_WITHIN,
    DEFAULT_MEANINGS,
    DEFAULT_PERMISSIONS,
    Policy,
)

LOG_FORMATS = ("text", "json")
SINK_KINDS = ("slack", "webhook", "email")  # email: pages only, over SMTP (server/paging.py)


class HubConfigError(Exception):
    """The hub's config cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Sink:
    name: str
    kind: str
    url: str
    secret: str | None = None
    timeout: float = 5.0
    retries: int = 5
    drills: bool = False  # a sink for practice: it also hears drill incidents
    sender: str | None = None  # email: the From address
    domain: str | None = None  # email: a paged user NAME is written to NAME@domain


@dataclass(frozen=True)
class HubConfig:
    policy: Policy = field(default_factory=Policy)
    sinks: tuple[Sink, ...] = ()
    routes: tuple[Route, ...] = ()
    origins: tuple[str, ...] = ()  # browser origins allowed on the sync port
    limits: Limits = field(default_factory=Limits)
    sources: Sources = field(default_factory=lambda: Sources())
    runbooks: Path | None = None  # the runbook library's directory
    schedules: Path | None = None  # the on-call file: schedules, teams, escalation policies
    store: str | None = None  # the log's URL (postgresql://…, sqlite:PATH); None: the --db file
    store_password_file: Path | None = None  # the store's password, first line of this file
    metrics_from: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()  # /metrics without a token
    log_format: str | None = None  # "text" or "json"; None: --log-format, else text


def load_hub_config(path: Path | None) -> HubConfig:
    if path is None:
        return HubConfig()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise HubConfigError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise HubConfigError(f"{path}: not valid TOML: {exc}") from None
    config = parse_hub_config(raw, str(path))
    if config.runbooks is not None and not config.runbooks.is_absolute():  # beside the config file
        config = replace(config, runbooks=path.parent / config.runbooks)
    if config.schedules is not None and not config.schedules.is_absolute():
        config = replace(config, schedules=path.parent / config.schedules)
    if config.store_password_file is not None and not config.store_password_file.is_absolute():
        config = replace(config, store_password_file=path.parent / config.store_password_file)
    if config.schedules is not None:
        _check_schedules(config, str(path))
    return config


def _check_schedules(config: HubConfig, where: str) -> None:
    """The on-call file must parse and its policies name only sinks this hub has."""
    from warroom.oncall.bundle import load_escalations
    from warroom.oncall.policies import PolicyError, check_sinks

    assert config.schedules is not None
    try:
        loaded = load_escalations(config.schedules)
        check_sinks(loaded.policies, (s.name for s in config.sinks), f"{where}: schedules")
    except PolicyError as exc:
        raise HubConfigError(str(exc)) from None


def parse_hub_config(raw: dict[str, Any], where: str = "config") -> HubConfig:
    def fail(field_name: str, message: str) -> HubConfigError:
        return HubConfigError(f"{where}: {field_name}: {message}")

    unknown = set(raw) - {
        "severities",
        "roles",
        "permissions",
        "sinks",
        "routes",
        "alertmanager",
        "origins",
        "limits",
        "silences",
        "alertmanagers",
        "grafana",
        "reconcile",
        "resolve_timeout",
        "runbooks",
        "schedules",
        "store",
        "store_password_file",
        "metrics_from",
        "log_format",
    }
    if unknown:
        raise fail(sorted(unknown)[0], "unknown setting")
    meanings, cadence, within = dict(DEFAULT_MEANINGS), dict(DEFAULT_CADENCE), dict(DEFAULT_COMMANDER_WITHIN)
    for severity, table in _table(raw, "severities", fail).items():
        if severity not in SEVERITIES:
            raise fail(f"severities.{severity}", f"not one of {', '.join(SEVERITIES)}")
        if not isinstance(table, dict):
            raise fail(f"severities.{severity}", "must be a table")
        for key, value in table.items():
            name = f"severities.{severity}.{key}"
            if key == "meaning" and isinstance(value, str):
                meanings[severity] = value
            elif key in ("cadence", "commander_within") and _count(value) and 0 < value <= 1440:
                (cadence if key == "cadence" else within)[severity] = value
            else:
                raise fail(name, "meaning is text; cadence and commander_within are minutes from 1 to 1440")
    roles = _table(raw, "roles", fail)
    expires = roles.get("offer_expires_after", 300)
    takeover = roles.get("takeover_after", 120)
    known_roles = {"offer_expires_after", "takeover_after"}
    if (
        set(roles) - known_roles
        or not _count(expires)
        or expires <= 0
        or not _count(takeover)
        or takeover < 0
    ):
        raise fail("roles", "takes offer_expires_after (seconds above 0) and takeover_after (seconds)")
    permissions = dict(DEFAULT_PERMISSIONS)
    for type_name, allowed in _table(raw, "permissions", fail).items():
        if type_name not in EVENT_TYPES:
            raise fail(f"permissions.{type_name}", "not an event type")
        if not isinstance(allowed, list) or any(r not in ROLES for r in allowed):
            raise fail(f"permissions.{type_name}", f"a list of roles from {', '.join(ROLES)} ([] for anyone)")
        permissions[type_name] = tuple(allowed)
    longest, must_match = _silences(_table(raw, "silences", fail), fail)
    policy = Policy(permissions, cadence, within, meanings, expires, takeover, longest, must_match)
    sinks = raw.get("sinks", [])
    if not isinstance(sinks, list):
        raise fail("sinks", "must be an array of tables ([[sinks]])")
    routes = raw.get("routes", [])
    if not isinstance(routes, list):
        raise fail("routes", "must be an array of tables ([[routes]])")
    origins = raw.get("origins", [])
    if not isinstance(origins, list) or not all(is_http_url(o) for o in origins):
        raise fail("origins", "a list of browser origins like https://status.example.com")
    runbooks = raw.get("runbooks")
    if runbooks is not None and (not isinstance(runbooks, str) or not runbooks):
        raise fail("runbooks", "the runbook library's directory, as text")
    schedules = raw.get("schedules")
    if schedules is not None and (not isinstance(schedules, str) or not schedules):
        raise fail("schedules", "the on-call file (schedules, teams, policies), as text")
    store = raw.get("store")
    if store is not None and not (isinstance(store, str) and _store_url(store)):
        raise fail("store", "a store URL: postgresql://USER@HOST/DB or sqlite:PATH")
    password_file = raw.get("store_password_file")
    if password_file is not None and (not isinstance(password_file, str) or not password_file):
        raise fail("store_password_file", "the file holding the store's password, as text")
    log_format = raw.get("log_format")
    if log_format is not None and log_format not in LOG_FORMATS:
        raise fail("log_format", f"one of {', '.join(LOG_FORMATS)}")
    built = tuple(_sink(item, n, fail) for n, item in enumerate(sinks))
    names = [s.name for s in built]
    for n, name in enumerate(names):
        if name in names[:n]:
            raise fail(f"sinks[{n}].name", f"{name!r} is used by another sink; give each a name")
    return HubConfig(
        policy,
        built,
        tuple(_route(item, n, fail) for n, item in enumerate(routes)),
        tuple(origins),
        _limits(_table(raw, "limits", fail), fail),
        parse_sources(raw, fail),
        Path(runbooks) if runbooks is not None else None,
        Path(schedules) if schedules is not None else None,
        store,
        Path(password_file) if password_file is not None else None,
        _networks(raw.get("metrics_from", []), fail),
        log_format,
    )


def _store_url(url: str) -> bool:
    from server.store.locate import is_postgres, sqlite_path

    return is_postgres(url) or (url.startswith("sqlite:") and str(sqlite_path(url)) not in ("", "."))


def _networks(value: Any, fail: Any) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``metrics_from``: addresses or networks (``10.0.0.0/8``) whose scrapes need no token."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise fail("metrics_from", 'a list of addresses or networks, like ["127.0.0.1/32", "10.0.0.0/8"]')
    try:
        return tuple(ipaddress.ip_network(v, strict=False) for v in value)
    except ValueError as exc:
        raise fail("metrics_from", str(exc)) from None


def _silences(table: dict[str, Any], fail: Any) -> tuple[int, tuple[str, ...]]:
    """``[silences]``: max_minutes (1 to 14 days) and must_match (label names)."""
    unknown = set(table) - {"max_minutes", "must_match"}
    if unknown:
        raise fail(f"silences.{sorted(unknown)[0]}", "unknown setting")
    longest = table.get("max_minutes", Policy.silence_max_minutes)
    if not _count(longest) or not 0 < longest <= 14 * 24 * 60:
        raise fail("silences.max_minutes", "minutes from 1 to 20160 (14 days)")
    labels = table.get("must_match", list(Policy.silence_must_match))
    if not isinstance(labels, list) or not all(isinstance(name, str) and name for name in labels):
        raise fail("silences.must_match", "a list of label names")
    return longest, tuple(labels)


def _limits(table: dict[str, Any], fail: Any) -> Limits:
    """``[limits]``: any of Limits' fields, each a number above 0."""
    known = {f.name: f for f in fields(Limits)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise fail(f"limits.{key}", f"unknown limit; known: {', '.join(known)}")
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or value <= 0 or (known[key].type == "int" and not isinstance(value, int)):
            raise fail(
                f"limits.{key}", "must be a number above 0" + (" (whole)" if known[key].type == "int" else "")
            )
        values[key] = value
    return Limits(**values)


def _count(value: Any) -> bool:
    """A whole number, and not a boolean (TOML's true is no number of minutes)."""
    return isinstance(value, int) and not isinstance(value, bool)


def sink_host(url: str) -> str:
    """Where a sink posts, without the user and password a URL may carry: safe to show anyone."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port is not None else host


def _route(item: Any, n: int, fail: Any) -> Route:
    """``match = {label = value}`` and either ``incident = "INC-42"`` or ``inbox = true``."""
    where = f"routes[{n}]"
    if not isinstance(item, dict) or set(item) - {"match", "incident", "inbox"}:
        raise fail(where, "takes match, and incident or inbox")
    match = item.get("match")
    if not isinstance(match, dict) or not match or not all(isinstance(v, str) for v in match.values()):
        raise fail(f"{where}.match", "a table of label = value")
    target = INBOX if item.get("inbox") is True else item.get("incident")
    if not isinstance(target, str) or not target:
        raise fail(where, 'needs incident = "ID" or inbox = true')
    return Route(dict(match), target)


def _table(raw: dict[str, Any], key: str, fail: Any) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise fail(key, "must be a table")
    return value


def _sink(item: Any, n: int, fail: Any) -> Sink:
    where = f"sinks[{n}]"
    if not isinstance(item, dict):
        raise fail(where, "must be a table")
    known = {"name", "kind", "url", "secret", "timeout", "retries", "drills", "sender", "domain"}
    unknown = set(item) - known
    if unknown:
        raise fail(f"{where}.{sorted(unknown)[0]}", "unknown setting")
    kind = item.get("kind")
    if kind not in SINK_KINDS:
        raise fail(f"{where}.kind", f"must be one of {', '.join(SINK_KINDS)}")
    url = item.get("url")
    parts = urlsplit(url) if isinstance(url, str) else None
    schemes = ("smtp",) if kind == "email" else ("http", "https")
    if not isinstance(url, str) or parts is None or parts.scheme not in schemes or not parts.netloc:
        wanted = "an smtp://host:port" if kind == "email" else "an http(s)"
        raise fail(f"{where}.url", f"{url!r} is not {wanted} URL")
    sender, domain = item.get("sender"), item.get("domain")
    if kind == "email" and not (isinstance(sender, str) and sender and isinstance(domain, str) and domain):
        raise fail(where, "an email sink needs sender (From address) and domain (users are NAME@domain)")
    name = item.get("name", sink_host(url))
    secret = item.get("secret")
    if not isinstance(name, str) or (secret is not None and not isinstance(secret, str)):
        raise fail(where, "name and secret are text")
    if isinstance(secret, str) and secret.startswith("whsec_"):
        try:
            base64.b64decode(secret[len("whsec_") :], validate=True)
        except ValueError:
            raise fail(f"{where}.secret", "a whsec_ secret is base64 after its prefix") from None
    timeout, retries = item.get("timeout", 5.0), item.get("retries", 5)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or timeout <= 0
        or not _count(retries)
        or retries < 0
    ):
        raise fail(where, "timeout is seconds above 0; retries is a count")
    drills = item.get("drills", False)
    if not isinstance(drills, bool):
        raise fail(f"{where}.drills", "is true or false")
    return Sink(name, kind, url, secret, float(timeout), retries, drills, sender, domain)
