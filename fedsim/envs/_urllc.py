"""``fedsim/URLLC-v0``: downlink URLLC rate selection as a Gymnasium environment.

Observation: the (U, 5) per-user features of :func:`fedsim.control._urllc_control.user_features`,
flattened. Action: MultiDiscrete([4] * U), packets to send per user this slot (capped at the
queue). The cell maps the rates to blocks and power exactly; reward: the sum of the users'
-P_u/P_max - 10·(late + undecoded packets). An episode is ``episode_slots`` slots of a cell drawn
from the episode's seed. ``info`` carries the slot's power, reliable and lost packets.
"""

from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces

from fedsim.control._urllc_control import NUM_FEATURES, RATE_LEVELS, user_features, user_rewards
from fedsim.envs._contract import ENDED, NOT_STARTED, checked_action
from fedsim.envs._section import section
from fedsim.world._urllc import UrllcCell, UrllcConfig


class UrllcEnv(gymnasium.Env):
    metadata = {"render_modes": []}

    def __init__(self, urllc: UrllcConfig | dict | None = None, *, episode_slots: int = 400) -> None:
        self.urllc = section(UrllcConfig, urllc)
        self.episode_slots = int(episode_slots)
        users = self.urllc.users
        self.observation_space = spaces.Box(-2.0, 2.0, shape=(users * NUM_FEATURES,), dtype=np.float32)
        self.action_space = spaces.MultiDiscrete([RATE_LEVELS] * users)
        self._cell: UrllcCell | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._cell = UrllcCell(self.urllc, int(self.np_random.integers(2**31)))
        return user_features(self._cell).ravel(), {}

    def step(self, action):
        cell = self._cell
        if cell is None:
            raise RuntimeError(NOT_STARTED)
        if cell.slot >= self.episode_slots:  # truncated: the episode's slots are spent
            raise RuntimeError(ENDED)
        action = checked_action(self.action_space, action, f"{self.urllc.users} integers in [0, {RATE_LEVELS})")
        outcome = cell.step(np.asarray(action, dtype=np.int64))
        reward = float(user_rewards(outcome, cell).sum())
        info = {"power_w": outcome.power_w, "reliable": int(outcome.reliable.sum()), "lost": int((outcome.late + outcome.decode_failures).sum())}
        truncated = cell.slot >= self.episode_slots
        return user_features(cell).ravel(), reward, False, truncated, info
