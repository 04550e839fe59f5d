"""``build_policy``: the policy a run configuration names."""

from __future__ import annotations

from typing import Any

from fedsim.control._policy import Policy
from fedsim.control._registry import policy_class


def build_policy(run: Any) -> Policy:
    """A fresh policy of ``run.policy.name`` for a ``RunConfig`` (its constructor only stores it)."""
    return policy_class(run.policy.name)(run.policy, run)
