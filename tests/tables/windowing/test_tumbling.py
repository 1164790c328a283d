from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tables.windowing.tumbling import MemberWindows, OpenWindows, Tally, WindowSpec, WindowTallies, shard_of
from tables.windowing.units import MICROS_PER_MINUTE

MINUTE = MICROS_PER_MINUTE
MINUTES = WindowSpec.tumbling(MINUTE)
HOPPING = WindowSpec.hopping(3 * MINUTE, MINUTE)


@pytest.mark.parametrize(
    ("spec", "time", "starts"),
    [
        pytest.param(MINUTES, 5 * MINUTE, (5 * MINUTE,), id="start-is-inside"),
        pytest.param(MINUTES, 6 * MINUTE - 1, (5 * MINUTE,), id="last-microsecond-is-inside"),
        pytest.param(MINUTES, 6 * MINUTE, (6 * MINUTE,), id="end-is-the-next-window"),
        pytest.param(MINUTES, -1, (-MINUTE,), id="before-the-epoch"),
        pytest.param(HOPPING, 5 * MINUTE, (3 * MINUTE, 4 * MINUTE, 5 * MINUTE), id="hopping-at-a-start"),
        pytest.param(HOPPING, 6 * MINUTE - 1, (3 * MINUTE, 4 * MINUTE, 5 * MINUTE), id="hopping-before-a-start"),
        pytest.param(WindowSpec.hopping(90, 60), 100, (60,), id="hopping-uneven-one"),
        pytest.param(WindowSpec.hopping(90, 60), 70, (0, 60), id="hopping-uneven-two"),
    ],
)
def test_windows_are_half_open(spec: WindowSpec, time: int, starts: tuple[int, ...]) -> None:
    assert spec.starts(time) == starts


specs = st.integers(1, 10**6).flatmap(lambda step: st.builds(WindowSpec, st.integers(step, 20 * step), st.just(step)))


@given(st.integers(-10**12, 10**12), specs)
def test_starts_are_exactly_the_windows_containing_the_time(time: int, spec: WindowSpec) -> None:
    starts = spec.starts(time)
    assert all(start % spec.step == 0 and start <= time < spec.end(start) for start in starts)
    assert starts[0] - spec.step + spec.size <= time  # the window before the first does not contain it
    assert starts[-1] + spec.step > time  # nor does the one after the last


def test_a_window_closes_when_the_watermark_reaches_its_end() -> None:
    assert not MINUTES.is_closed(0, None)
    assert not MINUTES.is_closed(0, MINUTE - 1)
    assert MINUTES.is_closed(0, MINUTE)


def test_starts_within_tiles_an_aligned_interval() -> None:
    assert list(MINUTES.starts_within(2 * MINUTE, 5 * MINUTE)) == [2 * MINUTE, 3 * MINUTE, 4 * MINUTE]
    assert list(MINUTES.starts_within(MINUTE, MINUTE)) == []


@pytest.mark.parametrize(
    ("spec", "start", "end", "message"),
    [
        pytest.param(MINUTES, 1, MINUTE, "from=1 µs is not on a 60000000 µs window boundary", id="from"),
        pytest.param(MINUTES, 0, MINUTE + 5, "to=60000005 µs", id="to"),
        pytest.param(MINUTES, MINUTE, 0, "before from", id="reversed"),
        pytest.param(HOPPING, 0, MINUTE, "only tumbling", id="hopping"),
    ],
)
def test_starts_within_names_the_bad_bound(spec: WindowSpec, start: int, end: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spec.starts_within(start, end)


@pytest.mark.parametrize(("size", "step"), [(0, 0), (60, 0), (60, 61)])
def test_a_window_spec_must_make_sense(size: int, step: int) -> None:
    with pytest.raises(ValueError, match="window"):
        WindowSpec(size, step)


def test_members_are_counted_once_per_window_and_group() -> None:
    member = MemberWindows()
    placed, member = member.place(HOPPING, 5 * MINUTE, "page_view")
    assert placed == ((3 * MINUTE, True), (4 * MINUTE, True), (5 * MINUTE, True))
    placed, member = member.place(HOPPING, 6 * MINUTE, "page_view")
    assert placed == ((4 * MINUTE, False), (5 * MINUTE, False), (6 * MINUTE, True))
    placed, member = member.place(HOPPING, 6 * MINUTE, "click")
    assert all(new for _, new in placed)


def test_member_windows_forget_closed_windows() -> None:
    _, member = MemberWindows().place(MINUTES, 0, "a")
    _, member = member.place(MINUTES, MINUTE, "a")
    assert member.prune(MINUTES, MINUTE).counted == {(MINUTE, "a")}
    assert member.prune(MINUTES, None) == member
    assert MemberWindows.from_record(json.loads(json.dumps(member.to_record()))) == member


def test_tallies_count_merge_and_round_trip() -> None:
    tallies = WindowTallies().count("page_view", True).count("page_view", False).count("click", True)
    assert tallies.counts == {"page_view": Tally(2, 1), "click": Tally(1, 1)}
    other = WindowTallies().count("page_view", True)
    assert tallies.merge(other).counts == {"page_view": Tally(3, 2), "click": Tally(1, 1)}
    assert tallies.events() == {"page_view": 2, "click": 1}
    assert WindowTallies.from_record(json.loads(json.dumps(tallies.to_record()))) == tallies


def test_open_windows_close_in_order_at_the_watermark() -> None:
    windows = OpenWindows().add([2 * MINUTE, 0]).add([MINUTE, 0])
    assert windows.starts == (0, MINUTE, 2 * MINUTE)
    closed, windows = windows.close(MINUTES, 2 * MINUTE)
    assert closed == (0, MINUTE)
    assert windows.starts == (2 * MINUTE,)
    assert windows.close(MINUTES, None) == ((), windows)
    assert OpenWindows.from_record(json.loads(json.dumps(windows.to_record()))) == windows


def test_shard_of_is_stable_and_in_range() -> None:
    # crc32, not hash(): the same shard on every worker and after every restart.
    assert [shard_of(page, 8) for page in ("/a", "/b", "/home")] == [0x69707B5C % 8, 0xF0792AE6 % 8, 0xD5219C04 % 8]
    assert all(0 <= shard_of(f"/p{i}", 5) < 5 for i in range(100))


@given(
    st.frozensets(st.tuples(st.integers(0, 20).map(lambda m: m * MINUTE), st.sampled_from(["a", "b", "c"]))),
    st.sampled_from([MINUTES, HOPPING]),
    st.integers(0, 25 * MINUTE),
    st.sampled_from(["a", "b", "c"]),
    st.one_of(st.none(), st.integers(0, 25 * MINUTE)),
)
def test_member_windows_place_and_prune_as_plain_set_operations(
    counted: frozenset[tuple[int, str]], spec: WindowSpec, time: int, group: str, watermark: int | None
) -> None:
    """The quick paths (one tumbling window; nothing closed) answer what the set operations do."""
    member = MemberWindows(counted)
    placed, after = member.place(spec, time, group)
    assert placed == tuple((start, (start, group) not in counted) for start in spec.starts(time))
    assert after.counted == counted | {(start, group) for start in spec.starts(time)}
    pruned = member.prune(spec, watermark)
    assert pruned.counted == frozenset(pair for pair in counted if not spec.is_closed(pair[0], watermark))


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.booleans()), max_size=12))
def test_count_into_is_count_in_place(counts: list[tuple[str, bool]]) -> None:
    tallies = WindowTallies()
    owned: dict[str, Tally] = {}
    for group, new in counts:
        tallies = tallies.count(group, new)
        WindowTallies.count_into(owned, group, new)
    assert list(owned.items()) == list(tallies.counts.items())  # the same order: the rows'
