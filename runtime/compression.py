"""Compressed record batches: the codecs a worker reads, and the one it writes with.

Kafka compresses whole record batches; a consumer decompresses whatever codec each batch
names, whatever the topic's producers chose. aiokafka does gzip with the standard library
and snappy, lz4 and zstd with ``cramjam`` (its extras ``snappy``, ``lz4``, ``zstd``; main
dependencies here). Without cramjam the first such batch a worker fetches stops Faust's
fetcher (``UnsupportedCodecError``) and the worker exits; restarted, it fetches the same
batch again: the topic cannot be read at all. So a worker checks the codecs before it starts.
"""

from __future__ import annotations

from typing import Literal, get_args

from aiokafka import codec

__all__ = ["CODECS", "Compression", "compression_type", "missing_codecs"]

Compression = Literal["none", "gzip", "snappy", "lz4", "zstd"]
CODECS: tuple[Compression, ...] = get_args(Compression)

# aiokafka's own availability checks, which its producer and record batches consult.
_AVAILABLE = {
    "gzip": codec.has_gzip,
    "snappy": codec.has_snappy,
    "lz4": codec.has_lz4,
    "zstd": codec.has_zstd,
}


def compression_type(name: Compression) -> str | None:
    """The ``compression_type`` aiokafka's producer (and Faust's) takes: None for ``none``."""
    return None if name == "none" else name


def missing_codecs() -> list[str]:
    """The codecs this environment can neither read nor write, in ``CODECS`` order."""
    return [name for name in CODECS if name != "none" and not _AVAILABLE[name]()]
