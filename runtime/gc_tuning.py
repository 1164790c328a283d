"""The garbage collector, set for a long-running stream worker.

With CPython's default thresholds (700, 10, 10) a worker under load ran a full (generation
2) collection every second or two, each walking every object the process holds: about
100 ms with the event loop stopped (32 in one bench.commits run, 2.9 s of CPU; p99 of
/ingest answers is made of such pauses). Objects that live for the whole run (modules,
models, Faust's app graph) are moved out of the collector's sight once the worker has
started, and the young generation is collected every 200,000 allocations, not 700:
measured here, collector time in bench.commits fell from 3.6 s to 1.6 s.

Why 200,000 and not 50,000: the count is allocations less deallocations, and a fetch of
thousands of records (messages, events, decoded values, all freed by reference counting a
batch later) reached 50,000 in one burst. In bench.activity that meant a young collection
every second that found nothing to free: 3.4 % of the worker's CPU, and none at 200,000.
The worker makes no cyclic garbage to speak of (no object freed by any collection during
bench.activity, bench.commits or bench.year), so what waits longer for a collection is
nothing.
"""

from __future__ import annotations

import gc

__all__ = ["configure_collector", "freeze_startup_objects", "THRESHOLDS"]

THRESHOLDS = (200_000, 20, 20)


def configure_collector() -> None:
    gc.set_threshold(*THRESHOLDS)


def freeze_startup_objects() -> None:
    """Collect once, then exclude every object alive now from later collections."""
    gc.collect()
    gc.freeze()
