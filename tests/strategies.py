"""Hypothesis strategies for commands, shared by the core and convergence tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from warroom.core.events import ENTRY_KINDS, ROLES, SEVERITIES, STATUSES
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
    )
