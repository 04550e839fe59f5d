"""Run configuration: typed, validated sections built from Hydra's composed config."""

from ._schema import (
    DatasetConfig,
    EnergyConfig,
    ModelConfig,
    OperatingPoint,
    PartitionConfig,
    RunConfig,
    TrainConfig,
    WorldSection,
)

__all__ = [
    "DatasetConfig",
    "EnergyConfig",
    "ModelConfig",
    "OperatingPoint",
    "PartitionConfig",
    "RunConfig",
    "TrainConfig",
    "WorldSection",
]
