"""Gymnasium environments of fedsim's control problems, registered on import:

- ``fedsim/DroneHandover-v0``: pick a cellular-connected drone's serving cell along a route
  (:class:`DroneHandoverEnv`);
- ``fedsim/URLLC-v0``: pick each URLLC user's rate per slot under power, latency and reliability
  (:class:`UrllcEnv`).

``import fedsim.envs`` then ``gymnasium.make("fedsim/DroneHandover-v0")``; any agent that speaks
Gymnasium (Stable-Baselines3's DQN, for one) trains on them unchanged.
"""

import gymnasium

from fedsim._lazy import lazy_exports

_EXPORTS = {"DroneHandoverEnv": "._drone_handover", "UrllcEnv": "._urllc"}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)

ENV_IDS = {
    "fedsim/DroneHandover-v0": "fedsim.envs._drone_handover:DroneHandoverEnv",
    "fedsim/URLLC-v0": "fedsim.envs._urllc:UrllcEnv",
}
for _env_id, _entry_point in ENV_IDS.items():
    if _env_id not in gymnasium.registry:
        gymnasium.register(id=_env_id, entry_point=_entry_point)
