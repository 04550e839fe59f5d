"""Python's cyclic garbage collector around a run.

A run builds, before its first round, a heap that lives as long as it does: torch, Flower, Hydra
and numpy's modules, the data, the model, the World, one node context per device (~230,000
objects). Every full collection scans all of it: four of them in a 1,000-device run's first
seconds, 0.03-0.12 s each as the heap grows, ~0.3 s of a 3.7 s process. So a federating command
pauses the collector while it starts (imports, composition, data: mostly objects that stay), and
the rounds run with the heap built so far frozen (``gc.freeze``: left out of every collection,
as CPython documents for long-lived start-up state) and the collector on, so a collection scans
only what the rounds made. The pause ends when the first rounds start: garbage cycles made
before the freeze are collected after the run, and a sweep's later jobs start with the
collector on (paused between jobs, each start's cycles would be frozen by the next job's rounds
and never collected).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_frozen_depth = 0  # frozen_heap blocks open: only the outermost freezes and unfreezes
_paused = False  # inside collector_paused, until the first rounds start


@contextmanager
def collector_paused() -> Iterator[None]:
    """The collector off inside (a command's start-up) until a frozen_heap block starts, and as
    it was after."""
    global _paused
    was_enabled = gc.isenabled()
    gc.disable()
    _paused = True
    try:
        yield
    finally:
        _paused = False
        gc.enable() if was_enabled else gc.disable()  # as found, whatever a run inside left


@contextmanager
def frozen_heap() -> Iterator[None]:
    """The objects alive now hidden from the collector inside, with the collector on, and both
    as they were after (on, if a start-up had paused it). Re-entrant: an inner block (a Flower
    strategy that calls ``gc.collect()`` per reply) runs inside the outer freeze; only the
    outermost block unfreezes."""
    global _frozen_depth, _paused
    was_enabled = gc.isenabled() or _paused  # a start-up's pause ends with it
    _paused = False
    if _frozen_depth == 0:
        gc.freeze()
    _frozen_depth += 1
    gc.enable()
    try:
        yield
    finally:
        _frozen_depth -= 1
        if _frozen_depth == 0:
            gc.unfreeze()
        if not was_enabled:
            gc.disable()
