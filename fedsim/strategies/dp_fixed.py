"""Central differential privacy with fixed clipping, on the server (Flower's
``DifferentialPrivacyServerSideFixedClipping`` around its ``FedAvg``): each delivered update is
clipped to ``clipping_norm``, the average gets Gaussian noise of std σ·C / K, K the devices per
round."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._checks import check_float
from ._base import StrategyParams, flower_sampling

ASYNCHRONOUS = False


@dataclass(frozen=True)
class Params(StrategyParams):
    noise_multiplier: float = 1.0  # σ
    clipping_norm: float = 1.0  # C, the L2 bound of an update

    def __post_init__(self) -> None:
        object.__setattr__(self, "noise_multiplier", check_float("noise_multiplier", self.noise_multiplier, low=0))
        object.__setattr__(self, "clipping_norm", check_float("clipping_norm", self.clipping_norm, low=0, low_open=True))


def build(params: Params, run: Any):
    from flwr.serverapp.strategy import DifferentialPrivacyServerSideFixedClipping, FedAvg

    return DifferentialPrivacyServerSideFixedClipping(
        FedAvg(**flower_sampling()), params.noise_multiplier, params.clipping_norm, run.op.devices_per_round
    )
