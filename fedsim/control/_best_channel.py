"""``policy=best_channel``: the K available devices with the largest expected uplink rates at the
channel state the server knows (``policy.csi``); ties go to the lower device index."""

from __future__ import annotations

import numpy as np

from fedsim.control._policy import Policy
from fedsim.world import Observation


class BestChannelPolicy(Policy):
    DISPATCHES = True  # asynchronous: the idle device with the largest expected rate

    def pick_idle(self, idle, rng, expected_rate_bps):
        devices = np.asarray(idle, dtype=np.int64)
        rate = expected_rate_bps(devices)
        return int(np.lexsort((devices, -rate))[0])  # largest rate, then lower index

    def decide(self, observation: Observation):
        available = observation.available_devices
        rate = observation.expected_rate_bps()[available]
        order = np.lexsort((available, -rate))  # largest rate first, then lower index
        chosen = available[order[: self.operating_point.devices_per_round]]
        return self.at_operating_point(np.sort(chosen), observation)
