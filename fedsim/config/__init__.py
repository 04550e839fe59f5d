"""Run configuration: typed, validated sections built from Hydra's composed config."""

from ._schema import (
    LM_MODELS,
    DatasetConfig,
    EnergyConfig,
    LMSection,
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
    "LM_MODELS",
    "DatasetConfig",
    "EnergyConfig",
    "LMSection",
    "ModelConfig",
    "OperatingPoint",
    "OptimizerSection",
    "PartitionConfig",
    "RunConfig",
    "TheorySection",
    "TrainConfig",
    "WorldSection",
]
