"""The base of the operator commands: a Faust AppCommand run on its own event loop.

Faust runs an ``app.command`` inside a mode Worker, which turns every outcome into exit
status 0 or 1 and prints a traceback for a wrong option. Ours run their coroutine with
``asyncio.run`` instead and exit with what it returns (0 done or equal, 1 mismatch or
nothing matched), 1 with one line for a ToolError, 2 for options that do not fit.
A command may live in a click group (``dlq list``): set ``group`` and ``command_name``.
"""

from __future__ import annotations

import asyncio
import logging.config
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, NoReturn, TypeVar

import asyncpg
import click
from faust.cli.base import AppCommand, cli

from app.commands.exceptions import OptionError, ToolError
from app.logging import logging_config
from app.redaction import mask_url, scrub

__all__ = ["ToolCommand", "connect_database", "RECHECK_INTERVAL_S"]

RECHECK_INTERVAL_S = 2.0
T = TypeVar("T")

_LOG_LEVELS = {"CRIT": "CRITICAL", "WARN": "WARNING"}


class ToolCommand(AppCommand):
    """An operator command; ``run`` returns the exit status."""

    abstract: ClassVar[bool] = True
    group: ClassVar[click.Group | None] = None
    command_name: ClassVar[str | None] = None

    @classmethod
    def as_click_command(cls) -> Any:
        """Register the command in ``group`` (default: the ``faust`` program itself)."""

        @click.pass_context
        def command(ctx: click.Context, *args: Any, **kwargs: Any) -> NoReturn:
            cls(ctx, *args, **kwargs)()

        command.__doc__ = cls.__doc__
        for option in reversed(list(cls.options or [])):
            command = option(command)
        parent = cls.group if cls.group is not None else cli
        return parent.command(name=cls.command_name or cls.__name__, help=cls.__doc__)(command)

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        level = str(self.loglevel).upper()
        logging.config.dictConfig(logging_config(_LOG_LEVELS.get(level, level)))
        try:
            status = asyncio.run(self._main(*self.args, *args, **{**self.kwargs, **kwargs}))
        except OptionError as exc:
            click.UsageError(str(exc), ctx=self.ctx).show()
            raise SystemExit(exc.exit_code) from None
        except ToolError as exc:
            click.echo(f"Error: {exc}", err=True)
            raise SystemExit(exc.exit_code) from None
        except click.ClickException as exc:
            exc.show()
            raise SystemExit(exc.exit_code) from None
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            raise SystemExit(130) from None
        except Exception as exc:
            traceback.print_exc()
            click.echo(f"Error: unexpected {type(exc).__name__}: {exc}", err=True)
            raise SystemExit(1) from None
        raise SystemExit(status)

    async def _main(self, *args: Any, **kwargs: Any) -> int:
        try:
            return int(await self.run(*args, **kwargs) or 0)
        finally:
            await self.on_stop()

    def out(self, text: str) -> None:
        """A line of the command's result, on stdout."""
        self.say(text)

    def note(self, text: str) -> None:
        """Progress and remarks, on stderr (stdout stays the result)."""
        self.say(text, file=self.stderr)

    async def recheck(
        self,
        differing: Callable[[], Awaitable[list[T]]],
        timeout_s: float,
        waiting: Callable[[list[T], float], str],
    ) -> list[T]:
        """Check again every RECHECK_INTERVAL_S until nothing differs or ``timeout_s`` has
        passed (a repair waiting for the workers); what still differs. ``waiting`` says, on
        stderr, what is still awaited after how many seconds."""
        started = time.monotonic()
        while True:
            remaining = await differing()
            elapsed = time.monotonic() - started
            if not remaining or elapsed >= timeout_s:
                return remaining
            self.note(waiting(remaining, elapsed))
            await asyncio.sleep(RECHECK_INTERVAL_S)

    def write_bytes(self, data: bytes) -> None:
        """Exact bytes to stdout (``dlq show --raw``)."""
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


async def connect_database(dsn: str) -> asyncpg.Connection:
    """One connection; ToolError naming the (masked) URL when the database does not answer."""
    try:
        return await asyncpg.connect(dsn, timeout=10)
    except (TimeoutError, OSError, ValueError, asyncpg.PostgresError) as exc:
        reason = scrub(str(exc), [dsn])
        raise ToolError(
            f"cannot connect to the database at {mask_url(dsn)} (TIMESCALE_URL): {reason}"
        ) from None
