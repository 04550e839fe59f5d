"""What every benchmark script shares: the load average it started under (the machine is shared,
so a number means little without it)."""

from __future__ import annotations

import math
import os


def load_average() -> tuple[float, float, float]:
    """The 1-, 5- and 15-minute load averages (NaN where the platform has none)."""
    return os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3


def print_load_average() -> tuple[float, float, float]:
    """Print the load average as a benchmark's first line, and return it."""
    loads = load_average()
    print("load average at start (1, 5, 15 min): " + " ".join(f"{x:.2f}" for x in loads), flush=True)
    return loads


def python_reference_ops_per_s(operations: int = 200_000) -> float:
    """Speed of this machine's Python right now, in operations/s of a fixed pure-Python loop of
    the kind an event simulator runs (heap push and pop of event tuples, a dict entry made and
    deleted, a slotted record's fields set). The shared VM this project is measured on runs it
    up to about 2x slower in some spells than in others: a benchmark that prints it next to its
    own rate says which spell its number came from."""
    import heapq
    import time

    class _Record:
        __slots__ = ("time_s", "device", "energy_j")

    heap: list[tuple[float, int, int]] = [(float(i % 997) * 1e-3, 1, i) for i in range(1_000)]
    heapq.heapify(heap)
    table: dict[int, _Record] = {}
    start = time.perf_counter()
    for i in range(operations):
        time_s, kind, device = heapq.heappop(heap)
        record = _Record()
        record.time_s, record.device, record.energy_j = time_s, device, 0.2 * time_s
        table[i] = record
        del table[i]
        heapq.heappush(heap, (time_s + 0.5 + (i % 7) * 1e-3, kind, device))
    return operations / (time.perf_counter() - start)
