"""Declarative field schemas: each event and frame type lists its fields once.

Validation returns a clean copy of the data or raises a ``WarroomError`` whose
code says exactly what was wrong, and whose ``field`` names where.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from warroom.core.errors import Code, WarroomError
from warroom.core.text import describe_char, find_control

_MISSING: Any = object()


@dataclass(frozen=True)
class Field:
    """One field of a payload. Subclasses narrow ``check`` to their type."""

    name: str
    required: bool = True
    default: Any = None
    # Which state collection a reference must exist in ("entries", "checklist", "alerts").
    ref: str | None = None

    def check(self, value: Any) -> Any:
        raise NotImplementedError

    def fail(self, code: Code, message: str) -> WarroomError:
        return WarroomError(code, f"{self.name}: {message}", field=self.name)


@dataclass(frozen=True)
class Text(Field):
    """What a person types: no control characters, so nobody can steer another's terminal.

    ``multiline`` text (an entry, a broadcast, a reason) may hold newlines and
    tabs; ``\\r\\n`` is taken as a newline. Everything else is one line.
    """

    max_len: int = 4000
    min_len: int = 1
    strip: bool = True
    multiline: bool = False

    def check(self, value: Any) -> str:
        if not isinstance(value, str):
            raise self.fail(Code.WRONG_TYPE, f"expected a string, got {type_name(value)}")
        text: str = value.strip() if self.strip else value
        if self.multiline:
            text = text.replace("\r\n", "\n")
        if len(text) < self.min_len:
            raise self.fail(Code.INVALID_VALUE, "must not be empty")
        if len(text) > self.max_len:
            raise self.fail(Code.TOO_LONG, f"{len(text)} characters, the limit is {self.max_len}")
        if self.ref is None:  # a reference only names what is already stored (an old alert's fingerprint)
            refuse_controls(self, text, self.multiline)
        return text


def refuse_controls(f: Field, text: str, multiline: bool = False, where: str = "") -> None:
    """Refuse the first control character in ``text``, naming it and where it is."""
    found = find_control(text, multiline=multiline)
    if found is not None:
        position, char = found
        message = f"{where}{describe_char(char)} at position {position} is not allowed"
        raise f.fail(Code.INVALID_VALUE, message)


@dataclass(frozen=True)
class Choice(Field):
    options: tuple[str, ...] = ()

    def check(self, value: Any) -> str:
        if not isinstance(value, str):
            raise self.fail(Code.WRONG_TYPE, f"expected a string, got {type_name(value)}")
        if value not in self.options:
            raise self.fail(Code.INVALID_VALUE, f"{value!r} is not one of {', '.join(self.options)}")
        return value


@dataclass(frozen=True)
class Int(Field):
    minimum: int = 0
    maximum: int = 2**53

    def check(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(Code.WRONG_TYPE, f"expected an integer, got {type_name(value)}")
        if not self.minimum <= value <= self.maximum:
            raise self.fail(Code.INVALID_VALUE, f"{value} is outside {self.minimum}..{self.maximum}")
        return value


@dataclass(frozen=True)
class Number(Field):
    """A finite number in a range (an integer is taken as one)."""

    minimum: float = 0.0
    maximum: float = 1.0

    def check(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(Code.WRONG_TYPE, f"expected a number, got {type_name(value)}")
        if not self.minimum <= value <= self.maximum:  # NaN fails this too
            raise self.fail(Code.INVALID_VALUE, f"{value} is outside {self.minimum:g}..{self.maximum:g}")
        return float(value)


@dataclass(frozen=True)
class Day(Field):
    """A calendar date, ``YYYY-MM-DD``: a due date is a day, not an instant."""

    def check(self, value: Any) -> str:
        if not isinstance(value, str):
            raise self.fail(Code.WRONG_TYPE, f"expected a date like 2026-12-15, got {type_name(value)}")
        text = value.strip()
        try:
            day = date.fromisoformat(text) if len(text) == 10 else None  # not 20261215 nor a time
        except ValueError:
            day = None
        if day is None:
            raise self.fail(Code.INVALID_VALUE, f"{value[:40]!r} is not a date like 2026-12-15")
        return day.isoformat()


@dataclass(frozen=True)
class Bool(Field):
    def check(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.fail(Code.WRONG_TYPE, f"expected true or false, got {type_name(value)}")
        return value


@dataclass(frozen=True)
class Time(Field):
    """An ISO-8601 instant; naive times are read as UTC and all are normalised."""

    def check(self, value: Any) -> str:
        if not isinstance(value, str):
            raise self.fail(Code.WRONG_TYPE, f"expected an ISO-8601 time, got {type_name(value)}")
        try:
            return format_time(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except (ValueError, OverflowError):
            raise self.fail(Code.INVALID_VALUE, f"{value[:40]!r} is not an ISO-8601 time in range") from None


@dataclass(frozen=True)
class Labels(Field):
    """A flat string-to-string map, as alert labels and annotations are."""

    max_keys: int = 64
    max_len: int = 1024
    multiline: bool = False  # values may hold newlines and tabs (annotations); keys never

    def check(self, value: Any) -> dict[str, str]:
        if not isinstance(value, Mapping):
            raise self.fail(Code.WRONG_TYPE, f"expected a map, got {type_name(value)}")
        if len(value) > self.max_keys:
            raise self.fail(Code.TOO_LONG, f"{len(value)} keys, the limit is {self.max_keys}")
        out: dict[str, str] = {}
        for key, item in value.items():
            if not isinstance(key, str) or not isinstance(item, str):
                raise self.fail(Code.WRONG_TYPE, "keys and values must be strings")
            if len(key) > self.max_len or len(item) > self.max_len:
                raise self.fail(Code.TOO_LONG, f"{key[:40]!r} is over {self.max_len} characters")
            refuse_controls(self, key, where="a key: ")
            refuse_controls(self, item, self.multiline, where=f"{key[:40]!r}: ")
            out[key] = item
        return dict(sorted(out.items()))


@dataclass(frozen=True)
class TextList(Field):
    """A list of short strings, such as the incident ids a token covers."""

    max_items: int = 100
    max_len: int = 64

    def check(self, value: Any) -> list[str]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise self.fail(Code.WRONG_TYPE, f"expected a list of strings, got {type_name(value)}")
        if not value or len(value) > self.max_items:
            raise self.fail(Code.INVALID_VALUE, f"give between 1 and {self.max_items} items")
        for item in value:
            if not isinstance(item, str) or not item.strip():
                raise self.fail(Code.WRONG_TYPE, f"expected non-empty strings, got {type_name(item)}")
            if len(item) > self.max_len:
                raise self.fail(Code.TOO_LONG, f"the limit is {self.max_len} characters an item")
            refuse_controls(self, item)
        return [item.strip() for item in value]


@dataclass(frozen=True)
class Tree(Field):
    """Nested plain data (maps, lists, text, numbers): a runbook as the hub's library has it.

    Bounded in size, and every string in it obeys the rule for typed text
    (newlines allowed), so what the hub copies into a room is as safe as what people type.
    """

    max_nodes: int = 20_000

    def check(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(Code.WRONG_TYPE, f"expected a map, got {type_name(value)}")
        count = 0
        pending: list[Any] = [value]
        while pending:
            item = pending.pop()
            count += 1
            if count > self.max_nodes:
                raise self.fail(Code.TOO_LONG, f"more than {self.max_nodes} values")
            if isinstance(item, Mapping):
                for key, sub in item.items():
                    if not isinstance(key, str):
                        raise self.fail(Code.WRONG_TYPE, "map keys must be strings")
                    pending.append(sub)
            elif isinstance(item, list | tuple):
                pending.extend(item)
            elif isinstance(item, str):
                refuse_controls(self, item, multiline=True)
            elif item is not None and not isinstance(item, bool | int | float):
                raise self.fail(Code.WRONG_TYPE, f"{type_name(item)} is not plain data")
        return dict(value)


def validate(data: Any, fields: Sequence[Field], *, where: str) -> dict[str, Any]:
    """Check ``data`` against ``fields`` and return a clean copy; unknown keys are refused."""
    if not isinstance(data, Mapping):
        raise WarroomError(Code.WRONG_TYPE, f"{where}: expected a map, got {type_name(data)}")
    known = {f.name for f in fields}
    for key in data:
        if key not in known:
            raise WarroomError(Code.UNKNOWN_FIELD, f"{where}: unknown field {key!r}", field=str(key))
    out: dict[str, Any] = {}
    for f in fields:
        value = data.get(f.name, _MISSING)
        if value is _MISSING or value is None:
            if f.required:
                raise WarroomError(Code.MISSING_FIELD, f"{where}: {f.name} is required", field=f.name)
            if f.default is not None:
                out[f.name] = f.default
            continue
        out[f.name] = f.check(value)
    return out


def type_name(value: Any) -> str:
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "a boolean",
        bytes: "bytes",
        list: "a list",
        dict: "a map",
        type(None): "nothing",
    }.get(type(value), type(value).__name__)


def format_time(moment: datetime) -> str:
    """The one timestamp format on the wire: UTC, milliseconds, trailing Z."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    m = moment.astimezone(UTC)
    date = f"{m.year:04d}-{m.month:02d}-{m.day:02d}"
    return f"{date}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}.{m.microsecond // 1000:03d}Z"


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
