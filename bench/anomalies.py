"""`python -m bench.anomalies`: the log anomaly detector measured on a labelled history.

``devtools.log_history`` generates 24 simulated hours of 20 services with injected
incidents (latency spike, error burst, new error line, slow creep, service gone quiet) and
non-incidents that must not fire (a deploy's blip, a traffic peak). The detector
(tables.anomaly) scores every log in event-time order exactly as the worker does, and
checks for quiet services every ``--quiet-check`` seconds of event time (the watermark).

Printed per incident kind: recall (an incident counts as found when any flag of its service
falls inside its window), precision (flags inside incident windows / all flags), F1, and
the median detection delay (event time from the incident's start to its first flag); then
the non-incidents that fired, a sweep of thresholds, and the detector's own speed.
"""

from __future__ import annotations

import argparse
import bisect
import statistics
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from devtools.log_history import INCIDENT_KINDS, Episode, LogHistory, generate_log_history
from tables.anomaly.detector import DetectorConfig, LogPoint, ServiceState, check_quiet, score_log
from tables.anomaly.levels import normalize_level
from tables.anomaly.templates import template_key, template_of


@dataclass(frozen=True, slots=True)
class Scored:
    """Every warmed log's (time, score) per service, and the quiet flags (time)."""

    logs: dict[str, tuple[list[float], list[float]]]
    quiet: dict[str, list[float]]
    seconds: float
    count: int
    max_state_bytes: int


def score_history(history: LogHistory, config: DetectorConfig, quiet_check: float = 10.0) -> Scored:
    import json

    shape = config.shape()
    states: dict[str, ServiceState] = {s: ServiceState() for s in history.services}
    logs: dict[str, tuple[list[float], list[float]]] = {s: ([], []) for s in history.services}
    quiet: dict[str, list[float]] = defaultdict(list)
    next_check = history.start + quiet_check
    started = time.perf_counter()
    for record in history.records:
        while record.at >= next_check:
            for service, state in states.items():
                flag = check_quiet(state, next_check, config)
                if flag is not None:
                    quiet[service].append(flag.at)
            next_check += quiet_check
        point = LogPoint(
            record.at,
            normalize_level(record.level),
            template_key(template_of(record.message)),
            record.latency_ms,
        )
        parts = score_log(states[record.service], point, config, shape)
        if parts.warmed:
            times, scores = logs[record.service]
            times.append(record.at)
            scores.append(parts.score)
    seconds = time.perf_counter() - started
    size = max(len(json.dumps(state.to_value())) for state in states.values())
    return Scored(logs, dict(quiet), seconds, len(history.records), size)


@dataclass(frozen=True, slots=True)
class KindResult:
    kind: str
    incidents: int
    found: int
    inside: int  # flags inside this kind's windows
    delays: list[float]

    @property
    def recall(self) -> float:
        return self.found / self.incidents if self.incidents else 0.0


@dataclass(frozen=True, slots=True)
class Evaluation:
    threshold: float
    kinds: list[KindResult]
    flags: int
    inside: int
    non_incidents_fired: dict[str, tuple[int, int]]

    @property
    def precision(self) -> float:
        return self.inside / self.flags if self.flags else 0.0

    @property
    def recall(self) -> float:
        total = sum(k.incidents for k in self.kinds)
        return sum(k.found for k in self.kinds) / total if total else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def median_delay(self) -> float:
        delays = [d for k in self.kinds for d in k.delays]
        return statistics.median(delays) if delays else float("nan")


def _flags(scored: Scored, threshold: float) -> dict[str, list[float]]:
    flags: dict[str, list[float]] = {}
    for service, (times, scores) in scored.logs.items():
        flags[service] = sorted(
            [t for t, s in zip(times, scores, strict=True) if s >= threshold] + scored.quiet.get(service, [])
        )
    return flags


def _in(times: list[float], episode: Episode) -> list[float]:
    lo = bisect.bisect_left(times, episode.start)
    hi = bisect.bisect_left(times, episode.end)
    return times[lo:hi]


def evaluate(history: LogHistory, scored: Scored, threshold: float) -> Evaluation:
    flags = _flags(scored, threshold)
    kinds = []
    inside = 0
    for kind in INCIDENT_KINDS:
        episodes = [e for e in history.incidents if e.kind == kind]
        found, kind_inside, delays = 0, 0, []
        for episode in episodes:
            hits = _in(flags[episode.service], episode)
            kind_inside += len(hits)
            if hits:
                found += 1
                delays.append(hits[0] - episode.start)
        inside += kind_inside
        kinds.append(KindResult(kind, len(episodes), found, kind_inside, delays))
    fired: dict[str, tuple[int, int]] = {}
    for kind in ("deploy_blip", "traffic_peak"):
        episodes = [e for e in history.non_incidents if e.kind == kind]
        fired[kind] = (sum(1 for e in episodes if _in(flags[e.service], e)), len(episodes))
    return Evaluation(threshold, kinds, sum(len(f) for f in flags.values()), inside, fired)


def print_evaluation(ev: Evaluation) -> None:
    print(f"== threshold {ev.threshold:.2f}")
    print(f"  {'kind':<15}{'found':>8}{'recall':>8}{'flags in':>10}{'median delay':>14}{'max delay':>11}")
    for k in ev.kinds:
        med = f"{statistics.median(k.delays):.1f} s" if k.delays else "-"
        mx = f"{max(k.delays):.0f} s" if k.delays else "-"
        print(f"  {k.kind:<15}{k.found:>4}/{k.incidents:<3}{k.recall:>8.2f}{k.inside:>10}{med:>14}{mx:>11}")
    print(
        f"  overall: recall {ev.recall:.2f}, precision {ev.precision:.3f} ({ev.inside}/{ev.flags} flags inside incident windows), "
        f"F1 {ev.f1:.3f}, median delay {ev.median_delay:.1f} s"
    )
    for kind, (n, total) in ev.non_incidents_fired.items():
        print(f"  non-incident {kind}: {n}/{total} fired")


async def _rows(conn: object, expected: int) -> bool:
    import asyncpg

    assert isinstance(conn, asyncpg.Connection)
    return bool(await conn.fetchval("SELECT count(*) FROM logs") >= expected)


def worker_throughput(history: LogHistory, logs: int, batch_size: int) -> tuple[float, str, float, float]:
    """The first ``logs`` lines of the history through one worker on the local stack, from
    the first message produced until every row is in PostgreSQL: (logs/s, RSS timeline, peak MB,
    worker CPU µs per log: what the rate would be on a core of its own)."""
    import asyncio

    import asyncpg
    import orjson

    from bench.harness import RssTimeline, bench_stack, print_log_tail, wait_until
    from devtools.kafka_io import create_topics, produce

    messages = [(r.service.encode(), orjson.dumps(r.message_json())) for r in history.records[:logs]]
    with bench_stack("anomalies") as bench:
        asyncio.run(create_topics(bench.bootstrap, ["logs"], partitions=8))
        worker = bench.worker("worker", BATCH_SIZE=str(batch_size)).start()

        async def run() -> tuple[float, str, float, float]:
            conn = await asyncpg.connect(bench.database_url)
            try:
                worker.wait_ready()
                await produce(bench.bootstrap, "logs", messages[:1])
                await wait_until(lambda: _rows(conn, 1), timeout_s=120, poll_s=0.2)
                with RssTimeline(worker.process.pid) as rss:  # type: ignore[union-attr]
                    started = time.monotonic()
                    await produce(bench.bootstrap, "logs", messages[1:])
                    done = await wait_until(lambda: _rows(conn, len(messages)), timeout_s=1800, poll_s=0.5)
                sent = len(messages) - 1
                return sent / (done - started), rss.summary(), rss.peak_mb, rss.cpu_so_far() / sent * 1e6
            except BaseException:
                print_log_tail(worker)
                raise
            finally:
                await conn.close()
                worker.stop()

        return asyncio.run(run())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--per-kind", type=int, default=6)
    parser.add_argument("--seed", type=int, default=25)
    parser.add_argument("--threshold", type=float, default=None, help="default: DetectorConfig's")
    parser.add_argument(
        "--quiet-check", type=float, default=10.0, help="seconds of event time between quiet checks"
    )
    parser.add_argument(
        "--worker",
        type=int,
        default=0,
        metavar="LOGS",
        help="also send the first LOGS lines through one worker on the local stack and time them",
    )
    parser.add_argument(
        "--batch-size", type=int, default=1000, help="the worker's BATCH_SIZE (with --worker)"
    )
    args = parser.parse_args(argv)
    config = DetectorConfig()
    if args.threshold is not None:
        config = replace(config, threshold=args.threshold)
    started = time.perf_counter()
    history = generate_log_history(
        services=args.services, hours=args.hours, per_kind=args.per_kind, seed=args.seed
    )
    print(
        f"== history: {len(history.records):,} logs, {len(history.services)} services, {args.hours:g} h, "
        f"{len(history.incidents)} incidents, {len(history.non_incidents)} non-incidents "
        f"(generated in {time.perf_counter() - started:.1f} s)"
    )
    scored = score_history(history, config, args.quiet_check)
    print(
        f"== detector: {scored.count / scored.seconds:,.0f} logs/s in one process ({scored.seconds:.1f} s), "
        f"largest service state {scored.max_state_bytes:,} bytes as JSON"
    )
    ev = evaluate(history, scored, config.threshold)
    print_evaluation(ev)
    print("== threshold sweep (statistics 0.6 / forest 0.4)")
    for step in range(8, 17):
        t = step * 0.05
        e = evaluate(history, scored, t)
        print(
            f"  {t:.2f}: recall {e.recall:.2f} precision {e.precision:.3f} F1 {e.f1:.3f} median delay {e.median_delay:.1f} s"
            f"  non-incidents fired {sum(n for n, _ in e.non_incidents_fired.values())}"
        )
    if args.worker:
        rate, timeline, peak, cpu_us = worker_throughput(history, args.worker, args.batch_size)
        print(
            f"== one worker, BATCH_SIZE={args.batch_size}: {rate:,.0f} logs/s end to end (produce to rows), "
            f"worker CPU {cpu_us:,.0f} µs per log; RSS {timeline} (peak {peak:.0f} MB)"
        )
    ok = ev.f1 >= 0.8 and ev.median_delay <= 30.0
    print(
        f"== {'OK' if ok else 'BELOW TARGET'}: F1 {ev.f1:.3f} (>= 0.8), median delay {ev.median_delay:.1f} s (<= 30 s)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
