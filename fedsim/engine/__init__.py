"""Engines that run fedsim's ServerApp and ClientApp: in-process (default)."""

from ._inprocess import InProcessGrid

__all__ = ["InProcessGrid"]
