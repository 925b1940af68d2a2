"""Which runbooks an alert attaches, most specific first.

A runbook attaches when any one of its ``match:`` lines holds for the alert's
labels, or when one of its ``aliases`` equals the alert's ``runbook_url``.
A storm matches thousands of alerts against a library of hundreds, so the
``Index`` files every match line under a value it needs (its ``alertname="X"``
matcher's X, say): an alert is tried only against the lines filed under its
own label values, and the few lines that need no single value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from warroom.runbooks.model import MatchLine, Runbook

MEMO = 4096  # label combinations remembered; a storm has few (its alerts differ by instance)
WORDS = re.compile(r"[A-Za-z0-9_:-]+(?:\|[A-Za-z0-9_:-]+)*\Z")  # a regex that is only a|b|c


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
    """A library's match lines filed by one equality matcher each, and its aliases by URL.

    Built once per load. A line is filed under one of its matchers that names a
    single value or a few (``alertname="X"`` first, else any ``name="v"``, else
    ``name=~"a|b"`` over plain words), so an alert is tried only against the
    lines filed under its own values, plus the few lines with no such matcher.
    """

    def __init__(self, runbooks: Iterable[Runbook]) -> None:
        self.keyed: dict[str, dict[str, list[tuple[Runbook, MatchLine]]]] = {}
        self.anywhere: list[tuple[Runbook, MatchLine]] = []
        self.by_alias: dict[str, list[Runbook]] = {}
        names: set[str] = set()
        for runbook in runbooks:
            for line in runbook.match:
                names.update(m.name for m in line.matchers)
                key = _key(line)
                if key is None:
                    self.anywhere.append((runbook, line))
                    continue
                table = self.keyed.setdefault(key[0], {})
                for value in key[1]:
                    table.setdefault(value, []).append((runbook, line))
            for alias in runbook.aliases:
                self.by_alias.setdefault(alias, []).append(runbook)
        # Only the labels some matcher names decide a match: a storm's alerts that differ in
        # nothing else (instance, pod) share one answer.
        self.names = tuple(sorted(names))
        self._seen: dict[tuple[str | None, ...], list[Attach]] = {}

    def match(self, labels: Mapping[str, str], runbook_url: str | None = None) -> list[Attach]:
        """Every runbook that attaches, once each, by its most specific line; most specific first, then id.

        A runbook that both matches and answers to the alias is listed by its match line.
        """
        key = (runbook_url, *(labels.get(name, "") for name in self.names))
        found = self._seen.get(key)
        if found is None:
            if len(self._seen) >= MEMO:
                self._seen.clear()
            found = self._seen[key] = self._match(labels, runbook_url)
        return list(found)

    def _match(self, labels: Mapping[str, str], runbook_url: str | None) -> list[Attach]:
        best: dict[str, Attach] = {}
        candidates = list(self.anywhere)
        for name, table in self.keyed.items():
            candidates.extend(table.get(labels.get(name, ""), ()))
        for runbook, line in candidates:
            held = best.get(runbook.id)
            if (held is None or len(line.matchers) > held.specificity) and line.matches(labels):
                best[runbook.id] = Attach(runbook, line)
        if runbook_url:
            for runbook in self.by_alias.get(runbook_url, ()):
                best.setdefault(runbook.id, Attach(runbook, None, runbook_url))
        return sorted(best.values(), key=lambda a: (-a.specificity, a.runbook.id))


def _key(line: MatchLine) -> tuple[str, tuple[str, ...]] | None:
    """The label and the values to file ``line`` under: a label it needs to equal one of them."""
    for matcher in sorted(line.matchers, key=lambda m: m.name != "alertname"):
        if matcher.op == "=":
            return matcher.name, (matcher.value,)
    for matcher in line.matchers:
        if matcher.op == "=~" and WORDS.match(matcher.value):
            return matcher.name, tuple(dict.fromkeys(matcher.value.split("|")))
    return None


def match(
    runbooks: Iterable[Runbook], labels: Mapping[str, str], runbook_url: str | None = None
) -> list[Attach]:
    """One-off matching; build an ``Index`` once to match many alerts."""
    return Index(runbooks).match(labels, runbook_url)
