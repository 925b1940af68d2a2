"""Runbook files: the parser and checker on the shipped runbooks and on broken ones (each problem
with its exact line), the stale rule, matching order and aliases, and ``warroom runbook check`` /
``warroom runbook match`` through the real entry point.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from warroom.runbooks.library import check_files, load_library, runbook_files, shipped_dir
from warroom.runbooks.match import Index, match
from warroom.runbooks.model import Runbook
from warroom.runbooks.parse import parse_runbook, review_problems, slug, split_matchers

ROOT = Path(__file__).parent.parent
SHIPPED = ROOT / "runbooks"
TODAY = date(2026, 12, 2)  # the shipped files' review dates are checked against a fixed day

GOOD = """\
---
id: checkout-errors
title: Checkout high error rate
owner: payments-team
last_reviewed: 2026-01-15
review_every: 90d
match:                                  # any one line matching is enough
  - 'alertname="HighErrorRate", service=~"checkout|cart"'
  - 'alertname="CheckoutSLOBurn"'
aliases: ["https://runbooks.example.com/checkout-errors"]
---
# Diagnose
- [ ] Check the error dashboard {#dashboard}
- [ ] List recent deploys {#deploys role=tech}
  ```sh
  kubectl -n {{labels.namespace}} rollout history deploy/checkout
  ```
  - [ ] Note the last good revision
# Mitigate
- [ ] Roll back the last deploy {#rollback role=tech due=+1h30m}
"""


def rb(text: str, path: str = "rb.md") -> tuple[Runbook | None, list[str]]:
    runbook, problems = parse_runbook(text, path)
    return runbook, [str(p) for p in problems]


def runbook_of(text: str, path: str = "rb.md") -> Runbook:
    runbook, problems = rb(text, path)
    assert runbook is not None, problems
    return runbook


# -- the parser ------------------------------------------------------------------------------


def test_the_issue_example_parses_into_the_model() -> None:
    runbook = runbook_of(GOOD)
    assert (runbook.id, runbook.title, runbook.owner) == (
        "checkout-errors",
        "Checkout high error rate",
        "payments-team",
    )
    assert runbook.last_reviewed == date(2026, 1, 15) and runbook.review_every == 90
    assert runbook.review_due == date(2026, 4, 15)
    assert [(m.text, m.line) for m in runbook.match] == [
        ('alertname="HighErrorRate", service=~"checkout|cart"', 8),
        ('alertname="CheckoutSLOBurn"', 9),
    ]
    assert [str(m) for m in runbook.match[0].matchers] == [
        "alertname=HighErrorRate",
        "service=~checkout|cart",
    ]
    assert runbook.aliases == ("https://runbooks.example.com/checkout-errors",)
    assert [(s.heading, s.line, [st.id for st in s.steps]) for s in runbook.sections] == [
        ("Diagnose", 12, ["dashboard", "deploys"]),
        ("Mitigate", 19, ["rollback"]),
    ]
    deploys = runbook.step("deploys")
    assert deploys is not None and deploys.role == "tech" and deploys.line == 14
    assert deploys.text == "List recent deploys"
    assert deploys.command is not None
    assert deploys.command.language == "sh" and deploys.command.line == 15
    assert deploys.command.text == "kubectl -n {{labels.namespace}} rollout history deploy/checkout"
    (sub,) = deploys.steps
    assert (sub.id, sub.text, sub.line) == (
        "deploys.note-the-last-good-revision",
        "Note the last good revision",
        18,
    )
    rollback = runbook.step("rollback")
    assert rollback is not None and rollback.due_minutes == 90 and rollback.command is None
    assert [s.id for s in runbook.steps()] == [
        "dashboard",
        "deploys",
        "deploys.note-the-last-good-revision",
        "rollback",
    ]


def test_the_shipped_runbooks_pass_the_checker() -> None:
    files = runbook_files([SHIPPED])
    assert {f.stem for f in files} == {
        "high-error-rate",
        "database-failover",
        "bad-deploy-rollback",
        "certificate-expiry",
    }
    library = check_files(files, TODAY)
    assert library.problems == ()
    for runbook in library.runbooks.values():
        assert runbook.owner and runbook.match and runbook.aliases and runbook.review_due is not None
        steps = list(runbook.steps())
        assert len(steps) >= 5
        assert any(s.role for s in steps) and any(s.due_minutes for s in steps)
        commands = [s.command for s in steps if s.command is not None]
        assert commands and any("{{labels." in c.text for c in commands)
    assert shipped_dir().resolve() == SHIPPED.resolve()


def test_slugs_and_matcher_lines() -> None:
    assert slug("Check the `error` dashboard!") == "check-the-error-dashboard"
    assert slug("Restart {{labels.pod}}") == "restart"
    assert slug("!!!") == "step"
    assert split_matchers('{alertname="A", msg="x, y", b=~"c|d"}') == [
        'alertname="A"',
        'msg="x, y"',
        'b=~"c|d"',
    ]
    assert split_matchers(r'a="q\"," , b=c,') == [r'a="q\","', "b=c"]


def test_a_step_without_attributes_a_plain_bullet_and_prose_code() -> None:
    text = GOOD.replace(" {#dashboard}", "") + (
        "\nSome notes:\n\n- a plain bullet, not a step\n  - [ ] but a task under it is {#under}\n\n"
        "```sh\necho documentation, not a command {{whatever}}\n```\n"
    )
    runbook = runbook_of(text)
    assert next(s.id for s in runbook.steps()) == "check-the-error-dashboard"
    assert runbook.sections[-1].steps[-1].id == "under"  # a step under a plain bullet: a step of the section
    under = runbook.step("under")
    assert under is not None and under.command is None


def test_line_numbers_count_only_real_line_ends() -> None:
    text = "\ufeff" + GOOD.replace("\n", "\r\n").replace("Check the error", "Check\x0c the\u2028 error")
    text = text.replace("{#rollback role=tech due=+1h30m}", "{#deploys}")
    assert rb(text)[1] == ["rb.md:20: duplicate step id 'deploys' (first at line 14)"]


def test_lenient_where_it_is_unambiguous() -> None:
    runbook = runbook_of(
        broken(
            GOOD,
            ("last_reviewed: 2026-01-15", "last_reviewed: 2026-01-15 10:30:00"),
            ("review_every: 90d", "review_every: 90"),
            ("{#dashboard}", "{ #dashboard  role=comms }"),
            ("- [ ] Roll back", "- [x] Roll back"),
        )
    )
    assert runbook.last_reviewed == date(2026, 1, 15) and runbook.review_due == date(2026, 4, 15)
    dashboard = runbook.step("dashboard")
    assert dashboard is not None and dashboard.role == "comms"
    assert runbook.step("rollback") is not None  # a checked box in the file is still a step


def broken(text: str, *replacements: tuple[str, str]) -> str:
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return text


# Each broken file, and the exact problems it gives.
BAD = {
    "no steps": (
        "---\nid: x\ntitle: X\n---\n# Heading\n\nOnly prose here.\n- a bullet\n",
        ["rb.md:5: no steps: a runbook needs at least one '- [ ] step' item"],
    ),
    "unterminated code block": (
        broken(GOOD, ("  ```\n  - [ ] Note", "  - [ ] Note")),
        ["rb.md:15: unterminated code block: no closing ``` line"],
    ),
    "a matcher that does not parse": (
        broken(GOOD, ("'alertname=\"CheckoutSLOBurn\"'", "'alertname=~\"(\"'")),
        ['rb.md:9: matcher alertname=~⟨here⟩"(": the regex does not compile (missing ): ()'],
    ),
    "a match line with no operator": (
        broken(GOOD, ("'alertname=\"CheckoutSLOBurn\"'", "'CheckoutSLOBurn'")),
        [
            "rb.md:9: matcher CheckoutSLOBurn⟨here⟩: "
            "expected NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX"
        ],
    ),
    "a match entry that is not text": (
        broken(GOOD, ("  - 'alertname=\"CheckoutSLOBurn\"'", "  - {alertname: X}")),
        ["rb.md:9: match entry {'alertname': 'X'} must be text, such as 'alertname=\"X\", job=\"api\"'"],
    ),
    "a duplicate step id": (
        broken(GOOD, ("{#rollback role=tech", "{#deploys role=tech")),
        ["rb.md:20: duplicate step id 'deploys' (first at line 14)"],
    ),
    "a duplicate default id": (
        GOOD + "- [ ] Check the error dashboard\n- [ ] Check the error dashboard\n",
        [
            "rb.md:22: duplicate step id 'check-the-error-dashboard' (first at line 21); "
            "give one of them its own {#id}"
        ],
    ),
    "placeholders that are not labels.X or annotations.X": (
        broken(
            GOOD,
            (
                "deploy/checkout\n",
                "deploy/{{ .Values.name }} {{labels.}}\n  {{annotations.summary}} {{env.HOME}}\n",
            ),
        ),
        [
            "rb.md:16: placeholder {{ .Values.name }}: only {{labels.NAME}} and {{annotations.NAME}}",
            "rb.md:16: placeholder {{labels.}}: only {{labels.NAME}} and {{annotations.NAME}}",
            "rb.md:17: placeholder {{env.HOME}}: only {{labels.NAME}} and {{annotations.NAME}}",
        ],
    ),
    "a second command under one step": (
        broken(GOOD, ("  ```\n  - [ ] Note", "  ```\n  ```sql\n  select 1;\n  ```\n  - [ ] Note")),
        ["rb.md:18: a step has one command; this step's is at line 15"],
    ),
    "missing id and title": (
        broken(GOOD, ("id: checkout-errors\n", ""), ("title: Checkout high error rate\n", "")),
        ["rb.md:1: missing field 'id'", "rb.md:1: missing field 'title'"],
    ),
    "wrong types": (
        broken(
            GOOD,
            ("id: checkout-errors", "id: 42"),
            ("owner: payments-team", "owner: [a, b]"),
            ("last_reviewed: 2026-01-15", "last_reviewed: last tuesday"),
            ("review_every: 90d", "review_every: quarterly"),
            ('aliases: ["https', 'aliases: [3, "https'),
        ),
        [
            "rb.md:2: id 42: letters, digits, '-', '_' and '.', 64 at most",
            "rb.md:4: owner must be one line of text",
            "rb.md:5: last_reviewed 'last tuesday': give a date, YYYY-MM-DD",
            "rb.md:6: review_every 'quarterly': give days or weeks, such as 90d or 12w",
            "rb.md:10: aliases must be a list of runbook_url values",
        ],
    ),
    "a title on two lines": (
        broken(GOOD, ("title: Checkout high error rate", "title: |\n  Checkout\n  errors")),
        ["rb.md:3: title must be one line of text"],
    ),
    "an unknown field and a repeated one": (
        broken(GOOD, ("owner: payments-team\n", "ownr: payments-team\ntitle: again\n")),
        [
            "rb.md:4: unknown field 'ownr' "
            "(fields: id, title, owner, last_reviewed, review_every, match, aliases)",
            "rb.md:5: field 'title' is given twice (first at line 3)",
        ],
    ),
    "no front matter": (
        "# Steps\n- [ ] one\n",
        ["rb.md:1: no front matter: a runbook starts with a '---' line, then id: and title:"],
    ),
    "an unclosed front matter": (
        "---\nid: x\ntitle: X\n- [ ] one\n",
        ["rb.md:1: the front matter has no closing '---' line"],
    ),
    "front matter that is not YAML": (
        broken(GOOD, ("owner: payments-team", "owner: [payments")),
        ["rb.md:5: the front matter is not valid YAML: <libyaml's words>"],
    ),
    "front matter that is not fields": (
        "---\n- a\n- b\n---\n- [ ] one\n",
        ["rb.md:1: the front matter must be fields (id: ..., title: ...)"],
    ),
    "bad step attributes": (
        broken(GOOD, ("{#dashboard}", "{#dashboard role=ic due=soon colour=red}")),
        [
            "rb.md:13: role=ic: not a role (commander, comms, tech, scribe)",
            "rb.md:13: due=soon: give minutes or hours after attaching, such as +15m or +1h30m",
            "rb.md:13: unknown step attribute 'colour=red' (#id, role=, due=)",
        ],
    ),
    "a bad step id": (
        broken(GOOD, ("{#dashboard}", "{#-dash/board}")),
        ["rb.md:13: step id '-dash/board': letters, digits, '-', '_' and '.', 64 at most"],
    ),
    "a placeholder inside quotes": (  # quoting the value would not hold there: it could close them
        broken(GOOD, ("-n {{labels.namespace}} rollout", "-n '{{labels.namespace}}' rollout")),
        [
            "rb.md:16: {{labels.namespace}} inside 'quotes': put it outside quotes, bare",
        ],
    ),
    "a placeholder in a here-document": (
        broken(
            GOOD,
            (
                "  kubectl -n {{labels.namespace}}",
                "  cat <<EOF\n  {{labels.namespace}}\n  EOF\n  kubectl -n x",
            ),
        ),
        ["rb.md:17: {{labels.namespace}} inside a here-document: put it outside quotes, bare"],
    ),
    "a soft hyphen the room would refuse": (
        broken(GOOD, ("Check the error", "Check the er\u00adror")),
        ["rb.md:13: invisible character (U+00AD) is not allowed: a room shows text only"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_each_broken_file_gives_its_problem_at_its_line(case: str) -> None:
    text, expected = BAD[case]
    runbook, problems = rb(text)
    if expected[0].endswith("<libyaml's words>"):  # libyaml and PyYAML's own parser word it differently
        problems = [p[: len(expected[0]) - len("<libyaml's words>")] + "<libyaml's words>" for p in problems]
    assert problems == expected
    assert runbook is None  # an error keeps a runbook out of the library


def test_a_library_keeps_the_good_files_and_names_the_broken_ones(tmp_path: Path) -> None:
    (tmp_path / "team" / "deep").mkdir(parents=True)
    (tmp_path / "good.md").write_text(GOOD)
    (tmp_path / "team" / "deep" / "other.md").write_text(broken(GOOD, ("checkout-errors\n", "other\n")))
    (tmp_path / "team" / "again.md").write_text(GOOD)  # the same id as good.md
    (tmp_path / "team" / "broken.md").write_text(BAD["no steps"][0])
    (tmp_path / "binary.md").write_bytes(b"---\nid: x\n\xff\xfe\n")
    (tmp_path / "notes.txt").write_text("not a runbook")
    library = load_library(tmp_path)
    assert sorted(library.runbooks) == ["checkout-errors", "other"]
    assert library.runbooks["checkout-errors"].path == str(tmp_path / "good.md")
    assert [str(p) for p in library.problems] == [
        f"{tmp_path}/binary.md:3: not UTF-8 text",
        f"{tmp_path}/team/again.md:2: duplicate runbook id 'checkout-errors' (also {tmp_path}/good.md:2)",
        f"{tmp_path}/team/broken.md:5: no steps: a runbook needs at least one '- [ ] step' item",
    ]
    assert library.broken == (
        f"{tmp_path}/binary.md",
        f"{tmp_path}/team/again.md",
        f"{tmp_path}/team/broken.md",
    )
    missing = load_library(tmp_path / "nowhere")
    assert missing.runbooks == {} and [str(p) for p in missing.problems] == [
        f"{tmp_path}/nowhere:1: no such directory"
    ]


def test_the_stale_rule() -> None:
    runbook = runbook_of(GOOD)
    assert review_problems(runbook, date(2026, 4, 15)) == []  # due that day: not yet stale
    (stale,) = review_problems(runbook, date(2026, 4, 16))
    assert str(stale) == "rb.md:5: stale: last reviewed 2026-01-15, due 2026-04-15"
    assert stale.severity == "warning"
    undated = runbook_of(broken(GOOD, ("review_every: 90d\n", "")))
    assert review_problems(undated, date(2099, 1, 1)) == []
    weeks = runbook_of(broken(GOOD, ("review_every: 90d", "review_every: 2w")))
    assert weeks.review_due == date(2026, 1, 29)


# -- matching --------------------------------------------------------------------------------


def library_of(**lines: list[str]) -> list[Runbook]:
    out = []
    for name, matchers in lines.items():
        match_yaml = "".join(f"  - '{m}'\n" for m in matchers)
        front = f"id: {name}\ntitle: {name}\nmatch:\n{match_yaml}aliases: ['https://rb/{name}']\n"
        text = f"---\n{front}---\n- [ ] go\n"
        out.append(runbook_of(text, f"{name}.md"))
    return out


def test_matching_most_specific_first_then_by_id() -> None:
    runbooks = library_of(
        zeta=['alertname="HighErrorRate"'],
        alpha=['alertname="HighErrorRate"'],
        specific=[
            'alertname="HighErrorRate"',
            'alertname="HighErrorRate", service=~"checkout|cart", env!="dev"',
        ],
        regex_only=['service=~"check.*"'],
        other=['alertname="DiskFull"'],
        absent=['alertname="HighErrorRate", team=""'],
    )
    labels = {"alertname": "HighErrorRate", "service": "checkout", "env": "prod", "team": "payments"}
    found = match(runbooks, labels)
    assert [(a.runbook.id, a.why) for a in found] == [
        ("specific", 'match alertname="HighErrorRate", service=~"checkout|cart", env!="dev"'),
        ("alpha", 'match alertname="HighErrorRate"'),
        ("regex_only", 'match service=~"check.*"'),
        ("zeta", 'match alertname="HighErrorRate"'),
    ]
    dev = match(runbooks, {**labels, "env": "dev", "team": ""})
    assert [(a.runbook.id, a.specificity) for a in dev] == [
        ("absent", 2),
        ("alpha", 1),
        ("regex_only", 1),
        ("specific", 1),
        ("zeta", 1),
    ]


def test_an_alias_attaches_by_runbook_url_and_a_match_wins_over_it() -> None:
    runbooks = library_of(one=['alertname="A"'], two=['alertname="B"'])
    found = match(runbooks, {"alertname": "C"}, runbook_url="https://rb/two")
    assert [(a.runbook.id, a.line, a.alias, a.why) for a in found] == [
        ("two", None, "https://rb/two", "runbook_url https://rb/two")
    ]
    both = match(runbooks, {"alertname": "B"}, runbook_url="https://rb/two")
    assert [(a.runbook.id, a.alias) for a in both] == [("two", None)]
    assert match(runbooks, {"alertname": "C"}, runbook_url="https://rb/two/") == []


def test_the_index_finds_what_trying_every_line_finds() -> None:
    runbooks = library_of(
        a=['alertname="A"', 'alertname=~"A|B", job="x"'],
        b=['alertname=~"B|C"'],
        c=['job="x", alertname!="A"'],
        d=['instance=~"db-.*"'],
        e=['alertname="", job="x"'],
        f=['alertname=~"A.*"'],
    )
    index = Index(runbooks)
    for alertname in ("A", "B", "C", "", "AB"):
        for job in ("x", "y", ""):
            for instance in ("db-1", "web-1"):
                labels = {
                    k: v for k, v in {"alertname": alertname, "job": job, "instance": instance}.items() if v
                }
                every = {r.id for r in runbooks if any(line.matches(labels) for line in r.match)}
                assert {a.runbook.id for a in index.match(labels)} == every, labels
    # Answers are remembered by the labels the library names (not instance, here); a caller's
    # list is its own, and the runbook_url is part of what is remembered.
    small = Index(library_of(a=['alertname="A"']))
    small.match({"alertname": "A", "instance": "1"}).clear()
    assert [a.runbook.id for a in small.match({"alertname": "A", "instance": "2"})] == ["a"]
    assert small.match({"alertname": "B"}) == []
    assert [a.alias for a in small.match({"alertname": "B"}, "https://rb/a")] == ["https://rb/a"]


# -- purity ----------------------------------------------------------------------------------


def test_the_model_parser_and_matcher_do_no_io() -> None:
    forbidden = {
        "os",
        "io",
        "pathlib",
        "time",
        "random",
        "socket",
        "asyncio",
        "textual",
        "rich",
        "sqlite3",
        "subprocess",
    }
    for name in ("model", "parse", "match"):
        tree = ast.parse((ROOT / "warroom" / "runbooks" / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not {a.name.split(".")[0] for a in node.names} & forbidden, name
            elif isinstance(node, ast.ImportFrom) and node.module:
                assert node.module.split(".")[0] not in forbidden, (name, node.module)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in ("open", "print", "input"), name


# -- the command line ------------------------------------------------------------------------


def warroom(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "warroom", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_check_exit_codes(env: dict[str, str], tmp_path: Path) -> None:
    clean = warroom(env, "runbook", "check", "runbooks", "--now", "2026-12-02")
    assert (clean.returncode, clean.stdout, clean.stderr) == (0, "4 runbooks, no problems\n", "")
    (tmp_path / "rb.md").write_text(GOOD)
    fresh = warroom(env, "runbook", "check", str(tmp_path / "rb.md"), "--now", "2026-04-15")
    assert fresh.returncode == 0, fresh.stdout
    stale = warroom(
        env, "runbook", "check", str(tmp_path), "runbooks/high-error-rate.md", "--now", "2026-04-16"
    )
    assert stale.returncode == 1
    assert stale.stdout == f"{tmp_path}/rb.md:5: stale: last reviewed 2026-01-15, due 2026-04-15\n"
    (tmp_path / "bad.md").write_text(BAD["a duplicate step id"][0])
    bad = warroom(env, "runbook", "check", str(tmp_path), "--now", "2026-04-16")
    assert bad.returncode == 2
    assert bad.stdout.splitlines() == [
        f"{tmp_path}/bad.md:20: duplicate step id 'deploys' (first at line 14)",
        f"{tmp_path}/rb.md:5: stale: last reviewed 2026-01-15, due 2026-04-15",
    ]


def test_check_prints_hostile_text_visibly(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "evil\x1b]0;pwned\x07.md").write_text(broken(GOOD, ("{#dashboard}", "{#dash\x1b[2Jboard}")))
    result = warroom(env, "runbook", "check", str(tmp_path))
    assert result.returncode == 2 and "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "evil␛]0;pwned␇.md:13: step id 'dash\\x1b[2Jboard'" in result.stdout


def test_check_bad_input_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    assert one_line_error(warroom(env, "runbook", "check", str(tmp_path / "nope.md"))) == (
        f"warroom: {tmp_path}/nope.md: no such file or directory"
    )
    assert (
        one_line_error(warroom(env, "runbook", "check", str(tmp_path)))
        == f"warroom: no *.md files in {tmp_path}"
    )
    assert one_line_error(warroom(env, "runbook", "check", "runbooks", "--now", "2026-13-01")) == (
        "warroom runbook check: argument --now: '2026-13-01' is not a date: give YYYY-MM-DD"
    )
    assert "required: PATH" in one_line_error(warroom(env, "runbook", "check"))


def test_match_prints_which_runbooks_attach_and_why(env: dict[str, str]) -> None:
    labels = ("alertname=HighErrorRate", "severity=critical", "deploy_recent=true")
    result = warroom(env, "runbook", "match", *labels, "--library", "runbooks")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "bad-deploy-rollback  Roll back a bad deploy",
        '                     by match alertname="HighErrorRate", deploy_recent="true"  '
        "(runbooks/bad-deploy-rollback.md:10)",
        "high-error-rate      Service returns a high rate of 5xx errors",
        '                     by match alertname="HighErrorRate", severity="critical"  '
        "(runbooks/high-error-rate.md:8)",
    ]
    by_env = warroom(
        {**env, "WARROOM_RUNBOOKS": "runbooks"}, "runbook", "match", "alertname=Nothing", "--json"
    )
    assert (by_env.returncode, json.loads(by_env.stdout)) == (0, [])
    alias = warroom(
        env,
        "runbook",
        "match",
        "alertname=Other",
        "--runbook-url",
        "https://runbooks.example.com/database-failover",
        "--library",
        "runbooks",
        "--json",
    )
    assert json.loads(alias.stdout) == [
        {
            "id": "database-failover",
            "title": "Database primary is down, fail over to a replica",
            "path": "runbooks/database-failover.md",
            "match": None,
            "matchers": [],
            "line": 10,
            "alias": "https://runbooks.example.com/database-failover",
        }
    ]
    none = warroom(env, "runbook", "match", "alertname=Nothing", "--library", "runbooks")
    assert (none.returncode, none.stdout) == (0, "no runbook attaches\n")


def test_match_leaves_out_broken_files_and_says_so(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text(GOOD)
    (tmp_path / "bad.md").write_text(BAD["no steps"][0])
    result = warroom(
        env, "runbook", "match", "alertname=CheckoutSLOBurn", "--library", str(tmp_path), "--json"
    )
    assert [a["id"] for a in json.loads(result.stdout)] == ["checkout-errors"]
    assert (
        result.stderr == f"warroom: left out: {tmp_path}/bad.md:5: no steps: "
        "a runbook needs at least one '- [ ] step' item\n"
    )


def test_match_falls_back_to_the_config_files_library(env: dict[str, str], tmp_path: Path) -> None:
    """--library, then WARROOM_RUNBOOKS, then ``runbooks`` in the client config file."""
    config = Path(env["WARROOM_CONFIG_DIR"])
    config.mkdir(parents=True)
    (config / "config.toml").write_text(f"runbooks = {str(ROOT / 'runbooks')!r}\n")
    found = json.loads(warroom(env, "runbook", "match", "alertname=PostgresPrimaryDown", "--json").stdout)
    assert [a["id"] for a in found] == ["database-failover"]
    (tmp_path / "only.md").write_text(GOOD)
    mine = {**env, "WARROOM_RUNBOOKS": str(tmp_path)}
    env_wins = warroom(mine, "runbook", "match", "alertname=X", "--json")
    assert json.loads(env_wins.stdout) == []


def test_match_bad_input_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    assert one_line_error(warroom(env, "runbook", "match", "alertname=X")) == (
        "warroom: no runbook library: give --library DIR, set WARROOM_RUNBOOKS, "
        "or set runbooks in the config file"
    )
    assert one_line_error(
        warroom(env, "runbook", "match", "alertname=X", "--library", str(tmp_path / "no"))
    ) == (f"warroom: runbook library {tmp_path}/no: no such directory")
    assert one_line_error(warroom(env, "runbook", "match", "just-a-word", "--library", "runbooks")) == (
        "warroom: label 'just-a-word': give NAME=VALUE, such as alertname=HighErrorRate"
    )
    assert one_line_error(warroom(env, "runbook", "match", "a=1", "a=2", "--library", "runbooks")) == (
        "warroom: label 'a' is given twice"
    )
    assert one_line_error(warroom(env, "runbook", "match", "bad name=1", "--library", "runbooks")) == (
        "warroom: label 'bad name=1': give NAME=VALUE, such as alertname=HighErrorRate"
    )
    hostile = one_line_error(warroom(env, "runbook", "match", "\x1b]0;pwned\x07", "--library", "runbooks"))
    assert hostile == "warroom: label '\\x1b]0;pwned\\x07': give NAME=VALUE, such as alertname=HighErrorRate"


def test_the_format_document_example_and_output_are_real(env: dict[str, str]) -> None:
    doc = (ROOT / "docs" / "runbooks.md").read_text(encoding="utf-8")
    example = doc.split("````markdown\n")[1].split("````\n")[0]
    runbook = runbook_of(example, "checkout.md")
    assert [s.id for s in runbook.steps()] == [
        "dashboard",
        "deploys",
        "deploys.note-the-last-good-revision",
        "rollback",
    ]
    shown = doc.split("$ warroom runbook match ")[1].split("```")[0].splitlines()
    result = warroom(env, "runbook", "match", *shown[0].split())
    assert result.stdout.splitlines() == shown[1:]


def test_a_runbook_round_trips_through_plain_data() -> None:
    for runbook in check_files(runbook_files([SHIPPED])).runbooks.values():
        data = runbook.to_dict()
        assert json.loads(json.dumps(data)) == data
        again = Runbook.from_dict(data)
        assert again.to_dict() == data
        assert (again.sections, again.last_reviewed, again.aliases) == (
            runbook.sections,
            runbook.last_reviewed,
            runbook.aliases,
        )
