"""``build_policy``: the policy a run configuration names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fedsim.control._policy import Policy
from fedsim.control._registry import policy_class

if TYPE_CHECKING:
    from fedsim.config import RunConfig


def build_policy(run: "RunConfig") -> Policy:
    """A fresh policy of ``run.policy.name`` (its constructor only stores the configuration)."""
    return policy_class(run.policy.name)(run.policy, run)
