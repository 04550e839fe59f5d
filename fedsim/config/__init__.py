"""Run configuration: typed, validated sections built from Hydra's composed config."""

from ._schema import (
    DatasetConfig,
    EnergyConfig,
    ModelConfig,
    OperatingPoint,
    OptimizerSection,
    PartitionConfig,
    RunConfig,
    TheorySection,
    TrainConfig,
    WorldSection,
)

__all__ = [
    "DatasetConfig",
    "EnergyConfig",
    "ModelConfig",
    "OperatingPoint",
    "OptimizerSection",
    "PartitionConfig",
    "RunConfig",
    "TheorySection",
    "TrainConfig",
    "WorldSection",
]
