"""``build_policy``: the policy a run configuration names."""

from __future__ import annotations

from typing import Any

from fedsim.control._policy import Policy
from fedsim.control._registry import CUSTOM_POLICY, policy_class


def build_policy(run: Any) -> Policy:
    """A fresh policy of ``run.policy.name`` for a ``RunConfig`` (its constructor only stores it);
    ``policy=custom``: the class ``policy.target`` names, given ``policy.kwargs``."""
    config = run.policy
    if config.name != CUSTOM_POLICY:
        return policy_class(config.name)(config, run)
    return policy_class(config.name, config.target)(config, run, **(config.kwargs or {}))
