from __future__ import annotations

import json
from functools import reduce

from hypothesis import given, settings
from hypothesis import strategies as st

from tables.windowing.first_distinct import FirstDistinct

LIMIT, MAX_CHARS = 3, 8


def whole(pairs: list[tuple[int, str]]) -> tuple[tuple[str, ...], bool]:
    """The longest prefix, by (first time, value), of the distinct values that fits."""
    first: dict[str, int] = {}
    for time, value in pairs:
        first[value] = min(time, first.get(value, time))
    ordered = [value for _, value in sorted((t, v) for v, t in first.items())]
    kept: list[str] = []
    for value in ordered:
        if len(kept) == LIMIT or sum(map(len, kept)) + len(value) > MAX_CHARS:
            break
        kept.append(value)
    return tuple(kept), len(kept) < len(ordered)


def merged(parts: list[FirstDistinct]) -> FirstDistinct:
    return reduce(lambda a, b: a.merge(b, LIMIT, MAX_CHARS), parts, FirstDistinct())


def test_a_value_left_out_for_length_keeps_later_shorter_ones_out() -> None:
    # "/bbbbbb" does not fit after "/a"; "/c" would, but it comes after the cut.
    first = merged(
        [FirstDistinct.of(1, "/a", LIMIT, MAX_CHARS), FirstDistinct.of(2, "/bbbbbb", LIMIT, MAX_CHARS)]
    )
    assert first.values == ("/a",) and first.cut == (2, "/bbbbbb")
    both = first.merge(FirstDistinct.of(3, "/c", LIMIT, MAX_CHARS), LIMIT, MAX_CHARS)
    assert both.values == ("/a",) and both.truncated


def test_an_earlier_sighting_moves_a_value_forward() -> None:
    late = merged([FirstDistinct.of(5, "/x", LIMIT, MAX_CHARS), FirstDistinct.of(1, "/x", LIMIT, MAX_CHARS)])
    assert late.kept == ((1, "/x"),) and not late.truncated


def test_record_round_trips() -> None:
    value = merged(
        [FirstDistinct.of(t, v, LIMIT, MAX_CHARS) for t, v in [(1, "/a"), (2, "/bbbbbbbb"), (3, "/c")]]
    )
    assert FirstDistinct.from_record(json.loads(json.dumps(value.to_record()))) == value


pairs = st.lists(
    st.tuples(st.integers(0, 20), st.sampled_from(["/a", "/bb", "/ccc", "/dddd", "/e", "/ffffff"]))
)


@settings(max_examples=300)
@given(pairs, st.lists(st.integers(0, 3), max_size=30), st.randoms(use_true_random=False))
def test_any_grouping_and_order_of_merges_gives_the_whole_sets_prefix(
    seen: list[tuple[int, str]], groups: list[int], random: object
) -> None:
    # Split the sightings into parts (sessions), merge each part, then merge the parts in any order.
    parts: list[list[tuple[int, str]]] = [[], [], [], []]
    for index, pair in enumerate(seen):
        parts[groups[index] if index < len(groups) else 0].append(pair)
    values = [merged([FirstDistinct.of(t, v, LIMIT, MAX_CHARS) for t, v in part]) for part in parts]
    random.shuffle(values)  # type: ignore[attr-defined]
    result = merged(values)
    assert (result.values, result.truncated) == whole(seen)


def reference_merge(a: FirstDistinct, b: FirstDistinct) -> FirstDistinct:
    """The general merge, without the quick answers for a single value or an empty side."""
    cuts = [cut for cut in (a.cut, b.cut) if cut is not None]
    cut = min(cuts) if cuts else None
    earliest: dict[str, int] = {}
    for time, value in (*a.kept, *b.kept):
        earliest[value] = min(time, earliest.get(value, time))
    kept: list[tuple[int, str]] = []
    for seen in sorted((time, value) for value, time in earliest.items()):
        if cut is not None and seen >= cut:
            break
        if len(kept) == LIMIT or sum(len(v) for _, v in kept) + len(seen[1]) > MAX_CHARS:
            cut = seen
            break
        kept.append(seen)
    return FirstDistinct(tuple(kept), cut)


@settings(max_examples=300)
@given(pairs, pairs, st.booleans())
def test_merge_with_one_value_or_nothing_equals_the_general_merge(
    seen: list[tuple[int, str]], one: list[tuple[int, str]], swap: bool
) -> None:
    value = merged([FirstDistinct.of(t, v, LIMIT, MAX_CHARS) for t, v in seen])
    other = merged([FirstDistinct.of(t, v, LIMIT, MAX_CHARS) for t, v in one[:1]])
    a, b = (other, value) if swap else (value, other)
    assert a.merge(b, LIMIT, MAX_CHARS) == reference_merge(a, b)
