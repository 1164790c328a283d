"""Settings: one typed, frozen object read from the environment.

Names and defaults follow the seed service (KAFKA_BROKERS, TIMESCALE_URL, REDIS_URL, ...).
Only wiring modules (app.main, app.resources, alembic/env.py) read it; everything else
receives plain arguments.
"""

from __future__ import annotations

import re
import socket
import sys
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import SplitResult, urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.exceptions import ProcessorError
from app.redaction import mask_url, scrub
from models.timescale import normalize_mode
from runtime.compression import CODECS, Compression, compression_type, missing_codecs

__all__ = ["Settings", "SettingsError", "load_settings", "mask_url"]

_HOST_PORT = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")
_API_KEY_MIN = 12
_API_KEY = re.compile(rf"^[\x21-\x7e]{{{_API_KEY_MIN},256}}$")
# Never shown in an error message, whatever their value.
_SECRET_FIELDS = frozenset({"ingest_api_keys"})
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class SettingsError(ProcessorError):
    """A setting has a value the processor cannot use; the message names it."""


def _split_url(value: str) -> SplitResult:
    """``urlsplit`` whose error says what is wrong without quoting any part of the URL.

    urllib's own messages may quote a piece of a misparsed password (as a "port").
    """
    try:
        parts = urlsplit(value)
        parts.hostname  # noqa: B018 - parsing the host raises for an unclosed "["
    except ValueError:
        raise ValueError(
            "malformed URL: check the host (an IPv6 address needs both brackets) and "
            "percent-encode @ : / ? # [ ] in the user name and password"
        ) from None
    return parts


class Settings(BaseSettings):
    """Runtime configuration of a worker, read from environment variables."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

    kafka_brokers: str = Field(
        "kafka:9092",
        description="comma-separated host:port list, or a kafka:// or tansu:// URL",
    )
    # repr=False: a settings object in a log line or a traceback must not show passwords.
    timescale_url: str = Field(description="postgresql://user[:password]@host:port/database", repr=False)
    redis_url: str = Field("redis://redis:6379", description="redis://host:port[/db]", repr=False)
    timescaledb: Literal["auto", "on", "off"] = Field(
        "auto",
        description="migrations: auto uses TimescaleDB where the server offers it, on requires it, "
        "off builds the plain-PostgreSQL schema",
    )
    log_level: LogLevel = "INFO"
    consumer_group_id: str = Field("data-processor-group", min_length=1, max_length=200)
    batch_size: int = Field(100, ge=1, le=100_000)
    batch_timeout_ms: int = Field(5000, ge=1, le=600_000)
    # A partial batch waits this long for more, not the whole timeout (runtime.batch_reader).
    batch_quiet_ms: int = Field(100, ge=0, le=600_000)
    web_port: int = Field(6066, ge=1, le=65535)
    web_bind: str = "127.0.0.1"
    web_canonical_url: str | None = Field(
        None, description="URL other workers use to reach this one (default http://WEB_BIND:WEB_PORT)"
    )
    topic_partitions: int = Field(8, ge=1, le=10_000)
    table_standby_replicas: int = Field(1, ge=0, le=10)
    store: str = "rocksdb://"
    rocksdb_write_buffer_mb: int = Field(8, ge=1, le=1024)
    # All table partitions of the worker together: one block cache, memtables charged to it.
    rocksdb_memory_mb: int = Field(64, ge=8, le=65_536)
    data_dir: Path = Path("data")
    kafka_session_timeout_ms: int = Field(30_000, ge=1_000, le=600_000)
    kafka_fetch_min_bytes: int = Field(64 * 1024, ge=1, le=64 * 1024 * 1024)
    kafka_fetch_max_wait_ms: int = Field(250, ge=10, le=30_000)
    max_retries: int = Field(3, ge=0, le=100)
    retry_backoff_base_s: float = Field(2.0, ge=0.0, le=300.0)
    db_pool_size: int = Field(4, ge=1, le=100)
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    kafka_dlq_topic: str = Field("dlq-events", min_length=1, max_length=249)
    # none by default: on the worker's output the codecs buy little for the CPU of its one
    # core (measured in docs/operations.md, KAFKA_COMPRESSION); what it reads may be in any.
    kafka_compression: Compression = Field(
        "none",
        description=f"codec of the record batches the worker produces: {', '.join(CODECS)}",
    )
    validation_mode: Literal["strict", "warn", "disabled"] = "strict"
    dedupe_ttl_s: int = Field(86_400, ge=60, le=30 * 86_400)
    state_retention_days: int = Field(
        120,
        ge=90,
        le=3650,
        description="days of a repository's history (before its latest event) kept in the live tables; "
        "at least the longest window (90 days)",
    )
    production_environments: Annotated[frozenset[str], NoDecode] = Field(
        frozenset({"production"}), description="comma-separated deployment environments that count for DORA"
    )
    ingest_api_keys: SecretStr = Field(
        SecretStr(""), description="comma-separated API keys for POST /ingest (empty: /ingest answers 401)"
    )
    data_quality_min_score: float = Field(0.5, ge=0.0, le=1.0)
    ingest_max_body_bytes: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    ingest_topic: str = Field(
        "events.ingest", min_length=1, max_length=200, description="topic of generic ingested events (POST /ingest)"
    )
    activity_topic: str = Field("user-activity-events", min_length=1, max_length=200)
    activity_grace_s: int = Field(
        300, ge=0, le=86_400, description="seconds an activity event may trail its partition's latest"
    )
    activity_idle_s: int = Field(
        30, ge=1, le=3_600, description="seconds at its end offset before an activity partition is idle"
    )
    activity_session_gap_s: int = Field(
        1800, ge=1, le=86_400, description="seconds without events of a user that end its session"
    )
    activity_user_cache: int = Field(
        2_048,
        ge=16,
        le=1_000_000,
        description="users whose activity and join values a worker keeps decoded between batches",
    )
    anomaly_threshold: float = Field(
        0.6, ge=0.0, le=1.0, description="combined log score at or above which a log is an anomaly (docs/anomalies.md)"
    )
    anomaly_warmup: int = Field(300, ge=1, le=1_000_000, description="logs of a service before any of its flags")
    team_bands_interval_s: float = Field(
        300.0,
        ge=1.0,
        le=86_400.0,
        description="seconds between the group leader's refreshes of sei_dora_team_band",
    )
    ml_engine_url: str | None = Field(
        None, description="external ML engine scoring each batch of logs (POST {url}/score); unset: local scores"
    )
    ml_engine_timeout_ms: int = Field(1000, ge=10, le=60_000)
    ml_engine_failures: int = Field(3, ge=1, le=100, description="consecutive failures that open the breaker")
    ml_engine_open_s: float = Field(30.0, ge=0.0, le=3_600.0, description="seconds the breaker stays open")
    otel_exporter_otlp_endpoint: str = Field(
        "",
        description="OTLP/HTTP collector URL for traces, e.g. http://otel-collector:4318 (empty: tracing off)",
    )

    @field_validator("ml_engine_url")
    @classmethod
    def _check_ml_engine_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.strip()

    @field_validator("ingest_api_keys")
    @classmethod
    def _check_api_keys(cls, value: SecretStr) -> SecretStr:
        for key in value.get_secret_value().split(","):
            key = key.strip()
            if key and not _API_KEY.match(key):
                raise ValueError(
                    f"each key must be {_API_KEY_MIN}-256 printable characters without spaces "
                    "(keys separated by commas)"
                )
        return value

    @field_validator("production_environments", mode="before")
    @classmethod
    def _split_environments(cls, value: Any) -> Any:
        if isinstance(value, str):
            names = frozenset(name.strip() for name in value.split(",") if name.strip())
            if not names:
                raise ValueError("expected a comma-separated list of environment names, e.g. production,prod-eu")
            return names
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("timescaledb", mode="before")
    @classmethod
    def _timescaledb_mode(cls, value: Any) -> Any:
        return normalize_mode(value) if isinstance(value, str) else value

    @field_validator("validation_mode", "event_loop", "kafka_compression", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("kafka_compression")
    @classmethod
    def _check_codec(cls, value: Compression) -> Compression:
        if value in missing_codecs():
            raise ValueError(
                f"aiokafka has no {value} codec in this installation: install cramjam "
                f"(pip install 'aiokafka[{value}]'), or choose another codec"
            )
        return value

    @field_validator("kafka_brokers")
    @classmethod
    def _check_brokers(cls, value: str) -> str:
        scheme, _, rest = value.rpartition("://")
        if scheme and scheme not in ("kafka", "sei-kafka", "tansu"):
            raise ValueError("scheme must be kafka:// or tansu://")
        hosts = [h.strip() for h in rest.replace(";", ",").split(",")]
        if not hosts or not all(_HOST_PORT.match(h) for h in hosts):
            raise ValueError("expected host:port[,host:port...], e.g. kafka:9092")
        return value

    @field_validator("timescale_url")
    @classmethod
    def _check_postgres_url(cls, value: str) -> str:
        parts = _split_url(value)
        if parts.scheme not in ("postgresql", "postgres", "postgresql+asyncpg"):
            raise ValueError("expected postgresql://user[:password]@host:port/database")
        has_host = bool(parts.hostname) or "host=" in parts.query
        if not has_host or not parts.path.strip("/"):
            raise ValueError("needs a host and a database name: postgresql://user@host:5432/db")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        parts = _split_url(value)
        if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
            raise ValueError("expected redis://host:port[/db]")
        return value

    @field_validator("store")
    @classmethod
    def _check_store(cls, value: str) -> str:
        if not value.startswith(("rocksdb://", "memory://")):
            raise ValueError("expected rocksdb:// or memory://")
        return value

    @property
    def broker_url(self) -> str:
        """The Faust broker URL: ``sei-kafka://h1:9092;h2:9092`` (``tansu://`` locally).

        Kafka brokers are reached through runtime.transport.KafkaTransport: Faust's aiokafka
        driver with its recovery/seek race fixed.
        """
        scheme, _, rest = self.kafka_brokers.rpartition("://")
        hosts = [h.strip() for h in rest.replace(";", ",").split(",") if h.strip()]
        if scheme in ("", "kafka"):
            scheme = "sei-kafka"
        return f"{scheme}://{';'.join(hosts)}"

    @property
    def producer_compression_type(self) -> str | None:
        """KAFKA_COMPRESSION as aiokafka's and Faust's producers take it (None: uncompressed)."""
        return compression_type(self.kafka_compression)

    @property
    def api_keys(self) -> tuple[bytes, ...]:
        """The accepted ingest API keys (UTF-8), empty when none is configured."""
        keys = (k.strip() for k in self.ingest_api_keys.get_secret_value().split(","))
        return tuple(k.encode() for k in keys if k)

    @property
    def canonical_url(self) -> str:
        """Where other workers reach this one when they route a table query here."""
        if self.web_canonical_url:
            return self.web_canonical_url
        host = socket.gethostname() if self.web_bind in ("0.0.0.0", "::") else self.web_bind
        return f"http://{host}:{self.web_port}"

    @property
    def bootstrap_servers(self) -> list[str]:
        """Broker addresses as aiokafka takes them."""
        return self.broker_url.split("://", 1)[1].split(";")

    @property
    def postgres_dsn(self) -> str:
        """The database URL as asyncpg takes it (no SQLAlchemy driver suffix)."""
        return self.timescale_url.replace("postgresql+asyncpg://", "postgresql://", 1)

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL for SQLAlchemy's async engine (alembic)."""
        scheme, rest = self.postgres_dsn.split("://", 1)
        return f"postgresql+asyncpg://{rest}"


def _describe(error: ErrorDetails) -> str:
    field = str(error["loc"][0]) if error.get("loc") else "?"
    variable = field.upper()
    value = error.get("input")
    if error["type"] == "missing":
        return f"{variable} is required but not set ({_field_help(field)})"
    if field in _SECRET_FIELDS:
        shown: Any = "***"
    else:
        shown = mask_url(value) if isinstance(value, str) and "://" in value else value
    reason = str(error["msg"]).removeprefix("Value error, ")
    if isinstance(value, str):
        reason = scrub(reason, [value])
    return f"{variable}={shown!r} is invalid: {reason}"


def _field_help(field: str) -> str:
    info = Settings.model_fields.get(field)
    return info.description if info and info.description else "see docs/operations.md, Configuration"


def load_settings(**overrides: Any) -> Settings:
    """Build the settings; a bad value raises SettingsError with one line per variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError("; ".join(_describe(e) for e in exc.errors())) from None


def load_settings_or_exit() -> Settings:
    """Build the settings, or stop the process with one clear line (no traceback)."""
    try:
        return load_settings()
    except SettingsError as exc:
        print(f"sei-processor: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
