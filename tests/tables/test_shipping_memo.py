"""tables.shipping_memo: what it keeps, for how long, and within which bound."""

from __future__ import annotations

from tables.shipping_memo import MemoKey, ShippingMemo

PROD = frozenset({"production"})


def key(repository_id: str, since: str = "2025-01-01", kind: str = "delivery") -> MemoKey:
    return (kind, repository_id, since, PROD)


def test_a_kept_value_is_found_for_its_kind_repository_lookback_and_environments_only() -> None:
    memo = ShippingMemo()
    kept = object()
    memo.put(key("r1"), kept, 5)
    assert memo.get(key("r1")) is kept
    assert memo.get(key("r1", "2025-01-02")) is None  # another lookback ships another set
    assert memo.get(("delivery", "r1", "2025-01-01", frozenset({"prod"}))) is None
    assert memo.get(key("r1", kind="timelines")) is None
    assert memo.get(key("r2")) is None
    assert (memo.hits, memo.misses) == (1, 4)


def test_a_changed_repository_is_forgotten_and_the_others_kept() -> None:
    memo = ShippingMemo()
    memo.put(key("r1"), object(), 1)
    memo.put(key("r1", kind="timelines"), object(), 1)
    memo.put(key("r2"), object(), 1)
    memo.forget({"r1"})
    assert memo.get(key("r1")) is None and memo.get(key("r1", kind="timelines")) is None
    assert memo.get(key("r2")) is not None
    memo.clear()
    assert len(memo) == 0


def test_the_least_recently_used_go_first_once_the_items_pass_the_bound() -> None:
    memo = ShippingMemo(max_items=100)
    for name in ("a", "b", "c"):
        memo.put(key(name), object(), 30)
    assert memo.get(key("a")) is not None  # a is now the most recent
    memo.put(key("e"), object(), 30)  # 120 > 100: b, the least recent, goes
    assert memo.get(key("b")) is None
    assert all(memo.get(key(name)) is not None for name in ("a", "c", "e"))
    memo.put(key("huge"), object(), 101)  # over the bound alone: not kept
    assert memo.get(key("huge")) is None
    assert len(memo) == 3
