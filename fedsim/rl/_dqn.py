"""A deep Q-network handover rule (Chen et al., DroneCom 2020, reconstructed).

The network maps the state features of :class:`~fedsim.control.HandoverMDP` (position, candidate
and serving RSRP, which candidate serves, serving cell one-hot) to one Q-value per action. Because
it sees measurements and position rather than a waypoint index, one network serves routes it has
never flown; the tabular rule needs a table per route. Training: ε-greedy flights over random
training routes on :class:`~fedsim.rl.DqnLearner` (replay, target network, Huber, Adam).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fedsim.control import HandoverMDP, HandoverRule
from fedsim.rl._dqn_core import DqnLearner, DqnSettings, one_thread
from fedsim.rng import numpy_stream
from fedsim.world import RouteLinks


class DqnHandover(HandoverRule):
    """``fit`` trains on the given routes; ``serve`` flies greedily on any route."""

    learns_across_routes = True
    learner: DqnLearner | None = None

    def fit(self, routes: Sequence[RouteLinks]) -> "DqnHandover":
        with one_thread():
            return self._fit(routes)

    def _fit(self, routes: Sequence[RouteLinks]) -> "DqnHandover":
        cfg = self.config
        mdps = [self.mdp(links) for links in routes]
        if not mdps:
            raise ValueError("DQN training needs at least one route")
        settings = DqnSettings(hidden=cfg.dqn_hidden, lr=cfg.dqn_lr, gamma=cfg.gamma, batch=cfg.dqn_batch,
                               buffer=cfg.dqn_buffer, target_sync=cfg.dqn_target_sync)
        learner = DqnLearner(mdps[0].num_features, mdps[0].num_actions, settings, self.seed)
        rng = numpy_stream(self.seed, "dqn-training")
        epsilon = cfg.epsilon
        for _ in range(cfg.dqn_episodes):
            mdp = mdps[int(rng.integers(len(mdps)))]
            cell = mdp.start_cell
            state = mdp.features(0, cell)
            for t in range(mdp.num_points - 1):
                action = int(learner.act(state, epsilon, rng)[0])
                nxt = mdp.next_cell(t, cell, action)
                nxt_state = mdp.features(t + 1, nxt)
                learner.store(state, action, mdp.reward(t, cell, nxt), nxt_state, float(t + 1 == mdp.num_points - 1), rng)
                cell, state = nxt, nxt_state
            epsilon *= cfg.epsilon_decay
        self.learner = learner
        return self

    def q_values(self, mdp: HandoverMDP, t: int, cell: int) -> np.ndarray:
        if self.learner is None:
            raise RuntimeError("the DQN handover rule must be fit before it serves")
        return self.learner.q_values(mdp.features(t, cell)[None])[0]

    def serve(self, links: RouteLinks) -> np.ndarray:
        mdp = self.mdp(links)
        return mdp.rollout(lambda t, cell: int(np.argmax(self.q_values(mdp, t, cell))))
