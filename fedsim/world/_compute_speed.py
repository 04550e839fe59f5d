"""Compute heterogeneity: how much slower than its profile each device trains.

A factor per device multiplies its local-training time (not its energy: a straggler is a
slower, busier device, e.g. a loaded phone, doing the same MACs). Stragglers are exactly
round(straggler_fraction·N) devices, chosen from the ``(seed, "stragglers")`` stream and slowed
``straggler_slowdown`` times; a log-normal spread exp(speed_sigma·z) from ``(seed, "device-speed")``
multiplies every device. Defaults give ones, so priced times are unchanged bit for bit.
"""

from __future__ import annotations

import numpy as np

from fedsim.rng import numpy_stream
from fedsim.world._config import DeviceConfig


def compute_slowdown(devices: DeviceConfig, num_devices: int, seed: int) -> np.ndarray:
    """(N,) factors >= 0 on each device's compute time (1: the profile's speed)."""
    factor = np.ones(num_devices)
    if devices.speed_sigma > 0:
        factor *= np.exp(devices.speed_sigma * numpy_stream(seed, "device-speed").standard_normal(num_devices))
    stragglers = int(round(devices.straggler_fraction * num_devices))
    if stragglers:
        factor[numpy_stream(seed, "stragglers").permutation(num_devices)[:stragglers]] *= devices.straggler_slowdown
    factor.flags.writeable = False
    return factor
