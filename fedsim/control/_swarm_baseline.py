"""``policy=swarm_baseline``: the baseline of Zeng et al. (ICC 2020): equal power for every
follower, R of them scheduled uniformly at random each round, the antenna angle deviation
ignored. The equal power is the maximum (``radio.tx_power_w``), or, under ``policy.energy_budget_j``,
the largest power every follower can afford for the run (so both designs spend within the same
budget)."""

from __future__ import annotations

from typing import Any

from fedsim.control._joint_power_scheduling import JointPowerSchedulingPolicy, check_swarm_run
from fedsim.control._policy import sample_uniform
from fedsim.world import Observation


class SwarmBaselinePolicy(JointPowerSchedulingPolicy):
    @classmethod
    def check_run(cls, run: Any) -> None:
        check_swarm_run(run, "swarm_baseline")

    def decide(self, observation: Observation):
        devices = sample_uniform(self.stream("swarm-baseline", observation.round), observation.available_devices, observation.channels)
        power = self.equal_power(observation, self.links(observation))
        return self.at_operating_point(devices, observation, tx_power_w=power)
