"""Errors of the operator commands; the message is what the operator reads.

ProcessorError (app.exceptions, where the whole app tree is drawn)
└── ToolError            the command could not do its job (exit 1)
    ├── NothingMatched   the selection matched nothing (exit 1)
    └── OptionError      options that do not fit together; the message names them (exit 2)
"""

from __future__ import annotations

from app.exceptions import ProcessorError

__all__ = ["ToolError", "NothingMatched", "OptionError"]


class ToolError(ProcessorError):
    exit_code = 1


class NothingMatched(ToolError): ...


class OptionError(ToolError):
    exit_code = 2
