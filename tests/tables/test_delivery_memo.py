"""tables.delivery_memo: what it keeps, for how long, and within which bound."""

from __future__ import annotations

from tables.delivery_memo import DeliveryMemo
from tables.deployment_state import Deployment
from tables.dora import Delivery

PROD = frozenset({"production"})


def delivery(repository_id: str, deployments: int, samples_each: int) -> Delivery:
    counted = [
        Deployment(repository_id, f"d{n}", "production", "success", 1_000_000 * (n + 1), None)
        for n in range(deployments)
    ]
    return Delivery(counted, {d.key: [60.0] * samples_each for d in counted})


def test_a_kept_delivery_is_found_for_its_repository_lookback_and_environments_only() -> None:
    memo = DeliveryMemo()
    kept = delivery("r1", 3, 2)
    memo.put("r1", "2025-01-01", PROD, kept)
    assert memo.get("r1", "2025-01-01", PROD) is kept
    assert memo.get("r1", "2025-01-02", PROD) is None  # another lookback ships another set
    assert memo.get("r1", "2025-01-01", frozenset({"prod"})) is None
    assert memo.get("r2", "2025-01-01", PROD) is None
    assert (memo.hits, memo.misses) == (1, 3)


def test_a_changed_repository_is_forgotten_and_the_others_kept() -> None:
    memo = DeliveryMemo()
    memo.put("r1", "2025-01-01", PROD, delivery("r1", 1, 1))
    memo.put("r1", "2025-01-02", PROD, delivery("r1", 1, 1))
    memo.put("r2", "2025-01-01", PROD, delivery("r2", 1, 1))
    memo.forget({"r1"})
    assert memo.get("r1", "2025-01-01", PROD) is None
    assert memo.get("r1", "2025-01-02", PROD) is None
    assert memo.get("r2", "2025-01-01", PROD) is not None
    memo.clear()
    assert len(memo) == 0


def test_the_least_recently_used_go_first_once_the_samples_pass_the_bound() -> None:
    memo = DeliveryMemo(max_samples=100)
    for name in ("a", "b", "c"):  # 10 deployments + 20 samples = 30 each
        memo.put(name, "d", PROD, delivery(name, 10, 2))
    assert memo.get("a", "d", PROD) is not None  # a is now the most recent
    memo.put("e", "d", PROD, delivery("e", 10, 2))  # 120 > 100: b, the least recent, goes
    assert memo.get("b", "d", PROD) is None
    assert all(memo.get(name, "d", PROD) is not None for name in ("a", "c", "e"))
    memo.put("huge", "d", PROD, delivery("huge", 50, 2))  # over the bound alone: not kept
    assert memo.get("huge", "d", PROD) is None
    assert len(memo) == 3
