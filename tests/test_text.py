"""The untrusted-text rule (warroom/core/text.py) against the hostile corpus."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.hostile import HOSTILE, assert_safe
from warroom.core.text import describe_char, find_control, json_safe, visible


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_visible_leaves_nothing_a_terminal_obeys(name: str) -> None:
    shown = visible(HOSTILE[name])
    assert_safe(shown, name)
    assert "\n" not in shown and "\t" not in shown


def test_escape_is_shown_as_a_picture() -> None:
    assert visible("a\x1b[2Jb") == "a␛[2Jb"
    assert visible("a\x9bb") == "a\ufffdb"
    assert visible("file\u202egnp.exe") == "file⁅bidi⁆gnp.exe"
    assert visible("x\ry") == "x␍y"


def test_one_line_and_multiline() -> None:
    assert visible("one\ntwo\tthree") == "one⏎two three"
    assert visible("one\r\ntwo\tthree", multiline=True) == "one\ntwo    three"
    assert visible("a\rb", multiline=True) == "a␍b"


def test_markup_is_left_as_text() -> None:
    """The rule does not escape markup: printers never parse it, so it needs no escaping."""
    assert visible(HOSTILE["click-action-space"]) == HOSTILE["click-action-space"]


def test_find_control() -> None:
    assert find_control("plain text, émoji 🔥") is None
    assert find_control("a\x1bb") == (1, "\x1b")
    assert find_control("a\nb") == (1, "\n")
    assert find_control("a\nb\tc", multiline=True) is None
    assert find_control("a\rb", multiline=True) == (1, "\r")
    assert describe_char("\x1b") == "ESC (U+001B)"


@given(st.text())
def test_visible_is_always_safe(text: str) -> None:
    assert_safe(visible(text))
    assert_safe(visible(text, multiline=True).replace("\n", ""))
    assert find_control(visible(text)) is None


@given(st.text())
def test_json_safe_output_is_exact_for_a_parser_and_inert_on_a_terminal(text: str) -> None:
    out = json_safe(orjson.dumps({"t": text, "corpus": HOSTILE}))
    assert json.loads(out) == {"t": text, "corpus": HOSTILE}
    assert_safe(out.decode())


def test_every_hidden_character_is_unprintable_so_printable_text_takes_the_fast_path() -> None:
    """``visible`` returns printable text untouched without its regular expression: that is only
    right while Python calls every character it hides unprintable."""
    from warroom.core.text import PLACEHOLDERS

    assert [hex(ord(ch)) for ch in PLACEHOLDERS if ch.isprintable()] == []


@given(st.text())
def test_the_fast_path_gives_what_the_expression_gives(text: str) -> None:
    from warroom.core.text import _UNSAFE, _UNSAFE_MULTILINE, PLACEHOLDERS, TAB

    one_line = text.replace("\r\n", "\n").replace("\n", "⏎").replace("\t", " ")
    assert visible(text) == _UNSAFE.sub(lambda m: PLACEHOLDERS[m.group()], one_line)
    several = text.replace("\r\n", "\n").replace("\t", TAB)
    assert visible(text, multiline=True) == _UNSAFE_MULTILINE.sub(lambda m: PLACEHOLDERS[m.group()], several)
