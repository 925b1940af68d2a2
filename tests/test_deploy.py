"""deploy/: the systemd unit, the Prometheus config and rules, and the Grafana dashboard are true.

Every metric they name is one a real hub exports; promtool checks the config
and the rules and runs the rules' unit tests; systemd-analyze checks the unit,
and its ExecStart is parsed by the real ``warroom`` command line.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from server.runner import HubServer
from tests.conftest import TOKEN, require_peer
from warroom.cli.main import build_parser

DEPLOY = Path(__file__).parent.parent / "deploy"
DOCS = Path(__file__).parent.parent / "docs" / "operations.md"
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}


async def exported(hub: HubServer) -> set[str]:
    """Every series name the hub's /metrics can carry, read through real HTTP."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{hub.http_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).text
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in SUFFIXES[family.type])
        names.add(family.name)  # as the docs name a histogram
    return names


def named(text: str) -> set[str]:
    return set(re.findall(r"\bwarroom_[a-z_]+\b", text))


def expressions() -> str:
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    return "\n".join(exprs)


async def test_every_metric_deploy_and_the_docs_name_is_exported(hub: HubServer) -> None:
    names = await exported(hub)
    dashboard, rules = named(expressions()), named((DEPLOY / "warroom-rules.yml").read_text())
    documented = set(re.findall(r"^\| `(warroom_[a-z_]+)`", DOCS.read_text(), re.MULTILINE))  # its table
    assert len(dashboard) >= 15 and len(rules) >= 4
    for where, used in (
        ("the dashboard", dashboard),
        ("the rules", rules),
        ("docs/operations.md", documented),
    ):
        assert used <= names, f"{where} names metrics the hub does not export: {sorted(used - names)}"
    families = {n.removesuffix("_total") for n in names if n.endswith("_total")}
    missing = {f for f in families if f + "_total" not in documented and f not in documented}
    assert not missing, f"docs/operations.md does not describe {sorted(missing)}"


def test_the_rules_and_the_scrape_config_pass_promtool(tmp_path: Path) -> None:
    promtool = require_peer("promtool")
    for args in (["check", "rules", "warroom-rules.yml"], ["test", "rules", "warroom-rules.test.yml"]):
        done = subprocess.run([promtool, *args], cwd=DEPLOY, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
    # The scrape config reads its token from a file the check opens: put one where it looks.
    token = tmp_path / "warroom.token"
    token.write_text("wr1.example\n")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        (DEPLOY / "prometheus.yml").read_text().replace("/etc/prometheus/warroom.token", str(token))
    )
    shutil.copy(DEPLOY / "warroom-rules.yml", tmp_path / "warroom-rules.yml")
    done = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def unit() -> dict[str, list[str]]:
    """The unit's Service settings, each key with every value it is given (systemd allows repeats)."""
    settings: dict[str, list[str]] = {}
    for line in (DEPLOY / "warroom-hub.service").read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def test_the_systemd_unit_runs_the_real_command_hardened(tmp_path: Path) -> None:
    settings = unit()
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "PrivateDevices": "yes",
        "RestrictSUIDSGID": "yes",
        "CapabilityBoundingSet": "",
        "RestartPreventExitStatus": "2",  # a refusal to start (an upgrade needed) is not retried
    }.items():
        assert settings.get(key) == [value], key
    command = shlex.split(settings["ExecStart"][0])
    assert command[0].endswith("/warroom")
    args = build_parser().parse_args(command[1:])  # every option the unit passes exists
    assert (args.command, args.log_format, args.db) == ("serve", "json", "/var/lib/warroom/hub.db")
    assert args.db.startswith("/var/lib/" + settings["StateDirectory"][0] + "/")  # where it may write
    assert "WARROOM_TOKEN" not in "".join(settings["ExecStart"])  # the token stays out of ps

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return  # the syntax check needs systemd's tools; the rest above still ran
    local = tmp_path / "warroom-hub.service"
    binary = Path(sys.executable).parent / "warroom"
    local.write_text(
        (DEPLOY / "warroom-hub.service").read_text().replace("/usr/local/bin/warroom", str(binary))
    )
    done = subprocess.run(
        [analyze, "verify", "--man=no", str(local)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


@pytest.mark.parametrize("name", ["grafana-dashboard.json"])
def test_the_dashboard_is_importable(name: str) -> None:
    dashboard = json.loads((DEPLOY / name).read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["targets"] and all(t["expr"] and t["refId"] for t in panel["targets"]), panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}"
