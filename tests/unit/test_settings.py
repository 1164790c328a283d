from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.settings import SettingsError, load_settings, mask_url

URL = "postgresql://sei:secret@db:5432/sei"


def test_settings_defaults_follow_the_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAFKA_BROKERS", "STORE", "REDIS_URL", "BATCH_SIZE", "BATCH_TIMEOUT_MS", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(timescale_url=URL)
    assert settings.kafka_brokers == "kafka:9092"
    assert settings.redis_url == "redis://redis:6379"
    assert settings.consumer_group_id == "data-processor-group"
    assert settings.batch_size == 100
    assert settings.batch_timeout_ms == 5000
    assert settings.web_port == 6066
    assert settings.topic_partitions == 8
    assert settings.store == "rocksdb://"
    assert settings.log_level == "INFO"


@pytest.mark.parametrize(
    ("brokers", "url"),
    [
        pytest.param("kafka:9092", "sei-kafka://kafka:9092", id="one"),
        pytest.param("k1:9092, k2:9093", "sei-kafka://k1:9092;k2:9093", id="list"),
        pytest.param("kafka://k1:9092", "sei-kafka://k1:9092", id="kafka-url"),
        pytest.param("tansu://127.0.0.1:1234", "tansu://127.0.0.1:1234", id="tansu"),
    ],
)
def test_settings_broker_url_from_kafka_brokers(brokers: str, url: str) -> None:
    assert load_settings(timescale_url=URL, kafka_brokers=brokers).broker_url == url


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"batch_size": "abc"}, "BATCH_SIZE='abc' is invalid", id="batch-size-not-int"),
        pytest.param({"batch_size": 0}, "BATCH_SIZE=0 is invalid", id="batch-size-zero"),
        pytest.param(
            {"timescale_url": "mysql://x/y"}, "TIMESCALE_URL='mysql://x/y' is invalid", id="db-scheme"
        ),
        pytest.param(
            {"timescale_url": "postgresql://h:5432"}, "needs a host and a database name", id="db-no-name"
        ),
        pytest.param({"kafka_brokers": "kafka"}, "KAFKA_BROKERS='kafka' is invalid", id="broker-no-port"),
        pytest.param({"redis_url": "http://x"}, "REDIS_URL='http://x' is invalid", id="redis-scheme"),
        pytest.param({"log_level": "LOUD"}, "LOG_LEVEL='LOUD' is invalid", id="log-level"),
        pytest.param(
            {"rocksdb_write_buffer_mb": 0}, "ROCKSDB_WRITE_BUFFER_MB=0 is invalid", id="rocksdb-buffer-zero"
        ),
    ],
)
def test_settings_bad_value_names_the_variable(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        load_settings(**{"timescale_url": URL, **overrides})


def test_settings_missing_database_url_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIMESCALE_URL", raising=False)
    with pytest.raises(SettingsError, match="TIMESCALE_URL is required but not set"):
        load_settings()


def test_settings_error_masks_passwords() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(timescale_url="mysql://u:hunter2@h/d")
    assert "hunter2" not in str(info.value)


def test_mask_url_hides_password_only() -> None:
    assert mask_url(URL) == "postgresql://sei:***@db:5432/sei"
    assert mask_url("redis://redis:6379") == "redis://redis:6379"


def _faust(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    faust = Path(sys.executable).with_name("faust")
    return subprocess.run(
        [str(faust), "-A", "app", *args],
        # A bare environment (no TIMESCALE_URL etc. from the shell), but this checkout's code.
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            "TIMESCALE_URL": URL,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_worker_with_bad_setting_stops_with_one_line() -> None:
    result = _faust("worker", BATCH_SIZE="lots")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "sei-processor: configuration error: BATCH_SIZE='lots' is invalid: "
        "Input should be a valid integer, unable to parse string as an integer"
    ]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        pytest.param("TIMESCALE_URL", "postgresql://sei:S3cretPW@[db/sei", id="db-unclosed-bracket"),
        pytest.param("REDIS_URL", "redis://:S3cretPW@[redis", id="redis-unclosed-bracket"),
    ],
)
def test_settings_malformed_url_is_a_configuration_error_without_the_password(
    variable: str, value: str
) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(**{"timescale_url": URL, variable.lower(): value})
    message = str(info.value)
    assert message.startswith(f"{variable}=") and "malformed URL" in message
    assert "S3cretPW" not in message and info.value.__suppress_context__


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        pytest.param("TIMESCALE_URL", "postgresql://sei:S3cretPW@[db/sei", id="db-unclosed-bracket"),
        pytest.param("REDIS_URL", "redis://:S3cretPW@[redis", id="redis-unclosed-bracket"),
    ],
)
def test_worker_with_malformed_url_names_it_and_never_prints_the_password(variable: str, value: str) -> None:
    result = _faust("worker", **{variable: value})
    assert result.returncode == 2
    assert "S3cretPW" not in result.stdout + result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"sei-processor: configuration error: {variable}='") and "malformed URL" in line


def test_dlq_list_never_prints_a_query_password() -> None:
    # Port 1 refuses: the tool reports the URL it could not reach.
    result = _faust(
        "dlq", "list", TIMESCALE_URL="postgresql://sei@127.0.0.1:1/sei?sslmode=disable&password=S3cretPW"
    )
    assert result.returncode != 0
    assert (
        "cannot connect to the database at postgresql://sei@127.0.0.1:1/sei?sslmode=disable&password=***"
        in (result.stderr + result.stdout)
    )
    assert "S3cretPW" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("value", "codec", "producer_type"),
    [
        pytest.param("none", "none", None, id="none"),
        pytest.param("gzip", "gzip", "gzip", id="gzip"),
        pytest.param("snappy", "snappy", "snappy", id="snappy"),
        pytest.param("LZ4", "lz4", "lz4", id="lz4-any-case"),
        pytest.param("zstd", "zstd", "zstd", id="zstd"),
    ],
)
def test_settings_kafka_compression_gives_the_producers_codec(
    value: str, codec: str, producer_type: str | None
) -> None:
    settings = load_settings(timescale_url=URL, kafka_compression=value)
    assert settings.kafka_compression == codec
    assert settings.producer_compression_type == producer_type


def test_settings_kafka_compression_defaults_to_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_COMPRESSION", raising=False)
    settings = load_settings(timescale_url=URL)
    assert (settings.kafka_compression, settings.producer_compression_type) == ("none", None)


@pytest.mark.parametrize("value", ["brotli", "", "snappy,lz4", "uncompressed"])
def test_settings_unknown_kafka_compression_names_the_variable_and_the_codecs(value: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(timescale_url=URL, kafka_compression=value)
    assert str(info.value) == (
        f"KAFKA_COMPRESSION={value!r} is invalid: Input should be 'none', 'gzip', 'snappy', 'lz4' or 'zstd'"
    )


def test_settings_kafka_compression_without_its_library_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As on an installation without cramjam: aiokafka itself then has gzip only.
    monkeypatch.setattr("aiokafka.codec.cramjam", None)
    assert load_settings(timescale_url=URL, kafka_compression="gzip").producer_compression_type == "gzip"
    with pytest.raises(SettingsError) as info:
        load_settings(timescale_url=URL, kafka_compression="zstd")
    assert str(info.value) == (
        "KAFKA_COMPRESSION='zstd' is invalid: aiokafka has no zstd codec in this installation: "
        "install cramjam (pip install 'aiokafka[zstd]'), or choose another codec"
    )


def test_worker_with_bad_kafka_compression_stops_with_one_line() -> None:
    result = _faust("worker", KAFKA_COMPRESSION="brotli")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "sei-processor: configuration error: KAFKA_COMPRESSION='brotli' is invalid: "
        "Input should be 'none', 'gzip', 'snappy', 'lz4' or 'zstd'"
    ]
