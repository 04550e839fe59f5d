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

    @classmethod
    def check_run(cls, run: Any) -> None:
        """A choice file is read when the config is built: a bad one stops the run before any file
        is written (a point computed at start is checked there)."""
        if run.policy.choice_path is not None:
            _checked_point(_choice_file_row(run.policy.choice_path, run.policy.pick), run)

    def start(self, world, *, upload_params: int | None = None) -> None:
        if self.point is not None:  # restored from a checkpoint
            return
        pick, path = self.config.pick, self.config.choice_path
        row = study(self.run, qfl_model(self.run, world, upload_params)).choices[pick] if path is None else _choice_file_row(path, pick)
        self.point = _checked_point(row, self.run)

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


def _choice_file_row(path: str, pick: str) -> dict[str, Any]:
    """The ``pick`` row of a choice.json: I, K, m, n as integers (a fraction is refused, not truncated)."""
    allowed = f"a choice.json of `fedsim optimize` with a {pick!r} row of integers I, K, m, n"
    try:
        row = json.loads(Path(path).read_text(encoding="utf-8"))[pick]
        values = {key: row[key] for key in _KEYS}
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError("policy.choice_path", path, allowed) from None
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError("policy.choice_path", path, f"{allowed} ({pick}.{key}={value!r} is not an integer)")
    return values


def _checked_point(row: dict[str, Any], run: Any) -> OperatingPoint:
    try:  # OperatingPoint validates itself
        point = OperatingPoint(**{field: row[key] for key, field in _KEYS.items()})
    except ConfigError as error:
        raise ConfigError("policy.choice_path", run.policy.choice_path, f"a choice.json whose picks are valid (I, K, m, n): {error}") from None
    if point.devices_per_round > run.world.num_devices:
        raise ConfigError("policy.pick", run.policy.pick, f"a point with K <= world.num_devices={run.world.num_devices} "
                          f"(its K={point.devices_per_round})")
    return point
