"""The worker's collector settings: rare young collections, startup objects frozen."""

from __future__ import annotations

import gc

from runtime.gc_tuning import THRESHOLDS, configure_collector, freeze_startup_objects


def test_collector_is_set_for_a_long_running_worker() -> None:
    before = gc.get_threshold()
    try:
        configure_collector()
        assert gc.get_threshold() == THRESHOLDS
        assert THRESHOLDS[0] >= 10_000  # young collections are not the default 700
    finally:
        gc.set_threshold(*before)


def test_startup_objects_leave_the_collectors_sight() -> None:
    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() > 10_000  # modules, classes, the app graph
    finally:
        gc.unfreeze()
