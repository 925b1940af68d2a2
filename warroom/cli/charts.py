"""The report's charts as plain text, drawn with plotext.

Colourless on purpose: the charts go through the same ``visible`` filter as
every other line the CLI prints (a service name is data, and plotext would
print it as it is), and they read the same piped into a file or a chat.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

WIDTH_MAX = 100
HEIGHT = 12


def _figure(width: int, title: str) -> Any:
    import plotext

    figure = plotext.figure
    figure.clear()
    figure.plot_size(max(40, min(width, WIDTH_MAX)), HEIGHT)
    figure.theme("colorless")
    figure.title(title)
    return figure


def _text(figure: Any) -> str:
    return str(figure.build().string(True)).rstrip()


def _labels(weeks: list[dict[str, Any]]) -> list[str]:
    return [str(week["week"])[5:] for week in weeks]  # MM-DD of the Monday


def incidents_per_week(weeks: list[dict[str, Any]], width: int) -> str:
    figure = _figure(width, "Incidents per week (by the Monday, UTC)")
    counts = [int(w["incidents"]) for w in weeks]
    figure.draw(figure.bar(_labels(weeks), counts, labeled=True))
    figure.ruler("y").lim(0, max(1, *counts))
    return _text(figure)


def mttr_per_week(weeks: list[dict[str, Any]], width: int) -> str:
    """Mean TTR in minutes; a week with no resolved incident has no bar (not a zero)."""
    measured = [w for w in weeks if w.get("mttr_s") is not None]
    if not measured:
        return "MTTR per week: no resolved incidents"
    figure = _figure(width, "MTTR per week (minutes)")
    minutes = [round(int(w["mttr_s"]) / 60, 1) for w in measured]
    figure.draw(figure.bar(_labels(measured), minutes, labeled=True))
    return _text(figure)


def budget_burn(service: str, slo: dict[str, Any], now: datetime, width: int) -> str:
    """The share of the error budget spent, day by day through the window, against 100%."""
    budget = int(slo["budget_s"])
    days = max(1, int(slo["window_s"]) // 86400)
    last = now.date()
    first = last - timedelta(days=days)
    spent = {date.fromisoformat(point["day"]): int(point["consumed_s"]) for point in slo.get("burn", ())}
    xs, ys, running = [], [], 0
    for n in range(days + 1):
        day = first + timedelta(days=n)
        running = spent.get(day, running)
        xs.append(n)
        ys.append(round(running / budget * 100, 2) if budget else 0.0)
    figure = _figure(width, f"{service}: error budget spent, % ({slo['objective']}% over {days}d)")
    line = figure.signal(xs, ys)
    line.lines()
    figure.draw(line)
    full = figure.signal([0, days], [100, 100])
    full.lines()
    figure.draw(full)
    figure.ruler("x").ticks([0, days], [first.isoformat()[5:], last.isoformat()[5:]])
    figure.ruler("y").lim(0, max(100.0, *ys))
    return _text(figure)
