"""A batch's database write overlapping the preparation of the next batch.

In bench.commits the worker waited a quarter of its time on the database: a batch of 100
commits is ~10 ms of Python, then ~7 ms of round trips and a WAL flush during which the
event loop had nothing to do. ``WriteBehind`` lets an agent hand its batch's write over and
go on decoding, validating and merging the next batch while the database works.

The rules that keep the numbers right:

- **A message is acked when its write is done, and only then.** The batch reader does
  not ack write-behind batches when the loop body returns (``ack_after_body=False`` in
  runtime.batch_reader; Faust's ``take()`` would, before the write is done): the write's task
  acks every message once the rows are durable, and only then is the offset committable.
  A crash loses the write together with the uncommitted offsets: the batch is
  redelivered. A batch whose preparation raises (a bug) is never submitted, so never
  acked: its partition's commit stands still while the preparation is retried
  (agents.batches), rather than committed unwritten.
- **Writes stay in order, one in flight.** ``submit`` awaits the previous write before
  starting the next, so a later batch's upsert never lands before an earlier one's (day
  totals are last-writer-wins), and a slow or unreachable database holds the agent back
  exactly as an inline write did, one batch ahead at most.
- **A write that fails is not acked past.** Transient database errors are retried inside
  the write and data errors dead-lettered there; anything else escaping a write is a bug.
  Given as a function and with ``until_done`` (agents.batches), the write is retried, its
  messages unacked, while the worker reports it stuck, as a batch body that raises is;
  given as a coroutine (it cannot run twice), the worker exits at once (EX_TEMPFAIL) and
  the batch is redelivered after restart.
- **Shutdown.** ``finish`` awaits the write in flight within what is left of the shutdown's
  grace (``runtime.shutdown``, shared with the body's own wait), so Faust's last commit covers
  it; if the database does not answer in time the worker exits without committing, as an
  unfinished batch body does (``agents.batches``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from faust.types import EventT

from runtime.log import get_logger
from runtime.shutdown import EXIT_UNFLUSHED, exit_now, remaining_grace_s

__all__ = ["UntilDone", "WriteBehind"]

Write = Coroutine[Any, Any, None] | Callable[[], Awaitable[None]]
# Runs a batch's write until it is done (True: ack the batch) or given up (False: leave it
# unacked, for redelivery).
UntilDone = Callable[[Sequence[EventT[Any]], Callable[[], Awaitable[None]]], Awaitable[bool]]

log = get_logger("sei.write_behind")


class WriteBehind:
    """One agent's batch writes, run one at a time in submission order (module doc)."""

    def __init__(self, what: str, until_done: UntilDone | None = None) -> None:
        self.what = what
        self.until_done = until_done
        self._task: asyncio.Future[None] | None = None

    @property
    def in_flight(self) -> bool:
        return self._task is not None and not self._task.done()

    async def submit(self, events: Sequence[EventT[Any]], write: Write) -> None:
        """Start ``write`` once the previous one is done; ``events`` are acked after it.

        Returns without awaiting ``write``. The caller must not ack ``events`` itself (the
        batch reader's ``ack_after_body=False``): the write's ack is their only one.
        """
        try:
            await self.wait()
        except BaseException:
            if asyncio.iscoroutine(write):
                write.close()
            raise
        self._task = asyncio.ensure_future(self._run(events, write))

    async def wait(self) -> None:
        """Until the write in flight, if any, is done."""
        task = self._task
        if task is not None:
            await asyncio.shield(task)
            if self._task is task:
                self._task = None

    async def finish(self, grace_s: float | None = None) -> None:
        """At shutdown: the write in flight, within ``grace_s`` (default: what is left of the
        shutdown's grace, runtime.shutdown), or exit without committing."""
        if not self.in_flight:
            return
        if grace_s is None:
            grace_s = remaining_grace_s()
        log.info("shutdown.finishing_write", what=self.what, grace_seconds=grace_s)
        try:
            await asyncio.wait_for(self.wait(), grace_s)
        except BaseException:
            log.error(
                "shutdown.batch_unflushed",
                what=self.what,
                hint="exiting without committing offsets; the batch is redelivered after restart",
            )
            exit_now(EXIT_UNFLUSHED)

    async def _run(self, events: Sequence[EventT[Any]], write: Write) -> None:
        if self.until_done is not None and not asyncio.iscoroutine(write):
            if await self.until_done(events, write):
                for event in events:
                    event.ack()
            return
        try:
            await (write if asyncio.iscoroutine(write) else write())
        except asyncio.CancelledError:
            raise  # the loop is closing: unacked, the batch is redelivered
        except BaseException:
            log.critical(
                "write_behind.failed",
                what=self.what,
                messages=len(events),
                exc_info=True,
                hint="exiting without committing offsets; the batch is redelivered after restart",
            )
            exit_now(EXIT_UNFLUSHED)
            return
        for event in events:
            event.ack()
