"""A labelled ``logs`` history for bench.anomalies and the tests: S services over H hours.

Deterministic for a seed. Each service logs as a Poisson process whose rate follows a daily
shape (lowest at 04:00, highest at 16:00), from a fixed set of message lines with ids,
numbers and durations filled in; latency is log-normal around the service's own median, a
little higher under load, with rare slow outliers; a small share of logs are background
errors from the service's usual error lines.

Injected incidents (the labels; an incident's window is ``[start, end)``):
- ``latency_spike``: latency x4..x8 for 5-15 minutes;
- ``error_burst``: 50-70 % of the logs are errors for 3-10 minutes;
- ``new_error``: an error line never logged before makes 20-30 % of the logs for 5-10 minutes;
- ``slow_creep``: latency grows linearly to x4 over 90 minutes;
- ``quiet``: the service logs nothing for 10-20 minutes.
Non-incidents that must not fire: ``deploy_blip`` (30 s of latency x1.5 with the deploy's
own info lines) and ``traffic_peak`` (30 minutes at three times the rate, latency x1.1).
The first ``warmup_hours`` have none of either.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["Episode", "LogHistory", "LogRecord", "generate_log_history", "INCIDENT_KINDS", "QUIET_KINDS"]

IncidentKind = Literal["latency_spike", "error_burst", "new_error", "slow_creep", "quiet"]
INCIDENT_KINDS: tuple[IncidentKind, ...] = (
    "latency_spike",
    "error_burst",
    "new_error",
    "slow_creep",
    "quiet",
)
QUIET_KINDS = ("deploy_blip", "traffic_peak")
START = datetime(2026, 11, 2, tzinfo=UTC).timestamp()

_INFO_LINES = (
    "GET /api/v1/orders/{n} 200",
    "POST /api/v1/orders 201 order {id} created",
    "user {n} logged in from {ip}",
    "cache hit for key session:{hex}",
    "cache miss for key product:{n}",
    "request {id} completed in {n}ms",
    "published event order.updated for {id}",
    "health check ok",
)
_WARNING_LINES = ("retry {n}/3 calling inventory after {n}ms", "slow query on table orders took {n}ms")
_ERROR_LINES = (
    "upstream timeout calling payments after {n}ms",
    "failed to acquire connection from pool '{word}'",
    "request {id} failed: status {n}",
)
_NEW_ERRORS = (
    "NullPointerException in {word}Handler.process at line {n}",
    "disk quota exceeded on volume {hex}",
    "certificate for {word}.internal expired",
    "deadlock detected while updating {word} row {n}",
    "schema mismatch: column {word} missing in table {word}",
    "out of memory allocating {n} bytes for {word}",
    "TLS handshake to {ip} failed: unknown CA",
    "consumer {id} lost partition {n} of {word}",
)
_WORDS = ("payments", "orders", "billing", "cart", "search", "users", "ledger", "catalog")


@dataclass(frozen=True, slots=True)
class Episode:
    kind: str
    service: str
    start: float  # seconds since the epoch
    end: float
    factor: float = 1.0
    line: str = ""


@dataclass(frozen=True, slots=True)
class LogRecord:
    service: str
    at: float
    level: str
    message: str
    latency_ms: float | None
    request_id: str

    def message_json(self) -> dict[str, Any]:
        """The ``logs`` topic's JSON for this record (timestamp ISO 8601 UTC, level as sent)."""
        value: dict[str, Any] = {
            "service": self.service,
            "level": self.level,
            "message": self.message,
            "timestamp": datetime.fromtimestamp(self.at, UTC).isoformat().replace("+00:00", "Z"),
            "request_id": self.request_id,
        }
        if self.latency_ms is not None:
            value["latency_ms"] = self.latency_ms
        return value


@dataclass(slots=True)
class LogHistory:
    start: float
    end: float
    services: list[str]
    records: list[LogRecord] = field(default_factory=list)
    incidents: list[Episode] = field(default_factory=list)
    non_incidents: list[Episode] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Service:
    name: str
    rate: float  # logs per second at the daily mean
    latency_ms: float
    sigma: float
    error_share: float
    spellings: tuple[str, str, str]  # how this service writes warning, error, critical


def _daily(t: float) -> float:
    hour = ((t - START) / 3600.0) % 24.0
    return 0.35 + 0.65 * (0.5 - 0.5 * math.cos(2 * math.pi * (hour - 4.0) / 24.0))


def _fill(line: str, rng: random.Random) -> str:
    out = line
    while "{" in out:
        head, rest = out.split("{", 1)
        name, tail = rest.split("}", 1)
        value = {
            "n": lambda: str(rng.randrange(1, 100000)),
            "id": lambda: f"req_{rng.getrandbits(40):010x}",
            "hex": lambda: f"{rng.getrandbits(64):016x}",
            "ip": lambda: f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}",
            "word": lambda: rng.choice(_WORDS),
        }[name]()
        out = head + value + tail
    return out


def _place(
    rng: random.Random,
    busy: dict[str, list[tuple[float, float]]],
    service: str,
    length: float,
    lo: float,
    hi: float,
) -> float:
    """A start in [lo, hi - length] whose episode (with 20 minutes either side) overlaps none of the service's."""
    for _ in range(1000):
        start = rng.uniform(lo, hi - length)
        if all(start + length + 1200 < s or start > e + 1200 for s, e in busy[service]):
            busy[service].append((start, start + length))
            return start
    raise ValueError(f"no room for a {length:.0f} s episode on {service}")


def generate_log_history(
    *,
    services: int = 20,
    hours: float = 24.0,
    per_kind: int = 6,
    seed: int = 25,
    warmup_hours: float = 1.0,
    rate: float = 0.35,
    prefix: str = "svc",
    deploys: int = 3,
) -> LogHistory:
    rng = random.Random(seed)
    start, end = START, START + hours * 3600.0
    specs = [
        _Service(
            name=f"{prefix}-{i:02d}",
            rate=rate * rng.uniform(0.6, 1.4),
            latency_ms=rng.uniform(20.0, 300.0),
            sigma=rng.uniform(0.25, 0.4),
            error_share=rng.uniform(0.003, 0.02),
            spellings=rng.choice(
                (("WARN", "ERROR", "FATAL"), ("warning", "error", "critical"), ("Warn", "ERR", "CRIT"))
            ),
        )
        for i in range(services)
    ]
    history = LogHistory(start, end, [s.name for s in specs])
    busy: dict[str, list[tuple[float, float]]] = {s.name: [] for s in specs}
    lo = start + warmup_hours * 3600.0
    lengths = {
        "latency_spike": (300, 900),
        "error_burst": (180, 600),
        "new_error": (300, 600),
        "slow_creep": (5400, 5400),
        "quiet": (600, 1200),
    }
    new_lines = list(_NEW_ERRORS)
    for kind in INCIDENT_KINDS:
        for i in range(per_kind):
            service = rng.choice(specs).name
            length = rng.uniform(*lengths[kind])
            at = _place(rng, busy, service, length, lo, end)
            factor = {
                "latency_spike": rng.uniform(4, 8),
                "error_burst": rng.uniform(0.5, 0.7),
                "new_error": rng.uniform(0.2, 0.3),
                "slow_creep": 4.0,
            }.get(kind, 1.0)
            line = new_lines[i % len(new_lines)] if kind == "new_error" else ""
            history.incidents.append(Episode(kind, service, at, at + length, factor, line))
    for spec in specs:
        for _ in range(deploys):
            at = _place(rng, busy, spec.name, 30.0, lo, end)
            history.non_incidents.append(Episode("deploy_blip", spec.name, at, at + 30.0, 1.5))
    for _ in range(per_kind):
        service = rng.choice(specs).name
        at = _place(rng, busy, service, 1800.0, lo, end)
        history.non_incidents.append(Episode("traffic_peak", service, at, at + 1800.0, 3.0))

    episodes: dict[str, list[Episode]] = {s.name: [] for s in specs}
    for episode in [*history.incidents, *history.non_incidents]:
        episodes[episode.service].append(episode)
    for spec in specs:
        _service_logs(
            spec,
            episodes[spec.name],
            start,
            end,
            random.Random(f"{seed}:svc{spec.name[len(prefix) :]}"),
            history.records,
        )
    history.records.sort(key=lambda r: (r.at, r.service))
    return history


def _service_logs(
    spec: _Service,
    episodes: list[Episode],
    start: float,
    end: float,
    rng: random.Random,
    out: list[LogRecord],
) -> None:
    warning, error, critical = spec.spellings
    t = start
    deploys_logged: set[float] = set()
    while True:
        active = [e for e in episodes if e.start <= t < e.end]
        rate = spec.rate * _daily(t) / 0.675  # the daily shape's mean is 0.675
        if any(e.kind == "traffic_peak" for e in active):
            rate *= 3.0
        t += rng.expovariate(rate)
        if t >= end:
            return
        active = [e for e in episodes if e.start <= t < e.end]
        kinds = {e.kind: e for e in active}
        if "quiet" in kinds:
            continue
        latency: float | None = (
            spec.latency_ms * math.exp(rng.gauss(0.0, spec.sigma)) * (0.9 + 0.2 * _daily(t))
        )
        if rng.random() < 0.002:
            latency *= 8.0  # a background slow request
        level, line = "info", rng.choice(_INFO_LINES)
        roll = rng.random()
        if roll < spec.error_share:
            level, line = (critical if rng.random() < 0.1 else error), rng.choice(_ERROR_LINES)
        elif roll < spec.error_share + 0.03:
            level, line = warning, rng.choice(_WARNING_LINES)
        if "latency_spike" in kinds:
            latency *= kinds["latency_spike"].factor
        if "slow_creep" in kinds:
            e = kinds["slow_creep"]
            latency *= 1.0 + (e.factor - 1.0) * (t - e.start) / (e.end - e.start)
        if "traffic_peak" in kinds:
            latency *= 1.1
        if "error_burst" in kinds and rng.random() < kinds["error_burst"].factor:
            level, line = (critical if rng.random() < 0.1 else error), rng.choice(_ERROR_LINES)
        if "new_error" in kinds and rng.random() < kinds["new_error"].factor:
            level, line = error, kinds["new_error"].line
        if "deploy_blip" in kinds:
            e = kinds["deploy_blip"]
            latency *= e.factor
            if e.start not in deploys_logged:
                deploys_logged.add(e.start)
                level, line = "info", "deploy started: version {n} on {ip}"
        if rng.random() < 0.1:
            latency = None  # not every line is a request
        out.append(
            LogRecord(
                spec.name,
                round(t, 3),
                level,
                _fill(line, rng),
                None if latency is None else round(latency, 2),
                f"{rng.getrandbits(64):016x}",
            )
        )
