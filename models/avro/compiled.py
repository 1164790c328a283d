"""Avro bodies written and read by functions built once per schema, for the schemas the
ingest path uses (records of strings, enums, optional values and arrays).

fastavro interprets the schema for every datum: about 1 µs per field here, 14-17 µs per
ingested event each way, a fifth of the /ingest request's work. A schema compiled into
nested closures does the same in 9-11 µs. What the closures cover is deliberately narrow:
exact Python types only (``str`` for string, ``int`` but not ``bool`` for long, ...), and
unions of ``null`` and one other type. Anything else, in the schema (fixed, logical types,
wider unions, recursive records) or in a datum (a value of another type, a long past 64
bits, bytes that do not read), makes the compiled function raise, and the caller
(models.avro.codec) hands the datum to fastavro instead: its output, or its error, is
then exactly what it was before. Bytes written here are fastavro's, byte for byte (a
property test pins this).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from models.exceptions import ModelError

__all__ = ["NotCompilable", "Encoder", "Decoder", "compile_encoder", "compile_decoder"]

Out = list[bytes]
Writer = Callable[[Any, Out], None]
Reader = Callable[[bytes, int], tuple[Any, int]]
Encoder = Callable[[Mapping[str, Any]], bytes]
Decoder = Callable[[bytes, int], tuple[dict[str, Any], int]]
F = TypeVar("F")

_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_ONE_BYTE = [bytes([value]) for value in range(128)]
_FLOAT = struct.Struct("<f")
_DOUBLE = struct.Struct("<d")
_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


class NotCompilable(ModelError):
    """The schema uses something the compiled functions do not cover."""


def _zigzag(value: int) -> bytes:
    encoded = (value << 1) ^ (value >> 63)
    if encoded < 128:
        return _ONE_BYTE[encoded]
    out = bytearray()
    while encoded > 127:
        out.append((encoded & 0x7F) | 0x80)
        encoded >>= 7
    out.append(encoded)
    return bytes(out)


def _read_long(buf: bytes, pos: int) -> tuple[int, int]:
    byte = buf[pos]
    pos += 1
    if byte < 128:
        return (byte >> 1) ^ -(byte & 1), pos
    encoded = byte & 0x7F
    shift = 7
    while True:
        byte = buf[pos]
        pos += 1
        encoded |= (byte & 0x7F) << shift
        if byte < 128:
            break
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")
    return (encoded >> 1) ^ -(encoded & 1), pos


# ------------------------------------------------------------------------------- writers


def _write_null(value: Any, out: Out) -> None:
    if value is not None:
        raise TypeError("null expected")


def _write_boolean(value: Any, out: Out) -> None:
    if type(value) is not bool:
        raise TypeError("bool expected")
    out.append(b"\x01" if value else b"\x00")


def _integer_writer(low: int, high: int) -> Writer:
    def write(value: Any, out: Out) -> None:
        if type(value) is not int or not low <= value <= high:
            raise TypeError("int in range expected")
        out.append(_zigzag(value))

    return write


def _struct_writer(packer: struct.Struct) -> Writer:
    def write(value: Any, out: Out) -> None:
        if type(value) is not float:
            raise TypeError("float expected")
        out.append(packer.pack(value))

    return write


def _write_string(value: Any, out: Out) -> None:
    if type(value) is not str:
        raise TypeError("str expected")
    encoded = value.encode()
    out.append(_zigzag(len(encoded)))
    out.append(encoded)


def _write_bytes(value: Any, out: Out) -> None:
    if type(value) is not bytes:
        raise TypeError("bytes expected")
    out.append(_zigzag(len(value)))
    out.append(value)


_PRIMITIVE_WRITERS: dict[str, Writer] = {
    "null": _write_null,
    "boolean": _write_boolean,
    "int": _integer_writer(_INT_MIN, _INT_MAX),
    "long": _integer_writer(_LONG_MIN, _LONG_MAX),
    "float": _struct_writer(_FLOAT),
    "double": _struct_writer(_DOUBLE),
    "bytes": _write_bytes,
    "string": _write_string,
}


def _nullable_writer(null_index: int, write_other: Writer) -> Writer:
    null_tag, other_tag = _zigzag(null_index), _zigzag(1 - null_index)

    def write(value: Any, out: Out) -> None:
        if value is None:
            out.append(null_tag)
        else:
            out.append(other_tag)
            write_other(value, out)

    return write


def _enum_writer(symbols: list[str]) -> Writer:
    indexes = {symbol: _zigzag(index) for index, symbol in enumerate(symbols)}

    def write(value: Any, out: Out) -> None:
        if type(value) is not str:
            raise TypeError("enum symbol expected")
        out.append(indexes[value])

    return write


def _array_writer(write_item: Writer) -> Writer:
    def write(value: Any, out: Out) -> None:
        if type(value) is not list:
            raise TypeError("list expected")
        if value:
            out.append(_zigzag(len(value)))
            for item in value:
                write_item(item, out)
        out.append(b"\x00")

    return write


def _map_writer(write_value: Writer) -> Writer:
    def write(value: Any, out: Out) -> None:
        if type(value) is not dict:
            raise TypeError("dict expected")
        if value:
            out.append(_zigzag(len(value)))
            for key, item in value.items():
                _write_string(key, out)
                write_value(item, out)
        out.append(b"\x00")

    return write


_MISSING = object()


def _record_writer(fields: list[tuple[dict[str, Any], Writer]]) -> Writer:
    compiled: list[tuple[str, Any, Writer]] = []
    for field, write_field in fields:
        field_type = field["type"]
        if "default" in field:
            default = field["default"]
        elif field_type == "null" or (isinstance(field_type, list) and "null" in field_type):
            default = None
        else:
            default = _MISSING
        compiled.append((field["name"], default, write_field))

    def write(value: Any, out: Out) -> None:
        if type(value) is not dict:
            raise TypeError("dict expected")
        for name, default, write_field in compiled:
            item = value.get(name, default)
            if item is _MISSING:
                raise KeyError(name)
            write_field(item, out)

    return write


# ------------------------------------------------------------------------------- readers


def _read_null(buf: bytes, pos: int) -> tuple[Any, int]:
    return None, pos


def _read_boolean(buf: bytes, pos: int) -> tuple[Any, int]:
    byte = buf[pos]
    if byte > 1:
        raise ValueError(f"boolean byte {byte}")
    return byte == 1, pos + 1


def _integer_reader(low: int, high: int) -> Reader:
    def read(buf: bytes, pos: int) -> tuple[Any, int]:
        value, pos = _read_long(buf, pos)
        if not low <= value <= high:
            raise ValueError("integer out of range")
        return value, pos

    return read


def _struct_reader(unpacker: struct.Struct) -> Reader:
    size = unpacker.size

    def read(buf: bytes, pos: int) -> tuple[Any, int]:
        return unpacker.unpack_from(buf, pos)[0], pos + size

    return read


def _read_length(buf: bytes, pos: int) -> tuple[int, int]:
    length, pos = _read_long(buf, pos)
    if length < 0 or pos + length > len(buf):
        raise ValueError("length past the end of the body")
    return length, pos


def _read_string(buf: bytes, pos: int) -> tuple[Any, int]:
    length = buf[pos]
    if length < 128 and not length & 1:  # a length under 64: one byte, the common case
        pos += 1
        end = pos + (length >> 1)
        if end > len(buf):
            raise ValueError("length past the end of the body")
    else:
        length, pos = _read_length(buf, pos)
        end = pos + length
    return buf[pos:end].decode(), end


def _read_bytes(buf: bytes, pos: int) -> tuple[Any, int]:
    length, pos = _read_length(buf, pos)
    end = pos + length
    return bytes(buf[pos:end]), end


_PRIMITIVE_READERS: dict[str, Reader] = {
    "null": _read_null,
    "boolean": _read_boolean,
    "int": _integer_reader(_INT_MIN, _INT_MAX),
    "long": _integer_reader(_LONG_MIN, _LONG_MAX),
    "float": _struct_reader(_FLOAT),
    "double": _struct_reader(_DOUBLE),
    "bytes": _read_bytes,
    "string": _read_string,
}


def _nullable_reader(null_index: int, read_other: Reader) -> Reader:
    null_byte, other_byte = 2 * null_index, 2 * (1 - null_index)  # zigzag of 0 and 1

    def read(buf: bytes, pos: int) -> tuple[Any, int]:
        tag = buf[pos]
        if tag == null_byte:
            return None, pos + 1
        if tag != other_byte:
            raise ValueError(f"union branch tag {tag}")
        return read_other(buf, pos + 1)

    return read


def _enum_reader(symbols: list[str]) -> Reader:
    count = len(symbols)

    def read(buf: bytes, pos: int) -> tuple[Any, int]:
        index, pos = _read_long(buf, pos)
        if not 0 <= index < count:
            raise ValueError(f"enum index {index}")
        return symbols[index], pos

    return read


def _block_count(buf: bytes, pos: int) -> tuple[int, int]:
    """The item count of the next block; a negative count is followed by the block's size."""
    count, pos = _read_long(buf, pos)
    if count < 0:
        count = -count
        _, pos = _read_long(buf, pos)
    return count, pos


def _array_reader(read_item: Reader) -> Reader:
    def read(buf: bytes, pos: int) -> tuple[Any, int]:
        items: list[Any] = []
        count, pos = _block_count(buf, pos)
        while count:
            for _ in range(count):
                item, pos = read_item(buf, pos)
                items.append(item)
            count, pos = _block_count(buf, pos)
        return items, pos

    return read


def _map_reader(read_value: Reader) -> Reader:
    def read(buf: bytes, pos: int) -> tuple[Any, int]:
        items: dict[str, Any] = {}
        count, pos = _block_count(buf, pos)
        while count:
            for _ in range(count):
                key, pos = _read_string(buf, pos)
                items[key], pos = read_value(buf, pos)
            count, pos = _block_count(buf, pos)
        return items, pos

    return read


def _record_reader(compiled: list[tuple[dict[str, Any], Reader]]) -> Reader:
    fields = [(field["name"], read_field) for field, read_field in compiled]

    def read(buf: bytes, pos: int) -> tuple[Any, int]:
        record: dict[str, Any] = {}
        for name, read_field in fields:
            record[name], pos = read_field(buf, pos)
        return record, pos

    return read


# ------------------------------------------------------------------------------- compiling


@dataclass(frozen=True, slots=True)
class _Kit(Generic[F]):
    """How to build one kind of function (writers or readers) for each schema type."""

    primitives: Mapping[str, F]
    nullable: Callable[[int, F], F]  # (index of the null branch, the other branch's)
    record: Callable[[list[tuple[dict[str, Any], F]]], F]  # (field, its function) in order
    enum: Callable[[list[str]], F]
    array: Callable[[F], F]
    map: Callable[[F], F]


def _named(name: str, named: Mapping[str, Any], seen: frozenset[str]) -> Any:
    if name in seen:
        raise NotCompilable(f"recursive type {name!r}")
    if name not in named:
        raise NotCompilable(f"unknown type {name!r}")
    return named[name]


def _null_branch(schema: list[Any]) -> tuple[int, Any]:
    """(index of the null branch, the other branch) of a two-branch optional union."""
    if len(schema) != 2 or schema.count("null") != 1:
        raise NotCompilable(f"only unions of null and one type are compiled, not {schema!r}")
    null_index = schema.index("null")
    return null_index, schema[1 - null_index]


def _compile(schema: Any, named: Mapping[str, Any], seen: frozenset[str], kit: _Kit[F]) -> F:
    """The function ``kit`` builds for ``schema``; NotCompilable for what it does not cover."""
    if isinstance(schema, str):
        if schema in kit.primitives:
            return kit.primitives[schema]
        return _compile(_named(schema, named, seen), named, seen | {schema}, kit)
    if isinstance(schema, list):
        null_index, other = _null_branch(schema)
        return kit.nullable(null_index, _compile(other, named, seen, kit))
    if not isinstance(schema, dict) or "logicalType" in schema:
        raise NotCompilable(f"unsupported schema {schema!r}")
    kind = schema.get("type")
    if kind in _PRIMITIVES:
        return _compile(kind, named, seen, kit)
    if kind == "record":
        inner = seen | {schema.get("name", "")}
        return kit.record([(field, _compile(field["type"], named, inner, kit)) for field in schema["fields"]])
    if kind == "enum":
        return kit.enum(schema["symbols"])
    if kind == "array":
        return kit.array(_compile(schema["items"], named, seen, kit))
    if kind == "map":
        return kit.map(_compile(schema["values"], named, seen, kit))
    raise NotCompilable(f"unsupported schema type {kind!r}")


_WRITERS: _Kit[Writer] = _Kit(
    _PRIMITIVE_WRITERS, _nullable_writer, _record_writer, _enum_writer, _array_writer, _map_writer
)
_READERS: _Kit[Reader] = _Kit(
    _PRIMITIVE_READERS, _nullable_reader, _record_reader, _enum_reader, _array_reader, _map_reader
)


def compile_encoder(schema: Mapping[str, Any]) -> Encoder:
    """``record -> body`` for a parsed (fastavro) record schema; NotCompilable otherwise.
    The encoder raises for anything it does not cover (see the module doc)."""
    named = schema.get("__named_schemas", {})
    if schema.get("type") != "record":
        raise NotCompilable("only record schemas are compiled")
    write = _compile(dict(schema), named, frozenset(), _WRITERS)

    def encode(record: Mapping[str, Any]) -> bytes:
        out: Out = []
        write(record, out)
        return b"".join(out)

    return encode


def compile_decoder(schema: Mapping[str, Any]) -> Decoder:
    """``(buffer, start) -> (record, end)`` for a parsed (fastavro) record schema read as
    itself (no schema resolution); NotCompilable otherwise. Raises on bytes that do not
    read (the caller then asks fastavro, for its error)."""
    named = schema.get("__named_schemas", {})
    if schema.get("type") != "record":
        raise NotCompilable("only record schemas are compiled")
    read = _compile(dict(schema), named, frozenset(), _READERS)
    return read
