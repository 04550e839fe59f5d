"""What a client and the server build from one run configuration: data, partitions, model.

The configuration travels in Flower's run config as one JSON string (run config values must be
flat scalars), and each process builds the job once and caches it by that string: no global state
that only works in one process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import torch
from torch import nn

from ..config import RunConfig
from ..data import DataSplit, Dataset, load_dataset, partition
from ..qnn import build_model, profile_model
from ..world import Workload

RUN_CONFIG_KEY = "fedsim.config"


def config_to_run_config(config: RunConfig) -> dict[str, str]:
    """Flower run config carrying a fedsim configuration."""
    return {RUN_CONFIG_KEY: json.dumps(config.to_dict(), sort_keys=True)}


@dataclass(frozen=True)
class Job:
    config: RunConfig

    @cached_property
    def data(self) -> DataSplit:
        ds = self.config.dataset
        return load_dataset(ds.name, path=ds.path, download=ds.download, test_fraction=ds.test_fraction, seed=self.config.seed)

    @cached_property
    def partitions(self) -> list[np.ndarray]:
        p = self.config.partition
        return partition(
            self.data.train.y,
            self.config.world.num_devices,
            p.kind,
            self.config.seed,
            alpha=p.alpha,
            shards_per_device=p.shards_per_device,
        )

    def device_data(self, device: int) -> Dataset:
        return self.data.train.subset(self.partitions[device])

    def new_model(self) -> nn.Module:
        """The model at its seeded initial weights."""
        m = self.config.model
        return build_model(
            m.name, self.data.train.input_shape, self.data.train.num_classes, seed=self.config.seed, hidden=tuple(m.hidden)
        )

    @cached_property
    def scratch_model(self) -> nn.Module:
        """A model instance reused for local training in this process (weights overwritten each time)."""
        return self.new_model()

    @cached_property
    def update_keys(self) -> list[str]:
        """State entries that are learned and averaged: floating-point parameters and BN statistics."""
        return [k for k, v in self.scratch_model.state_dict().items() if torch.is_floating_point(v)]

    @cached_property
    def update_shapes(self) -> list[tuple[int, ...]]:
        state = self.scratch_model.state_dict()
        return [tuple(state[k].shape) for k in self.update_keys]

    @cached_property
    def workload(self) -> Workload:
        """The energy model's workload: measured from the model unless the config gives numbers."""
        e = self.config.devices.energy
        given = (e.params, e.macs, e.activations, e.input_size)
        if all(v is not None for v in given):  # a paper's constants: no model (or data) needed
            return Workload(params=e.params, macs=e.macs, activations=e.activations, input_size=e.input_size)
        measured = profile_model(self.new_model(), self.data.train.input_shape)
        return Workload(
            params=e.params if e.params is not None else measured.params,
            macs=e.macs if e.macs is not None else measured.macs,
            activations=e.activations if e.activations is not None else measured.activations,
            input_size=e.input_size if e.input_size is not None else measured.input_size,
        )


@lru_cache(maxsize=4)
def _job_from_json(config_json: str) -> Job:
    return Job(RunConfig.from_mapping(json.loads(config_json)))


def job_from_run_config(run_config: dict) -> Job:
    """The cached Job of a Flower run config written by :func:`config_to_run_config`."""
    return _job_from_json(str(run_config[RUN_CONFIG_KEY]))
