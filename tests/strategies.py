"""Hypothesis strategies for commands, shared by the core and convergence tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from warroom.core.events import (
    ACTION_STATUSES,
    ENTRY_KINDS,
    REVIEW_FIELDS,
    REVIEW_LISTS,
    ROLES,
    SEVERITIES,
    STATUSES,
)
from warroom.core.text import visible

# Any text a person could mean; the hub refuses control characters, so they arrive made visible.
texts = (
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40).map(visible).filter(str.strip)
)


def command(refs: st.SearchStrategy[int] | None = None) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """A (type, data) pair; references may point at entries that do not exist."""
    refs = refs if refs is not None else st.integers(1, 30)
    return st.one_of(
        st.tuples(
            st.just("entry.added"),
            st.fixed_dictionaries({"text": texts}, optional={"kind": st.sampled_from(ENTRY_KINDS)}),
        ),
        st.tuples(st.just("entry.edited"), st.fixed_dictionaries({"entry": refs, "text": texts})),
        st.tuples(st.just("entry.struck"), st.fixed_dictionaries({"entry": refs})),
        st.tuples(st.just("entry.pinned"), st.fixed_dictionaries({"entry": refs})),
        st.tuples(st.just("entry.unpinned"), st.fixed_dictionaries({"entry": refs})),
        st.tuples(
            st.just("incident.severity_changed"),
            st.fixed_dictionaries({"severity": st.sampled_from(SEVERITIES)}),
        ),
        st.tuples(
            st.just("incident.status_changed"), st.fixed_dictionaries({"status": st.sampled_from(STATUSES)})
        ),
        st.tuples(
            st.just("role.assigned"),
            st.fixed_dictionaries(
                {"role": st.sampled_from(ROLES), "name": st.sampled_from(["ann", "bo", "cy"])}
            ),
        ),
        st.tuples(st.just("role.released"), st.fixed_dictionaries({"role": st.sampled_from(ROLES)})),
        st.tuples(st.just("checklist.item_added"), st.fixed_dictionaries({"text": texts})),
        st.tuples(
            st.just("checklist.item_checked"), st.fixed_dictionaries({"item": refs, "checked": st.booleans()})
        ),
        st.tuples(
            st.just("alert.upserted"),
            st.fixed_dictionaries(
                {
                    "fingerprint": st.sampled_from(["a1", "b2"]),
                    "alertname": st.sampled_from(["HighErrorRate", "DiskFull"]),
                    "status": st.sampled_from(["firing", "resolved"]),
                    "labels": st.dictionaries(st.sampled_from(["service", "instance"]), texts, max_size=2),
                }
            ),
        ),
        st.tuples(
            st.just("alert.acknowledged"),
            st.fixed_dictionaries({"fingerprint": st.sampled_from(["a1", "b2", "zz"])}),
        ),
        st.tuples(
            st.just("status.broadcast"),
            st.fixed_dictionaries({"message": texts}, optional={"next_update_in": st.integers(1, 60)}),
        ),
        *_followup(),
    )


def _followup() -> list[st.SearchStrategy[tuple[str, dict[str, Any]]]]:
    """The review, action items and impact: what is added after the fix, folded the same way."""
    sections = st.sampled_from(REVIEW_LISTS)
    days = st.dates().map(lambda d: d.isoformat())
    actions = st.sampled_from(["A-1", "A-2", "A-3"])
    names = st.sampled_from(["ann", "bo", "cy"])
    return [
        st.tuples(
            st.just("review.updated"),
            st.fixed_dictionaries({"field": st.sampled_from(REVIEW_FIELDS)}, optional={"text": texts}),
        ),
        st.tuples(
            st.just("review.why_set"),
            st.fixed_dictionaries({"level": st.integers(1, 5), "why": texts, "because": texts}),
        ),
        st.tuples(st.just("review.why_cleared"), st.fixed_dictionaries({"level": st.integers(1, 5)})),
        st.tuples(st.just("review.item_added"), st.fixed_dictionaries({"section": sections, "text": texts})),
        st.tuples(
            st.just("review.item_removed"),
            st.fixed_dictionaries({"section": sections, "item": st.integers(1, 30)}),
        ),
        st.tuples(
            st.just("action.added"),
            st.fixed_dictionaries({"text": texts}, optional={"owner": names, "due": days}),
        ),
        st.tuples(
            st.just("action.updated"),
            st.fixed_dictionaries(
                {"action": actions},
                optional={
                    "status": st.sampled_from(ACTION_STATUSES),
                    "owner": names,
                    "due": days,
                    "reason": texts,
                },
            ),
        ),
        st.tuples(
            st.just("incident.services_set"),
            st.fixed_dictionaries(
                {"services": st.lists(st.sampled_from(["api", "db", "web"]), min_size=1, max_size=32)}
            ),
        ),
        st.tuples(
            st.just("incident.impact_set"),
            st.fixed_dictionaries({"fraction": st.floats(0, 1, allow_nan=False)}),
        ),
    ]
