"""Engines that run Flower apps: ``InProcessGrid`` (fedsim's own apps, the default) and
``WorldGrid`` (any Flower app, every message priced by a fedsim World)."""

from ._inprocess import InProcessGrid
from ._world_grid import WorldGrid

__all__ = ["InProcessGrid", "WorldGrid"]
