"""``fedsim/DroneHandover-v0``: the handover decision process as a Gymnasium environment.

An episode is one flight along a random route of the layout (drawn from the environment's seeded
``np_random``). Observation: the (F,) features of :class:`~fedsim.control.HandoverMDP` (position
in [-1, 1], normalised RSRP in [0, 1], indicators). Action: Discrete(k + 1), 0 = keep the serving
cell, j = hand over to the j-th strongest cell of the next point. Reward: w_rsrp·RSRP_norm -
w_ho·1{handover}. ``info`` carries the serving cell, its RSRP in dBm and whether a handover
happened, so an agent's flight can be priced with :func:`fedsim.world.trace_flight`.
"""

from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces

from fedsim.control import HandoverConfig, HandoverMDP
from fedsim.envs._contract import ENDED, NOT_STARTED, checked_action
from fedsim.envs._section import section
from fedsim.world import CellularConfig, CellularNetwork, RouteLinks, random_route


class DroneHandoverEnv(gymnasium.Env):
    metadata = {"render_modes": []}

    def __init__(
        self,
        cellular: CellularConfig | dict | None = None,
        handover: HandoverConfig | dict | None = None,
        *,
        network_seed: int = 0,
        altitude_m: float = 100.0,
        speed_mps: float = 10.0,
        legs: int = 3,
        step_m: float = 10.0,
        margin_m: float = 100.0,
    ) -> None:
        self.cellular = section(CellularConfig, cellular)
        self.handover = section(HandoverConfig, handover)
        self.network = CellularNetwork(self.cellular, network_seed)
        self._route_kw = dict(legs=legs, altitude_m=altitude_m, speed_mps=speed_mps, margin_m=margin_m)
        self.step_m = float(step_m)
        # One probe flight fixes the sizes (and validates k against the layout's cells).
        probe = self._flight(np.random.default_rng(0))
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(probe.num_features,), dtype=np.float32)
        self.action_space = spaces.Discrete(probe.num_actions)
        self._mdp: HandoverMDP | None = None
        self._t = 0
        self._cell = 0
        self._ended = False

    def _flight(self, rng: np.random.Generator) -> HandoverMDP:
        route = random_route(self.network.bounds_m, rng, **self._route_kw)
        return HandoverMDP(RouteLinks.measure(self.network, route, self.step_m), self.handover, self.network.bounds_m)

    def _info(self, handover: bool) -> dict:
        mdp = self._mdp
        return {
            "serving_cell": self._cell,
            "rsrp_dbm": float(mdp.links.rsrp_dbm[self._t, self._cell]),
            "handover": handover,
            "point": self._t,
        }

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._mdp = self._flight(self.np_random)
        self._t, self._cell, self._ended = 0, self._mdp.start_cell, False
        return self._mdp.features(0, self._cell), self._info(False)

    def step(self, action):
        mdp = self._mdp
        if mdp is None:
            raise RuntimeError(NOT_STARTED)
        if self._ended:  # the flight's last point was reached: there is no next one
            raise RuntimeError(ENDED)
        action = checked_action(self.action_space, action, f"an integer in [0, {self.action_space.n})")
        nxt = mdp.next_cell(self._t, self._cell, int(action))
        reward = mdp.reward(self._t, self._cell, nxt)
        handover = nxt != self._cell
        self._t, self._cell = self._t + 1, nxt
        terminated = self._ended = self._t == mdp.num_points - 1
        return mdp.features(self._t, self._cell), reward, terminated, False, self._info(handover)
