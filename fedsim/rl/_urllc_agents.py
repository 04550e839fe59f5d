"""URLLC agents: a conventional deep-RL agent that learns online from scratch, and an experienced
one pre-trained on a mix of recorded and GAN-generated (extreme) conditions (Kasgari et al.,
reconstructed).

Algorithm: DQN over discretised rate levels (0..3 packets per user per slot), one Q-network
shared by every user (each user's decision is one transition). Why DQN: the rate choice per slot
is naturally discrete (whole packets), a factorised per-user action keeps the action space at 4
instead of 4^U, and a two-layer network trains on a CPU in seconds; a continuous-action method
(DDPG/TD3) would spend most of its capacity learning that rates come in packets.

``deploy`` runs an agent in a cell slot by slot (learning online) and returns the per-slot series
the report needs. ``record_conditions`` measures what the deployed network's users experienced
per window, the "real data" the GAN learns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from fedsim.control._urllc_control import NUM_FEATURES, RATE_LEVELS, UrllcOracle, user_features, user_rewards
from fedsim.rl._dqn_core import DqnLearner, DqnSettings, one_thread
from fedsim.rng import numpy_stream
from fedsim.world._urllc import SlotOutcome, UrllcCell, UrllcConfig

CONDITION_NAMES = ("log_arrival_rate_per_s", "gain_offset_db")


@dataclass
class Series:
    """Per-slot results of a deployment."""

    power_w: np.ndarray
    reliable: np.ndarray
    lost: np.ndarray
    latency_s: np.ndarray  # mean latency of the slot's delivered packets (nan: none)

    @classmethod
    def of(cls, outcomes: Sequence[SlotOutcome]) -> "Series":
        return cls(
            np.array([o.power_w for o in outcomes]),
            np.array([o.reliable.sum() for o in outcomes], dtype=float),
            np.array([(o.late + o.decode_failures).sum() for o in outcomes], dtype=float),
            np.array([o.latency_s.mean() if o.latency_s.size else np.nan for o in outcomes]),
        )


class UrllcAgent:
    def __init__(self, seed: int, settings: DqnSettings | None = None) -> None:
        self.seed = int(seed)
        self.learner = DqnLearner(NUM_FEATURES, RATE_LEVELS, settings or DqnSettings(gamma=0.9, warmup=256), seed, purpose="urllc-dqn")

    def decide(self, cell: UrllcCell, epsilon: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        features = user_features(cell)
        return features, self.learner.act(features, epsilon, rng)

    def pretrain(self, config: UrllcConfig, conditions: np.ndarray, *, slots_per_episode: int, epsilon: float = 0.2) -> None:
        """One training episode per row of ``conditions`` (U rows per episode: one per user)."""
        users = config.users
        episodes = len(conditions) // users
        for e in range(episodes):
            rows = conditions[e * users : (e + 1) * users]
            cell = UrllcCell(replace(config, regime_change_slot=None), numpy_stream(self.seed, "pretrain-cell", e).integers(2**31))
            cell.rate_override_per_s = np.exp(rows[:, 0])
            cell.gain_offset_db = np.maximum(rows[:, 1], 0.0)
            self._run(cell, slots_per_episode, lambda slot: epsilon, numpy_stream(self.seed, "pretrain", e), learn=True)

    def _run(self, cell: UrllcCell, slots: int, epsilon: Callable[[int], float], rng, *, learn: bool) -> Series:
        outcomes = []
        with one_thread():
            for t in range(slots):
                features, actions = self.decide(cell, epsilon(t), rng)
                outcome = cell.step(actions)
                if learn:
                    self.learner.store(features, actions, user_rewards(outcome, cell), user_features(cell), np.zeros(len(actions)), rng)
                outcomes.append(outcome)
        return Series.of(outcomes)

    def deploy(self, config: UrllcConfig, slots: int, *, epsilon: float, epsilon_decay_slots: int, seed: int) -> Series:
        """Run in a fresh cell for ``slots``, learning online; ε decays linearly to a tenth."""
        cell = UrllcCell(config, seed)
        schedule = lambda t: epsilon * max(0.1, 1.0 - t / epsilon_decay_slots)  # noqa: E731
        return self._run(cell, slots, schedule, numpy_stream(self.seed, "deploy", seed), learn=True)


def deploy_oracle(config: UrllcConfig, slots: int, seed: int) -> Series:
    """The model-based oracle in the same cell (same seed: same users, traffic and fading)."""
    cell = UrllcCell(config, seed)
    oracle = UrllcOracle(cell)
    return Series.of([cell.step(oracle.decide()) for _ in range(slots)])


def record_conditions(config: UrllcConfig, slots: int, window_slots: int, seed: int) -> np.ndarray:
    """(windows·U, 2) conditions the users of a cell experienced: log arrival rate (per s, from
    the counted arrivals) and the channel's mean offset below its own mean, in dB."""
    cell = UrllcCell(replace(config, regime_change_slot=None), seed)
    counts = np.zeros(config.users)
    offsets = np.zeros(config.users)
    rows = []
    for t in range(slots):
        offsets -= 10 * np.log10(cell.gain / cell.mean_gain)
        counts += cell.step(cell.queue_lengths()).arrived  # send everything: what a live cell does
        if (t + 1) % window_slots == 0:
            rate = np.maximum(counts, 0.5) / (window_slots * config.slot_s)  # half a packet: log of 0
            rows.append(np.column_stack([np.log(rate), offsets / window_slots - 2.51]))  # E[-10log10 X] = 2.51 dB
            counts[:] = 0
            offsets[:] = 0
    return np.vstack(rows)
