"""`kill -USR1 <worker pid>` logs every asyncio task with its stack (`worker.tasks_dumped`).

For a worker that looks stuck: the dump shows what each agent, timer and Faust service is
awaiting, without stopping anything.
"""

from __future__ import annotations

import asyncio
import io
import signal

from app.logging import get_logger
from app.main import app

__all__ = ["dump_tasks"]

log = get_logger("sei.diagnostics")


def dump_tasks() -> None:
    tasks = []
    for task in asyncio.all_tasks():
        stack = io.StringIO()
        task.print_stack(limit=12, file=stack)
        tasks.append({"name": task.get_name(), "coro": repr(task.get_coro())[:200], "stack": stack.getvalue()})
    log.warning("worker.tasks_dumped", count=len(tasks), tasks=tasks)


@app.task
async def _install_task_dump() -> None:
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump_tasks)
