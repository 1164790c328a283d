"""`python -m bench.logs_profile`: where a log's CPU goes in the logs agent, without a broker.

The first ``--logs`` lines of the labelled history (devtools.log_history, as bench.anomalies
sends them to the worker) are cut into batches of ``--batch-size`` and taken through the
steps agents.logs takes per batch, each step timed on its own: the message's dedupe id,
JSON decode, validation (with the key check), the services' table values copied, each
log's template, duplicate key and score, the values encoded as the coalesced table's
flush does at an offset commit (every 10 batches: about so at 5,000 logs/s and Faust's
2.8 s commit interval), the rows and the database statement's parameters. Printed: CPU µs per
log per step, and the total as logs/s of one core. ``--cprofile`` adds the functions that took the most time;
``--digest`` a hash of every output (rows, anomaly rows, ``logs.anomalies`` documents and
the final table values), which a change that keeps the results leaves as it was.

The tables are plain dicts here, the Faust event plumbing, Redis, the broker and the
database are left out: bench.anomalies ``--worker`` measures the whole worker.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import hashlib
import os
import pstats
import time
from collections.abc import Iterator, Sequence
from typing import Any

import orjson


class Stages:
    """CPU seconds per named step (the process's: a busy machine does not inflate them)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def time(self, name: str) -> Iterator[None]:
        started = time.process_time()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.process_time() - started


def profile(
    messages: Sequence[tuple[bytes, bytes]], batch_size: int, digest: Any | None, flush_every: int = 10
) -> Stages:
    """Every batch of ``messages`` through the agent's steps (module doc), timed per step;
    with ``digest``, through the agent's own function and every output hashed into it."""
    from faust.serializers import codecs

    from agents.intake import key_mismatch
    from agents.logs import CONFIG, SHAPE, LogBatch, ScoredLog, _outputs, score_service_logs
    from app.dedupe import message_id
    from models.decoding import decode_json_object
    from models.logs import LogLine, LogMessage, plain_log_line
    from stores.columns import json_rows
    from stores.logs import LOG_ANOMALY_COLUMNS, LOG_COLUMNS
    from tables.anomaly.detector import LogPoint
    from tables.anomaly.templates import template_key, template_of
    from tables.log_state import LogServiceState

    json_codec = codecs.get_codec("json")
    table: dict[str, LogServiceState] = {}
    written: set[str] = set()
    stages = Stages()
    for first in range(0, len(messages), batch_size):
        chunk = messages[first : first + batch_size]
        with stages.time("dedupe id"):
            for key, raw in chunk:
                message_id("logs", key, raw)
        with stages.time("json decode"):
            decoded = [decode_json_object(raw).value for _, raw in chunk]
        with stages.time("validate"):
            # The agent's: the common shape checked by hand, anything else by LogMessage.
            by_service: dict[str, list[LogLine]] = {}
            for (key, _), value in zip(chunk, decoded, strict=True):
                line = plain_log_line(value) or LogLine.of(LogMessage.model_validate(value))
                assert key_mismatch(key, line.service, "service") is None
                by_service.setdefault(line.service, []).append(line)
        batch = LogBatch()
        for service, logs in by_service.items():
            if digest is not None:
                value, scored, _ = score_service_logs(table.get(service), logs)
                table[service] = value
                batch.scored.extend(scored)
                continue
            # score_service_logs' steps, each on its own (the same calls in the same order).
            with stages.time("state copy"):
                state = LogServiceState.of(table.get(service), SHAPE)
            with stages.time("template"):
                templates = [template_of(m.message) for m in logs]
            with stages.time("template key"):
                keys = [template_key(t) for t in templates]
            with stages.time("log key"):
                log_keys = [m.log_key for m in logs]
            with stages.time("score"):
                for m, template, tkey, lkey in zip(logs, templates, keys, log_keys, strict=True):
                    point = LogPoint(m.timestamp.timestamp(), m.level, tkey, m.latency_ms)
                    parts = state.score(lkey, point, CONFIG, SHAPE)
                    if parts is not None:
                        batch.scored.append(ScoredLog(m, template, lkey, parts))
                state.quiet_due(CONFIG)
            table[service] = state
            written.add(service)
        if (first // batch_size + 1) % flush_every == 0:
            # The offset commit's flush (runtime.coalesced): each value written since, encoded.
            with stages.time("table flush"):
                for service in written:
                    json_codec.dumps(table[service].to_record())
            written.clear()
        with stages.time("rows"):
            _outputs(batch, None)
        with stages.time("db parameters"):  # stores.logs: the rows as one JSON document
            json_rows(batch.rows)
            LOG_ANOMALY_COLUMNS.arrays(batch.anomalies)
        if digest is not None:
            arrays = (LOG_COLUMNS.arrays(batch.rows), LOG_ANOMALY_COLUMNS.arrays(batch.anomalies))
            digest.update(repr(arrays).encode())
            digest.update(repr(batch.published).encode())
    if digest is not None:
        digest.update(orjson.dumps({k: v.to_record() for k, v in table.items()}, option=orjson.OPT_SORT_KEYS))
    return stages


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--logs", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=24.0, help="of the generated history")
    parser.add_argument("--cprofile", action="store_true", help="also the top functions under cProfile")
    parser.add_argument(
        "--digest", action="store_true", help="a hash of every output, to compare before/after a change"
    )
    args = parser.parse_args(argv)
    # The agent's module reads the settings when imported; no database is reached here.
    os.environ.setdefault("TIMESCALE_URL", "postgresql://postgres@127.0.0.1:5432/unused")
    from devtools.log_history import generate_log_history

    history = generate_log_history(hours=args.hours)
    messages = [(r.service.encode(), orjson.dumps(r.message_json())) for r in history.records[: args.logs]]
    n = len(messages)
    if args.digest:
        digest = hashlib.sha256()
        started = time.process_time()
        profile(messages, args.batch_size, digest)
        took = time.process_time() - started
        print(f"== {n:,} logs in {took:.1f} s ({took / n * 1e6:.1f} µs per log); digest {digest.hexdigest()}")
        return 0
    profile(messages[: min(n, 5 * args.batch_size)], args.batch_size, None)  # imports, caches
    stages = profile(messages, args.batch_size, None)
    total = sum(stages.seconds.values())
    print(
        f"== {n:,} logs, batches of {args.batch_size}: {total / n * 1e6:.1f} µs per log ({n / total:,.0f} logs/s)"
    )
    for name, seconds in sorted(stages.seconds.items(), key=lambda item: -item[1]):
        print(f"  {name:<14}{seconds / n * 1e6:>8.1f} µs  {seconds / total:>6.1%}")
    if args.cprofile:
        profiler = cProfile.Profile()
        profiler.enable()
        profile(messages, args.batch_size, None)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
