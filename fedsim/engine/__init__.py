"""Engines that run Flower apps: ``InProcessGrid`` (fedsim's own apps, the default),
``CohortGrid`` (``engine=cohort``: the same, with a round's clients trained together) and
``WorldGrid`` (any Flower app, every message priced by a fedsim World)."""

from ._cohort import CohortGrid
from ._inprocess import InProcessGrid
from ._world_grid import WorldGrid

__all__ = ["CohortGrid", "InProcessGrid", "WorldGrid"]
