"""The deep Q-learning machinery every fedsim agent shares (Mnih et al. 2015, sized for a CPU).

A Q-network (two hidden ReLU layers), a target copy synced every ``target_sync`` gradient steps,
a ring replay buffer, the Huber loss and Adam, one gradient step per ``learn_every`` stored
transitions once ``warmup`` are stored. Every draw comes from the seed's named streams (initial
weights ``"<purpose>-init"``, replay batches and exploration from the caller's generator), so the
same seed trains the same network. Tiny networks run on one thread: a second only synchronises.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from fedsim.torch_rng import torch_stream


def q_network(num_features: int, num_actions: int, hidden: int, generator: torch.Generator) -> nn.Sequential:
    net = nn.Sequential(nn.Linear(num_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, num_actions))
    with torch.no_grad():
        for layer in net:
            if isinstance(layer, nn.Linear):
                bound = 1.0 / np.sqrt(layer.in_features)
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.uniform_(-bound, bound, generator=generator)
    return net


class one_thread:
    """Run a block with torch on one thread, restoring the count after."""

    def __enter__(self):
        self.threads = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self.threads)


@dataclass
class DqnSettings:
    hidden: int = 64
    lr: float = 1e-3
    gamma: float = 0.3
    batch: int = 64
    buffer: int = 20_000
    target_sync: int = 200
    learn_every: int = 4
    warmup: int = 500


class DqnLearner:
    """A Q-network with its target, replay buffer and optimiser."""

    def __init__(self, num_features: int, num_actions: int, settings: DqnSettings, seed: int, purpose: str = "dqn") -> None:
        self.settings = settings
        self.num_actions = num_actions
        self.net = q_network(num_features, num_actions, settings.hidden, torch_stream(seed, f"{purpose}-init"))
        self.target = q_network(num_features, num_actions, settings.hidden, torch_stream(seed, f"{purpose}-init"))
        self.target.load_state_dict(self.net.state_dict())
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=settings.lr, foreach=False)
        size = settings.buffer
        self._s = np.zeros((size, num_features), np.float32)
        self._s2 = np.zeros((size, num_features), np.float32)
        self._a = np.zeros(size, np.int64)
        self._r = np.zeros(size, np.float32)
        self._done = np.zeros(size, np.float32)
        self.stored = 0
        self.steps = 0

    def q_values(self, states: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.net(torch.from_numpy(np.asarray(states, dtype=np.float32))).numpy()

    def act(self, states: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
        """ε-greedy actions for a batch of states (ties: the lowest action)."""
        states = np.atleast_2d(states)
        greedy = np.argmax(self.q_values(states), axis=1)
        explore = rng.random(len(states)) < epsilon
        return np.where(explore, rng.integers(0, self.num_actions, len(states)), greedy)

    def store(self, s, a, r, s2, done, rng: np.random.Generator) -> None:
        """Store a batch of transitions; learn when due."""
        s, s2 = np.atleast_2d(s), np.atleast_2d(s2)
        a, r, done = np.atleast_1d(a), np.atleast_1d(r), np.atleast_1d(done)
        size = self.settings.buffer
        for k in range(len(s)):
            slot = self.stored % size
            self._s[slot], self._a[slot], self._r[slot], self._s2[slot], self._done[slot] = s[k], a[k], r[k], s2[k], done[k]
            self.stored += 1
            if self.stored >= max(self.settings.warmup, self.settings.batch) and self.stored % self.settings.learn_every == 0:
                self._learn(rng.integers(min(self.stored, size), size=self.settings.batch))

    def _learn(self, batch: np.ndarray) -> None:
        s, s2 = torch.from_numpy(self._s[batch]), torch.from_numpy(self._s2[batch])
        with torch.no_grad():
            best_next = self.target(s2).max(dim=1).values
            bootstrap = torch.from_numpy(self._r[batch]) + self.settings.gamma * (1.0 - torch.from_numpy(self._done[batch])) * best_next
        q = self.net(s).gather(1, torch.from_numpy(self._a[batch])[:, None]).squeeze(1)
        loss = nn.functional.smooth_l1_loss(q, bootstrap)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.steps += 1
        if self.steps % self.settings.target_sync == 0:
            self.target.load_state_dict(self.net.state_dict())
