"""Shifts as an iCalendar feed (RFC 5545), for people's own calendars.

One event per resolved shift, in UTC; the UID is built from the schedule, the
shift's start and its source, so a calendar that re-imports the feed updates
an event instead of doubling it.
"""

from __future__ import annotations

from datetime import datetime

from icalendar import Calendar, Event

from warroom.oncall.model import Schedule, Shift


def calendar(schedule: Schedule, found: list[Shift], stamp: datetime) -> bytes:
    """The feed for these shifts; ``stamp`` is when it was made (DTSTAMP)."""
    cal = Calendar()
    cal.add("prodid", "-//warroom//oncall//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"on call: {schedule.name}")
    for shift in found:
        event = Event()
        event.add("uid", f"{schedule.name}-{shift.start:%Y%m%dT%H%M%SZ}-{shift.source}@warroom")
        event.add("dtstamp", stamp)
        event.add("dtstart", shift.start)
        event.add("dtend", shift.end)
        event.add("summary", f"{shift.user} on call ({schedule.name})")
        event.add("description", f"decided by {shift.source}")
        cal.add_component(event)
    feed: bytes = cal.to_ical()
    return feed
