"""The terminal input rewrite that keeps a pasted ESC from splitting a paste (warroom/app/paste_guard.py)."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from warroom.app.paste_guard import PasteGuard

STREAM = "x\x1b[A\x1b[200~one \x1b]0;t\x07 two\n\x1b[2J three\x1b[201~\x1by\x1b[200~\x1b\x1b[201~"
WANT = "x\x1b[A\x1b[200~one ␛]0;t␇ two\n␛[2J three\x1b[201~\x1by\x1b[200~␛\x1b[201~"


def test_controls_inside_a_paste_become_pictures_and_keys_outside_stay_keys() -> None:
    assert PasteGuard()(STREAM) == WANT


@given(st.lists(st.integers(0, len(STREAM)), max_size=8))
def test_markers_split_across_reads_change_nothing(cuts: list[int]) -> None:
    guard = PasteGuard()
    bounds = [0, *sorted(cuts), len(STREAM)]
    assert "".join(guard(STREAM[a:b]) for a, b in itertools.pairwise(bounds)) == WANT


def test_a_lone_escape_key_is_not_held() -> None:
    assert PasteGuard()("\x1b") == "\x1b"
