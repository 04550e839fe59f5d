"""FedTrimmedAvg (Yin et al., ICML 2018): the coordinate-wise mean after cutting the ``beta``
fraction of largest and smallest values, Flower's ``FedTrimmedAvg``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._checks import check_float
from ._base import StrategyParams, flower_sampling

ASYNCHRONOUS = False


@dataclass(frozen=True)
class Params(StrategyParams):
    beta: float = 0.2  # fraction cut at each end, per coordinate

    def __post_init__(self) -> None:
        object.__setattr__(self, "beta", check_float("beta", self.beta, low=0, high=0.5, high_open=True))


def build(params: Params, run: Any):
    from flwr.serverapp.strategy import FedTrimmedAvg

    return FedTrimmedAvg(beta=params.beta, **flower_sampling())
