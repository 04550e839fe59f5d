"""Run configuration: typed, validated sections built from Hydra's composed config."""

from ._schema import (
    DATASETS,
    MODELS,
    PARTITIONS,
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
    "DATASETS",
    "MODELS",
    "PARTITIONS",
    "DatasetConfig",
    "EnergyConfig",
    "ModelConfig",
    "OperatingPoint",
    "PartitionConfig",
    "RunConfig",
    "TrainConfig",
    "WorldSection",
]
