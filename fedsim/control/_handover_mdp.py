"""The handover decision process of one flight (Chen et al., reconstructed; handover.md).

State at sample point t: the serving cell c. Action a in {0, ..., k}: 0 keeps c, j >= 1 hands
over to the j-th strongest cell at point t + 1. Reward on reaching t + 1 with cell c':
  r = w_rsrp·RSRP_norm(t + 1, c') - w_ho·1{c' != c}.
The flight starts attached to the strongest cell at point 0 and ends at the last point.

The route and its RSRP map are known (the papers' setting), so the process is deterministic and its
optimum is computable by backward induction (:meth:`HandoverMDP.optimal_serving`): the yardstick
for the learned rules. ``features`` is the state a function approximator sees: position, the
candidates' and the serving cell's normalised RSRP, which candidate is the serving cell, and the
serving cell one-hot.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fedsim.errors import ConfigError
from fedsim.control._handover_config import HandoverConfig
from fedsim.world import RouteLinks


class HandoverMDP:
    def __init__(self, links: RouteLinks, config: HandoverConfig, bounds_m: tuple[float, float, float, float]) -> None:
        rsrp = np.asarray(links.rsrp_dbm, dtype=float)
        num_points, num_cells = rsrp.shape
        k = config.candidates
        if k > num_cells:
            raise ConfigError("handover.candidates", k, f"an integer in [1, {num_cells}] (the layout's cells)")
        if num_points < 2:
            raise ConfigError("route", f"{num_points} sample point", "a route of at least 2 sample points")
        self.links = links
        self.config = config
        self.num_points, self.num_cells, self.k = num_points, num_cells, k
        self.candidates = np.argsort(-rsrp, axis=1, kind="stable")[:, :k]
        span = config.rsrp_ceiling_dbm - config.rsrp_floor_dbm
        self.rsrp_norm = np.clip((rsrp - config.rsrp_floor_dbm) / span, 0.0, 1.0)
        self.reward_rsrp = config.w_rsrp * self.rsrp_norm
        self.start_cell = int(self.candidates[0, 0])
        x0, y0, x1, y1 = bounds_m
        centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
        half = np.array([(x1 - x0) / 2, (y1 - y0) / 2])
        self._position_features = ((links.points_m[:, :2] - centre) / half).astype(np.float32)

    @property
    def num_actions(self) -> int:
        return self.k + 1

    @property
    def num_features(self) -> int:
        return 2 + 2 * self.k + 1 + self.num_cells

    def next_cell(self, t: int, cell: int, action: int) -> int:
        return cell if action == 0 else int(self.candidates[t + 1, action - 1])

    def reward(self, t: int, cell: int, next_cell: int) -> float:
        return float(self.reward_rsrp[t + 1, next_cell]) - (self.config.w_ho if next_cell != cell else 0.0)

    def features(self, t: int, cell: int) -> np.ndarray:
        """The (F,) state of a function approximator at point t serving ``cell``; at the last
        point the candidates are the last point's own."""
        nxt = min(t + 1, self.num_points - 1)
        cand = self.candidates[nxt]
        one_hot = np.zeros(self.num_cells, dtype=np.float32)
        one_hot[cell] = 1.0
        return np.concatenate([
            self._position_features[t],
            self.rsrp_norm[nxt, cand].astype(np.float32),
            (cand == cell).astype(np.float32),
            np.array([self.rsrp_norm[nxt, cell]], dtype=np.float32),
            one_hot,
        ])

    def rollout(self, choose: Callable[[int, int], int]) -> np.ndarray:
        """(P,) serving cells of a flight that acts by ``choose(t, cell) -> action``."""
        serving = np.empty(self.num_points, dtype=np.int64)
        serving[0] = cell = self.start_cell
        for t in range(self.num_points - 1):
            cell = self.next_cell(t, cell, int(choose(t, cell)))
            serving[t + 1] = cell
        return serving

    def discounted_return(self, serving: np.ndarray, gamma: float) -> float:
        t = np.arange(1, self.num_points)
        rewards = self.reward_rsrp[t, serving[1:]] - self.config.w_ho * (serving[1:] != serving[:-1])
        return float(np.sum(rewards * gamma ** (t - 1)))

    def optimal_values(self, gamma: float) -> np.ndarray:
        """(P, C) optimal discounted values V*(t, c) by backward induction (exact)."""
        value = np.zeros((self.num_points, self.num_cells))
        w_ho = self.config.w_ho
        cells = np.arange(self.num_cells)
        for t in range(self.num_points - 2, -1, -1):
            future = self.reward_rsrp[t + 1] + gamma * value[t + 1]  # (C,) reaching cell c' at t+1
            cand = self.candidates[t + 1]
            keep = future  # a = 0: stay on c
            switch = future[cand][None, :] - w_ho * (cand[None, :] != cells[:, None])  # (C, k)
            value[t] = np.maximum(keep, switch.max(axis=1))
        return value

    def optimal_serving(self, gamma: float) -> np.ndarray:
        """The serving cells of an optimal flight (ties: keep the cell, then the stronger candidate)."""
        value = self.optimal_values(gamma)

        def choose(t: int, cell: int) -> int:
            q = [self.reward(t, cell, self.next_cell(t, cell, a)) + gamma * value[t + 1, self.next_cell(t, cell, a)]
                 for a in range(self.num_actions)]
            return int(np.argmax(np.round(q, 12)))

        return self.rollout(choose)
