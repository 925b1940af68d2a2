"""``warroom report``: MTTA, MTTM and MTTR, action follow-through and error budgets, with charts.

Reads the incident summaries the hub keeps (one request, whatever the logs
hold) and computes with ``warroom.review.metrics``. Every flag is checked
before connecting: a bad date or objective is one line and exit 2.
"""

from __future__ import annotations

import argparse
import re
import shutil
from datetime import UTC, datetime
from typing import Any

from warroom.cli.followup import moment
from warroom.client import HubClient
from warroom.core.events import SEVERITIES
from warroom.review.metrics import Query, Slo, report

_WINDOW = re.compile(r"(\d{1,5})([hdw])")
_UNITS = {"h": 3600, "d": 86400, "w": 7 * 86400}
WINDOW_MAX = 3 * 366 * 86400


def add_parser(sub: Any) -> Any:
    parser = sub.add_parser(
        "report", help="MTTA, MTTM, MTTR, action items and error budgets over incidents, with charts"
    )
    parser.add_argument("--from", dest="start", metavar="DATE", help="declared on or after (UTC)")
    parser.add_argument("--to", dest="end", metavar="DATE", help="declared before (UTC)")
    parser.add_argument("--service", metavar="S", help="only incidents touching this service")
    parser.add_argument("--severity", choices=SEVERITIES, help="only incidents of this severity")
    parser.add_argument(
        "--slo",
        action="append",
        default=[],
        metavar="SERVICE=99.9",
        help="an availability objective: report its error budget (repeatable)",
    )
    parser.add_argument("--window", default="30d", help="the SLO window ending at --now: 30d, 4w, 72h")
    parser.add_argument("--now", metavar="DATE", help="judge overdue items and budgets as of (default: now)")
    parser.add_argument("--json", action="store_true", help="the numbers, for scripts")
    return parser


def query_of(args: argparse.Namespace) -> Query:
    """The flags as a query, or one line of why not (UserError)."""
    from warroom.cli.main import UserError

    start = moment(args.start, "--from") if args.start else None
    end = moment(args.end, "--to") if args.end else None
    if start is not None and end is not None and start >= end:
        raise UserError(f"--from {args.start} is not before --to {args.end}")
    now = moment(args.now, "--now") if args.now else datetime.now(UTC)
    match = _WINDOW.fullmatch(args.window.strip())
    window = int(match.group(1)) * _UNITS[match.group(2)] if match else 0
    if not 0 < window <= WINDOW_MAX:
        raise UserError(f"--window: {args.window!r} is not a window like 30d, 4w or 72h (at most 3 years)")
    return Query(
        now=now,
        start=start,
        end=end,
        service=args.service,
        severity=args.severity,
        slos=tuple(_slo(text) for text in args.slo),
        window_s=window,
    )


def _slo(text: str) -> Slo:
    from warroom.cli.main import UserError

    service, equals, number = text.rpartition("=")
    try:
        objective = float(number) if equals and service.strip() else None
    except ValueError:
        objective = None
    if objective is None or not 0 < objective < 100:
        raise UserError(f"--slo: {text!r} is not SERVICE=OBJECTIVE, such as checkout=99.9 (0 to 100)")
    return Slo(service.strip(), objective)


async def run(args: argparse.Namespace) -> int:
    from warroom.cli import main as cli

    query = query_of(args)

    async def work(client: HubClient) -> int:
        numbers = report(await client.incidents(), query)
        if args.json:
            cli._json(numbers)
        else:
            width = shutil.get_terminal_size((100, 24)).columns
            cli._print_block(render(numbers, query, width))
        return 0

    return await cli._with_client(args, work)


def duration(seconds: int | None) -> str:
    """Seconds as a person reads them: 45s, 13m 30s, 1h 36m, 2d 4h; a missing time is '-'."""
    if seconds is None:
        return "-"
    sign, s = ("-", -seconds) if seconds < 0 else ("", seconds)
    if s < 60:
        return f"{sign}{s}s"
    if s < 3600:
        return f"{sign}{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{sign}{s // 3600}h {s % 3600 // 60:02d}m"
    hours = f" {s % 86400 // 3600}h" if s % 86400 >= 3600 else ""
    return f"{sign}{s // 86400}d{hours}"


def _scope(numbers: dict[str, Any]) -> str:
    start, end = numbers["from"], numbers["to"]
    span = f"declared {start[:10] if start else 'ever'} → {end[:10] if end else 'now'} (UTC)"
    only = [f"service {numbers['service']}" if numbers["service"] else "", numbers["severity"] or ""]
    return f"Incidents {span}" + (f", {', '.join(o for o in only if o)}" if any(only) else "")


def render(numbers: dict[str, Any], query: Query, width: int) -> str:
    from warroom.cli import charts
    from warroom.cli.render import table

    n = numbers
    drills, still_open = n["drills_excluded"], n["open_excluded"]
    out = [
        _scope(n),
        f"{n['incidents']} counted; {drills} drill{'s' * (drills != 1)} and {still_open} open excluded; "
        f"{n['reopened']} reopened",
        "",
        table(
            [("", "MEAN", "MEDIAN", "P90")]
            + [
                (
                    name.upper(),
                    duration(n[f"m{name}_s"]),
                    duration(n[f"m{name}_median_s"]),
                    duration(n[f"m{name}_p90_s"]),
                )
                for name in ("tta", "ttm", "ttr")
            ]
        ),
    ]
    for title, groups in (("SEVERITY", n["by_severity"]), ("SERVICE", n["by_service"])):
        if groups:
            rows = [(title, "INCIDENTS", "MTTA", "MTTM", "MTTR")]
            rows += [
                (name, str(g["incidents"]), *(duration(g[f"m{t}_s"]) for t in ("tta", "ttm", "ttr")))
                for name, g in groups.items()
            ]
            out += ["", table(rows)]
    acts = n["actions"]
    out += [
        "",
        f"Action items: {acts['total']}, {acts['done']} done ({acts['done_on_time']} on time), "
        f"{acts['open']} still to do, {len(acts['overdue'])} overdue",
    ]
    for item in acts["overdue"]:
        out.append(
            f"  {item['incident']}/{item['id']}  {item['owner'] or 'no owner'}  due {item['due']}  "
            f"{item['days_overdue']}d OVERDUE  {item['text']}"
        )
    if n["slo"]:
        budgets = [("SERVICE", "OBJECTIVE", "BUDGET", "SPENT", "SPENT %", "INCIDENTS")]
        budgets += [
            (
                service,
                f"{s['objective']}%",
                duration(s["budget_s"]),
                duration(s["consumed_s"]),
                f"{s['consumed_pct']}%",
                f"{s['incidents']}" + (f" ({s['open_excluded']} unmitigated)" if s["open_excluded"] else ""),
            )
            for service, s in n["slo"].items()
        ]
        out += [
            "",
            f"Error budgets over the {duration(query.window_s)} ending {n['now'][:16]}Z",
            table(budgets),
        ]
    if n["weeks"]:
        out += ["", charts.incidents_per_week(n["weeks"], width), "", charts.mttr_per_week(n["weeks"], width)]
    for service, s in n["slo"].items():
        out += ["", charts.budget_burn(service, s, query.now, width)]
    return "\n".join(out)
