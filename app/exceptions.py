"""Exceptions of the app package (wiring, HTTP views, operator commands).

ProcessorError
├── SettingsError      (app.settings) a variable has an unusable value; the message names it
├── BadRequest         (app.ingest_api, also a ValueError) an ingestion request as a whole; ``status``
├── BadParameter       (app.views.params, also a ValueError) a query parameter; HTTP 400
├── WrongAnswer        (app.ml_engine, also a ValueError) the ML engine answered, not one score per log
└── ToolError          (app.commands.exceptions) an operator command could not do its job
    ├── NothingMatched
    └── OptionError

The models package has its own root, models.exceptions.ModelError (input it cannot use).
"""

from __future__ import annotations

__all__ = ["ProcessorError"]


class ProcessorError(Exception):
    """Base of every error the app package raises on purpose."""
