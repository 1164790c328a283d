from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tables.windowing.topk import merge_counts, top_k


def test_ties_are_ordered_by_count_then_key() -> None:
    counts = {"/cart": 3, "/about": 3, "/home": 5, "/help": 1, "/ba": 3}
    assert top_k(counts, 4) == [("/home", 5), ("/about", 3), ("/ba", 3), ("/cart", 3)]


def test_a_tie_at_the_cut_keeps_the_smaller_key() -> None:
    assert top_k({"/z": 2, "/y": 2, "/x": 9}, 2) == [("/x", 9), ("/y", 2)]


@pytest.mark.parametrize(
    ("k", "expected"),
    [
        pytest.param(0, [], id="zero"),
        pytest.param(10, [("/a", 2), ("/b", 1)], id="more-than-keys"),
    ],
)
def test_top_k_sizes(k: int, expected: list[tuple[str, int]]) -> None:
    assert top_k({"/a": 2, "/b": 1, "/never": 0}, k) == expected


def test_negative_k_is_refused() -> None:
    with pytest.raises(ValueError, match="k=-1"):
        top_k({}, -1)


def test_merging_counts_first_is_exact_where_merging_top_lists_is_not() -> None:
    # "/c" is second on each partition, first overall.
    partitions = [{"/a": 5, "/c": 4}, {"/b": 5, "/c": 4}]
    assert top_k(merge_counts(partitions), 1) == [("/c", 8)]
    per_partition_top = merge_counts(dict(top_k(p, 1)) for p in partitions)
    assert top_k(per_partition_top, 1) != [("/c", 8)]


counts = st.dictionaries(st.sampled_from(["/a", "/b", "/c", "/d", "/e", "/f"]), st.integers(0, 5))


@given(st.lists(counts, max_size=6), st.integers(0, 7), st.randoms(use_true_random=False))
def test_top_k_of_merged_parts_ignores_their_order(parts: list[dict[str, int]], k: int, random: object) -> None:
    shuffled = list(parts)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    total = merge_counts(parts)
    assert top_k(merge_counts(shuffled), k) == top_k(total, k)
    ranked = sorted(((key, n) for key, n in total.items() if n > 0), key=lambda item: (-item[1], item[0]))
    assert top_k(total, k) == ranked[:k]
