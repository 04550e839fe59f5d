"""The policy registry: a name users write as ``policy=NAME`` -> the class that implements it.

A built-in policy is one file in this package plus one line here (a policy built on a
higher layer, like ``optimized`` on the study, lives in that layer). Entries are "module:Class"
strings, imported on first use, so validating a config never imports a policy's dependencies.
A user's own policy needs no line here: ``policy=custom policy.target=MODULE:CLASS``
(``fedsim.control._custom``).
"""

from __future__ import annotations

import importlib

POLICIES: dict[str, str] = {
    "fixed": "fedsim.control._fixed:FixedPolicy",
    "random": "fedsim.control._random:RandomPolicy",
    "round_robin": "fedsim.control._round_robin:RoundRobinPolicy",
    "best_channel": "fedsim.control._best_channel:BestChannelPolicy",
    "joint_power_scheduling": "fedsim.control._joint_power_scheduling:JointPowerSchedulingPolicy",
    "angle_aware": "fedsim.control._angle_aware:AngleAwarePolicy",
    "swarm_baseline": "fedsim.control._swarm_baseline:SwarmBaselinePolicy",
    "optimized": "fedsim.controller._optimized_policy:OptimizedPolicy",  # lives with the study it runs
}
CUSTOM_POLICY = "custom"  # the class policy.target names
POLICY_NAMES = (*POLICIES, CUSTOM_POLICY)


def policy_class(name: str, target: str | None = None) -> type:
    """The class of ``policy=name``; with ``custom``, the class ``target`` names (checked)."""
    if name == CUSTOM_POLICY:
        from fedsim.control._custom import custom_policy_class

        return custom_policy_class(target)
    module, _, cls = POLICIES[name].partition(":")
    return getattr(importlib.import_module(module), cls)
