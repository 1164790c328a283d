"""The Quix Streams side of ``bench.activity``: the same job as the activity agents, run as its
own process so its RSS is its own.

Reads ``EnrichedEvent`` messages, validates them with the app's own model (so both sides
drop the same malformed messages), re-keys by ``user_id`` when the producer keyed by
anything else (``group_by``, Quix's repartition topic), drops redelivered event ids (a
stateful filter: Quix does not deduplicate), takes the event time from ``timestamp``, and
counts events per user and event type in tumbling one-minute windows with a grace, emitted
when closed (closing strategy ``partition``: a partition's newest event time closes every
key's windows, as a watermark does). Each closed window becomes one row per event type,
upserted into PostgreSQL by Quix's own ``PostgreSQLSink``.

``python -m bench.activity_quix --broker HOST:PORT --topic T --database-url URL ...``;
prints ``ready`` once partitions are assigned and its counts when stopped (SIGTERM).
"""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import ValidationError
from quixstreams import Application, State
from quixstreams.sinks.community.postgresql import PostgreSQLSink

from bench.activity_quix_table import TABLE
from models.activity import ActivityMessage


class _Counts:
    malformed = 0
    late = 0
    duplicates = 0


def parse(value: bytes) -> dict[str, Any] | None:
    """The fields the job needs, or None for a message the app would dead-letter."""
    try:
        event = ActivityMessage.model_validate_json(value)
    except ValidationError:
        _Counts.malformed += 1
        return None
    return {
        "event_id": event.event_id,
        "user_id": event.user_id,
        "event_type": event.event_type,
        "time_ms": round(event.timestamp.timestamp() * 1000),
    }


def first_delivery(value: dict[str, Any], state: State) -> bool:
    """True the first time an event id is seen for its user (state is per message key)."""
    if state.get(value["event_id"]) is not None:
        _Counts.duplicates += 1
        return False
    state.set(value["event_id"], 1)
    return True


def add_event(counts: dict[str, int], value: dict[str, Any]) -> dict[str, int]:
    counts[value["event_type"]] = counts.get(value["event_type"], 0) + 1
    return counts


def first_event(value: dict[str, Any]) -> dict[str, int]:
    return {value["event_type"]: 1}


def rows(window: dict[str, Any], key: Any, timestamp: int, headers: Any) -> list[dict[str, Any]]:
    """A closed window of one user: one row per event type."""
    user = key.decode() if isinstance(key, bytes) else str(key)
    bucket = datetime.fromtimestamp(window["start"] / 1000, tz=UTC)
    return [
        {"user_id": user, "bucket": bucket, "event_type": kind, "events": count}
        for kind, count in window["value"].items()
    ]


def on_late(*args: Any) -> bool:
    _Counts.late += 1
    return False  # counted, not logged per event


def postgres_sink(database_url: str) -> PostgreSQLSink:
    parts = urlsplit(database_url)
    host = parts.hostname or parse_qs(parts.query).get("host", ["127.0.0.1"])[0]
    return PostgreSQLSink(
        host=host,
        port=parts.port or 5432,
        dbname=parts.path.lstrip("/"),
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        table_name=TABLE,
        schema_auto_update=False,
        primary_key_columns=["user_id", "bucket", "event_type"],
        upsert_on_primary_key=True,
        include_metadata=False,
    )


class _ReadyApplication(Application):
    """Says ``ready`` on stdout when it is given partitions (the bench waits for it)."""

    _said_ready = False

    def _on_assign(self, *args: Any, **kwargs: Any) -> None:
        super()._on_assign(*args, **kwargs)  # type: ignore[misc]
        if not self._said_ready:
            self._said_ready = True
            print("ready", flush=True)


def build(args: argparse.Namespace) -> Application:
    app = _ReadyApplication(
        broker_address=args.broker,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        commit_interval=args.commit_interval,
        state_dir=args.state_dir,
        # Tansu holds a group join for half the session timeout (as for the workers).
        consumer_extra_config={"session.timeout.ms": 10_000, "fetch.wait.max.ms": args.fetch_wait_ms},
        loglevel="WARNING",
    )
    topic = app.topic(args.topic, key_deserializer="bytes", value_deserializer="bytes")
    sdf = app.dataframe(topic)
    sdf = sdf.apply(parse).filter(lambda value: value is not None)
    if args.key_by != "user_id":
        sdf = sdf.group_by("user_id")
    sdf = sdf.filter(first_delivery, stateful=True)
    sdf = sdf.set_timestamp(lambda value, key, timestamp, headers: value["time_ms"])
    sdf = (
        sdf.tumbling_window(duration_ms=60_000, grace_ms=args.grace_s * 1000, on_late=on_late)
        .reduce(add_event, first_event)
        .final(closing_strategy="partition")
    )
    sdf = sdf.apply(rows, expand=True, metadata=True)
    sdf.sink(postgres_sink(args.database_url))
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--broker", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--group", default="bench-quix-activity")
    parser.add_argument("--state-dir", default="state")
    parser.add_argument("--grace-s", type=int, default=300)
    parser.add_argument("--key-by", choices=("user_id", "event_id"), default="user_id")
    parser.add_argument("--commit-interval", type=float, default=1.0)
    parser.add_argument("--fetch-wait-ms", type=int, default=500, help="librdkafka fetch.wait.max.ms")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    try:
        build(args).run()
    finally:
        print(
            f"counts malformed={_Counts.malformed} late={_Counts.late} duplicates={_Counts.duplicates}",
            flush=True,
        )


if __name__ == "__main__":
    main()
