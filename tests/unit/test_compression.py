"""The codecs a worker reads and writes: every Kafka codec, from this installation."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from aiokafka import codec
from aiokafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

from runtime.compression import CODECS, compression_type, missing_codecs

ROOT = Path(__file__).resolve().parents[2]


def test_every_kafka_codec_is_available_here() -> None:
    assert CODECS == ("none", "gzip", "snappy", "lz4", "zstd")
    assert missing_codecs() == []


def test_the_project_depends_on_aiokafka_with_every_codec() -> None:
    # A fresh installation reads snappy, lz4 and zstd only through these extras (cramjam).
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    [aiokafka] = [d for d in dependencies if d.startswith("aiokafka")]
    assert aiokafka.startswith("aiokafka[lz4,snappy,zstd]")


def test_without_cramjam_only_gzip_is_left(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codec, "cramjam", None)
    assert missing_codecs() == ["snappy", "lz4", "zstd"]


@pytest.mark.parametrize("name", [c for c in CODECS if c != "none"])
def test_each_codec_round_trips_a_record_batch(name: str) -> None:
    # aiokafka's own batch builder and reader, as its producer and consumer use them.
    attributes = {"gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}[name]
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=attributes,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    values = [b'{"event_type": "page_view", "n": %d}' % i for i in range(50)]
    for offset, value in enumerate(values):
        builder.append(offset, timestamp=None, key=b"user-1", value=value, headers=[])
    batch = DefaultRecordBatch(bytes(builder.build()))
    assert batch.compression_type == attributes
    assert [record.value for record in batch] == values
    assert compression_type(name) == name


def test_none_is_no_compression_type() -> None:
    assert compression_type("none") is None


def test_worker_without_cramjam_stops_at_start_naming_what_to_install(tmp_path: Path) -> None:
    # A `cramjam` that fails to import, first on the path: aiokafka then has gzip only.
    (tmp_path / "cramjam.py").write_text("raise ImportError('hidden by the test')\n")
    faust = Path(sys.executable).with_name("faust")
    result = subprocess.run(
        [str(faust), "-A", "app", "worker"],
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
            "TIMESCALE_URL": "postgresql://sei@127.0.0.1:1/sei",
            "KAFKA_COMPRESSION": "gzip",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "sei-processor: cannot read record batches compressed with snappy, lz4, zstd: "
        "aiokafka finds no cramjam; install it (pip install 'aiokafka[lz4,snappy,zstd]')"
    ]
