"""The review document's pure parts: what each section holds, escaping, keep blocks, the blameless list.

Markdown is checked by parsing it with markdown-it-py's GFM-like preset (a
dependency already): a hostile entry must not add a heading, a table row or a
column, nor any HTML beyond the keep-block comments.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from markdown_it import MarkdownIt

from tests.hostile import HOSTILE, assert_safe
from tests.test_core import run
from warroom.review.blameless import DEFAULT_PHRASES, check, parse_phrases
from warroom.review.keep import CLOSE, OPEN, KeepError
from warroom.review.markdown import cell, inline, paragraphs
from warroom.review.postmortem import SECTIONS, build, duration, markdown, metrics

# What a person could type to break a Markdown document's structure.
MARKDOWN_HOSTILE = [
    "a | b | c",
    "| x | y |\n|---|---|\n| injected | row |",
    "# Injected heading",
    "ok\n## Injected section\ntext",
    "line\n===",
    "line\n---",
    "<!-- warroom:keep -->",
    "<!-- /warroom:keep -->",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "```\ncode fence\n```",
    "~~~\nfence\n~~~",
    "    indented code",
    "> quoted",
    "- bullet\n* star\n+ plus",
    "1. ordered\n2) other",
    "[link](javascript:alert(1)) ![img](http://evil.example/x.png)",
    "[ref]: http://evil.example",
    "\\| escaped pipe already \\\\| and backslashes \\",
    "*emph* __strong__ ~~strike~~ `code` $math$",
    "&lt;script&gt; &#124; entity pipe",
    "trailing backslash \\",
    "\n\n\nblank lines\n\n\n",
]


def _parse(text: str) -> list[Any]:
    return MarkdownIt("gfm-like").parse(text)


def structure(text: str) -> tuple[list[str], list[int], list[int], list[str]]:
    """Headings, rows per table, columns per row, and every HTML token's content."""
    tokens = _parse(text)
    headings = [tokens[n + 1].content for n, t in enumerate(tokens) if t.type == "heading_open"]
    rows: list[int] = []
    columns: list[int] = []
    for t in tokens:
        if t.type == "table_open":
            rows.append(0)
        elif t.type == "tr_open":
            rows[-1] += 1
            columns.append(0)
        elif t.type in ("th_open", "td_open"):
            columns[-1] += 1
    html = [t.content.strip() for t in tokens if t.type in ("html_block", "html_inline")]
    html += [c.content for t in tokens for c in (t.children or []) if c.type == "html_inline"]
    return headings, rows, columns, html


def scripted(text: str = "x") -> list[tuple[str, dict[str, Any]]]:
    """Every place user text reaches the document, filled with ``text`` (one line where the schema wants)."""
    one = " ".join(text.split()) or "x"
    snapshot = {"title": text, "sections": [{"heading": "", "steps": [{"id": "s1", "text": text}]}]}
    return [
        ("incident.services_set", {"services": [one[:60]]}),
        ("entry.added", {"text": text, "kind": "finding"}),
        ("entry.added", {"text": text, "kind": "decision"}),
        ("status.broadcast", {"message": text, "impact": text, "doing": text}),
        ("review.updated", {"field": "summary", "text": text}),
        ("review.updated", {"field": "impact_customer", "text": text}),
        ("review.updated", {"field": "impact_business", "text": text}),
        ("review.updated", {"field": "impact_technical", "text": text}),
        ("review.why_set", {"level": 1, "why": text, "because": text}),
        ("review.item_added", {"section": "factors", "text": text}),
        ("review.item_added", {"section": "went_well", "text": text}),
        ("review.item_added", {"section": "lucky", "text": text}),
        ("action.added", {"text": one[:120], "owner": one[:60]}),
        ("action.updated", {"action": "A-1", "status": "wont_do", "reason": text}),
        ("runbook.attached", {"runbook": "db", "snapshot": snapshot}),
        ("step.skipped", {"runbook": "db", "step": "s1", "reason": text}),
    ]


def _clean(text: str) -> str:
    """What the schema lets a person type: no control characters outside newlines and tabs."""
    return "".join(ch for ch in text if ch in "\n\t" or ch.isprintable())


def baseline() -> tuple[list[str], list[int], list[int], list[str]]:
    return structure(markdown(run(scripted("plain words"))))


@pytest.mark.parametrize("text", MARKDOWN_HOSTILE)
def test_hostile_text_adds_no_heading_row_column_or_html(text: str) -> None:
    state = run(scripted(text))
    assert state.seq == len(scripted()) + 1, "every hostile command was accepted"
    shown = markdown(state)
    headings, rows, columns, html = structure(shown)
    want_headings, want_rows, want_columns, want_html = baseline()
    assert headings[1:] == want_headings[1:]  # the title quotes the incident's own title
    assert (rows, columns, html) == (want_rows, want_columns, want_html)
    assert set(html) == {OPEN, CLOSE}
    assert shown.count(OPEN) == len(SECTIONS) + 1


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_terminal_hostile_text_is_made_visible(name: str) -> None:
    text = HOSTILE[name]
    state = run(scripted(_clean(text)))
    assert_safe(markdown(state), name)
    # The monitoring-side path: alert labels are not refused, they are shown visible.
    state = run(
        [("entry.added", {"text": "ok", "kind": "finding"})],
    )
    state.entries[2].text = text  # what an older log or an alert-made line could hold
    assert_safe(markdown(state), name)
    headings = structure(markdown(state))[0]
    assert len(headings) == len(SECTIONS) + 3  # the title, the sections, two root-cause subheadings


def test_escaping_keeps_text_readable() -> None:
    assert cell("a | b") == "a \\| b"
    assert inline("# not a heading") == "\\# not a heading"
    assert inline("- not a bullet") == "\\- not a bullet"
    assert inline("1. not a list") == "1\\. not a list"
    assert inline("two\nlines") == "two⏎lines"
    assert paragraphs("one\n\n\ntwo\n===") == "one\n\ntwo\n\\==="
    assert paragraphs("    code?") == "code?"


def test_sections_in_order_and_what_each_holds() -> None:
    state = run(
        [
            ("entry.added", {"text": "chatter"}),
            ("entry.added", {"text": "pinned note"}),
            ("entry.pinned", {"entry": 3}),
            ("entry.added", {"text": "first words", "kind": "decision"}),
            ("entry.edited", {"entry": 5, "text": "final words"}),
            ("entry.added", {"text": "wrong guess", "kind": "finding"}),
            ("entry.struck", {"entry": 7}),
            ("status.broadcast", {"message": "we are on it", "impact": "EU checkout fails"}),
            ("action.added", {"text": "Alert on disk", "owner": "carol", "due": "2026-11-20"}),
            ("action.added", {"text": "Move logs", "due": "2026-12-20"}),
            ("action.updated", {"action": "A-2", "status": "done", "at": "2026-11-28T03:10:00Z"}),
            ("incident.status_changed", {"status": "resolved"}),
        ]
    )
    shown = markdown(state)
    assert re.findall(r"^## (.+)$", shown, re.M) == [heading for _, heading in SECTIONS]
    assert "chatter" not in shown and "pinned note" in shown
    assert "final words" in shown and "first words" not in shown and "decision, edited" in shown
    assert "wrong guess" not in shown
    assert "we are on it" in shown and "(From the last broadcast" in shown
    assert "EU checkout fails" in shown
    assert "chatter" in markdown(state, all_entries=True)
    assert "wrong guess" not in markdown(state, all_entries=True)
    assert "All times UTC, on 2026-11-28." in shown and "| 03:00:" in shown
    doc = build(state)
    follow = doc["follow_up"]
    assert (follow["as_of"], follow["as_of_source"]) == (state.updated_at, "last_event")
    assert [(i["id"], i["overdue"], i["days_overdue"], i["on_time"]) for i in follow["items"]] == [
        ("A-1", True, 8, None),
        ("A-2", False, None, True),
    ]
    assert "open, overdue by 8 days" in shown
    later = build(state, now="2026-12-01T00:00:00.000Z")["follow_up"]
    assert (later["as_of_source"], later["items"][0]["days_overdue"]) == ("given", 11)
    assert markdown(state) == markdown(state)  # deterministic: no clock read


def test_metrics_use_corrected_milestones_and_the_last_resolution() -> None:
    ms = {
        "impact_started": "2026-11-28T21:50:00.000Z",
        "detected": "2026-11-28T22:00:00.000Z",
        "declared": "2026-11-28T22:05:00.000Z",
        "acknowledged": "2026-11-28T22:13:30.000Z",
        "mitigated": "2026-11-29T00:20:00.000Z",
        "resolved": "2026-11-29T01:50:00.000Z",
    }
    m = metrics(ms, reopen_count=1)
    assert (m["tta_s"], m["ttm_s"], m["ttr_s"]) == (810, 9000, 14400)
    assert metrics({"declared": "2026-11-28T22:05:00.000Z"})["tta_s"] is None
    no_alert = metrics({"declared": "2026-11-28T22:05:00.000Z", "acknowledged": "2026-11-28T22:06:00.000Z"})
    assert no_alert["tta_s"] == 60  # detected is the declaration when no alert detected it
    assert [duration(s) for s in (None, 5, 65, 3725, 90061, -65)] == [
        "n/a",
        "5s",
        "1m 05s",
        "1h 02m 05s",
        "1d 01h 01m 01s",
        "-1m 05s",
    ]
    state = run(
        [
            ("incident.status_changed", {"status": "resolved"}),
            ("incident.status_changed", {"status": "investigating"}),
        ]
    )
    shown = markdown(state)
    assert state.reopen_count == 1 and build(state)["metrics"]["ttr_s"] is None
    assert re.search(r"^\| TTR \| .* \| n/a \|$", shown, re.M)


def test_keep_blocks_come_back_in_their_section() -> None:
    state = run([("entry.added", {"text": "a finding", "kind": "finding"})])
    first = markdown(state)
    blocks = [m.start() for m in re.finditer(re.escape(OPEN), first)]
    assert len(blocks) == len(SECTIONS) + 1
    summary_block = first.index(OPEN, first.index("## Summary"))
    metrics_block = first.index(OPEN, first.index("## Metrics"))
    edited = (
        first[: metrics_block + len(OPEN)]
        + "\nOur notes on the numbers.\n## Summary (a heading inside a block is text)"
        + first[metrics_block + len(OPEN) :]
    )
    edited = (
        edited[: summary_block + len(OPEN)]
        + "\nReviewed by the team on Tuesday.\n\n| our | table |"
        + edited[summary_block + len(OPEN) :]
    )
    again = markdown(run([("entry.added", {"text": "a finding", "kind": "finding"})]), existing=edited)
    assert again == edited  # the same log and the same blocks: the same bytes
    more = run(
        [
            ("entry.added", {"text": "a finding", "kind": "finding"}),
            ("entry.added", {"text": "later", "kind": "decision"}),
        ]
    )
    regenerated = markdown(more, existing=edited)
    assert "later" in regenerated
    summary = regenerated[regenerated.index("## Summary") : regenerated.index("## Impact")]
    assert "Reviewed by the team on Tuesday.\n\n| our | table |" in summary
    numbers = regenerated[regenerated.index("## Metrics") :]
    assert "Our notes on the numbers.\n## Summary (a heading inside a block is text)" in numbers
    assert markdown(more, existing=regenerated) == regenerated

    with pytest.raises(KeepError) as unclosed:
        markdown(more, existing=f"# x\n\n{OPEN}\nnever closed\n")
    assert unclosed.value.line == 3
    with pytest.raises(KeepError):
        markdown(more, existing=f"text\n{CLOSE}\n")


def test_the_blameless_phrases() -> None:
    text = "\n".join(
        [
            "The deploy tool allowed a config with no canary.",
            "This was human error by the on-call.",
            "Bob SHOULD HAVE checked; it was careless and the fault of ops.",
            "A blameless review: we ask what made it easy to get wrong.",
            "They shouldn\u2019t  have been paged.",
        ]
    )
    found = [(f.line, f.phrase) for f in check(text)]
    assert found == [
        (2, "human error"),
        (3, "SHOULD HAVE"),
        (3, "careless"),
        (3, "fault of"),
        (5, "shouldn\u2019t  have"),
    ]
    assert check("all about systems and processes") == []
    assert "human error" in DEFAULT_PHRASES
    assert parse_phrases("# our list\n\nrogue\n  cowboy  \n") == ["rogue", "cowboy"]
    assert [(f.line, f.phrase) for f in check("a Rogue deploy\nno", ["rogue"])] == [(1, "Rogue")]


def test_the_document_modules_do_no_io() -> None:
    """Everything but ``files`` is pure, as the core is: the CLI, the hub and the app get the same bytes."""
    import ast
    from pathlib import Path

    from tests.test_purity import FORBIDDEN_IMPORTS

    folder = Path(__file__).parent.parent / "warroom" / "review"
    pure = [p for p in folder.glob("*.py") if p.stem != "files"]
    assert {p.stem for p in pure} >= {"postmortem", "markdown", "keep", "blameless"}
    for path in pure:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN_IMPORTS, (path, name)
                assert not name.startswith(("warroom.client", "warroom.cli", "warroom.app")), (path, name)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in ("open", "print", "input"), (path, node.func.id)
