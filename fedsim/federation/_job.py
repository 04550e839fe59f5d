"""The task of a run configuration, built once per process.

On the in-process engine the configuration travels in Flower's run config as one JSON string
(run config values must be flat scalars); under ``flwr run`` the run config holds the declared
keys of ``pyproject.toml`` (``overrides`` and flat keys, see ``_flower_config``) and each process
composes the configuration from them. Each process builds its task once and caches it by the
configuration's JSON: no global state that only works in one process.
"""

from __future__ import annotations

import json
from functools import lru_cache

from ..config import RunConfig
from ..tasks import Task, build_task
from ._flower_config import compose_overrides, hydra_overrides

RUN_CONFIG_KEY = "fedsim.config"


def config_to_run_config(config: RunConfig) -> dict[str, str]:
    """Flower run config carrying a fedsim configuration."""
    return {RUN_CONFIG_KEY: json.dumps(config.to_dict(), sort_keys=True)}


@lru_cache(maxsize=4)
def _task_from_json(config_json: str) -> Task:
    return build_task(RunConfig.from_mapping(json.loads(config_json)))


@lru_cache(maxsize=4)
def _composed_json(overrides: tuple[str, ...]) -> str:
    return json.dumps(compose_overrides(overrides), sort_keys=True)


def config_json_of(run_config: dict) -> str:
    """The configuration's JSON: written by :func:`config_to_run_config`, or composed from the
    declared keys of ``flwr run``."""
    if RUN_CONFIG_KEY in run_config:
        return str(run_config[RUN_CONFIG_KEY])
    return _composed_json(hydra_overrides(run_config))


def config_from_run_config(run_config: dict) -> RunConfig:
    return RunConfig.from_mapping(json.loads(config_json_of(run_config)))


def task_from_run_config(run_config: dict) -> Task:
    """The cached Task of a Flower run config (either form, see the module docstring)."""
    return _task_from_json(config_json_of(run_config))
