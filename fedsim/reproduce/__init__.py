"""Reproductions of published results: ``reproduce(config, output_dir)`` writes report.json,
report.md and figures comparing the paper's numbers with fedsim's, side by side."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..config import RunConfig
from ..errors import ConfigError
from ._async_stragglers import reproduce_async_stragglers
from ._drone_handover import reproduce_drone_handover
from ._fedlora import reproduce_fedlora
from ._green_qfl import reproduce_green_qfl, reproduce_tradeoff
from ._mask_learning import reproduce_mask_learning
from ._optimizers import reproduce_optimizers
from ._report import CLAIM, CONSTANT, Check, Report
from ._robust_aggregation import reproduce_robust_aggregation
from ._slope import reproduce_slope
from ._uav_swarm import reproduce_uav_swarm
from ._urllc import reproduce_urllc

RECIPES: dict[str, Callable[..., Report]] = {
    "green_qfl": reproduce_green_qfl,
    "tradeoff_line_search": reproduce_tradeoff,
    "fedlora_comparison": reproduce_fedlora,
    "uav_swarm": reproduce_uav_swarm,
    "drone_handover": reproduce_drone_handover,
    "urllc": reproduce_urllc,
    "mask_learning": reproduce_mask_learning,
    "optimizers": reproduce_optimizers,
    "async_stragglers": reproduce_async_stragglers,
    "robust_aggregation": reproduce_robust_aggregation,
    "slope_pretraining": reproduce_slope,
}


def reproduce(config: RunConfig, output_dir: Path, *, progress: bool = False) -> Report:
    """Run the reproduction a scenario names in ``scenario.reproduce`` and write its report."""
    recipe = config.scenario.get("reproduce")
    if recipe not in RECIPES:
        raise ConfigError("scenario.reproduce", recipe, f"one of {', '.join(RECIPES)} (set by a scenario file)")
    output_dir = Path(output_dir)
    report = RECIPES[recipe](config, output_dir, progress=progress)
    report.write(output_dir)
    return report


__all__ = ["CLAIM", "CONSTANT", "RECIPES", "Check", "Report", "reproduce"]
