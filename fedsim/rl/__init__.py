"""Learned control with torch: deep-RL agents above the numpy control plane.

``DqnHandover``: a deep Q-network handover rule for cellular-connected drones (``handover=dqn``).
``UrllcAgent``, ``ConditionGAN``: the conventional and the GAN-experienced URLLC agents.
"""

from fedsim._lazy import lazy_exports

_EXPORTS = {
    "DqnHandover": "._dqn",
    "DqnLearner": "._dqn_core",
    "DqnSettings": "._dqn_core",
    "q_network": "._dqn_core",
    "ConditionGAN": "._gan",
    "UrllcAgent": "._urllc_agents",
    "deploy_oracle": "._urllc_agents",
    "record_conditions": "._urllc_agents",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)
