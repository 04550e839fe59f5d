"""Run configuration: typed, validated sections built from Hydra's composed config.

The physical sections are the World's own config types, re-exported here for convenience.
"""

from ..world import AccessConfig, DeploymentConfig, DeviceConfig, EnergyConfig, MobilityConfig, RadioConfig, WorldConfig
from ._strategy import StrategyConfig
from ._tracking import TrackingConfig
from ._schema import (
    DatasetConfig,
    LMSection,
    ModelConfig,
    OperatingPoint,
    OptimizerSection,
    PartitionConfig,
    PolicyConfig,
    RunConfig,
    TheorySection,
    TrainConfig,
)

__all__ = [
    "AccessConfig",
    "DatasetConfig",
    "DeploymentConfig",
    "DeviceConfig",
    "EnergyConfig",
    "LMSection",
    "MobilityConfig",
    "ModelConfig",
    "OperatingPoint",
    "OptimizerSection",
    "PartitionConfig",
    "PolicyConfig",
    "RadioConfig",
    "RunConfig",
    "StrategyConfig",
    "TrackingConfig",
    "TheorySection",
    "TrainConfig",
    "WorldConfig",
]
