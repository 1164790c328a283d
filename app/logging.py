"""Structured JSON logs: structlog for our events, the same JSON for Faust's stdlib logs.

Every log line is one JSON object with ``event`` (a stable name such as
``commits.batch_flushed``), ``level``, ``logger``, ``timestamp`` and the event's fields.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

from app.redaction import mask_urls_in_text
from runtime.log import get_logger
from runtime.tracing import add_trace_ids

__all__ = ["logging_config", "configure_structlog", "get_logger", "mask_urls"]


def mask_urls(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    """Processor: hide the password of any URL in a string field (ours or a library's)."""
    for key, value in event.items():
        if isinstance(value, str) and "://" in value:
            event[key] = mask_urls_in_text(value)
    return event


_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    add_trace_ids,  # trace_id and span_id when tracing is on (runtime.tracing)
]


def configure_structlog() -> None:
    """Route structlog through stdlib logging so one handler renders everything."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED_PROCESSORS,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def logging_config(level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` rendering every record as one JSON line on stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    mask_urls,
                    structlog.processors.JSONRenderer(sort_keys=False),
                ],
                "foreign_pre_chain": _SHARED_PROCESSORS,
            }
        },
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
        },
        "root": {"level": level, "handlers": ["default"]},
        "loggers": {
            # aiokafka logs every retriable broker hiccup at ERROR/WARNING; keep them
            # but not their per-request chatter.
            "aiokafka": {"level": max(logging.getLevelName(level), logging.WARNING)},
        },
    }
