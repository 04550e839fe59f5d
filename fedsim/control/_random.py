"""``policy=random``: K devices uniformly at random among the available ones, on the policy's own
stream, at the run's operating point and full power (the usual random-scheduling baseline)."""

from __future__ import annotations

from fedsim.control._policy import Policy, sample_uniform
from fedsim.world import Observation


class RandomPolicy(Policy):
    DISPATCHES = True  # asynchronous: a uniform idle device (the default pick)

    def decide(self, observation: Observation):
        rng = self.stream("random", observation.round)
        devices = sample_uniform(rng, observation.available_devices, self.operating_point.devices_per_round)
        return self.at_operating_point(devices, observation)
