"""Hostile messages on every topic the worker reads, on a running worker: none stops a
partition, loses the events behind it or crashes the worker (tests/reliability/hostile.py
says what a run checks). Then a batch that fails as a whole: retried unacked, reported,
and the worker still stops on SIGTERM."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.kafka_io import create_topics
from devtools.localstack import Broker, LocalStack, start_broker
from devtools.worker_process import WorkerProcess
from tests.integration.conftest import temporary_database, wait_for
from tests.reliability.conftest import fault_env, new_worker, query
from tests.reliability.hostile import (
    DEEP,
    SURROGATE,
    TOPICS,
    Message,
    Topic,
    check_run,
    committed_past,
    encode,
    good_key,
    goods,
    new_scope,
    send,
)

pytestmark = pytest.mark.integration

OVERFLOWING = ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00"]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    running = start_broker(log_path=tmp_path_factory.mktemp("hostile") / "tansu.log")
    asyncio.run(create_topics([running.bootstrap], [t.name for t in TOPICS], partitions=8))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def database(stack: LocalStack) -> Iterator[str]:
    with temporary_database(stack, "sei_hostile") as url:
        yield url


@pytest.fixture(scope="module")
def worker(
    stack: LocalStack, broker: Broker, database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    env = fault_env(stack, database, KAFKA_BROKERS=f"tansu://{broker.bootstrap}", BATCH_SIZE="10")
    process = new_worker(env, tmp_path_factory.mktemp("hostile-worker"), "w").start()
    process.wait_consuming()
    yield process
    process.stop()


def with_value_at(event: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    copy = orjson.loads(orjson.dumps(event))
    target = copy
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value
    return copy


def paths(event: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, value in event.items():
        found.append((*prefix, name))
        if isinstance(value, dict):
            found.extend(paths(value, (*prefix, name)))
    return found


def test_the_issues_findings_on_every_topic(worker: WorkerProcess, database: str, broker: Broker) -> None:
    """Overflowing timestamps (OverflowError), JSON nested 1,000 deep (RecursionError): the
    agents crashed, the batch was acked or the partition stood still. A control-byte
    original of 300 KB and a 700 KB key: their dead letters were over 1 MB on the topic and
    crashed the worker."""
    scope = new_scope()
    messages: list[Message] = []
    for topic in TOPICS:
        good = goods(scope, 3)
        good = [m for m in good if m.topic == topic.name]
        template = topic.good(scope, "0f0f0f0f0f0f")
        hostile = [with_value_at(template, ("timestamp",), stamp) for stamp in OVERFLOWING]
        hostile += [with_value_at(template, ("data", "when"), DEEP), with_value_at(template, ("data",), DEEP)]
        for when in ("finished_at", "opened_at", "created", "start_date", "created_at"):
            if when in template.get("data", {}):
                hostile += [with_value_at(template, ("data", when), stamp) for stamp in OVERFLOWING]
        messages.append(good[0])
        for number, value in enumerate(hostile):
            messages.append(Message(topic.name, good_key(topic, template), encode(value)))
            messages.append(good[1 + number % 2])
    messages.append(Message("git.commits", scope.encode(), b"\x01" * 300_000))
    messages.append(Message("events.ingest", b"k" * 700_000, b"not json"))
    messages += goods(scope, 1)
    check_run(worker, database, broker.bootstrap, messages)


HOSTILE_VALUES = st.one_of(
    st.sampled_from(
        [
            *OVERFLOWING,
            "2025-10-01T12:00:00+99:99",
            "1970-01-01T00:00:00Z",
            "+275760-09-13T00:00:00Z",
            DEEP,
            SURROGATE,
            "\x00",
            "x" * 300_000,
            2**70,
            -(2**70),
            1e308,
            -1,
            0.5,
            "",
            None,
            True,
            [],
            {},
        ]
    ),
    st.text(max_size=50),
    st.integers(),
)
ARBITRARY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=15,
)


@st.composite
def hostile_message(draw: st.DrawFn, scope: str, topic: Topic) -> Message:
    template = topic.good(scope, "1e1e1e1e1e1e")
    kind = draw(st.sampled_from(["bytes", "json", "field", "field", "field"]))
    if kind == "bytes":
        value = draw(st.binary(max_size=300))
    elif kind == "json":
        value = encode(draw(ARBITRARY_JSON))
    else:
        path = draw(st.sampled_from(paths(template)))
        value = encode(with_value_at(template, path, draw(HOSTILE_VALUES)))
    key = draw(
        st.one_of(
            st.just(good_key(topic, template)),
            st.just(good_key(topic, template)),
            st.binary(max_size=20),
            st.none(),
        )
    )
    return Message(topic.name, key, value)


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_hostile_messages_interleaved_with_good_ones_lose_nothing(
    worker: WorkerProcess, database: str, broker: Broker, data: st.DataObject
) -> None:
    scope = new_scope()
    # Every topic in every example, its hostile messages in random order among the rest.
    per_topic = [data.draw(st.lists(hostile_message(scope, topic), min_size=1, max_size=4)) for topic in TOPICS]
    hostile = data.draw(st.permutations([m for messages in per_topic for m in messages]))
    good = goods(scope, 2)
    messages: list[Message] = []
    for number in range(max(len(hostile), len(good))):
        messages.extend(good[number : number + 1])
        messages.extend(hostile[number : number + 1])
    check_run(worker, database, broker.bootstrap, messages)


def test_a_batch_that_keeps_failing_is_retried_unacked_reported_and_the_worker_still_stops(
    stack: LocalStack, own_database: str, private_broker: Broker, tmp_path: Path
) -> None:
    """A fault of the batch as a whole (here the database refusing one repository's
    deployments, which the deployment write does not isolate): nothing behind it is
    committed, /health says which agent and why, the batch goes through once the fault is
    gone, and SIGTERM still ends the worker while a batch is stuck."""
    bootstrap = private_broker.bootstrap
    asyncio.run(create_topics([bootstrap], [t.name for t in TOPICS], partitions=8))
    scope = new_scope()
    refuse = f"""
        CREATE FUNCTION refuse_{scope}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.repository_id = '{scope}' THEN
            RAISE EXCEPTION 'refused for the test' USING ERRCODE = '22023';
          END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER refuse_{scope} BEFORE INSERT OR UPDATE ON deployments
          FOR EACH ROW EXECUTE FUNCTION refuse_{scope}();
    """
    query(own_database, refuse.split("CREATE TRIGGER")[0])
    create_trigger = "CREATE TRIGGER" + refuse.split("CREATE TRIGGER")[1]
    query(own_database, create_trigger)
    worker = new_worker(
        fault_env(stack, own_database, KAFKA_BROKERS=f"tansu://{bootstrap}"), tmp_path, "w"
    ).start()
    try:
        worker.wait_consuming()
        first = [m for m in goods(scope, 3) if m.topic == "cicd.deployments"]
        asyncio.run(send(bootstrap, first))

        def stuck() -> list[dict[str, Any]]:
            return list(worker.get("/health")[1].get("stuck_batches", []))

        wait_for(lambda: bool(stuck()), 60, "the deployments batch reported stuck")
        status, health = worker.get("/health")
        assert (status, health["status"]) == (503, "unhealthy")
        assert health["stuck_batches"][0]["agent"] == "cicd.deployments"
        assert health["stuck_batches"][0]["error_type"] == "InvalidParameterValueError"
        time.sleep(3)  # retried meanwhile, never acked: nothing committed past it
        assert not committed_past(worker, first[:1])()
        assert query(own_database, "SELECT count(*) FROM deployments")[0][0] == 0

        query(own_database, f"DROP TRIGGER refuse_{scope} ON deployments")
        wait_for(committed_past(worker, first), 60, "the batch to get through once the fault is gone")
        assert query(own_database, "SELECT count(*) FROM deployments WHERE repository_id = $1", scope)[0][0] == 3
        assert worker.get("/health")[1]["stuck_batches"] == []

        query(own_database, create_trigger)
        second = [m for m in goods(scope, 2) if m.topic == "cicd.deployments"]
        asyncio.run(send(bootstrap, second))
        wait_for(lambda: bool(stuck()), 60, "the second batch reported stuck")
        started = time.monotonic()
        code = worker.stop(timeout_s=40)
        assert code is not None, "SIGTERM did not end the worker (it was killed)"
        assert time.monotonic() - started < 35
    finally:
        worker.stop()
