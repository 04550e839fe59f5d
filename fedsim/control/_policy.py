"""Policy: the per-round control plane between the World and the federation.

Each round the strategy hands the policy an :class:`~fedsim.world.Observation` built by the World
and gets a :class:`RoundDecision` back. A policy's constructor only stores its configuration
(scikit-learn style); ``start`` sees the World once before round 1 (offline optimizers price
their model there); learned policies keep what they learn in ``state_dict`` (checkpointed with the
run), never in module globals.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fedsim.control._config import PolicyConfig
from fedsim.control._decision import RoundDecision
from fedsim.control._operating_point import OperatingPoint
from fedsim.rng import numpy_stream
from fedsim.world import Observation, World


class Policy(ABC):
    """Base class of every per-round policy (``policy=NAME``; a user's own: ``policy=custom``).

    A subclass implements ``decide``, which maps the round's Observation to a RoundDecision
    (``at_operating_point`` builds the usual one); ``check_run`` adds rules on the run
    configuration, ``start`` reads the World once, ``state_dict`` / ``load_state_dict`` keep what
    it learns across a resume, and ``DISPATCHES`` with ``pick_idle`` serve the asynchronous
    strategies. Draw randomness from ``stream`` only, so the same seed gives the same decisions.

    Attributes:
        config: The run's ``policy`` section (a ``PolicyConfig``).
        run: The whole ``RunConfig``: its seed, operating point and World sections.
    """

    def __init__(self, config: PolicyConfig, run: Any) -> None:
        """``run``: the whole ``fedsim.config.RunConfig`` (its seed, op, world sections)."""
        self.config = config
        self.run = run

    @classmethod
    def check_run(cls, run: Any) -> None:
        """Rules this policy adds to a run configuration (checked when it is built)."""

    @property
    def operating_point(self) -> OperatingPoint:
        """The run's operating point (n, m, I, K): what fixed-point policies apply."""
        return self.run.op

    def start(self, world: World, *, upload_params: int | None = None) -> None:
        """Called once before the first round, with the run's World (read it, do not step it)
        and the values a device uploads per round (the d of an analytic model)."""

    @abstractmethod
    def decide(self, observation: Observation) -> RoundDecision:
        """The decision of round ``observation.round``."""

    # -- the event-driven world (strategy=fedasync|fedbuff) -----------------------------------
    # Whether this policy also picks whom an asynchronous server dispatches (``pick_idle``).
    DISPATCHES = False

    def pick_idle(self, idle: Sequence[int], rng: np.random.Generator,
                  expected_rate_bps: Callable[[np.ndarray], np.ndarray]) -> int | None:
        """Which of the ``idle`` online devices an asynchronous server starts next, as an index into ``idle`` (None: none of them).
        ``rng`` is the run's (seed, "async-selection") stream; ``expected_rate_bps(devices)``
        their uplink rates at the large-scale gain the server can know. The default: uniform."""
        return int(rng.integers(len(idle)))

    # -- checkpointable state ----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """What the policy has learned or counted so far (plain Python / numpy values)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"{type(self).__name__} keeps no state, got {sorted(state)}")

    # -- helpers for subclasses --------------------------------------------------------------
    def stream(self, purpose: str, round_index: int) -> np.random.Generator:
        """This policy's named random stream of a round (same seed, same decisions)."""
        return numpy_stream(self.run.seed, f"policy-{purpose}", round_index)

    def at_operating_point(self, devices: np.ndarray, observation: Observation, **overrides: Any) -> RoundDecision:
        """``devices`` at the run's operating point and the radio's transmit power."""
        op = self.operating_point
        values = dict(
            tx_power_w=observation.max_tx_power_w,
            train_bits=op.train_bits,
            uplink_bits=op.uplink_bits,
            local_iters=op.local_iters,
        )
        values.update(overrides)
        return RoundDecision.build(devices, **values)


def sample_uniform(rng: np.random.Generator, available: np.ndarray, k: int) -> np.ndarray:
    """K devices drawn uniformly without replacement from ``available``; sorted."""
    pool = np.sort(np.asarray(available, dtype=np.int64))
    return np.sort(rng.choice(pool, size=min(k, pool.size), replace=False))


def sample_devices(seed: int, server_round: int, available, k: int) -> np.ndarray:
    """fedsim's default selection: K of ``available`` uniformly from the (seed, "device-sampling",
    round) stream, rather than Flower's sampler (the global ``random`` and random node ids)."""
    return sample_uniform(numpy_stream(seed, "device-sampling", server_round), np.asarray(list(available)), k)
