"""``policy=round_robin``: devices take turns, K per round, in index order; a device with an empty
battery is skipped. The cursor (the next device in line) is the policy's checkpointed state."""

from __future__ import annotations

from typing import Any

import numpy as np

from fedsim.control._policy import Policy
from fedsim.world import Observation


class RoundRobinPolicy(Policy):
    def __init__(self, config, run) -> None:
        super().__init__(config, run)
        self.next_device = 0

    def decide(self, observation: Observation):
        n = observation.num_devices
        order = (self.next_device + np.arange(n)) % n  # everyone, starting at the cursor
        ready = order[observation.available[order]]
        chosen = ready[: self.operating_point.devices_per_round]
        if chosen.size:
            self.next_device = int((chosen[-1] + 1) % n)
        return self.at_operating_point(np.sort(chosen), observation)

    DISPATCHES = True  # asynchronous: the first idle device at or after the cursor

    def pick_idle(self, idle, rng, expected_rate_bps):
        n = self.run.world.num_devices
        distance = [(device - self.next_device) % n for device in idle]
        k = int(np.argmin(distance))
        self.next_device = int((idle[k] + 1) % n)
        return k

    def state_dict(self) -> dict[str, Any]:
        return {"next_device": self.next_device}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.next_device = int(state["next_device"])
