"""``policy=optimized``: the operating point (I, K, m, n) that ``fedsim optimize`` picks, applied
every round with K devices drawn uniformly.

The point comes from ``policy.choice_path`` (a ``choice.json`` written by ``fedsim optimize``) or,
unset, from the same study computed at start on the run's own World; ``policy.pick`` chooses the
row (``nbs``, the Nash bargaining solution, by default). The point is the policy's checkpointed
state, so a resumed run does not search again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fedsim.control import OperatingPoint, Policy, sample_uniform
from fedsim.controller._study import qfl_model, study
from fedsim.errors import ConfigError
from fedsim.world import Observation

_KEYS = {"I": "local_iters", "K": "devices_per_round", "m": "uplink_bits", "n": "train_bits"}


class OptimizedPolicy(Policy):
    def __init__(self, config, run) -> None:
        super().__init__(config, run)
        self.point: OperatingPoint | None = None

    def start(self, world, *, upload_params: int | None = None) -> None:
        if self.point is not None:  # restored from a checkpoint
            return
        row = self._choice_row(world, upload_params)
        try:  # OperatingPoint validates itself
            point = OperatingPoint(**{field: row[key] for key, field in _KEYS.items()})
        except ConfigError:
            raise ConfigError("policy.choice_path", self.config.choice_path, "a choice.json whose picks are valid (I, K, m, n)") from None
        if point.devices_per_round > self.run.world.num_devices:
            raise ConfigError("policy.pick", self.config.pick, f"a point with K <= world.num_devices={self.run.world.num_devices}")
        self.point = point

    def _choice_row(self, world, upload_params: int | None) -> dict[str, Any]:
        pick, path = self.config.pick, self.config.choice_path
        if path is None:
            return study(self.run, qfl_model(self.run, world, upload_params)).choices[pick]
        try:
            choice = json.loads(Path(path).read_text())
            row = choice[pick]
            return {key: int(row[key]) for key in _KEYS}
        except (OSError, ValueError, KeyError, TypeError):
            raise ConfigError("policy.choice_path", path, f"a choice.json of `fedsim optimize` with a {pick!r} row of I, K, m, n") from None

    @property
    def operating_point(self) -> OperatingPoint:
        if self.point is None:
            raise RuntimeError("OptimizedPolicy.start(world) must run before the first round")
        return self.point

    def decide(self, observation: Observation):
        rng = self.stream("optimized", observation.round)
        devices = sample_uniform(rng, observation.available_devices, self.operating_point.devices_per_round)
        return self.at_operating_point(devices, observation)

    def state_dict(self) -> dict[str, Any]:
        return {} if self.point is None else {"point": self.point.__dict__.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.point = OperatingPoint(**state["point"]) if state else None
