"""Label matchers in Alertmanager's syntax: ``name=value``, ``!=``, ``=~`` and ``!~``.

The same rules as Alertmanager's own: a regex is anchored at both ends, and a
label an alert lacks matches as the empty string. Regexes run on RE2 (the
engine Alertmanager itself uses, through Go), so a matcher a client sends can
never take time exponential in a label's length.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import re2

from warroom.core.errors import Code, WarroomError

OPERATORS = ("=~", "!~", "!=", "=")  # longest first: "=~" must not read as "=" and "~..."
# Alertmanager's own names are [a-zA-Z_][a-zA-Z0-9_]*; other sources send names such as
# app.kubernetes.io/name, which match too. Only what would break the syntax is refused.
NAME = re.compile(r'[^\s=!~"{},]+\Z')
PLAIN = re.compile(r"[\w\-.:/*+?()\[\]|^$@]+\Z")  # a value that needs no quotes
MAX_MATCHERS = 16
MAX_MATCHER_LEN = 512
_QUIET = re2.Options()
_QUIET.log_errors = False  # RE2 would write a bad pattern to stderr: under the app, onto the screen


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str
    _regex: Any = None

    @property
    def is_regex(self) -> bool:
        return self.op in ("=~", "!~")

    @property
    def is_equal(self) -> bool:
        return self.op in ("=", "=~")

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.name, "")
        hit = self._regex.fullmatch(value) is not None if self.is_regex else value == self.value
        return hit == self.is_equal

    def to_alertmanager(self) -> dict[str, Any]:
        """The matcher as Alertmanager's API v2 takes it in a silence."""
        return {"name": self.name, "value": self.value, "isRegex": self.is_regex, "isEqual": self.is_equal}

    def __str__(self) -> str:
        return format_matcher(self.name, self.op, self.value)


def _fail(text: str, position: int, message: str, where: str) -> WarroomError:
    pointer = f"{text[:position]}⟨here⟩{text[position:]}" if text else "(empty)"
    return WarroomError(Code.INVALID_VALUE, f"matcher {pointer}: {message}", where)


@lru_cache(maxsize=4096)
def parse_matcher(text: str, where: str = "matchers") -> Matcher:
    """One matcher; a value may be double-quoted (``instance="db 1"``), as in amtool."""
    raw = text.strip()
    if len(raw) > MAX_MATCHER_LEN:
        raise WarroomError(Code.TOO_LONG, f"a matcher is {MAX_MATCHER_LEN} characters at most", where)
    at = min(((raw.find(op), op) for op in OPERATORS if raw.find(op) > 0), default=None)
    if at is None:
        position = next((n for n, ch in enumerate(raw) if ch in "=!~"), len(raw))
        raise _fail(raw, position, "expected NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX", where)
    position, op = at
    # Of the operators starting at the first operator character, the longest.
    op = next(o for o in OPERATORS if raw.startswith(o, position))
    name, value = raw[:position].strip(), raw[position + len(op) :].strip()
    if not NAME.match(name):
        raise _fail(raw, 0, f"{name!r} is not a label name", where)
    value = unquote_value(value)
    regex = None
    if op in ("=~", "!~"):
        try:
            regex = re2.compile(value, options=_QUIET)
        except re2.error as exc:
            why = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else exc
            raise _fail(raw, position + len(op), f"the regex does not compile ({why})", where) from None
    return Matcher(name, op, value, regex)


def parse_matchers(texts: Iterable[str], where: str = "matchers") -> tuple[Matcher, ...]:
    """Several matchers, all of which an alert must meet; at least one, at most 16."""
    out = tuple(parse_matcher(text, f"{where}[{n}]") for n, text in enumerate(texts))
    out = tuple(sorted(out, key=lambda m: m.is_regex))  # the cheap ones first: most alerts fail on them
    if not out:
        raise WarroomError(Code.MISSING_FIELD, "give at least one matcher, such as alertname=NodeDown", where)
    if len(out) > MAX_MATCHERS:
        raise WarroomError(Code.TOO_LONG, f"{MAX_MATCHERS} matchers at most", where)
    return out


def matches_all(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def quote_value(value: str) -> str:
    """A value as matchers and slash commands take it: bare when it can be, else quoted and escaped."""
    return value if PLAIN.match(value) else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote_value(text: str) -> str:
    """What ``quote_value`` made, read back."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def format_matcher(name: str, op: str, value: str) -> str:
    """One matcher as text that ``parse_matcher`` reads back exactly: the value quoted when it must be."""
    return f"{name}{op}{quote_value(value)}"


def label_matchers(labels: Mapping[str, str]) -> list[str]:
    """Equality matchers for every label a matcher can name: what silencing one alert matches."""
    return [format_matcher(k, "=", v) for k, v in sorted(labels.items()) if NAME.match(k)]


def group_matchers(alertname: str, label_sets: Sequence[Mapping[str, str]]) -> list[str]:
    """The tightest equality matchers that cover every alert of a group, and only those like them.

    ``alertname`` first, then each label every member shares with the same
    value; a label that differs (``instance``) is left out, so the group's
    silence covers all its instances, and new ones of the same kind.
    """
    shared = dict(label_sets[0]) if label_sets else {}
    for labels in label_sets[1:]:
        shared = {k: v for k, v in shared.items() if labels.get(k) == v}
    shared.pop("alertname", None)
    return [format_matcher("alertname", "=", alertname), *label_matchers(shared)]
