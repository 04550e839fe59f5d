"""The task of a run configuration, built once per process.

The configuration travels in Flower's run config as one JSON string (run config values must be
flat scalars), and each process builds its task once and caches it by that string: no global
state that only works in one process.
"""

from __future__ import annotations

import importlib
import json
from functools import lru_cache

from ..config import RunConfig
from ..config._tasks import TASKS
from ._task import Task

RUN_CONFIG_KEY = "fedsim.config"


def config_to_run_config(config: RunConfig) -> dict[str, str]:
    """Flower run config carrying a fedsim configuration."""
    return {RUN_CONFIG_KEY: json.dumps(config.to_dict(), sort_keys=True)}


def build_task(config: RunConfig) -> Task:
    """The task that trains ``config.model.name`` (the registry in ``fedsim.config._tasks``): a
    quantized classifier, or the adapters of a compressed LM."""
    module, _, cls = TASKS[config.model.name].partition(":")
    return getattr(importlib.import_module(module), cls)(config)


@lru_cache(maxsize=4)
def _task_from_json(config_json: str) -> Task:
    return build_task(RunConfig.from_mapping(json.loads(config_json)))


def task_from_run_config(run_config: dict) -> Task:
    """The cached Task of a Flower run config written by :func:`config_to_run_config`."""
    return _task_from_json(str(run_config[RUN_CONFIG_KEY]))
