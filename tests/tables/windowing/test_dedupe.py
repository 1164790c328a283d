from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from tables.windowing.dedupe import Admission, SeenEvents, admit


def test_first_copy_is_new_and_later_copies_are_duplicates() -> None:
    verdict, seen = admit(SeenEvents(), "e1", 100, watermark=None)
    assert verdict is Admission.NEW and "e1" in seen
    verdict, again = admit(seen, "e1", 100, watermark=50)
    assert verdict is Admission.DUPLICATE and again == seen


def test_an_event_below_the_watermark_is_late_even_if_never_seen() -> None:
    verdict, seen = admit(SeenEvents(), "e1", 99, watermark=100)
    assert verdict is Admission.LATE and "e1" not in seen


def test_an_event_at_the_watermark_is_on_time() -> None:
    assert admit(SeenEvents(), "e1", 100, watermark=100)[0] is Admission.NEW


def test_ids_below_the_watermark_are_dropped_and_their_copies_are_late() -> None:
    seen = SeenEvents().add("old", 10).add("new", 200)
    verdict, seen = admit(seen, "old", 10, watermark=100)
    assert verdict is Admission.LATE
    assert seen.to_record() == {"new": 200}


def test_ids_stay_bounded_by_the_events_above_the_watermark() -> None:
    seen = SeenEvents()
    for time in range(10_000):
        _, seen = admit(seen, f"e{time}", time, watermark=time - 100)
    assert len(seen) == 101


def test_seen_events_record_round_trips() -> None:
    seen = SeenEvents().add("a", 1).add("b", 2)
    assert SeenEvents.from_record(json.loads(json.dumps(seen.to_record()))) == seen


@given(
    st.dictionaries(st.text(min_size=1, max_size=3), st.integers(0, 100)),
    st.one_of(st.none(), st.integers(0, 110)),
)
def test_prune_keeps_exactly_the_ids_at_or_above_the_watermark(
    times: dict[str, int], watermark: int | None
) -> None:
    pruned = SeenEvents(times).prune(watermark)
    assert dict(pruned.times) == {i: t for i, t in times.items() if watermark is None or t >= watermark}
