"""TLS: wss:// and https:// with a private CA made in the test, and the client verifying it."""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import trustme

from server.runner import HubServer
from tests.conftest import TOKEN
from tests.test_cli import warroom
from warroom.client import HubClient, HubUnavailable


@pytest.fixture
def ca(tmp_path: Path) -> tuple[trustme.CA, Path, Path, Path]:
    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1", "localhost")
    chain, key, bundle = tmp_path / "hub.pem", tmp_path / "hub.key", tmp_path / "ca.pem"
    cert.private_key_pem.write_to_path(str(key))
    with chain.open("wb") as out:
        for blob in cert.cert_chain_pems:
            out.write(blob.bytes())
    authority.cert_pem.write_to_path(str(bundle))
    return authority, chain, key, bundle


@pytest.fixture
async def tls_hub(ca: tuple[trustme.CA, Path, Path, Path], db_path: Path) -> AsyncIterator[HubServer]:
    _, chain, key, _ = ca
    server = HubServer(db_path, TOKEN, tls=(chain, key))
    await server.start()
    yield server
    await server.stop()


async def test_a_client_trusting_the_ca_syncs_over_wss(
    tls_hub: HubServer, ca: tuple[trustme.CA, Path, Path, Path]
) -> None:
    assert tls_hub.url.startswith("wss://") and tls_hub.http_url.startswith("https://")
    context = ssl.create_default_context(cafile=str(ca[3]))
    client = HubClient(tls_hub.url, TOKEN, "ann", ssl_context=context)
    await client.connect()
    try:
        room = (await client.send("incident.declared", {"title": "over TLS", "severity": "SEV3"}))["room"]
        view = await client.join(room)
        assert view.state.title == "over TLS"
    finally:
        await client.close()
    async with httpx.AsyncClient(verify=context) as http:
        assert (await http.get(f"{tls_hub.http_url}/healthz")).status_code == 200


async def test_an_unknown_certificate_is_refused(tls_hub: HubServer) -> None:
    stranger = HubClient(tls_hub.url, TOKEN, "eve")  # trusts only the system's CAs
    with pytest.raises(HubUnavailable, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        await stranger.connect()
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"{tls_hub.http_url}/healthz")


async def test_the_cli_verifies_with_ca(
    tls_hub: HubServer, ca: tuple[trustme.CA, Path, Path, Path], tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}
    env["WARROOM_CONFIG_DIR"] = str(tmp_path / "c")
    base = ["--hub", tls_hub.url, "--token", TOKEN]
    assert (await warroom(env, "declare", "via the CLI", *base, "--ca", str(ca[3]))).code == 0
    refused = await warroom(env, "incidents", *base)
    assert "certificate" in refused.one_line_error().lower()
    bad = await warroom(env, "incidents", *base, "--ca", str(tmp_path / "missing.pem"))
    assert "--ca" in bad.one_line_error()


async def test_serve_refuses_a_missing_certificate(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}
    args = ["serve", "--port", "0", "--http-port", "0", "--db", str(tmp_path / "h.db")]
    missing = await warroom(
        env, *args, "--tls-cert", str(tmp_path / "nope.pem"), "--tls-key", str(tmp_path / "k")
    )
    assert "cannot use --tls-cert" in missing.one_line_error()
    half = await warroom(env, *args, "--tls-cert", str(tmp_path / "nope.pem"))
    assert "both --tls-cert and --tls-key" in half.one_line_error()
