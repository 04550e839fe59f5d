"""``policy=angle_aware``: the scheduling half of the joint design alone: every follower at the
baseline's equal power, and the R channels to the followers with the largest K_i·s_i(P), s_i with
the closed-form mean pointing gain. Between ``swarm_baseline`` and ``joint_power_scheduling`` it
splits the joint design's gain into its scheduling and power parts."""

from __future__ import annotations

from typing import Any

import numpy as np

from fedsim.control._joint_power_scheduling import JointPowerSchedulingPolicy, check_swarm_run
from fedsim.control._swarm_links import schedule
from fedsim.world import Observation


class AngleAwarePolicy(JointPowerSchedulingPolicy):
    @classmethod
    def check_run(cls, run: Any) -> None:
        check_swarm_run(run, "angle_aware")

    def decide(self, observation: Observation):
        links = self.links(observation)
        power = self.equal_power(observation, links)
        sizes = observation.num_examples if observation.num_examples is not None else np.ones(observation.num_devices)
        devices, channels = schedule(sizes * links.success(power), observation.available_devices, observation.channels)
        return self.at_operating_point(devices, observation, tx_power_w=power, channel=channels)
