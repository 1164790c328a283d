"""Exceptions of sei-processor.

ProcessorError
├── SettingsError        (app.settings: a variable has an unusable value)
└── DatabaseUnavailable  (the database cannot be reached; retried, never dead-lettered)
"""

from __future__ import annotations

__all__ = ["ProcessorError", "DatabaseUnavailable"]


class ProcessorError(Exception):
    """Base of every error this project raises on purpose."""


class DatabaseUnavailable(ProcessorError):
    """The database did not answer; the batch stays uncommitted in Kafka."""
