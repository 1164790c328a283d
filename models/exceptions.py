"""Exceptions of the models package: input the pure layer cannot use; the message says what.

ValueError
└── ModelError
    ├── DecodeError                  (models.decoding) not a JSON object; ``kind`` names why
    ├── NotCompilable                (models.avro.compiled) the codec falls back to fastavro
    └── SchemaError                  (models.avro.exceptions)
        ├── SchemaNotFound           (also a LookupError)
        ├── IncompatibleSchemaError
        └── AvroDecodeError
"""

from __future__ import annotations

__all__ = ["ModelError"]


class ModelError(ValueError):
    """Base of every error the models package raises on purpose."""
