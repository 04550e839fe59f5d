"""Learned control with torch: deep-RL agents above the numpy control plane.

``DqnHandover``: a deep Q-network handover rule for cellular-connected drones (``handover=dqn``).
"""

from fedsim._lazy import lazy_exports

_EXPORTS = {
    "DqnHandover": "._dqn",
    "DqnLearner": "._dqn_core",
    "DqnSettings": "._dqn_core",
    "q_network": "._dqn_core",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)
