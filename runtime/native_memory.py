"""The C allocator's free memory given back to the system, so RSS follows what is in use.

Python objects over 512 bytes (dicts and lists of a decoded table value, a commit day's
bucket, a fetched batch) and RocksDB's blocks come from glibc's malloc. glibc returns free
memory only from the top of its heap, above a threshold that rises with the largest block
ever freed (up to 64 MiB), so a worker's RSS stayed at the high-water mark of its
transient work (a repository's projection or ageing pass): a year's worker measured 362 MB
RSS with 178 MB in use in the main arena, and ``malloc_trim`` brought it to 311 MB.

``configure_allocator`` fixes the thresholds (no dynamic rise: a block of 1 MiB or more that
no free chunk of the heap fits is mapped on its own and unmapped when freed; free memory over
4 MiB at the top is returned at once), and ``release_free_memory``, called by a worker
timer, returns the free pages inside the heap too. Both do nothing off glibc (musl, macOS): RSS is then the allocator's.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import time
from dataclasses import dataclass
from functools import cache

__all__ = ["Released", "configure_allocator", "release_free_memory", "resident_bytes"]

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD_BYTES = 1 << 20
TRIM_THRESHOLD_BYTES = 4 << 20


@cache
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    if not (hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt")):
        return None  # not glibc
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    libc.malloc_trim.restype = ctypes.c_int
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    return libc


def configure_allocator() -> bool:
    """Fix glibc's mmap and trim thresholds (module doc); False off glibc."""
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )


def resident_bytes() -> int:
    """This process's RSS (``/proc/self/statm``; 0 where there is none)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


@dataclass(frozen=True, slots=True)
class Released:
    """One ``release_free_memory``: RSS before and after, and what the call took."""

    before: int
    after: int
    seconds: float

    @property
    def released(self) -> int:
        return max(0, self.before - self.after)


def release_free_memory() -> Released | None:
    """Return the allocator's free pages to the system (``malloc_trim``); None off glibc."""
    libc = _glibc()
    if libc is None:
        return None
    before = resident_bytes()
    started = time.perf_counter()
    libc.malloc_trim(0)
    return Released(before, resident_bytes(), time.perf_counter() - started)
