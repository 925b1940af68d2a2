"""The public status page: what customers may see, and nothing more.

Only incidents marked public, and never drills. Only their title, severity,
status, times and the commander's broadcasts: no timeline, no names, no alert
labels. Plain HTML that works without JavaScript, reloads itself every 30 s
and reads on a phone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape
from typing import Any

from warroom.core.schema import parse_time
from warroom.core.text import visible

RESOLVED_WINDOW = timedelta(days=7)


def public_view(incidents: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The status page's data, built field by field so nothing private can slip through."""
    current, recent = [], []
    for item in incidents:
        if not item.get("public") or item.get("drill") or not item.get("declared_at"):
            continue
        broadcast = item.get("broadcast") or None
        shown = {
            "title": item["title"],
            "severity": item["severity"],
            "status": item["status"],
            "declared_at": item["declared_at"],
            "resolved_at": item.get("resolved_at"),
            "update": None
            if broadcast is None
            else {
                "message": broadcast["message"],
                "impact": broadcast.get("impact"),
                "at": broadcast["ts"],
            },
        }
        if item["status"] != "resolved":
            current.append(shown)
        elif item.get("resolved_at") and now - parse_time(item["resolved_at"]) <= RESOLVED_WINDOW:
            recent.append(shown)
    current.sort(key=lambda i: (i["severity"], i["declared_at"]))
    recent.sort(key=lambda i: i["resolved_at"] or "", reverse=True)
    return {
        "generated_at": now.isoformat(timespec="seconds"),
        "operational": not current,
        "incidents": current,
        "resolved": recent,
    }


def _html(value: Any, multiline: bool = False) -> str:
    """Incident text for the page: never markup, and no control or bidi character."""
    return escape(visible(str(value), multiline=multiline))


def _card(item: dict[str, Any]) -> str:
    update = item["update"]
    body = ""
    if update is not None:
        impact = f"<p class=said>Impact: {_html(update['impact'], True)}</p>" if update.get("impact") else ""
        at = f"<p class=at>Updated {_html(update['at'][:16])} UTC</p>"
        body = f"<p class=said>{_html(update['message'], True)}</p>{impact}{at}"
    when = f"since {item['declared_at'][:16]} UTC"
    if item["resolved_at"]:
        when = f"resolved {item['resolved_at'][:16]} UTC"
    return (
        f'<article class="{_html(item["severity"].lower())}"><h2>{_html(item["title"])}</h2>'
        f"<p class=meta>{_html(item['severity'])} · {_html(item['status'])} · {_html(when)}</p>"
        f"{body}</article>"
    )


def render_html(view: dict[str, Any]) -> str:
    headline = "All systems operational" if view["operational"] else "We are working on an incident"
    current = "".join(_card(i) for i in view["incidents"])
    recent = "".join(_card(i) for i in view["resolved"]) or "<p>No incidents in the past 7 days.</p>"
    return f"""<!doctype html>
<html lang=en><head><meta charset=utf-8>
<meta name=viewport content="width=device-width,initial-scale=1">
<meta http-equiv=refresh content=30>
<title>Status</title>
<style>
body{{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:0 auto;padding:1rem;color:#1f2328}}
h1{{font-size:1.4rem}} h2{{font-size:1.1rem;margin:.2rem 0}}
article{{border-left:.4rem solid #9a6700;padding:.2rem .8rem;margin:1rem 0;background:#f6f8fa}}
article.sev1{{border-color:#cf222e}} article.sev2{{border-color:#bc4c00}} article.sev4{{border-color:#1a7f37}}
.meta,.at{{color:#57606a;font-size:.9rem}} .said{{white-space:pre-line}}
</style></head><body>
<h1>{_html(headline)}</h1>
{current}
<h2>Past 7 days</h2>
{recent}
<p class=at>This page refreshes every 30 seconds. Generated {_html(view["generated_at"])}.</p>
</body></html>
"""
