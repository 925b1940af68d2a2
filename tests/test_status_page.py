"""The public status page shows incident text as text: HTML-escaped and with every control made visible."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx

from server.runner import HubServer
from server.status_page import public_view, render_html
from tests.conftest import TOKEN
from tests.hostile import HOSTILE, assert_safe

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
TAGS = "<script>alert(1)</script> <img src=x onerror=alert(2)> \"quoted\" & 'single'"


def incident(n: int, title: str, message: str) -> dict[str, object]:
    return {
        "id": f"INC-{n}",
        "title": title,
        "severity": "SEV2",
        "status": "investigating",
        "public": True,
        "declared_at": "2026-11-28T02:00:00.000Z",
        "broadcast": {"message": message, "impact": f"{message}\n{TAGS}", "ts": "2026-11-28T02:30:00.000Z"},
    }


def unescaped_tags(page: str) -> list[str]:
    """Every tag in the page that is not one the page itself writes."""
    ours = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "article"}
    return [t for t in re.findall(r"</?([a-zA-Z0-9!]+)", page) if t.lower() not in ours | {"!doctype"}]


def test_every_hostile_string_renders_as_visible_text() -> None:
    items = [incident(n, f"{text} {TAGS}", text) for n, text in enumerate(HOSTILE.values(), start=1)]
    page = render_html(public_view(items, NOW))
    assert_safe(page, "status page")
    assert unescaped_tags(page) == []
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "note ␛]0;pwned␇ after" in page and "file⁅bidi⁆gnp.exe" in page


async def test_the_served_page_escapes_what_people_typed(hub: HubServer) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=hub.http_url, headers=headers) as http:
        declared = await http.post(
            "/api/v1/incidents", json={"title": f"Checkout {TAGS}", "severity": "SEV1", "public": True}
        )
        assert declared.status_code == 201, declared.text
        room = declared.json()["id"]
        said = await http.post(
            f"/api/v1/incidents/{room}/broadcasts", json={"message": f"We see {TAGS}\nsecond line"}
        )
        assert said.status_code == 201, said.text
        page = (await http.get("/status")).text
    assert_safe(page, "/status")
    assert unescaped_tags(page) == []
    assert "Checkout &lt;script&gt;" in page and "We see &lt;script&gt;" in page and "\nsecond line" in page
