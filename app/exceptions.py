"""Exceptions of sei-processor.

ProcessorError
└── SettingsError  (app.settings: a variable has an unusable value)
"""

from __future__ import annotations

__all__ = ["ProcessorError"]


class ProcessorError(Exception):
    """Base of every error this project raises on purpose."""
