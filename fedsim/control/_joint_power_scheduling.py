"""``policy=joint_power_scheduling`` (Zeng et al., ICC 2020, as reconstructed in uav_swarm.md):
each round, every follower's energy-limited transmit power (bisection: the largest power whose
expected per-round energy fits its budget, the budget spread over the run's rounds), then the R
channels go to the followers with the largest K_i·s_i(P_i*), with s_i from the closed-form mean
pointing gain (never the realised pointing draw)."""

from __future__ import annotations

from typing import Any

import numpy as np

from fedsim.control._policy import Policy
from fedsim.control._swarm_links import SwarmLinks, schedule
from fedsim.errors import ConfigError
from fedsim.theory import energy_limited_power
from fedsim.world import Observation


def check_swarm_run(run: Any, name: str) -> None:
    """The rules every swarm policy shares: a swarm, R <= N channels, a control deadline."""
    if run.mobility.kind != "uav_swarm":
        raise ConfigError("policy.name", name, f"a policy for a UAV swarm: set mobility=uav_swarm (mobility.kind={run.mobility.kind})")
    if run.access.scheme != "ofdma":
        raise ConfigError("access.scheme", run.access.scheme, f"ofdma with policy={name} (R orthogonal channels = access.resource_blocks)")
    if run.access.resource_blocks > run.world.num_devices:
        raise ConfigError("access.resource_blocks", run.access.resource_blocks,
                          f"R <= N = world.num_devices={run.world.num_devices} channels")
    if run.world.deadline_s is None:
        raise ConfigError("world.deadline_s", None, f"the control deadline τ_max in s (policy={name})")


class JointPowerSchedulingPolicy(Policy):
    @classmethod
    def check_run(cls, run: Any) -> None:
        check_swarm_run(run, "joint_power_scheduling")

    def start(self, world, *, upload_params: int | None = None) -> None:
        self.payload_bits = float(upload_params or world.workload.params) * self.operating_point.uplink_bits
        n = world.num_devices
        op = self.operating_point
        self.compute_s, self.compute_j = world.compute_cost(np.arange(n), np.full(n, op.local_iters), np.full(n, op.train_bits))
        budget = self.config.energy_budget_j
        self.budget_per_round_j = None if budget is None else budget / self.run.rounds

    def powers(self, links: SwarmLinks, max_power_w: float) -> np.ndarray:
        try:
            return energy_limited_power(
                self.budget_per_round_j, self.compute_j, links.payload_bits, links.bandwidth_hz, links.gain, links.noise_w, max_power_w
            )
        except ConfigError as error:
            raise ConfigError("policy.energy_budget_j", self.config.energy_budget_j,
                              f"a budget that covers one round of every UAV over rounds={self.run.rounds} ({error.allowed})") from None

    def links(self, observation: Observation) -> SwarmLinks:
        return SwarmLinks.of(observation, self.run, self.payload_bits, self.compute_s)

    def equal_power(self, observation: Observation, links: SwarmLinks) -> float:
        """The largest power every available follower can afford (P_max without a budget)."""
        if self.budget_per_round_j is None:
            return observation.max_tx_power_w
        return float(np.min(self.powers(links, observation.max_tx_power_w)[observation.available_devices]))

    def decide(self, observation: Observation):
        links = self.links(observation)
        power = self.powers(links, observation.max_tx_power_w) if self.budget_per_round_j is not None else np.full(observation.num_devices, observation.max_tx_power_w)
        sizes = observation.num_examples if observation.num_examples is not None else np.ones(observation.num_devices)
        devices, channels = schedule(sizes * links.success(power), observation.available_devices, observation.channels)
        return self.at_operating_point(devices, observation, tx_power_w=power[devices], channel=channels)
