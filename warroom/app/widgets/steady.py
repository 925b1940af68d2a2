"""Scrolling panels whose scrollable size changes without laying out the whole screen.

Textual lays out every widget on the screen when a widget's scrollable size
changes (``virtual_size`` is a layout reactive), and a layout redraws every
panel and scrollbar. The timeline grows by a line for each entry and the
alert feed by a row for each new alert: during a storm that layout was most of
the app's work, several times a second. These panels are sized by the screen's
layout (``1fr``), never by what they hold, so a new scrollable size needs only
their own repaint and their scrollbar's. A scrollbar that appears or goes away
still lays the screen out: Textual does that by itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.geometry import Size
from textual.reactive import Reactive

if TYPE_CHECKING:
    from textual.widget import Widget as _Widget
else:
    _Widget = object  # not a widget: Textual takes CSS names and styles from the first widget base


class SteadySize(_Widget):
    """Mixed in before a scrolling widget whose height the CSS sets (not ``auto``)."""

    virtual_size: Reactive[Size] = Reactive(Size(0, 0), repaint=True)

    def watch_virtual_size(self, size: Size) -> None:
        self._scroll_update(size)  # what a layout would do for it: the scrollbar's size and position
