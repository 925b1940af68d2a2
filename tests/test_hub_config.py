"""An admin manages the hub's config: shows it, and reloads its file, from the CLI, HTTP or SIGHUP."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from server.config import HubConfigError, load_hub_config, parse_hub_config
from server.runner import HubServer, describe_config
from tests.conftest import TOKEN, declare, issue, wait_for
from tests.test_cli import hub_args, warroom
from warroom.client import HubClient

FIRST = """
[severities.SEV2]
cadence = 30

[[sinks]]
name = "#incidents"
kind = "slack"
url = "http://127.0.0.1:9/services/T000/B000/very-secret-path"  # nothing listens: tests reach no one
"""
SECOND = 'origins = ["https://status.example.com"]\n' + FIRST.replace("cadence = 30", "cadence = 10")


@pytest.fixture
async def configured(tmp_path: Path, db_path: Path) -> AsyncIterator[tuple[HubServer, Path]]:
    path = tmp_path / "hub.toml"
    path.write_text(FIRST)
    server = HubServer(db_path, TOKEN, config=load_hub_config(path), config_path=path)
    await server.start()
    yield server, path
    await server.stop()


async def broadcast_due_in(server: HubServer, room: str) -> int:
    client = HubClient(server.url, TOKEN, "ann")
    await client.connect()
    try:
        await client.send("status.broadcast", {"message": "looking"}, room)
    finally:
        await client.close()
    events = await server.hub.store.read(room, 0, 100)
    return int([e for e in events if e.type == "status.broadcast"][-1].data["next_update_in"])


async def test_reload_applies_a_changed_file_and_refuses_a_broken_one(
    configured: tuple[HubServer, Path], env: dict[str, str]
) -> None:
    server, path = configured
    room = await _declare(server)
    assert await broadcast_due_in(server, room) == 30
    watching = HubClient(server.url, TOKEN, "cat")
    await watching.connect()
    assert watching.policy["cadence"]["SEV2"] == 30
    path.write_text(SECOND)
    reloaded = await warroom(env, "config", "reload", *hub_args(server), "--as", "root")
    assert reloaded.code == 0, reloaded.err
    assert reloaded.out.strip() == f"reloaded {path}; changed: origins, policy"
    assert await broadcast_due_in(server, room) == 10  # the new cadence holds from the next command
    await wait_for(
        lambda: watching.policy["cadence"]["SEV2"] == 10, what="the new policy on a connected client"
    )
    await watching.close()

    path.write_text(SECOND.replace("cadence = 10", "cadence = 0"))
    broken = (await warroom(env, "config", "reload", *hub_args(server))).one_line_error()
    assert "severities.SEV2.cadence" in broken and "nothing was reloaded" in broken
    path.write_text(SECOND.replace("very-secret-path", "another-path"))
    assert "restart the hub" in (await warroom(env, "config", "reload", *hub_args(server))).one_line_error()
    assert await broadcast_due_in(server, room) == 10  # neither refused file changed anything

    shown = json.loads((await warroom(env, "config", "show", "--json", *hub_args(server))).out)
    assert shown["policy"]["cadence"]["SEV2"] == 10 and shown["origins"] == ["https://status.example.com"]
    assert shown["sinks"] == [{"name": "#incidents", "kind": "slack", "host": "127.0.0.1:9", "signed": False}]
    text = (await warroom(env, "config", "show", *hub_args(server))).out
    assert "SEV2" in text and "updates every 10 min" in text and "secret" not in text
    audit = await warroom(env, "audit", "--kind", "config.reloaded", "--json", *hub_args(server))
    assert [(r["actor"], r["detail"]["changed"]) for r in json.loads(audit.out)] == [
        ("root", ["origins", "policy"])
    ]


async def test_only_an_admin_sees_or_reloads_the_config(
    configured: tuple[HubServer, Path], env: dict[str, str]
) -> None:
    server, _ = configured
    responder = await issue(server, "bob")
    assert (
        "needs an admin token"
        in (await warroom(env, "config", "reload", *hub_args(server, responder))).one_line_error()
    )
    async with httpx.AsyncClient(base_url=server.http_url) as api:
        denied = await api.get("/api/v1/config", headers={"Authorization": f"Bearer {responder}"})
        assert denied.status_code == 403
        shown = await api.get("/api/v1/config", headers={"Authorization": f"Bearer {TOKEN}"})
        assert shown.status_code == 200 and "very-secret-path" not in shown.text
        reloaded = await api.post("/api/v1/config/reload", headers={"Authorization": f"Bearer {TOKEN}"})
        assert reloaded.status_code == 200 and reloaded.json()["changed"] == []


async def test_a_hub_without_a_config_file_has_nothing_to_reload(hub: HubServer, env: dict[str, str]) -> None:
    assert "nothing to reload" in (await warroom(env, "config", "reload", *hub_args(hub))).one_line_error()


def test_sighup_reloads_the_config_of_a_running_hub(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(FIRST)
    argv = [sys.executable, "-m", "warroom", "serve", "--port", "0", "--http-port", "0"]
    argv += ["--db", str(tmp_path / "hub.db"), "--token", TOKEN, "--config", str(path)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert proc.stdout is not None
        http_url = ""
        for line in proc.stdout:
            found = re.search(r"http\s+(http://\S+)", line)
            http_url = found.group(1) if found else http_url
            if "status page" in line:
                break
        path.write_text(SECOND)
        proc.send_signal(signal.SIGHUP)
        asyncio.run(_await_cadence(http_url, 10))
    finally:
        proc.terminate()
        proc.wait(timeout=20)


async def _await_cadence(http_url: str, minutes: int) -> None:
    async with httpx.AsyncClient(base_url=http_url, headers={"Authorization": f"Bearer {TOKEN}"}) as api:
        cadence = 0

        async def poll() -> None:
            nonlocal cadence
            cadence = (await api.get("/api/v1/config")).json()["policy"]["cadence"]["SEV2"]

        await poll()
        deadline = asyncio.get_running_loop().time() + 10
        while cadence != minutes and asyncio.get_running_loop().time() < deadline:
            await poll()
        assert cadence == minutes


async def _declare(server: HubServer) -> str:
    client = HubClient(server.url, TOKEN, "ann")
    await client.connect()
    try:
        return await declare(client)
    finally:
        await client.close()


def test_a_sink_is_named_after_its_host_without_user_info_and_a_whsec_secret_must_be_base64() -> None:
    sinks = [
        {"kind": "webhook", "url": "https://bot:s3cret@hooks.example.com:8443/path?key=k"},
        {"kind": "slack", "url": "https://[::1]/x"},
        {"kind": "webhook", "url": "https://h.example/", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
    ]
    config = parse_hub_config({"sinks": sinks})
    assert [s.name for s in config.sinks] == ["hooks.example.com:8443", "[::1]", "h.example"]
    with pytest.raises(HubConfigError, match=r"sinks\[0\]\.secret: a whsec_ secret is base64"):
        parse_hub_config({"sinks": [{"kind": "webhook", "url": "https://h/", "secret": "whsec_not base64!"}]})


def test_alert_sources_are_named_and_the_single_alertmanager_is_default() -> None:
    sources = parse_hub_config(
        {
            "alertmanager": "http://am:9093/",
            "alertmanagers": {"eu": {"url": "http://am-eu:9093", "external_url": "https://am.eu.example/"}},
            "grafana": {"url": "https://grafana.example/", "token": "glsa_x"},
            "reconcile": {"interval": 5},
            "resolve_timeout": {"webhook": "90s", "grafana": "2h", "pagerduty": 600},
        }
    ).sources
    assert [(am.name, am.url, am.resolve_timeout) for am in sources.alertmanagers] == [
        ("default", "http://am:9093", 300.0),
        ("eu", "http://am-eu:9093", 300.0),
    ]
    assert sources.origin_of_batch(None, "https://am.eu.example") == "eu"
    assert sources.origin_of_batch(None, "https://elsewhere.example") is None  # two: none is "the only one"
    assert sources.upstream("grafana") is not None and sources.upstream("webhook") is None
    assert dict(sources.resolve_timeouts) == {"webhook": 90.0, "grafana": 7200.0, "pagerduty": 600.0}
    assert sources.interval == 5.0


def test_config_show_names_the_alertmanager_in_force() -> None:
    """``alertmanager`` in config show is the Alertmanager named default, as the hub uses it."""
    shown = describe_config(parse_hub_config({"alertmanager": "http://am:9093/"}), None)
    assert shown["alertmanager"] == "http://am:9093" == shown["sources"]["alertmanagers"]["default"]["url"]
    named = describe_config(parse_hub_config({"alertmanagers": {"eu": {"url": "http://am-eu:9093"}}}), None)
    assert named["alertmanager"] is None and list(named["sources"]["alertmanagers"]) == ["eu"]


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"alertmanagers": {"eu": {"url": "ftp://x"}}}, "alertmanagers.eu.url"),
        (
            {"alertmanagers": {"eu": {"url": "http://x", "resolve_timeout": "5 minutes"}}},
            "alertmanagers.eu.resolve_timeout",
        ),
        ({"alertmanagers": {"eu": {"url": "http://x", "colour": "red"}}}, "alertmanagers.eu.colour"),
        ({"alertmanagers": {"grafana": {"url": "http://x"}}}, "alertmanagers.grafana"),
        (
            {"alertmanager": "http://x", "alertmanagers": {"default": {"url": "http://y"}}},
            "alertmanagers.default",
        ),
        ({"grafana": {"url": "http://g"}}, "grafana.token"),
        ({"grafana": {"url": "g", "token": "t"}}, "grafana.url"),
        ({"reconcile": {"interval": 0}}, "reconcile.interval"),
        ({"reconcile": {"interval": True}}, "reconcile.interval"),
        ({"resolve_timeout": {"webhook": "-1m"}}, "resolve_timeout.webhook"),
        ({"resolve_timeout": {"webhook": "31d"}}, "resolve_timeout.webhook"),
        ({"resolve_timeout": "1h"}, "resolve_timeout"),
    ],
)
def test_a_bad_alert_source_setting_is_refused_naming_it(raw: dict[str, object], named: str) -> None:
    with pytest.raises(HubConfigError, match=rf"^config: {re.escape(named)}: "):
        parse_hub_config(raw)


async def test_a_reload_follows_the_alertmanagers_it_names(
    configured: tuple[HubServer, Path],
) -> None:
    server, path = configured
    assert server.alerts.reconciler._tasks == [] and server.hub.has_alertmanager is False
    path.write_text(FIRST + '\n[alertmanagers.eu]\nurl = "http://127.0.0.1:9"\n[reconcile]\ninterval = 60\n')
    async with httpx.AsyncClient(
        base_url=server.http_url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as api:
        reloaded = (await api.post("/api/v1/config/reload")).json()
    assert reloaded["changed"] == ["sources"]
    assert reloaded["config"]["sources"]["alertmanagers"]["eu"]["url"] == "http://127.0.0.1:9"
    assert [t.get_name() for t in server.alerts.reconciler._tasks] == ["reconcile-eu"]
    assert server.alerts.sources.interval == 60.0
    assert server.hub.has_alertmanager is True
