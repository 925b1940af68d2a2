"""Which runbooks an alert attaches, most specific first.

A runbook attaches when any one of its ``match:`` lines holds for the alert's
labels, or when one of its ``aliases`` equals the alert's ``runbook_url``.
A storm matches thousands of alerts against a library of hundreds, so the
``Index`` files every match line that has an ``alertname="X"`` matcher under
X: an alert is tried only against its own alertname's lines and the few
lines that name no alertname.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from warroom.runbooks.model import MatchLine, Runbook


@dataclass(frozen=True)
class Attach:
    """One runbook that attaches, and why: the match line that held, or the alias."""

    runbook: Runbook
    line: MatchLine | None  # None when it attached by alias
    alias: str | None = None

    @property
    def why(self) -> str:
        """For a timeline line: ``match alertname="X", job="api"`` or ``runbook_url URL``."""
        return f"runbook_url {self.alias}" if self.line is None else f"match {self.line.text}"

    @property
    def specificity(self) -> int:
        return len(self.line.matchers) if self.line is not None else 0


class Index:
    """A library's match lines filed by alertname, and its aliases by URL; built once per load."""

    def __init__(self, runbooks: Iterable[Runbook]) -> None:
        self.by_alertname: dict[str, list[tuple[Runbook, MatchLine]]] = {}
        self.anywhere: list[tuple[Runbook, MatchLine]] = []
        self.by_alias: dict[str, list[Runbook]] = {}
        for runbook in runbooks:
            for line in runbook.match:
                name = next(
                    (m.value for m in line.matchers if m.name == "alertname" and m.op == "="), None
                )
                (self.anywhere if name is None else self.by_alertname.setdefault(name, [])).append(
                    (runbook, line)
                )
            for alias in runbook.aliases:
                self.by_alias.setdefault(alias, []).append(runbook)

    def match(self, labels: Mapping[str, str], runbook_url: str | None = None) -> list[Attach]:
        """Every runbook that attaches, once each, by its most specific line; most specific first, then id.

        A runbook that both matches and answers to the alias is listed by its match line.
        """
        best: dict[str, Attach] = {}
        candidates = self.by_alertname.get(labels.get("alertname", ""), [])
        for runbook, line in (*candidates, *self.anywhere):
            held = best.get(runbook.id)
            if (held is None or len(line.matchers) > held.specificity) and line.matches(labels):
                best[runbook.id] = Attach(runbook, line)
        if runbook_url:
            for runbook in self.by_alias.get(runbook_url, ()):
                best.setdefault(runbook.id, Attach(runbook, None, runbook_url))
        return sorted(best.values(), key=lambda a: (-a.specificity, a.runbook.id))


def match(runbooks: Iterable[Runbook], labels: Mapping[str, str], runbook_url: str | None = None) -> list[Attach]:
    """One-off matching; build an ``Index`` once to match many alerts."""
    return Index(runbooks).match(labels, runbook_url)
