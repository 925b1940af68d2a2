"""The timeline: a line-API ScrollView that stays quick at 100,000 entries.

One entry is one line, cut with "…" at the edge; a multi-line entry shows its
first line and how many more it has. Ctrl+W wraps entries instead: each then
takes as many lines as it needs, and a list of first lines (extended on append,
corrected when a line drawn turns out taller or shorter) maps screen lines to
entries. Only the lines on screen are rendered, from a small LRU cache of
strips keyed by everything that changes how an entry looks. Filters keep a list
of entry ids, never a rebuilt widget. Follow mode keeps the newest entry in
view until the reader scrolls up; then a "N new" marker counts what arrived,
and End jumps back.

Every piece of an entry goes through ``visible``: strips reach the terminal as
they are, so a control character in them would steer it.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from itertools import accumulate, islice
from typing import Any

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.cache import LRUCache
from textual.content import Content
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from warroom.app.widgets.steady import SteadySize
from warroom.core.events import Command
from warroom.core.state import Entry
from warroom.core.text import visible

MARK_EVERY = 0.5  # seconds between redraws of the "N new" count while entries stream in
FIRST_SCREEN = 500  # a big room's newest entries, shown before the rest are put in order
GLYPHS = {"note": "·", "decision": "◆", "action": "▶", "finding": "✱", "system": "○"}


@dataclass(frozen=True)
class Filter:
    kinds: frozenset[str] = frozenset()
    author: str | None = None
    text: str | None = None
    pinned_only: bool = False

    @property
    def active(self) -> bool:
        return bool(self.kinds or self.author or self.text or self.pinned_only)

    def admits(self, entry: Entry) -> bool:
        if self.pinned_only and not entry.pinned:
            return False
        if self.kinds and entry.kind not in self.kinds:
            return False
        if self.author and entry.author.lower() != self.author.lower():
            return False
        return not self.text or self.text.lower() in entry.text.lower()

    @classmethod
    def parse(cls, query: str, pinned_only: bool = False) -> Filter:
        """``kind:decision author:alice rollback`` narrows by kind, author and text."""
        kinds: set[str] = set()
        author = None
        words = []
        for word in query.split():
            if word.startswith("kind:"):
                kinds.update(k for k in word[5:].split(",") if k)
            elif word.startswith("author:") and len(word) > 7:
                author = word[7:].lstrip("@")
            else:
                words.append(word)
        return cls(frozenset(kinds), author, " ".join(words) or None, pinned_only)

    def describe(self) -> str:
        parts = []
        if self.pinned_only:
            parts.append("pinned")
        if self.kinds:
            parts.append("kind:" + ",".join(sorted(self.kinds)))
        if self.author:
            parts.append(f"author:{self.author}")
        if self.text:
            parts.append(repr(self.text))
        return " ".join(parts)


@dataclass
class _Palette:
    base: Style = field(default_factory=Style)
    dim: Style = field(default_factory=Style)
    cursor: Style = field(default_factory=Style)
    kinds: dict[str, Style] = field(default_factory=dict)
    pending: Style = field(default_factory=Style)
    mark: Style = field(default_factory=Style)


class Timeline(SteadySize, ScrollView, can_focus=True):
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "cursor(-20)", "Page up", show=False),
        Binding("pagedown", "cursor(20)", "Page down", show=False),
        Binding("home", "first", "Oldest", show=False),
        Binding("end", "newest", "Newest"),
        Binding("enter", "open", "History", show=False),
        Binding("ctrl+w", "toggle_wrap", "Wrap"),
    ]

    DEFAULT_CSS = """
    Timeline { background: $surface; overflow-x: hidden; }
    """

    class Opened(Message):
        """The reader asked for an entry's full text and history."""

        def __init__(self, entry: Entry) -> None:
            super().__init__()
            self.entry = entry

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._entries: dict[int, Entry] = {}
        self._all: list[int] = []  # entry ids in time order (happened_at, else logged at)
        self._keys: list[tuple[str, int]] = []  # (time, id) beside _all, for bisecting
        self._shown: list[int] = []
        self._pending: list[Command] = []
        self.filter = Filter()
        self.cursor = -1  # index into the shown lines; -1 follows the newest
        self.follow = True
        self.unseen = 0
        self._unseen_mark = ""
        self.with_dates = False
        self.wrap = False
        self._width_key: tuple[Size, bool] | None = None
        self._width_cells = 0
        self._starts: list[int] = []  # when wrapping: the first line of each shown entry
        self._heights: list[int] = []  # when wrapping: the lines each shown entry takes
        self._cache: LRUCache[tuple[Any, ...], list[Strip]] = LRUCache(4096)
        self._newest_only = False  # a big room's newest lines are indexed; the rest come next (_index_all)
        self._marked_at = 0.0  # time.monotonic() the "N new" marker was last drawn
        self._sized_at = 0.0  # time.monotonic() the scrollable height was last brought up to date
        self._palette = _Palette()

    # -- data in ---------------------------------------------------------------------

    def show(self, entries: dict[int, Entry], pending: Iterable[Command] = (), edited: bool = True) -> None:
        """Take the room's entries (appended to since last time, or a new state) and pending lines.

        ``edited`` False: the caller knows no entry was pinned, edited or struck since the last
        call, so with nothing appended and the same pending lines there is nothing to draw.
        """
        fresh: list[int]
        lines_before = self.line_count
        if self._newest_only and entries is self._entries:
            self._index_all()  # the rest of the room first, then what was appended since
        reset = entries is not self._entries or len(entries) < len(self._all)
        waiting = [c for c in pending if c.type == "entry.added"]
        if not reset and not edited and len(entries) == len(self._all) and waiting == self._pending:
            self._mark_unseen()  # a count held back while entries streamed in
            self._sized()
            return
        out_of_order = False
        if reset:
            self._entries = entries
            newest = list(islice(reversed(entries), FIRST_SCREEN))
            self._newest_only = len(newest) < len(entries)
            if self._newest_only:  # a big room: its newest lines now, the rest once they are painted
                self.call_after_refresh(self._index_all)
            self._all = sorted(newest if self._newest_only else entries, key=lambda i: (entries[i].when, i))
            self._keys = [(entries[i].when, i) for i in self._all]
            fresh = self._all
        else:
            # Entries are only ever appended: take the new ones from the end, not by walking them all.
            fresh = list(islice(reversed(entries), len(entries) - len(self._all)))[::-1]
            for entry_id in fresh:  # back-dated entries take their place in time
                key = (entries[entry_id].when, entry_id)
                at = bisect_right(self._keys, key)
                out_of_order = out_of_order or at < len(self._keys)
                self._keys.insert(at, key)
                self._all.insert(at, entry_id)
        with_dates = bool(self._keys) and self._keys[0][0][:10] != self._keys[-1][0][:10]
        redated = with_dates != self.with_dates  # every line gains or loses its date
        if (
            reset
            or out_of_order
            or (edited and (self.filter.pinned_only or self.filter.text))
            or with_dates != self.with_dates
        ):
            # back-dating changes where lines go; pins and edits change which lines show
            self.with_dates = with_dates
            self._shown = self._filtered()
            self._measure()
        else:
            added = [i for i in fresh if self.filter.admits(entries[i])]
            self._shown.extend(added)
            if self.wrap:
                self._grow(self._heights_of([entries[i] for i in added]))
        self._pending = waiting
        at_bottom = self.follow
        below = not (reset or out_of_order or edited or redated or at_bottom) and (
            lines_before >= self.scroll_y + self.size.height  # the new lines are below the view
        )
        if below and time.monotonic() - self._sized_at < MARK_EVERY:
            pass  # the scrollbar catches up soon (_sized): resizing lays the whole screen out again
        else:
            self._sized()
        if at_bottom and (fresh or self._pending):
            self.cursor = -1
            self._to_newest()
        else:
            self.unseen += len(fresh) if fresh is not self._all else 0
        self._mark_unseen(soon=not at_bottom)
        if not below:
            self.refresh()  # else the new lines are below the reader's view: only the scrollbar moves

    def _index_all(self) -> None:
        """Every entry of a big room, in time order, after its newest lines were painted.

        The cursor stays on its entry, and a filter applies to them all; what was
        appended meanwhile comes with the next ``show``.
        """
        if not self._newest_only:
            return
        self._newest_only = False
        shown_before = len(self._shown)
        self._keys = sorted((entry.when, i) for i, entry in self._entries.items())  # one sort, no key calls
        self._all = [i for _, i in self._keys]
        self._shown = self._filtered()
        self._measure()
        if self.cursor >= 0:
            self.cursor += len(self._shown) - shown_before
        self._resize()
        if self.follow:
            self._to_newest()
        else:
            self.scroll_to(y=self.scroll_y + len(self._shown) - shown_before, animate=False, immediate=True)
        self.refresh()

    def set_filter(self, new: Filter) -> None:
        self.filter = new
        self._shown = self._filtered()
        self._measure()
        self.cursor = -1
        self.follow = True
        self._resize()
        self._to_newest()
        self._title()
        self.refresh()

    def _title(self) -> None:
        parts = ["Timeline"]
        if self.filter.active:
            parts.append(visible(self.filter.describe()))
        if self.wrap:
            parts.append("wrapped")
        self.border_title = Content(" · ".join(parts))  # a typed filter is data, not markup

    def action_toggle_wrap(self) -> None:
        """Long and multi-line entries in full (several lines each), or cut to one line.

        The reader keeps their place: the newest line if following, else the
        cursor's entry, else the entry at the top of the view.
        """
        top, follow = self._entry_at(round(self.scroll_y)), self.follow
        self.wrap = not self.wrap
        self._measure()
        self._resize()  # fewer lines may pull the view down to the end: not a reader following
        self._title()
        if follow:
            self._to_newest()
        elif self.cursor >= 0:
            self.action_cursor(0)
        elif top is not None:
            self.scroll_to(y=self._first_line(top), animate=False, immediate=True)
        self.refresh()

    def _entry_at(self, line: int) -> int | None:
        """The index (into the shown entries) of the entry drawn on ``line``."""
        if not self._shown:
            return None
        at = bisect_right(self._starts, line) - 1 if self.wrap else line
        return max(0, min(at, len(self._shown) - 1))

    # -- lines when wrapping -----------------------------------------------------------

    def _measure(self) -> None:
        """Every shown entry's height, when wrapping: on a new list, width or mode only."""
        self._heights, self._starts = [], []
        if self.wrap:
            self._grow(self._heights_of([self._entries[i] for i in self._shown]))

    def _grow(self, heights: list[int]) -> None:
        start = self._starts[-1] + self._heights[-1] if self._starts else 0
        for height in heights:
            self._starts.append(start)
            start += height
        self._heights.extend(heights)

    def _heights_of(self, entries: list[Entry]) -> list[int]:
        """The lines each entry takes when wrapped, estimated without wrapping it.

        Its cells over the width (per line of it) is exact for a line cut
        anywhere and at most a little short for one cut between words; an
        entry drawn taller moves the ones after it (``_refit``). Wrapping
        100,000 entries to measure them would take seconds.
        """
        room = max(8, self._width - self._prefix_width)
        return [sum(-(-max(1, cell_len(line)) // room) for line in _body(e).split("\n")) for e in entries]

    def _refit(self, at: int, height: int) -> None:
        """An entry drawn took another number of lines than measured (an edit): move what follows."""
        self._heights[at] = height
        self._starts[at + 1 :] = list(accumulate(self._heights[at:-1], initial=self._starts[at]))[1:]
        self.call_later(self._resize_virtual)

    def _resize_virtual(self, follow: bool | None = None) -> None:
        """The new scrollable size; a reader following (as of ``follow``, else now) keeps the newest line."""
        follow = self.follow if follow is None else follow
        self._resize()
        if follow:
            self._to_newest()  # the newest line stays in view as lines above grow
        self.refresh()

    def _first_line(self, at: int) -> int:
        return self._starts[at] if self.wrap else at

    def _entry_height(self, at: int) -> int:
        return self._heights[at] if self.wrap else 1

    @property
    def _entry_lines(self) -> int:
        if not self.wrap:
            return len(self._shown)
        return self._starts[-1] + self._heights[-1] if self._starts else 0

    def _filtered(self) -> list[int]:
        if not self.filter.active:
            return list(self._all)
        return [i for i in self._all if self.filter.admits(self._entries[i])]

    def toggle_pinned(self) -> None:
        self.set_filter(replace(self.filter, pinned_only=not self.filter.pinned_only))

    @property
    def line_count(self) -> int:
        return self._entry_lines + len(self._pending)

    @property
    def selected(self) -> Entry | None:
        index = self.cursor if self.cursor >= 0 else len(self._shown) - 1
        if 0 <= index < len(self._shown):
            return self._entries[self._shown[index]]
        return None

    # -- scrolling and the cursor ----------------------------------------------------

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self.follow = new >= self.max_scroll_y
        if self.follow and self.unseen:
            self.unseen = 0
            self._mark_unseen()

    def _mark_unseen(self, soon: bool = False) -> None:
        """The "N new" marker; ``soon``: while entries stream in, redrawn at most every MARK_EVERY s."""
        mark = f"{self.unseen} new · End to jump" if self.unseen else ""
        if mark == self._unseen_mark:
            return
        now = time.monotonic()
        if soon and self._unseen_mark and mark and now - self._marked_at < MARK_EVERY:
            return  # setting a border title costs a redraw of the whole timeline
        self._unseen_mark, self._marked_at = mark, now
        self.border_subtitle = mark

    def _resize(self) -> None:
        self.virtual_size = Size(self._width, self.line_count)  # no layout: see SteadySize

    def _to_newest(self) -> None:
        """Scroll to the newest line in this frame: its size is already set (``_resize``).

        Deferred until after a refresh, the old view is painted first and then the new one.
        """
        self.scroll_end(animate=False, immediate=self.size.height > 0)

    def _sized(self) -> None:
        """The scrollable height is every line's (held back while lines stream in below the view)."""
        self._resize()
        self._sized_at = time.monotonic()

    def action_cursor(self, delta: int) -> None:
        self._sized()
        if not self._shown:
            return
        current = self.cursor if self.cursor >= 0 else len(self._shown) - 1
        was = self.cursor
        self.cursor = max(0, min(len(self._shown) - 1, current + delta))
        top = self._first_line(self.cursor)
        bottom = top + self._entry_height(self.cursor) - 1
        if top < self.scroll_y:
            self.scroll_to(y=top, animate=False, immediate=True)
        elif bottom >= self.scroll_y + self.size.height:
            self.scroll_to(y=min(top, bottom - self.size.height + 1), animate=False, immediate=True)
        else:  # nothing scrolled: only the lines the cursor left and reached are drawn again
            for at in {was, self.cursor} if was >= 0 else {current, self.cursor}:
                self.refresh_lines(self._first_line(at), self._entry_height(at))
            return
        self.refresh()

    def action_first(self) -> None:
        self.action_cursor(-len(self._shown))

    def action_newest(self) -> None:
        self._sized()
        self.cursor = -1
        self.unseen = 0
        self._mark_unseen()
        self._to_newest()
        self.follow = True
        self.refresh()

    def action_open(self) -> None:
        if (entry := self.selected) is not None:
            self.post_message(self.Opened(entry))

    # -- drawing ---------------------------------------------------------------------

    def on_mount(self) -> None:
        self._title()
        self._restyle()
        self.app.theme_changed_signal.subscribe(self, lambda _: self._restyle())

    def _restyle(self) -> None:
        colours = self.app.theme_variables
        base = self.rich_style
        self._palette = _Palette(
            base=base,
            dim=base + Style(color=colours.get("kind-system"), dim=True),
            cursor=base + Style(bgcolor=colours.get("panel"), bold=True),
            kinds={kind: Style(color=colours.get(f"kind-{kind}")) for kind in GLYPHS},
            pending=base + Style(color=colours.get("pending"), italic=True),
            mark=Style(color=colours.get("accent"), bold=True),
        )
        self._cache.clear()
        self.refresh()

    def on_resize(self) -> None:
        follow = self.follow  # a shorter view holds fewer of the newest lines: it still ends with them
        self._cache.clear()
        self._measure()
        self._resize_virtual(follow)

    def render_line(self, y: int) -> Strip:
        index = round(self.scroll_offset.y) + y
        width = self._width
        entry_lines = self._entry_lines
        if index < entry_lines:
            at = bisect_right(self._starts, index) - 1 if self.wrap else index
            strips = self._strips(self._entries[self._shown[at]], width, at == self.cursor and self.has_focus)
            if self.wrap and len(strips) != self._heights[at]:
                self._refit(at, len(strips))
            below = index - self._first_line(at)
            strip = strips[below] if below < len(strips) else Strip.blank(width, self.rich_style)
        elif index < self.line_count:
            strip = self._pending_strip(self._pending[index - entry_lines], width)
        else:
            strip = Strip.blank(width, self.rich_style)
        return strip.apply_offsets(0, index)

    def _strips(self, entry: Entry, width: int, is_cursor: bool) -> list[Strip]:
        key = (
            entry.id,
            entry.text,
            entry.author,
            entry.struck_by,
            entry.pinned,
            len(entry.history),
            is_cursor,
            width,
            self.with_dates,
            self.wrap,
        )
        strips = self._cache.get(key)
        if strips is None:
            strips = self._entry_strips(entry, width, is_cursor)
            self._cache[key] = strips
        return strips

    @property
    def _width(self) -> int:
        """The cells a line has: the scrollbar's are not the text's.

        Asked for every line drawn, and the region behind it costs a lookup of
        the widget on its screen; so it is kept until the size or scrollbar change.
        """
        key = (self._size, self.show_vertical_scrollbar)
        if key != self._width_key:
            self._width_key = key
            self._width_cells = self.scrollable_content_region.width
        return self._width_cells

    @property
    def compact(self) -> bool:
        return self.size.width < 70

    def _when(self, stamp: str) -> str:
        if self.with_dates:
            return f"{stamp[5:10]} {stamp[11:16]}"
        return stamp[11:16] if self.compact else stamp[11:19]

    @property
    def _prefix_width(self) -> int:
        """Cells before an entry's author: its time, kind and marks."""
        return len(self._when("2000-01-01T00:00:00")) + (3 if self.compact else 12) + 3

    def _entry_strips(self, entry: Entry, width: int, is_cursor: bool) -> list[Strip]:
        if self.wrap:
            return self._wrapped(entry, width, is_cursor)
        return [self._entry_strip(entry, width, is_cursor)]

    def _styles(self, entry: Entry, is_cursor: bool) -> tuple[Style, Style, Style]:
        p = self._palette
        line_style = p.cursor if is_cursor else p.base
        text_style = line_style + (p.dim if entry.kind == "system" else Style())
        if entry.struck:
            text_style += Style(strike=True, dim=True)
        return line_style, line_style + p.kinds.get(entry.kind, Style()), text_style

    def _prefix(self, entry: Entry, line_style: Style, kind_style: Style) -> list[Segment]:
        kind = visible(entry.kind)
        marks = ("⚑" if entry.pinned else " ") + ("✎" if entry.history else " ")
        return [
            Segment(f"{self._when(entry.when)} ", line_style + Style(dim=True)),
            Segment(
                f"{GLYPHS.get(kind, '·')} " if self.compact else f"{GLYPHS.get(kind, '·')} {kind:<8} ",
                kind_style,
            ),
            Segment(marks, line_style + self._palette.mark),
            Segment(" ", line_style),
        ]

    def _entry_strip(self, entry: Entry, width: int, is_cursor: bool) -> Strip:
        """The entry's one line, as the timeline shows it when not wrapping."""
        line_style, kind_style, text_style = self._styles(entry, is_cursor)
        first, *more = entry.text.split("\n")
        segments = [
            *self._prefix(entry, line_style, kind_style),
            Segment(f"{visible(entry.author)}: ", line_style + Style(bold=True)),
            Segment(visible(first), text_style),
        ]
        if more:
            segments.append(
                Segment(
                    f" ⏎ +{len(more)} line{'s' if len(more) > 1 else ''}", line_style + self._palette.mark
                )
            )
        return _fit(Strip(segments), width, line_style)

    def _wrapped(self, entry: Entry, width: int, is_cursor: bool) -> list[Strip]:
        line_style, kind_style, text_style = self._styles(entry, is_cursor)
        prefix = self._prefix(entry, line_style, kind_style)
        indent = Segment(" " * self._prefix_width, line_style)
        room = max(8, width - self._prefix_width)
        author = f"{visible(entry.author)}: "
        body = _body(entry)
        lines = [
            part.plain for text in body.split("\n") for part in Content(text).wrap(room) or [Content("")]
        ]
        strips = []
        for n, text in enumerate(lines):
            if n == 0:
                bold = min(len(author), len(text))
                segments = [
                    *prefix,
                    Segment(text[:bold], line_style + Style(bold=True)),
                    Segment(text[bold:], text_style),
                ]
            else:
                segments = [indent, Segment(text, text_style)]
            strips.append(_fit(Strip(segments), width, line_style))
        return strips

    def _pending_strip(self, command: Command, width: int) -> Strip:
        p = self._palette
        kind = visible(str(command.data.get("kind", "note")))
        text = visible(str(command.data.get("text", "")))
        segments = [
            Segment("pending  ", p.pending),
            Segment(f"{GLYPHS.get(kind, '·')} {kind:<8}   ", p.pending),
            Segment(f"⧗ {text}", p.pending),
        ]
        return _fit(Strip(segments), width, p.base)


def _fit(strip: Strip, width: int, style: Style) -> Strip:
    """The strip cut to ``width`` with "…" where it was cut, or padded out to it."""
    if strip.cell_length <= width or width < 2:
        return strip.crop_extend(0, width, style)
    return Strip([*strip.crop(0, width - 1), Segment("…", style)], width)


def _body(entry: Entry) -> str:
    """What an entry shows after its prefix; measured and drawn from the same text, so they agree."""
    return f"{visible(entry.author)}: {visible(entry.text, multiline=True)}"
