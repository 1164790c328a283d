from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tables.commit_state import (
    CommitVersion,
    DailyTotals,
    RunningTotals,
    TotalsOfWrittenBuckets,
    day_totals,
    is_canonical,
    merge_version,
)


def version(
    sha: str = "a1", t: int = 1_000, additions: int | None = 5, deletions: int | None = 2
) -> CommitVersion:
    return CommitVersion(sha, t, additions, deletions, 1, None)


def test_merge_version_new_commit_changes_bucket() -> None:
    day: dict[str, list[object]] = {}
    assert merge_version(day, version())
    assert day_totals(day) == DailyTotals(1, 5, 2)


def test_merge_version_redelivery_changes_nothing() -> None:
    day: dict[str, list[object]] = {}
    merge_version(day, version())
    before = dict(day)
    assert not merge_version(day, version())
    assert day == before


def test_merge_version_same_sha_other_time_is_another_row() -> None:
    day: dict[str, list[object]] = {}
    merge_version(day, version(t=1_000))
    merge_version(day, version(t=2_000))
    assert day_totals(day).commit_count == 2


def test_merge_version_conflicting_numbers_keep_smallest() -> None:
    day: dict[str, list[object]] = {}
    merge_version(day, version(additions=9))
    merge_version(day, version(additions=3))
    assert is_canonical(day, version(additions=3))
    assert not is_canonical(day, version(additions=9))


def test_day_totals_follow_sql_null_semantics() -> None:
    day: dict[str, list[object]] = {}
    merge_version(day, version("a", additions=None, deletions=None))
    assert day_totals(day) == DailyTotals(1, None, None)
    merge_version(day, version("b", additions=4, deletions=None))
    assert day_totals(day) == DailyTotals(2, 4, None)


versions = st.builds(
    CommitVersion,
    sha=st.sampled_from(["a", "b", "c", "d"]),
    committed_at=st.sampled_from([10, 20]),
    additions=st.none() | st.integers(0, 5),
    deletions=st.none() | st.integers(0, 5),
    files_changed=st.none() | st.integers(0, 3),
    pull_request_number=st.none() | st.integers(1, 3),
)


@given(st.lists(versions, max_size=25), st.randoms(use_true_random=False))
def test_merge_version_any_order_and_duplicates_give_same_bucket(
    history: list[CommitVersion], rng: object
) -> None:
    reference: dict[str, list[object]] = {}
    for v in history:
        merge_version(reference, v)
    replayed = history + history[: len(history) // 2]
    rng.shuffle(replayed)  # type: ignore[attr-defined]
    shuffled: dict[str, list[object]] = {}
    for v in replayed:
        merge_version(shuffled, v)
    assert shuffled == reference
    assert day_totals(shuffled) == day_totals(reference)


@given(st.lists(versions, max_size=30))
def test_day_totals_equal_sql_count_and_sums_over_the_bucket(batch: list[CommitVersion]) -> None:
    day: dict[str, list[object]] = {}
    for v in batch:
        merge_version(day, v)
    additions = [n[0] for n in day.values() if n[0] is not None]
    deletions = [n[1] for n in day.values() if n[1] is not None]
    assert day_totals(day) == DailyTotals(
        len(day), sum(additions) if additions else None, sum(deletions) if deletions else None  # type: ignore[arg-type]
    )


@given(st.lists(versions, max_size=30), st.lists(versions, max_size=30))
def test_running_totals_follow_every_merge_as_a_recount_would(
    earlier: list[CommitVersion], batch: list[CommitVersion]
) -> None:
    day: dict[str, list[object]] = {}
    for v in earlier:
        merge_version(day, v)
    running = RunningTotals.of(day)
    assert running.totals() == day_totals(day)
    for v in batch:  # new versions, redeliveries and replaced numbers alike
        merge_version(day, v, running)
        assert running.totals() == day_totals(day)


def test_written_bucket_totals_are_used_only_for_that_very_bucket_object() -> None:
    cache = TotalsOfWrittenBuckets(capacity=2)
    day: dict[str, list[object]] = {}
    totals = cache.start("r\x1f2025-10-01", None)
    merge_version(day, version("a", additions=5), totals)
    cache.remember("r\x1f2025-10-01", day, totals)

    continued = cache.start("r\x1f2025-10-01", day)
    assert continued == RunningTotals(1, 5, 1, 2, 1)
    merge_version(dict(day), version("b", additions=1), continued)  # a copy's change ...
    assert cache.start("r\x1f2025-10-01", day).totals() == DailyTotals(1, 5, 2)  # ... leaves the entry

    # The same content decoded anew (another object, as after a rebalance) is recounted:
    # an entry poisoned for the old object must not leak into it.
    cache.remember("r\x1f2025-10-01", day, RunningTotals(99, 0, 0, 0, 0))
    decoded = {"a 1000": [5, 2, 1, None], "c 1000": [None, 4, 1, None]}
    assert cache.start("r\x1f2025-10-01", decoded).totals() == DailyTotals(2, 5, 6)


def test_written_bucket_totals_keep_only_the_newest_entries() -> None:
    cache = TotalsOfWrittenBuckets(capacity=2)
    days = {name: {f"{name} 1": [1, 1, 1, None]} for name in "abc"}
    for name, day in days.items():
        cache.remember(name, day, RunningTotals(7, 0, 0, 0, 0))  # marked: recounting gives 1
    assert cache.start("a", days["a"]).count == 1  # evicted: recounted
    assert cache.start("b", days["b"]).count == 7
    assert cache.start("c", days["c"]).count == 7
