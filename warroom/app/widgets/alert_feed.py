"""The alert panel: alerts grouped by alertname, the worst and newest group first.

A storm stays one line a group. An update touches only the group(s) it changed:
with 50,000 alerts in a room, rebuilding every row for each incoming alert took
about a second, so the feed keeps each group's node and rows by name and
fingerprint and redraws what an event changed, moving a group only when its
place in the order did. A closed group holds no rows until something opens
it or reads them, and a row draws its label only when it is read: building
50,000 rows and labels nobody sees made a full rebuild take 3.5 s.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.color import ColorParseError
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Tree
from textual.widgets._tree import TreeNodes
from textual.widgets.tree import TreeNode

from warroom.app.widgets.panels import span
from warroom.app.widgets.steady import SteadySize
from warroom.core.alert_groups import GroupStats, Tally, alert_sort_key, part_of, silenced_now
from warroom.core.schema import format_time, parse_time
from warroom.core.state import KEY_LABELS, Alert
from warroom.core.text import visible

_BLANK = Text()
SMALL_GROUP = 5  # a new group this small opens; a bigger one stays one line
REBUILD_OVER = 2_000  # more changed alerts than this (a replay after a join) rebuild the whole tree
# A stream of alert changes is drawn at most this often (seconds apart): in a storm the groups'
# counts and order change with every webhook, and a redraw draws all the feed's lines again.
HOLD = 0.2
RANK_STYLE = {0: "error", 1: "error", 2: "warning", 3: "primary"}  # severity rank -> theme variable


class _Row(TreeNode[str]):
    """An alert's row whose label is drawn when it is first read, from the alert as it is then."""

    _draw: Callable[[], Text] | None = None
    _text: Text

    @property
    def _label(self) -> Text:
        if self._draw is not None:
            self._text, self._draw = self._draw(), None
        return self._text

    @_label.setter
    def _label(self, value: Text) -> None:
        self._text, self._draw = value, None


class _GroupNode(TreeNode[str]):
    """A group's row, whose alert rows are made when it opens or they are read (``children``)."""

    _fill: Callable[[], None] | None = None

    @property
    def children(self) -> TreeNodes[str]:
        if self._fill is not None:
            self._fill()
        return TreeNodes(self._children)

    def _expand(self, expand_all: bool) -> None:
        if self._fill is not None:
            self._fill()
        super()._expand(expand_all)


@dataclass
class _Group:
    """One alertname's node, its rows by fingerprint, and what they last showed."""

    name: str
    node: TreeNode[str]
    stats: GroupStats
    key: tuple[Any, ...]
    tally: Tally
    members: set[str] = field(default_factory=set)
    rows: dict[str, TreeNode[str]] = field(default_factory=dict)
    shown: dict[str, tuple[object, ...]] = field(default_factory=dict)  # fingerprint -> what its row shows
    order: list[tuple[Any, ...]] = field(default_factory=list)  # the rows' sort keys, as the rows stand
    keyed: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # fingerprint -> its row's sort key
    minute: str = ""  # the minute its rows' ages were drawn for
    row_shown: tuple[object, ...] = ()
    filled: bool = True  # its alert rows exist (False: a closed group, made when opened or read)


class AlertFeed(SteadySize, Tree[str]):
    """Alerts grouped by alertname, the worst and newest groups first; a storm stays one line a group.

    A row leads with what people did (status, ack, silence) and ends with the
    labels, so a narrow panel cuts labels, never the ack. A group row cuts its
    name before its counts.
    """

    class Opened(Message):
        """Enter on an alert's row: show it in full."""

        def __init__(self, fingerprint: str) -> None:
            super().__init__()
            self.fingerprint = fingerprint

    # Enter, not a letter: a letter typed here starts a note, but for the screen's verbs
    # (``a`` acks after a yes, ``s`` opens the composer with ``/silence``: see PANEL_VERBS).
    BINDINGS = [Binding("enter", "open", "Details")]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("alerts", **kwargs)
        self.show_root = False
        self.guide_depth = 2
        self._groups: dict[str, _Group] = {}
        self._keys: list[tuple[Any, ...]] = []  # the groups' sort keys, in the order of root's children
        self._where: dict[str, str] = {}  # fingerprint -> the group it is drawn in
        self._seen: set[str] = set()  # groups ever shown: a new small group opens, once
        self._source: object = None  # the alerts dict last shown: a new one (a snapshot) rebuilds
        self._theme = ""
        self._minute = ""
        self._now = datetime.fromtimestamp(0).astimezone()
        self._now_text = format_time(self._now)  # made once a redraw: every row compares against it
        self._silence_check: str | None = None  # the earliest silence end: the rows change then
        self._name_spans: dict[int, tuple[int, int]] = {}  # group node id -> where its name is in the label
        self._styles: dict[str, Style] = {}  # theme variable -> its colour, for this theme
        self._changed_at = 0.0  # time.monotonic() of the last draw of changed alerts
        self._held: set[str] = set()  # changed alerts not drawn yet (a stream: see HOLD)
        self._held_for: tuple[dict[str, Alert], datetime] | None = None  # what the held draw shows
        self._hold_timer: Timer | None = None

    def _invalidate(self) -> None:
        """Tree's, without its layout of the whole screen: rows come and go, the feed's size stays.

        In a storm, rows are added several times a second; each layout redrew every panel.
        """
        self._clear_line_cache()
        self._updates += 1
        self.root._reset()
        self.refresh()

    # -- what the screen calls --------------------------------------------------------

    def show(self, alerts: dict[str, Alert], now: datetime, changed: Collection[str] | None = None) -> None:
        """Draw ``alerts``; ``changed`` names the fingerprints an event touched (None: any of them).

        The first call, a new alerts dict (a snapshot) or a theme change rebuilds
        everything; otherwise only the groups of ``changed`` are redrawn, and the
        minute tick redraws ages on open groups only. A change after a quiet spell is
        drawn at once; changes within ``HOLD`` seconds of it are drawn together when it ends.
        """
        if changed is not None and not self.rebuilds(alerts):
            self._held.update(changed)
            wait = self._changed_at + HOLD - time.monotonic()
            if self._held and wait > 0:  # drawn soon, with whatever else changes meanwhile
                self._held_for = (alerts, now)
                if self._hold_timer is None:
                    self._hold_timer = self.set_timer(wait, self._draw_held)
                return
            changed, self._held = self._held, set()
        else:
            self._held = set()  # a rebuild or "any alert" draws them too
        if self._hold_timer is not None:
            self._hold_timer.stop()
            self._hold_timer = None
        if changed is None or changed:
            self._changed_at = time.monotonic()  # a change after a quiet spell is drawn at once
        minute = now.strftime("%Y-%m-%dT%H:%M")
        self._now, self._now_text = now, format_time(now)
        replay = changed is not None and len(changed) > REBUILD_OVER and not self._groups
        if self.rebuilds(alerts) or replay:
            self._rebuild(alerts, now)  # a snapshot, a first replay, a theme: one pass beats row by row
        elif changed is None:
            self._update(alerts, now, set(alerts) | set(self._where))
        elif changed:
            self._update(alerts, now, changed)
        if minute != self._minute:
            self._tick(alerts, now)
        elif self._silence_check is not None and self._silence_check <= format_time(now):
            self._update(alerts, now, set(alerts))  # a silence ran out: counts and marks change
        self._minute = minute
        firing = sum(g.stats.firing for g in self._groups.values())
        title = f"Alerts {firing} firing"
        if str(self.border_title) != title:
            self.border_title = Content(title)

    def _draw_held(self) -> None:
        self._hold_timer = None
        if self._held_for is not None:
            alerts, now = self._held_for
            self._held_for = None
            self.show(alerts, now, set())

    def rebuilds(self, alerts: dict[str, Alert]) -> bool:
        """Whether showing ``alerts`` builds every row again (a new state, a new theme)."""
        return alerts is not self._source or self.app.theme != self._theme

    @property
    def selected_fingerprint(self) -> str | None:
        node = self.cursor_node
        data = node.data if node is not None else None
        return None if data is None or data.startswith("group:") else data

    @property
    def selected_group(self) -> str | None:
        """The alertname of the group row under the cursor, or None on an alert's row."""
        node = self.cursor_node
        data = node.data if node is not None else None
        return data[len("group:") :] if data is not None and data.startswith("group:") else None

    def group_stats(self, name: str) -> GroupStats | None:
        """What the group's row shows: its counts, as ``warroom alerts`` prints them too."""
        group = self._groups.get(name)
        return group.stats if group is not None else None

    def group_node(self, name: str) -> TreeNode[str] | None:
        group = self._groups.get(name)
        return group.node if group is not None else None

    def alert_node(self, fingerprint: str) -> TreeNode[str] | None:
        name = self._where.get(fingerprint)
        if name is None:
            return None
        group = self._groups[name]
        self._fill(group)
        return group.rows.get(fingerprint)

    def action_open(self) -> None:
        """On an alert's row, open its details; on a group's row, open or close the group."""
        if (fingerprint := self.selected_fingerprint) is not None:
            self.post_message(self.Opened(fingerprint))
        else:
            self.action_select_cursor()

    # -- building ---------------------------------------------------------------------

    def _rebuild(self, alerts: dict[str, Alert], now: datetime) -> None:
        expanded = {g.name for g in self._groups.values() if g.node.is_expanded}
        cursor = self.cursor_line
        self._source, self._theme = alerts, self.app.theme
        self._styles = {}
        self.clear()
        self._groups, self._keys, self._where, self._name_spans = {}, [], {}, {}
        members: dict[str, list[Alert]] = {}
        for alert in alerts.values():
            members.setdefault(alert.alertname, []).append(alert)
        minute = now.strftime("%Y-%m-%dT%H:%M")
        built = []
        now_text = format_time(now)
        for name, group_alerts in members.items():
            tally = Tally(name)
            tally.fill({alert.fingerprint: part_of(alert, now_text) for alert in group_alerts})
            stats = tally.stats()
            built.append((stats.sort_key(), name, stats, tally, group_alerts))
        built.sort(key=lambda b: b[0])
        for key, name, stats, tally, group_alerts in built:
            fresh = name not in self._seen
            self._seen.add(name)
            open_ = name in expanded or (fresh and len(group_alerts) <= SMALL_GROUP)
            node = self._new_group(name, self._group_label(stats, now), open_, None)
            group = _Group(name, node, stats, key, tally, minute=minute, filled=False)
            self._name_spans[id(node)] = self._name_span(name)
            group.row_shown = self._row_signature(stats, now)
            group.members = {alert.fingerprint for alert in group_alerts}
            self._where.update(dict.fromkeys(group.members, name))
            self._groups[name] = group
            if open_:
                self._fill(group)
            self._keys.append(key)
        self._invalidate()
        self._silence_check = self._earliest_silence_end()
        if cursor >= 0:
            self.cursor_line = min(cursor, max(0, self.last_line))

    def _add(self, parent: TreeNode[str], label: Text, data: str, expand: bool = False) -> TreeNode[str]:
        """A node appended without Tree.add's per-node invalidation: one invalidation covers a rebuild."""
        node = self._add_node(parent, label, data, expand=expand)
        node._allow_expand = parent is self.root
        parent._children.append(node)
        return node

    def _new_group(self, name: str, label: Text, expand: bool, before: int | None) -> _GroupNode:
        """A group's row at ``before`` among the groups (None: last), without a per-node invalidation."""
        node = _GroupNode(self, self.root, self._new_id(), label, f"group:{name}", expanded=expand)
        node._fill = lambda: self._fill(self._groups[name]) if name in self._groups else None
        self._tree_nodes[node._id] = node
        self._updates += 1
        if before is None:
            self.root._children.append(node)
        else:
            self.root._children.insert(before, node)
        return node

    def _fill(self, group: _Group) -> None:
        """Make a group's alert rows, in order; an open group's are drawn now, a closed one's when read."""
        if group.filled or not isinstance(self._source, dict):
            return
        group.filled = True
        alerts, node, now = self._source, group.node, self._now
        keyed = sorted((alert_sort_key(alerts[fp]), alerts[fp]) for fp in group.members if fp in alerts)
        drawn = node.is_expanded
        rows = [self._new_row(node, alert, drawn, now) for _, alert in keyed]
        node._children[:] = rows
        group.rows = {alert.fingerprint: row for (_, alert), row in zip(keyed, rows, strict=True)}
        group.order = [key for key, _ in keyed]
        group.keyed = dict(zip(group.rows, group.order, strict=True))
        if drawn:
            group.shown = {a.fingerprint: self._alert_signature(a, now) for _, a in keyed}

    def _new_row(self, group: TreeNode[str], alert: Alert, drawn: bool, now: datetime) -> _Row:
        """An alert's row, not yet in its group's children; drawn now, or when first read."""
        row = _Row(self, group, self._new_id(), _BLANK, alert.fingerprint, expanded=False, allow_expand=False)
        self._tree_nodes[row._id] = row
        self._updates += 1
        if drawn:
            row._label = self._alert_label(alert, now)
        else:
            self._arm(row)
        return row

    def _arm(self, row: _Row) -> None:
        """Draw the row when it is read, from the alert and the time as they are then."""
        fingerprint = str(row.data)
        row._draw = lambda: self._late_label(fingerprint)

    def _late_label(self, fingerprint: str) -> Text:
        alert = self._source.get(fingerprint) if isinstance(self._source, dict) else None
        return self._alert_label(alert, self._now) if alert is not None else Text()

    def _update(self, alerts: dict[str, Alert], now: datetime, changed: Iterable[str]) -> None:
        """Move changed alerts between groups as their names change, then redraw the groups they touch."""
        touched: dict[str, set[str]] = {}
        for fingerprint in changed:
            old = self._where.get(fingerprint)
            alert = alerts.get(fingerprint)
            new = alert.alertname if alert is not None else None
            if old is not None:
                touched.setdefault(old, set()).add(fingerprint)
                if old != new:
                    self._drop_row(self._groups[old], fingerprint)
            if new is not None:
                touched.setdefault(new, set()).add(fingerprint)
        layout = False
        for name, fingerprints in touched.items():
            layout |= self._sync_group(name, alerts, now, fingerprints)
        if layout:
            self._invalidate()
        self._silence_check = self._earliest_silence_end()

    def _sync_group(self, name: str, alerts: dict[str, Alert], now: datetime, changed: set[str]) -> bool:
        """Redraw one group: its changed rows, its row, its place. True when lines moved."""
        group = self._groups.get(name)
        layout = False
        now_text = format_time(now)
        if group is None:
            fresh = name not in self._seen
            self._seen.add(name)
            tally = Tally(name)
            for fp in changed:
                if fp in alerts and alerts[fp].alertname == name:
                    tally.put(fp, part_of(alerts[fp], format_time(now)))
            stats = tally.stats()
            key = stats.sort_key()
            at = bisect_left(self._keys, key)
            opened = fresh and len(changed) <= SMALL_GROUP
            node = self._new_group(name, self._group_label(stats, now), opened, at)
            self._keys.insert(at, key)
            group = _Group(name, node, stats, key, tally, minute=self._minute, filled=opened)
            self._name_spans[id(node)] = self._name_span(name)
            self._groups[name] = group
            layout = True
        for fingerprint in changed:
            alert = alerts.get(fingerprint)
            if alert is None or alert.alertname != name:
                self._drop_row(group, fingerprint)
                layout = True
                continue
            layout |= self._put_row(group, alert, now)
            group.tally.put(fingerprint, part_of(alert, now_text))
        if not group.members:
            at = self._index_of(group)
            del self._keys[at]
            self._name_spans.pop(id(group.node), None)
            group.node.remove()
            del self._groups[name]
            return True
        stats = group.tally.stats()
        group.stats = stats
        shown = self._row_signature(stats, now)
        if shown != group.row_shown:
            group.row_shown = shown
            group.node.set_label(self._group_label(stats, now))
        key = stats.sort_key()
        if key != group.key:
            at = self._index_of(group)
            del self._keys[at]
            self.root._children.pop(at)
            to = bisect_left(self._keys, key)
            self._keys.insert(to, key)
            self.root._children.insert(to, group.node)
            group.key = key
            layout = layout or to != at
        return layout

    def _index_of(self, group: _Group) -> int:
        """The group's place among root's children, found by its key (no scan of every group)."""
        at = bisect_left(self._keys, group.key)
        if at < len(self._keys) and self.root._children[at] is group.node:
            return at
        return self.root._children.index(group.node)  # equal keys: cannot happen, names differ

    def _put_row(self, group: _Group, alert: Alert, now: datetime) -> bool:
        """Add or redraw an alert's row in its group; True when a line on screen was added or moved.

        Rows of a closed group are not on screen: a storm of new alerts in closed groups
        changes their counts, and the feed's other lines are not drawn again.
        """
        fp = alert.fingerprint
        if not group.filled:  # a closed group without rows: its count and members are all it keeps
            group.members.add(fp)
            self._where[fp] = group.name
            return False
        key = alert_sort_key(alert)
        row = group.rows.get(fp)
        if row is None:
            at = bisect_left(group.order, key)
            opened = group.node.is_expanded
            row = self._new_row(group.node, alert, opened, now)
            group.node._children.insert(at, row)
            group.order.insert(at, key)
            group.rows[fp], group.keyed[fp] = row, key
            if opened:
                group.shown[fp] = self._alert_signature(alert, now)
            group.members.add(fp)
            self._where[fp] = group.name
            return opened
        moved = False
        if group.keyed[fp] != key:
            at = self._row_index(group, fp)
            group.node._children.pop(at)
            group.order.pop(at)
            to = bisect_left(group.order, key)
            group.order.insert(to, key)
            group.node._children.insert(to, row)
            group.keyed[fp] = key
            moved = True
        if not group.node.is_expanded and isinstance(row, _Row):
            group.shown.pop(fp, None)  # a closed group's row: drawn when read, not now
            self._arm(row)
            return False
        shown = self._alert_signature(alert, now)
        if group.shown.get(fp) != shown:
            group.shown[fp] = shown
            row.set_label(self._alert_label(alert, now))
        return moved

    @staticmethod
    def _row_index(group: _Group, fingerprint: str) -> int:
        """A row's place in its group, by its sort key (keys are unique: they end with the fingerprint)."""
        at = bisect_left(group.order, group.keyed[fingerprint])
        if at < len(group.order) and group.node._children[at] is group.rows[fingerprint]:
            return at
        return group.node._children.index(group.rows[fingerprint])

    def _drop_row(self, group: _Group, fingerprint: str) -> None:
        if not group.filled and fingerprint in group.members:
            group.members.discard(fingerprint)
            group.tally.put(fingerprint, None)
            if self._where.get(fingerprint) == group.name:
                del self._where[fingerprint]
            return
        if fingerprint not in group.rows:
            return
        group.order.pop(self._row_index(group, fingerprint))
        row = group.rows.pop(fingerprint)
        group.keyed.pop(fingerprint, None)
        group.shown.pop(fingerprint, None)
        group.members.discard(fingerprint)
        group.tally.put(fingerprint, None)
        if self._where.get(fingerprint) == group.name:
            del self._where[fingerprint]
        row.remove()

    def _tick(self, alerts: dict[str, Alert], now: datetime) -> None:
        """The minute changed: ages on the rows of open groups, and the new marks on group rows."""
        minute = now.strftime("%Y-%m-%dT%H:%M")
        for group in self._groups.values():
            shown = self._row_signature(group.stats, now)
            if shown != group.row_shown:
                group.row_shown = shown
                group.node.set_label(self._group_label(group.stats, now))
            if group.node.is_expanded:
                self._redraw_rows(group, alerts, now)
        self._minute = minute

    def _redraw_rows(self, group: _Group, alerts: dict[str, Alert], now: datetime) -> None:
        for fp, row in group.rows.items():
            alert = alerts.get(fp)
            if alert is None:
                continue
            shown = self._alert_signature(alert, now)
            if group.shown.get(fp) != shown:
                group.shown[fp] = shown
                row.set_label(self._alert_label(alert, now))
        group.minute = now.strftime("%Y-%m-%dT%H:%M")

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[str]) -> None:
        """A group opened after the minute moved on: its rows' ages catch up now, not every minute."""
        data = event.node.data or ""
        group = self._groups.get(data[len("group:") :]) if data.startswith("group:") else None
        if group is not None and group.minute != self._minute and isinstance(self._source, dict):
            self._redraw_rows(group, self._source, self._now)

    def _earliest_silence_end(self) -> str | None:
        ends = [g.stats.silence_ends for g in self._groups.values() if g.stats.silence_ends]
        return min(ends) if ends else None

    # -- drawing ----------------------------------------------------------------------

    def _colour(self, variable: str) -> Style:
        """The theme's colour; a variable Rich cannot read (Textual's ``auto 60%``) draws plain."""
        style = self._styles.get(variable)
        if style is None:
            try:
                style = Style(color=self.app.theme_variables.get(variable))
            except ColorParseError:
                style = Style()
            self._styles[variable] = style
        return style

    @staticmethod
    def _name_span(name: str) -> tuple[int, int]:
        return (2, 2 + len(visible(name)))

    @staticmethod
    def _row_signature(stats: GroupStats, now: datetime) -> tuple[object, ...]:
        return (stats, stats.is_new(now))

    def _group_label(self, stats: GroupStats, now: datetime) -> Text:
        """``● NAME 3/25 ✓12 ⏸5 critical new``: the counts after the name, which a narrow panel cuts first."""
        firing = stats.firing
        parts: list[tuple[str, Style | str] | str] = [
            ("● " if firing else "○ ", self._colour("error" if firing else "success")),
            (visible(stats.name), "bold"),
            (f" {firing}/{stats.total}", "bold" if firing else "dim"),
        ]
        if stats.acked:
            parts.append((f" ✓{stats.acked}", self._colour("accent")))
        if stats.silenced:
            parts.append((f" ⏸{stats.silenced}", "italic"))
        if stats.stale:
            parts.append((f" ⌛{stats.stale}", "dim"))
        if stats.worst:
            parts.append((f" {visible(stats.worst)}", self._colour(RANK_STYLE.get(stats.rank, "foreground"))))
        if stats.is_new(now):
            parts.append((" ★new", self._colour("warning") + Style(bold=True)))
        return Text.assemble(*parts)

    def _alert_signature(self, alert: Alert, now: datetime) -> tuple[object, ...]:
        age = span((now - parse_time(alert.starts_at or alert.first_seen)).total_seconds())
        return (
            alert.alertname,
            alert.status,
            alert.severity,
            tuple(alert.labels.items()),
            alert.annotations.get("summary"),
            age,
            alert.count,
            alert.occurrence,
            alert.acked_by,
            silenced_now(alert, self._now_text),
            alert.silenced_until,
            alert.stale_since,
        )

    def _alert_label(self, alert: Alert, now: datetime) -> Text:
        keys = [visible(v) for k, v in alert.labels.items() if k in KEY_LABELS][:2]
        age = span((now - parse_time(alert.starts_at or alert.first_seen)).total_seconds())
        firing = alert.status == "firing"
        parts: list[tuple[str, Style | str] | str] = [
            ("firing" if firing else "resolved", self._colour("error" if firing else "success")),
        ]
        if alert.stale_since and firing:
            parts.append((" ⌛stale", self._colour("warning")))
        if alert.acked_by:
            parts.append((f" ✓ack {visible(alert.acked_by)}", self._colour("accent")))
        if alert.silenced_until and silenced_now(alert, self._now_text):
            parts.append((f" ⏸silenced {alert.silenced_until[11:16]}", "italic"))
        if alert.severity:
            parts.append((f" {visible(alert.severity)}", "bold"))
        if keys:
            parts.append(" " + " ".join(keys))
        parts.append((f" {age} x{alert.count}", "dim"))
        if alert.occurrence > 1:
            parts.append((f" #{alert.occurrence}", "dim"))
        if summary := alert.annotations.get("summary"):
            parts.append((f" {visible(summary)}", "dim"))
        return Text.assemble(*parts)

    def process_label(self, label: str | Text) -> Text:
        """A label is one line already (visible() made it so): no split, no copy, no markup."""
        return label if isinstance(label, Text) else Text(label)

    def get_label_width(self, node: TreeNode[str]) -> int:
        """Without rendering every label: a rebuild measures thousands of rows."""
        return node._label.cell_len + (2 if node._allow_expand else 0)

    def render_label(self, node: TreeNode[str], base_style: Style, style: Style) -> Text:
        """The label, cut to the panel: a group row cuts its name first, so its counts stay in view."""
        label = super().render_label(node, base_style, style)
        depth, parent = 0, node.parent
        while parent is not None and parent is not self.root:
            depth, parent = depth + 1, parent.parent
        room = self.scrollable_content_region.width - self.guide_depth * depth
        if room <= 1 or label.cell_len <= room:
            return label
        name = self._name_spans.get(id(node))
        if name is not None:
            prefix = len(label.plain) - len(node._label.plain)  # the expand icon
            start, end = name[0] + prefix, name[1] + prefix
            over = label.cell_len - room
            keep = max(4, end - start - over - 1)
            if keep < end - start:
                label = Text.assemble(label[: start + keep], "…", label[end:])
        if label.cell_len > room:
            label.truncate(room - 1)
            label.append("…")
        return label
