"""A batch ages its due repositories until AGEING_BUDGET_S of passes is spent; the others
stay due and are aged by their next batches (agents.retention): the event loop is held for
about one pass when hundreds of repositories come due together, and none is skipped."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

import agents.retention as retention
from tables.retention import AgeingPlan


def test_a_batch_stops_ageing_once_its_budget_is_spent_and_the_rest_stay_due(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    passes: list[str] = []

    class Clock:  # a pass costs 10 ms, whatever else the machine does
        now = 0.0

        def perf_counter(self) -> float:
            return self.now

        def monotonic(self) -> float:
            return self.now

    clock = Clock()

    def one_pass(repository_id: str, *, aged: retention.Aged, **_: Any) -> AgeingPlan:
        passes.append(repository_id)
        clock.now += 0.01
        plan = AgeingPlan(frozenset(), frozenset(), frozenset(), frozenset())
        aged.plans[repository_id] = plan
        return plan

    monkeypatch.setattr(retention, "time", clock)
    monkeypatch.setattr(retention, "_clock", retention.AgeingClock())
    monkeypatch.setattr(retention, "latest_day", lambda repository_id: "2026-06-01")
    monkeypatch.setattr(retention, "age_repository", one_pass)
    monkeypatch.setattr(retention, "acting_for", contextlib.nullcontext)
    owners: dict[str, tuple[Any, str | None]] = {f"repo-{n}": (None, None) for n in range(10)}

    def batch(budget_s: float) -> list[str]:
        before = len(passes)
        retention.age_owners(
            owners, retention_days=120, production_environments={"production"}, budget_s=budget_s
        )
        return passes[before:]

    assert batch(0.0) == ["repo-0"]  # always at least one: a batch makes progress
    assert batch(0.025) == ["repo-1", "repo-2", "repo-3"]  # the pass that crosses the budget ends it
    assert batch(10.0) == [f"repo-{n}" for n in range(4, 10)]  # the rest, each once
    assert batch(10.0) == []  # aged for their latest day: not again until it moves
