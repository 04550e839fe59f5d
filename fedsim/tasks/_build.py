"""The task of a run configuration, from the registry of ``model`` names (``fedsim.config._tasks``)."""

from __future__ import annotations

import importlib

from ..config import RunConfig
from ..config._tasks import TASKS
from ._task import Task


def build_task(config: RunConfig) -> Task:
    """The task that trains ``config.model.name``: a quantized classifier, the adapters of a
    compressed LM, or its learnable masks."""
    module, _, cls = TASKS[config.model.name].partition(":")
    return getattr(importlib.import_module(module), cls)(config)
