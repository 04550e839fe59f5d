"""A deep Q-network handover rule (Chen et al., DroneCom 2020, reconstructed).

The network maps the state features of :class:`~fedsim.control.HandoverMDP` (position, candidate
and serving RSRP, which candidate serves, serving cell one-hot) to one Q-value per action. Because
it sees measurements and position rather than a waypoint index, one network serves routes it has
never flown; the tabular rule needs a table per route.

Training (Mnih et al. 2015, small enough for a CPU): ε-greedy flights over random training routes,
a replay buffer, a target network copied every ``dqn_target_sync`` gradient steps, the Huber loss,
Adam. Every draw is from named streams of the seed (initial weights, exploration, replay batches),
so two trainings with the same seed give the same network.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from fedsim.control import HandoverMDP, HandoverRule
from fedsim.rng import numpy_stream
from fedsim.torch_rng import torch_stream
from fedsim.world import RouteLinks

_WARMUP_TRANSITIONS = 500  # fill the buffer a little before the first gradient step
_LEARN_EVERY = 4  # transitions per gradient step (Mnih et al.'s update frequency)


class _one_thread:
    """Tiny networks train fastest on one thread (a second only adds synchronisation)."""

    def __enter__(self):
        self.threads = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self.threads)


def q_network(num_features: int, num_actions: int, hidden: int, generator: torch.Generator) -> nn.Sequential:
    net = nn.Sequential(nn.Linear(num_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, num_actions))
    with torch.no_grad():
        for layer in net:
            if isinstance(layer, nn.Linear):
                bound = 1.0 / np.sqrt(layer.in_features)
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.uniform_(-bound, bound, generator=generator)
    return net


class DqnHandover(HandoverRule):
    """``fit`` trains on the given routes; ``serve`` flies greedily on any route."""

    network: nn.Sequential | None = None

    def fit(self, routes: Sequence[RouteLinks]) -> "DqnHandover":
        with _one_thread():
            return self._fit(routes)

    def _fit(self, routes: Sequence[RouteLinks]) -> "DqnHandover":
        cfg = self.config
        mdps = [self.mdp(links) for links in routes]
        if not mdps:
            raise ValueError("DQN training needs at least one route")
        f, a = mdps[0].num_features, mdps[0].num_actions
        net = q_network(f, a, cfg.dqn_hidden, torch_stream(self.seed, "dqn-init"))
        target = q_network(f, a, cfg.dqn_hidden, torch_stream(self.seed, "dqn-init"))
        target.load_state_dict(net.state_dict())
        optimizer = torch.optim.Adam(net.parameters(), lr=cfg.dqn_lr, foreach=False)
        rng = numpy_stream(self.seed, "dqn-training")
        size = cfg.dqn_buffer
        states = np.zeros((size, f), np.float32)
        next_states = np.zeros((size, f), np.float32)
        actions = np.zeros(size, np.int64)
        rewards = np.zeros(size, np.float32)
        done = np.zeros(size, np.float32)
        stored = steps = 0
        epsilon = cfg.epsilon
        for _ in range(cfg.dqn_episodes):
            mdp = mdps[int(rng.integers(len(mdps)))]
            cell = mdp.start_cell
            state = mdp.features(0, cell)
            for t in range(mdp.num_points - 1):
                if rng.random() < epsilon:
                    action = int(rng.integers(a))
                else:
                    with torch.no_grad():
                        action = int(torch.argmax(net(torch.from_numpy(state))))
                nxt = mdp.next_cell(t, cell, action)
                reward = mdp.reward(t, cell, nxt)
                nxt_state = mdp.features(t + 1, nxt)
                slot = stored % size
                states[slot], actions[slot], rewards[slot] = state, action, reward
                next_states[slot], done[slot] = nxt_state, float(t + 1 == mdp.num_points - 1)
                stored += 1
                cell, state = nxt, nxt_state
                if stored >= max(_WARMUP_TRANSITIONS, cfg.dqn_batch) and stored % _LEARN_EVERY == 0:
                    batch = rng.integers(min(stored, size), size=cfg.dqn_batch)
                    self._learn(net, target, optimizer, states[batch], actions[batch], rewards[batch], next_states[batch], done[batch])
                    steps += 1
                    if steps % cfg.dqn_target_sync == 0:
                        target.load_state_dict(net.state_dict())
            epsilon *= cfg.epsilon_decay
        self.network = net.eval()
        return self

    def _learn(self, net, target, optimizer, s, a, r, s2, d) -> None:
        s, s2 = torch.from_numpy(s), torch.from_numpy(s2)
        with torch.no_grad():
            bootstrap = torch.from_numpy(r) + self.config.gamma * (1.0 - torch.from_numpy(d)) * target(s2).max(dim=1).values
        q = net(s).gather(1, torch.from_numpy(a)[:, None]).squeeze(1)
        loss = nn.functional.smooth_l1_loss(q, bootstrap)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def q_values(self, mdp: HandoverMDP, t: int, cell: int) -> np.ndarray:
        if self.network is None:
            raise RuntimeError("the DQN handover rule must be fit before it serves")
        with torch.no_grad():
            return self.network(torch.from_numpy(mdp.features(t, cell))).numpy()

    def serve(self, links: RouteLinks) -> np.ndarray:
        mdp = self.mdp(links)
        return mdp.rollout(lambda t, cell: int(np.argmax(self.q_values(mdp, t, cell))))
