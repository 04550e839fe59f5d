"""Tabular Q-learning of the handover process over repeated flights of one route (Chen et al.).

Q(t, c, a) over waypoint t, serving cell c and action a; ε-greedy flights with ε decaying per
flight; the standard update Q ← Q + α(r + γ·max Q(t+1, c', ·) - Q). The table starts optimistic,
at the largest possible return w_rsrp/(1 - γ), so the greedy flight tries every action of a
state it reaches before it settles (a zero start with positive rewards would lock onto the first
action tried). Ties go to action 0 (keep the cell). Seeded: the same seed gives the same table.
"""

from __future__ import annotations

import numpy as np

from fedsim.control._handover_config import HandoverConfig
from fedsim.control._handover_mdp import HandoverMDP
from fedsim.rng import numpy_stream


def train_q_table(mdp: HandoverMDP, config: HandoverConfig, seed: int) -> np.ndarray:
    """(P, C, k + 1) Q-table after ``config.episodes`` training flights."""
    rng = numpy_stream(seed, "q-learning")
    gamma, alpha, w_ho = config.gamma, config.alpha, config.w_ho
    q = np.full((mdp.num_points, mdp.num_cells, mdp.num_actions), config.w_rsrp / (1.0 - gamma))
    q[-1] = 0.0  # the flight ends at the last point: nothing to come
    # Plain Python lists of the hot arrays: scalar indexing of numpy arrays is ~10x slower.
    candidates = mdp.candidates.tolist()
    reward_rsrp = mdp.reward_rsrp.tolist()
    last = mdp.num_points - 1
    epsilon = config.epsilon
    for _ in range(config.episodes):
        explore = rng.random(last) < epsilon
        random_actions = rng.integers(0, mdp.num_actions, size=last)
        cell = mdp.start_cell
        for t in range(last):
            row = q[t, cell]
            action = int(random_actions[t]) if explore[t] else int(np.argmax(row))
            nxt = cell if action == 0 else candidates[t + 1][action - 1]
            reward = reward_rsrp[t + 1][nxt] - (w_ho if nxt != cell else 0.0)
            target = reward + gamma * float(q[t + 1, nxt].max())
            row[action] += alpha * (target - row[action])
            cell = nxt
        epsilon *= config.epsilon_decay
    return q


def greedy_serving(mdp: HandoverMDP, q_table: np.ndarray) -> np.ndarray:
    """The serving cells of the greedy flight under a Q-table."""
    return mdp.rollout(lambda t, cell: int(np.argmax(q_table[t, cell])))
