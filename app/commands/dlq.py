"""``faust -A app dlq list|show|replay``: inspect dead letters and send them back.

``replay`` sends each selected record's bytes (or, for one record, a corrected payload
from ``--value-file``) to its original topic with its original key and the header
``x-sei-replay-of: <dlq_id>``, awaits the deliveries together, then marks the records
replayed. The selected rows stay locked until then, so two replays at once send once;
a record already replayed is skipped unless ``--force``.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import ClassVar

import asyncpg
import click
from faust.cli import option
from faust.cli.base import argument, cli

from app.commands.base import ToolCommand, connect_database
from app.commands.dlq_selection import Selection, StoredLetter, plan_replay
from app.commands.exceptions import NothingMatched, OptionError, ToolError
from app.commands.params import INSTANT, format_instant
from app.commands.resend import Sender, connect
from app.logging import get_logger
from app.main import app, settings
from models.dead_letter import REPLAY_HEADER
from stores.dead_letters import mark_replayed, read_dead_letters

__all__ = ["dlq_group"]

log = get_logger("sei.commands.dlq")
LOCK_TIMEOUT = "30s"


@cli.group(name="dlq")
def dlq_group() -> None:
    """Dead letters: list, show, replay (`faust -A app dlq COMMAND --help`)."""


class DlqCommand(ToolCommand):
    abstract: ClassVar[bool] = True
    group = dlq_group


async def fetch_letters(
    conn: asyncpg.Connection,
    selection: Selection,
    *,
    limit: int | None = None,
    for_replay: bool = False,
    lock: bool = False,
) -> list[StoredLetter]:
    """The selected rows: newest first, or in topic order for a replay (locked if ``lock``)."""
    where, args = selection.where()
    rows = await read_dead_letters(conn, where, args, in_topic_order=for_replay, limit=limit, lock=lock)
    return [StoredLetter.from_row(row) for row in rows]


@app.command(
    option("--topic", default=None, help="Only dead letters of this topic."),
    option("--error-type", default=None, help="Only this error type (e.g. DecodeError, ValidationError)."),
    option("--since", type=INSTANT, default=None, help="Only failures at or after this time (ISO-8601)."),
    option("--limit", type=click.IntRange(min=1), default=100, help="At most this many (newest first)."),
    option("--json", "as_json", is_flag=True, default=False, help="Print a JSON array instead of lines."),
    base=DlqCommand,
    command_name="list",
)
async def dlq_list(
    self: DlqCommand,
    topic: str | None,
    error_type: str | None,
    since: datetime | None,
    limit: int,
    as_json: bool,
) -> int:
    """List dead letters, newest first: id, topic/partition/offset, error, failed at, replayed."""
    selection = Selection(topic=topic, error_type=error_type, since=since)
    selection.check()
    conn = await connect_database(settings.postgres_dsn)
    try:
        letters = await fetch_letters(conn, selection, limit=limit)
    finally:
        await conn.close()
    if as_json or self.json:
        self.out(json.dumps([letter.summary() for letter in letters], indent=2))
    else:
        for letter in letters:
            self.out(letter.line())
        self.note(f"{len(letters)} dead letter(s) ({selection.describe()}, limit {limit})")
    return 0


@app.command(
    argument("dlq_id"),
    option("--raw", is_flag=True, default=False, help="Write only the exact original bytes to stdout."),
    base=DlqCommand,
    command_name="show",
)
async def dlq_show(self: DlqCommand, dlq_id: str, raw: bool) -> int:
    """Show one dead letter in full: original message, error, metadata, replay info."""
    conn = await connect_database(settings.postgres_dsn)
    try:
        letters = await fetch_letters(conn, Selection(dlq_ids=(dlq_id,)))
    finally:
        await conn.close()
    if not letters:
        raise NothingMatched(f"no dead letter with dlq_id {dlq_id!r} (see `faust -A app dlq list`)")
    if raw:
        self.write_bytes(letters[0].original)
    else:
        self.out(json.dumps(letters[0].record(), indent=2, ensure_ascii=False))
    return 0


@app.command(
    option("--dlq-id", "dlq_ids", multiple=True, help="Replay this dead letter (repeatable)."),
    option("--topic", default=None, help="Replay the dead letters of this original topic."),
    option(
        "--partition", type=click.IntRange(min=0), default=None, help="With --topic: only this partition."
    ),
    option(
        "--start-offset",
        type=click.IntRange(min=0),
        default=None,
        help="With --partition: from this offset (inclusive).",
    ),
    option(
        "--end-offset",
        type=click.IntRange(min=0),
        default=None,
        help="With --partition: to this offset (inclusive).",
    ),
    option("--error-type", default=None, help="Replay the dead letters of this error type."),
    option(
        "--value-file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="Send this file's bytes instead of the stored original (exactly one --dlq-id).",
    ),
    option("--force", is_flag=True, default=False, help="Also send records that were replayed before."),
    option("--dry-run", is_flag=True, default=False, help="Print what would be sent; send nothing."),
    base=DlqCommand,
    command_name="replay",
)
async def dlq_replay(
    self: DlqCommand,
    dlq_ids: tuple[str, ...],
    topic: str | None,
    partition: int | None,
    start_offset: int | None,
    end_offset: int | None,
    error_type: str | None,
    value_file: Path | None,
    force: bool,
    dry_run: bool,
) -> int:
    """Send dead letters back to their original topic (after a fix), and mark them replayed."""
    selection = Selection(tuple(dlq_ids), topic, partition, start_offset, end_offset, error_type)
    selection.check_for_replay(value_file=value_file is not None)
    corrected = read_value_file(value_file) if value_file is not None else None
    conn = await connect_database(settings.postgres_dsn)
    try:
        async with conn.transaction():
            if not dry_run:
                await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            try:
                letters = await fetch_letters(conn, selection, for_replay=True, lock=not dry_run)
            except asyncpg.LockNotAvailableError:
                raise ToolError(
                    f"another `dlq replay` holds these records (waited {LOCK_TIMEOUT}); try again when it is done"
                ) from None
            return await replay_letters(
                self, conn, selection, letters, corrected, force=force, dry_run=dry_run
            )
    finally:
        await conn.close()


def read_value_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise OptionError(f"--value-file {str(path)!r} cannot be read: {exc}") from None


async def replay_letters(
    self: DlqCommand,
    conn: asyncpg.Connection,
    selection: Selection,
    letters: list[StoredLetter],
    corrected: bytes | None,
    *,
    force: bool,
    dry_run: bool,
) -> int:
    missing = selection.missing(letters)
    if missing:
        raise NothingMatched(
            f"no dead letter with --dlq-id {', '.join(missing)} (see `faust -A app dlq list`)"
        )
    if not letters:
        raise NothingMatched(f"no dead letters match {selection.describe()}")
    plan = plan_replay(letters, force=force)
    for letter in plan.skipped:
        self.note(
            f"skip {letter.dlq_id}: already replayed {letter.replay_count}x, last "
            f"{format_instant(letter.replayed_at)} (--force sends it again)"
        )
    if not plan.send:
        self.out(f"nothing to replay: all {len(letters)} selected dead letter(s) were replayed before")
        return 0

    def payload(letter: StoredLetter) -> bytes:
        return corrected if corrected is not None else letter.original

    if dry_run:
        for letter in plan.send:
            what = "corrected payload" if corrected is not None else "original"
            self.out(
                f"would send {letter.dlq_id} -> {letter.topic} key={letter.key_text!r} "
                f"({what}, {len(payload(letter))} bytes) with {REPLAY_HEADER}: {letter.dlq_id}"
            )
        self.out(f"dry run: {len(plan.send)} would be sent, {len(plan.skipped)} skipped; nothing sent")
        return 0

    kafka = await connect(
        settings.bootstrap_servers, producer=True, compression_type=settings.producer_compression_type
    )
    try:
        assert kafka.producer is not None
        sender = Sender(kafka.producer)
        for letter in plan.send:
            await sender.send(
                letter.topic,
                key=letter.key,
                value=payload(letter),
                headers=[(REPLAY_HEADER, letter.dlq_id.encode())],
                tag=letter.dlq_id,
            )
        delivered = [str(tag) for tag in await sender.flush()]
    finally:
        await kafka.close()
    if delivered:
        await mark_replayed(conn, delivered)
    by_id = {letter.dlq_id: letter for letter in plan.send}
    for dlq_id in delivered:
        self.out(f"sent {dlq_id} -> {by_id[dlq_id].topic} ({len(payload(by_id[dlq_id]))} bytes)")
    for tag, error in sender.failed:
        self.note(f"FAILED {tag}: {type(error).__name__}: {error}")
    log.info(
        "dlq.replayed",
        selection=selection.describe(),
        sent=len(delivered),
        failed=len(sender.failed),
        skipped=len(plan.skipped),
        corrected=corrected is not None,
    )
    self.out(f"replayed {len(delivered)}, skipped {len(plan.skipped)}, failed {len(sender.failed)}")
    return 1 if sender.failed else 0
