"""sei-processor: `faust -A app worker` finds the Faust app here.

The app is imported on first access, so that importing a light module of this package
(settings, logging, the redaction rules) does not build the worker.
"""

from typing import Any

__all__ = ["app"]


def __getattr__(name: str) -> Any:
    if name == "app":
        from app.main import app

        return app
    raise AttributeError(f"module 'app' has no attribute {name!r}")
