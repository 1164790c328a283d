"""Table values of deployments and incidents (one per entity): any order, any duplicates,
any batching, the same values."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from tables.cicd import merge_deployments, merge_incident_changes
from tables.deployment_state import Deployment
from tables.incident_state import IncidentChange

HOUR = 3_600_000_000

deployments = st.builds(
    Deployment,
    repository_id=st.just("r"),
    id=st.sampled_from(["d1", "d2", "d3"]),
    environment=st.sampled_from(["production", "staging"]),
    status=st.sampled_from(["success", "failure"]),
    finished_at=st.integers(0, 50).map(lambda h: h * HOUR),
    commit_shas=st.none() | st.lists(st.sampled_from(["a", "b", "c"]), max_size=3).map(tuple),
)
incident_events = st.builds(
    IncidentChange,
    repository_id=st.just("r"),
    id=st.sampled_from(["i1", "i2"]),
    timestamp=st.integers(0, 50).map(lambda h: h * HOUR),
    opened_at=st.none() | st.integers(0, 50).map(lambda h: h * HOUR),
    resolved_at=st.none() | st.integers(0, 50).map(lambda h: h * HOUR),
    title=st.none() | st.sampled_from(["x", "y"]),
)


def through_table(value: object) -> object:
    """What the table gives back: its values travel as JSON."""
    return orjson.loads(orjson.dumps(value))


def fold(merge, batches):  # type: ignore[no-untyped-def]
    """Each entity's table value after the batches, as the agent writes them: a batch's
    events grouped by entity, one merge per entity."""
    values: dict[str, object] = {}
    for batch in batches:
        by_id: dict[str, list[object]] = {}
        for event in batch:
            by_id.setdefault(event.id, []).append(event)
        for entity_id, events in by_id.items():
            state, _ = merge(through_table(values.get(entity_id)), events)
            values[entity_id] = state.to_record()
    return through_table(values)


@given(st.lists(deployments, min_size=1, max_size=12), st.randoms(use_true_random=False), st.integers(1, 4))
def test_deployments_any_order_and_duplicates_same_value(events, rng, batch_size) -> None:  # type: ignore[no-untyped-def]
    shuffled = events + rng.sample(events, len(events) // 2)
    rng.shuffle(shuffled)
    batches = [shuffled[i : i + batch_size] for i in range(0, len(shuffled), batch_size)]
    assert fold(merge_deployments, batches) == fold(merge_deployments, [events])


@given(st.lists(incident_events, min_size=1, max_size=12), st.randoms(use_true_random=False), st.integers(1, 4))
def test_incidents_any_order_and_duplicates_same_value(events, rng, batch_size) -> None:  # type: ignore[no-untyped-def]
    shuffled = events + rng.sample(events, len(events) // 2)
    rng.shuffle(shuffled)
    batches = [shuffled[i : i + batch_size] for i in range(0, len(shuffled), batch_size)]
    assert fold(merge_incident_changes, batches) == fold(merge_incident_changes, [events])


def test_redelivery_changes_nothing() -> None:
    first = Deployment("r", "d1", "production", "success", 5 * HOUR)
    value, changed = merge_deployments(None, [first])
    assert changed
    again, changed = merge_deployments(through_table(value.to_record()), [first])
    assert not changed and again == value
