"""`python -m bench.broker`: the bundled broker's acknowledgement latency as its topic grows.

A producer sends single records at a fixed rate (default 500/s) to a fresh Tansu broker for
several consecutive runs (default 6 x 10 s), each record awaited like one /ingest request;
first alone, then with a consumer reading the same topic (as a worker does). Per run: p50,
p95 and p99 of the acknowledgement time, and the broker's CPU. It separates what the
broker costs from what the worker costs in `bench.ingest`'s single-event latency: the
memory engine's work per request grows with what it holds.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.harness import BenchStack, ProcessSampler, bench_stack
from bench.ingest import percentile
from devtools.kafka_io import create_topics

TOPIC = "bench.broker"
VALUE = b"x" * 300  # about an /ingest event's Avro record


async def _consume(bootstrap: list[str], stop: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(
        TOPIC, bootstrap_servers=bootstrap, group_id="bench-broker", auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        while not stop.is_set():
            if await consumer.getmany(timeout_ms=200):
                await consumer.commit()
    finally:
        await consumer.stop()


async def _acknowledged(producer: AIOKafkaProducer, key: bytes, latencies: list[float]) -> None:
    sent = time.perf_counter()
    await (await producer.send(TOPIC, VALUE, key=key))
    latencies.append((time.perf_counter() - sent) * 1000)


async def _runs(
    bench: BenchStack, sampler: ProcessSampler, args: argparse.Namespace, with_consumer: bool
) -> None:
    label = "with a consumer" if with_consumer else "alone"
    producer = AIOKafkaProducer(bootstrap_servers=bench.bootstrap, acks="all")
    await producer.start()
    stop = asyncio.Event()
    reader = asyncio.ensure_future(_consume(bench.bootstrap, stop)) if with_consumer else None
    print(f"== {args.rate:,} records/s, {label}")
    try:
        for run in range(args.runs):
            latencies: list[float] = []
            cpu_before = sampler.cpu_so_far()
            started = time.perf_counter()
            pending = []
            for number in range(int(args.rate * args.seconds)):
                delay = started + number / args.rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                key = f"{label}-{run}-{number}".encode()
                pending.append(asyncio.ensure_future(_acknowledged(producer, key, latencies)))
            await asyncio.gather(*pending)
            cpu = sampler.cpu_so_far() - cpu_before
            p50, p95, p99 = (percentile(latencies, q) for q in (0.5, 0.95, 0.99))
            print(
                f"  run {run + 1} (topic holds {(run + 1) * len(latencies):,} of these): ack p50 {p50:.1f} ms, "
                f"p95 {p95:.1f} ms, p99 {p99:.1f} ms; broker CPU {cpu:.1f} s "
                f"({cpu / (time.perf_counter() - started):.0%} of a core)"
            )
    finally:
        stop.set()
        if reader is not None:
            await reader
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=500, help="records/s")
    parser.add_argument("--seconds", type=float, default=10, help="length of a run")
    parser.add_argument("--runs", type=int, default=6, help="consecutive runs on one topic")
    args = parser.parse_args()
    for with_consumer in (False, True):
        with bench_stack("broker") as bench:
            asyncio.run(create_topics(bench.bootstrap, [TOPIC], partitions=8))
            with ProcessSampler(bench.stack.broker.process.pid) as sampler:
                asyncio.run(_runs(bench, sampler, args, with_consumer))


if __name__ == "__main__":
    main()
