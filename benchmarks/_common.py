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
