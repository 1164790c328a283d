"""The worker gives the allocator's free memory back to the system (runtime.native_memory)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from runtime.native_memory import configure_allocator, release_free_memory, resident_bytes

_MIB = 1 << 20


def _glibc_only() -> None:
    # The image (python:3.11-slim) and the machines run Debian: glibc. A worker on musl or
    # macOS keeps its allocator's behaviour, and this file does not describe it.
    assert release_free_memory() is not None, "glibc's malloc_trim not found"


def test_free_memory_inside_the_heap_goes_back_to_the_system() -> None:
    _glibc_only()
    configure_allocator()
    # 192 MiB in 64 KiB blocks (malloc'd, not mapped on their own), every eighth kept: the
    # heap's free memory lies between live blocks, where freeing alone never returns it.
    blocks = [b"x" * (64 * 1024) for _ in range(3072)]
    kept = blocks[::8]
    del blocks
    held = resident_bytes()
    released = release_free_memory()
    assert released is not None
    assert released.before >= held - 8 * _MIB
    assert released.released > 100 * _MIB, (released, held)
    assert resident_bytes() < held - 100 * _MIB
    assert len(kept) == 384


def _freed_block_still_held(configure: bool) -> int:
    """RSS a freed 16 MiB block leaves, in a fresh process (a heap with free chunks that
    large, as this test process's after the suite, would serve it from them), after a 24 MiB
    block came and went."""
    script = (
        "from runtime.native_memory import configure_allocator, resident_bytes\n"
        f"if {configure}: assert configure_allocator()\n"
        "big = b'x' * (24 << 20)\n"
        "del big\n"
        "before = resident_bytes()\n"
        "block = b'x' * (16 << 20)\n"
        "del block\n"
        "print(resident_bytes() - before)\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_a_large_block_is_unmapped_when_freed() -> None:
    # glibc's own rule: freeing the 24 MiB mapping raised its threshold to 24 MiB, so the
    # 16 MiB block came from the heap and stays there once freed.
    assert _freed_block_still_held(configure=False) > 12 * _MIB
    # Fixed at MMAP_THRESHOLD_BYTES: its own mapping, gone at once.
    assert _freed_block_still_held(configure=True) < 4 * _MIB


def test_release_reports_what_it_took() -> None:
    _glibc_only()
    released = release_free_memory()
    assert released is not None
    assert released.after > 0 and released.seconds < 1.0
