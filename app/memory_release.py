"""The worker hands the allocator's free memory back to the system every RELEASE_S.

A repository's projection or ageing pass decodes its retained state and drops it; without
this the freed memory stayed in the process (runtime.native_memory). The call runs in a
thread (ctypes lets go of the GIL): 38 ms for 167 MB freed, measured in a test.
"""

from __future__ import annotations

import asyncio

from app.logging import get_logger
from app.main import app
from runtime.native_memory import release_free_memory

__all__ = ["RELEASE_S"]

RELEASE_S = 30.0

log = get_logger("sei.memory")


@app.timer(RELEASE_S)  # type: ignore[untyped-decorator]  # faust marks App.timer no_type_check
async def _release_free_memory() -> None:
    released = await asyncio.to_thread(release_free_memory)
    if released is not None:
        log.debug(
            "memory.released",
            rss_mb=round(released.after / 2**20, 1),
            released_mb=round(released.released / 2**20, 1),
            ms=round(released.seconds * 1000, 1),
        )
