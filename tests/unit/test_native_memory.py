"""The worker gives the allocator's free memory back to the system (runtime.native_memory)."""

from __future__ import annotations

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


def test_a_large_block_is_unmapped_when_freed() -> None:
    _glibc_only()
    assert configure_allocator()
    release_free_memory()
    before = resident_bytes()
    block = b"x" * (64 * _MIB)
    assert resident_bytes() > before + 60 * _MIB
    del block
    # Mapped on its own (over MMAP_THRESHOLD_BYTES): back to the system at once, no trim.
    assert resident_bytes() < before + 8 * _MIB


def test_release_reports_what_it_took() -> None:
    _glibc_only()
    released = release_free_memory()
    assert released is not None
    assert released.after > 0 and released.seconds < 1.0
