"""Errors of the Avro schema registry and codec; the message says what to fix.

ModelError (models.exceptions, a ValueError)
└── SchemaError                  a schema or a schema lookup is wrong
    ├── SchemaNotFound           no such subject, version or schema id (also a LookupError)
    ├── IncompatibleSchemaError  registering would break the subject's compatibility mode
    └── AvroDecodeError          bytes that are not a readable Confluent-framed Avro record
"""

from __future__ import annotations

from models.exceptions import ModelError

__all__ = ["SchemaError", "SchemaNotFound", "IncompatibleSchemaError", "AvroDecodeError"]


class SchemaError(ModelError): ...


class SchemaNotFound(SchemaError, LookupError): ...


class IncompatibleSchemaError(SchemaError):
    """Refused under the subject's mode; ``problems`` lists each reason."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems


class AvroDecodeError(SchemaError):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
