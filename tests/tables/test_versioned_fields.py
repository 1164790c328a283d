from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from tables.versioned_fields import (
    Versions,
    combine_versions,
    latest_values,
    merge_values,
    versions_from_record,
)


def test_merge_values_later_value_wins() -> None:
    state = merge_values((), 20, {"title": "new"})
    state = merge_values(state, 10, {"title": "old"})
    assert latest_values(state) == {"title": "new"}


def test_merge_values_null_never_overrides() -> None:
    state = merge_values((), 10, {"title": "kept", "severity": None})
    state = merge_values(state, 20, {"title": None})
    assert latest_values(state) == {"title": "kept"}


def test_merge_values_same_timestamp_conflict_is_deterministic() -> None:
    one = merge_values(merge_values((), 10, {"title": "a"}), 10, {"title": "b"})
    other = merge_values(merge_values((), 10, {"title": "b"}), 10, {"title": "a"})
    assert one == other
    assert latest_values(one) == {"title": "b"}


def test_versions_from_record_json_round_trip_equal() -> None:
    state = merge_values((), 10, {"opened_at": 5, "title": "t", "points": 2.5})
    assert versions_from_record(json.loads(json.dumps(state))) == state


events = st.lists(
    st.tuples(
        st.integers(0, 4),
        st.dictionaries(
            st.sampled_from(["a", "b", "c"]), st.none() | st.integers(0, 3) | st.sampled_from(["x", "y"])
        ),
    ),
    max_size=20,
)


@given(events, st.randoms(use_true_random=False))
def test_merge_values_any_order_and_duplicates_same_state(
    history: list[tuple[int, dict[str, object]]], rng: object
) -> None:
    reference: Versions = ()
    for stamp, values in history:
        reference = merge_values(reference, stamp, values)
    replayed = history + history[::2]
    rng.shuffle(replayed)  # type: ignore[attr-defined]
    state: Versions = ()
    for stamp, values in replayed:
        state = merge_values(state, stamp, values)
    assert state == reference
    assert combine_versions(state, reference) == reference
