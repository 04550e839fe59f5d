"""FedAvgM (Hsu et al., 2019): FedAvg with server momentum, Flower's ``FedAvgM``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._checks import check_float
from ._base import StrategyParams, flower_sampling

ASYNCHRONOUS = False


@dataclass(frozen=True)
class Params(StrategyParams):
    server_lr: float = 1.0  # server step on the averaged update
    server_momentum: float = 0.9  # beta of the server's momentum buffer

    def __post_init__(self) -> None:
        object.__setattr__(self, "server_lr", check_float("server_lr", self.server_lr, low=0, low_open=True))
        object.__setattr__(self, "server_momentum", check_float("server_momentum", self.server_momentum, low=0, high=1, high_open=True))


def build(params: Params, run: Any):
    from flwr.serverapp.strategy import FedAvgM

    return FedAvgM(server_learning_rate=params.server_lr, server_momentum=params.server_momentum, **flower_sampling())
