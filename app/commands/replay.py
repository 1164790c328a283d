"""``faust -A app replay --topic T --from-timestamp ISO``: reprocess a topic's time range.

Re-sends the records whose timestamp is in [from, to) to the same topic and partition,
with their key, headers and ``x-sei-replay: 1``; the worker processes them again and,
processing being idempotent, nothing is counted twice. Skipped: copies sent by an earlier
replay (their originals are replayed instead, so replaying twice does not grow the topic
geometrically) and records that are dead letters (they would only fail again and be
dead-lettered twice; ``dlq replay`` sends them, corrected if need be), unless
``--include-dead-letters``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from faust.cli import option

from app.commands.base import ToolCommand, connect_database
from app.commands.exceptions import NothingMatched, OptionError, ToolError
from app.commands.params import INSTANT, format_instant
from app.commands.resend import (
    TOPIC_REPLAY_HEADER,
    ScanProgress,
    Sender,
    connect,
    in_time_range,
    is_replay_copy,
    scan,
    topic_partitions,
    with_header,
)
from app.logging import get_logger
from app.main import app, settings
from stores.dead_letters import dead_letter_offsets as stored_offsets

__all__ = ["replay"]

log = get_logger("sei.commands.replay")


def to_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


async def dead_letter_offsets(topic: str) -> set[tuple[int, int]]:
    """(partition, offset) of every dead letter of ``topic``."""
    conn = await connect_database(settings.postgres_dsn)
    try:
        return await stored_offsets(conn, topic)
    finally:
        await conn.close()


@app.command(
    option("--topic", required=True, help="The topic to reprocess (e.g. git.commits)."),
    option(
        "--from-timestamp",
        type=INSTANT,
        required=True,
        help="First record timestamp to re-send (ISO-8601, inclusive).",
    ),
    option(
        "--to-timestamp",
        type=INSTANT,
        default=None,
        help="Re-send records before this time (ISO-8601, exclusive; default: now).",
    ),
    option(
        "--include-dead-letters",
        is_flag=True,
        default=False,
        help="Also re-send records that are in dead_letters (default: leave them to `dlq replay`).",
    ),
    option("--dry-run", is_flag=True, default=False, help="Count what would be re-sent; send nothing."),
    base=ToolCommand,
)
async def replay(
    self: ToolCommand,
    topic: str,
    from_timestamp: datetime,
    to_timestamp: datetime | None,
    include_dead_letters: bool,
    dry_run: bool,
) -> int:
    """Re-send a topic's records of a time range (by record timestamp) to be reprocessed."""
    until = to_timestamp or datetime.now(UTC)
    if until <= from_timestamp:
        raise OptionError(
            f"--from-timestamp {format_instant(from_timestamp)} must be before "
            f"--to-timestamp {format_instant(until)}"
        )
    if topic == settings.kafka_dlq_topic:
        raise OptionError(f"--topic {topic}: dead letters are replayed with `faust -A app dlq replay`")
    span = f"[{format_instant(from_timestamp)}, {format_instant(until)})"
    start_ms, end_ms = to_ms(from_timestamp), to_ms(until)

    def report(progress: ScanProgress) -> None:
        self.note(
            f"scanned {progress.scanned:,} of {progress.total:,} records of {topic} ({matched:,} in range)"
        )

    dead = set() if include_dead_letters else await dead_letter_offsets(topic)
    kafka = await connect(
        settings.bootstrap_servers, producer=not dry_run, compression_type=settings.producer_compression_type
    )
    matched = copies = dead_skipped = 0
    try:
        partitions = await topic_partitions(kafka.consumer, topic)
        if partitions is None:
            raise OptionError(f"--topic {topic!r}: no such topic on the broker at {settings.kafka_brokers}")
        sender = Sender(kafka.producer) if kafka.producer is not None else None
        progress = ScanProgress(report=report)
        async for record in scan(kafka.consumer, topic, partitions, progress):
            if not in_time_range(record.timestamp, start_ms, end_ms):
                continue
            headers = list(record.headers or ())
            if is_replay_copy(headers):
                copies += 1
                continue
            if (record.partition, record.offset) in dead:
                dead_skipped += 1
                continue
            matched += 1
            if sender is not None:
                await sender.send(
                    topic,
                    key=record.key,
                    value=record.value or b"",
                    headers=with_header(headers, TOPIC_REPLAY_HEADER, b"1"),
                    partition=record.partition,
                    tag=(record.partition, record.offset),
                )
        if sender is not None:
            await sender.flush()
    finally:
        await kafka.close()
    skipped_note = f", skipped {copies:,} copies of earlier replays" if copies else ""
    if dead_skipped:
        skipped_note += f", skipped {dead_skipped:,} dead letters (see `faust -A app dlq replay`)"
    if matched == 0:
        raise NothingMatched(
            f"no records of {topic} have a timestamp in {span} (scanned {progress.scanned:,}{skipped_note})"
        )
    if sender is None:
        self.out(
            f"dry run: would re-send {matched:,} of {progress.scanned:,} records of {topic} in {span}{skipped_note}"
        )
        return 0
    log.info("replay.finished", topic=topic, start=span, scanned=progress.scanned, sent=sender.sent)
    if sender.failed:
        first_tag, first_error = sender.failed[0]
        raise ToolError(
            f"re-sent {sender.sent:,} records of {topic} but {len(sender.failed):,} failed "
            f"(first: partition/offset {first_tag}: {first_error}); run the replay again"
        )
    self.out(f"re-sent {sender.sent:,} of {progress.scanned:,} records of {topic} in {span}{skipped_note}")
    return 0
