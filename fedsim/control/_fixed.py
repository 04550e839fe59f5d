"""``policy=fixed`` (the default): the run's operating point every round, full transmit power.

Devices are K drawn uniformly from the available ones on the ``(seed, "device-sampling", round)``
stream, as fedsim always did (same seed, same ledger), or the same ``policy.devices`` every round.
"""

from __future__ import annotations

import numpy as np

from fedsim.control._policy import Policy, sample_devices
from fedsim.world import Observation


class FixedPolicy(Policy):
    DISPATCHES = True  # asynchronous: a uniform idle device (of policy.devices, when given)

    def pick_idle(self, idle, rng, expected_rate_bps):
        if self.config.devices is None:
            return super().pick_idle(idle, rng, expected_rate_bps)
        allowed = set(self.config.devices)
        candidates = [k for k, device in enumerate(idle) if device in allowed]
        return candidates[int(rng.integers(len(candidates)))] if candidates else None

    def decide(self, observation: Observation):
        if self.config.devices is not None:
            devices = np.array(sorted(self.config.devices), dtype=np.int64)  # in range: RunConfig checks
            devices = devices[observation.available[devices]]  # an empty battery drops out
        else:
            devices = sample_devices(self.run.seed, observation.round, observation.available_devices, self.operating_point.devices_per_round)
        return self.at_operating_point(devices, observation)
