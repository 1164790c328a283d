"""The consumer's hand-over of fetched messages to the streams, without a task per message.

Faust's ``Consumer._drain_messages`` hands each message to the streams with
``wait_first(callback(message), suspend_flow.wait())``: four tasks and an ``asyncio.wait``
per message, so that a delivery stuck on a full stream buffer or on flow control is
abandoned when a rebalance suspends the flow. Almost every delivery finishes without
waiting at all, and for those the tasks are pure cost: 10-15 % of a worker's event loop in
bench.commits.

``deliver`` runs the delivery coroutine's first step in place. When it finishes there,
that was the whole delivery. When it waits, the rest of it is raced against the flow's
suspension exactly as Faust does, so rebalances behave as before. ``LeanDrain`` is
Faust's loop around it, with the same read-offset, gap and commit bookkeeping.

**Full stream buffers.** When a stream's buffer fills, Faust takes the partition out of the
fetch (``on_buffer_full``) and puts it back when the buffer has drained to half
(``on_buffer_drop``). A fetch already waiting does not see it come back: it waits its whole
second for the other partitions (changelogs, idle topics), and with every partition out the
fetcher sleeps a second. In bench.commits a fetch brings 10,000-20,000 records and fills the
buffers of all eight source partitions, and the worker stood idle for a second after
nearly every fetch. While partitions are out, ``LeanDrain`` fetches the others for
``BUFFERED_POLL_S`` at a time, and with none left waits for the first to come back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, cast

from faust.transport.consumer import CONSUMER_FETCHING
from faust.types import TP

__all__ = ["LeanDrain", "deliver", "Resumed"]

# Faust yields to the event loop every 100 messages so that a large fetch does not
# starve the agents; kept.
YIELD_EVERY = 100
# How long a fetch waits for records while partitions are out for full buffers: they come
# back within this of draining (a buffer drains from full to half in ~0.2 s at 10,000/s).
BUFFERED_POLL_S = 0.05


class Resumed:
    """Awaitable: the rest of a coroutine whose first step already ran and yielded."""

    __slots__ = ("_coro", "_yielded")

    def __init__(self, coro: Coroutine[Any, Any, Any], yielded: Any) -> None:
        self._coro = coro
        self._yielded = yielded

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, yielded = self._coro, self._yielded
        while True:
            try:
                sent = yield yielded
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # cancellation goes into the coroutine
                try:
                    yielded = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    yielded = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def deliver(
    coro: Coroutine[Any, Any, Any],
    race: Callable[[Awaitable[Any]], Awaitable[Any]],
) -> None:
    """Run ``coro``; if it has to wait, finish it through ``race`` (which may abandon it)."""
    try:
        yielded = coro.send(None)
    except StopIteration:
        return
    await race(Resumed(coro, yielded))


class LeanDrain:
    """Mixin for ``faust.transport.consumer.Consumer``: ``_drain_messages`` via ``deliver``,
    and a fetcher that resumes as soon as a full stream buffer has drained (module doc)."""

    _buffer_drained: asyncio.Event | None = None

    def _drained_event(self) -> asyncio.Event:
        if self._buffer_drained is None:
            self._buffer_drained = asyncio.Event()
        return self._buffer_drained

    def on_buffer_full(self, tp: TP) -> None:
        self._drained_event().clear()
        super().on_buffer_full(tp)  # type: ignore[misc]

    def on_buffer_drop(self, tp: TP) -> None:
        super().on_buffer_drop(tp)  # type: ignore[misc]
        self._drained_event().set()

    async def _wait_next_records(self, timeout: float) -> Any:
        this = cast(Any, self)
        if this._buffered_partitions and this.flow_active and not this.app.client_only:
            if not this._get_active_partitions():
                # Where Faust sleeps a second: until a partition is back (or the consumer
                # stops, or the second is over).
                await this.wait(self._drained_event(), timeout=timeout)
                return {}, set()
            timeout = min(timeout, BUFFERED_POLL_S)
        return await super()._wait_next_records(timeout)  # type: ignore[misc]

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - run by every worker test
        this = cast(Any, self)
        callback = this.callback
        getmany = this.getmany
        consumer_should_stop = this._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        get_read_offset = this._read_offset.__getitem__
        set_read_offset = this._read_offset.__setitem__
        set_flag = this.diag.set_flag
        unset_flag = this.diag.unset_flag
        commit_every = this._commit_every
        acks_enabled_for = this.app.topics.acks_enabled_for
        suspend_flow = this.suspend_flow

        def race(rest: Awaitable[Any]) -> Awaitable[Any]:
            return cast(Awaitable[Any], this.wait_first(rest, suspend_flow.wait()))

        since_yield = 0
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                records = getmany(timeout=1.0)
                await asyncio.sleep(0)  # getmany may return at once, again and again
                if not this.should_stop:
                    async for tp, message in records:
                        since_yield += 1
                        if since_yield > YIELD_EVERY:
                            await asyncio.sleep(0)
                            since_yield = 0
                        offset = message.offset
                        read_offset = get_read_offset(tp)
                        if read_offset is not None and offset < read_offset:
                            continue  # read before (a re-fetch after a seek): Faust drops it too
                        if read_offset and offset - read_offset > 1 and acks_enabled_for(message.topic):
                            await this._add_gap(tp, read_offset + 1, offset)
                        if commit_every is not None and this._n_acked >= commit_every:
                            this._n_acked = 0
                            await this.commit()
                        await deliver(callback(message), race)
                        set_read_offset(tp, offset)
                    unset_flag(CONSUMER_FETCHING)
        except this.consumer_stopped_errors:
            if this.transport.app.should_stop:
                this.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if this.transport.app.should_stop:
                this.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            this.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)
