"""q-FedAvg (Li et al., ICLR 2020, q-FFL): devices whose loss is higher weigh more, Flower's
``QFedAvg`` with L = 1 / train.lr.

Its client side: each device reports F_k(w^t), its local loss at the received global model
before training (``loss-at-global``), which the aggregation raises to the power q."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._checks import check_float
from ._base import StrategyParams, flower_sampling

ASYNCHRONOUS = False
LOSS_AT_GLOBAL = "loss-at-global"  # the TRAIN config key that asks for it, and the metric's name


@dataclass(frozen=True)
class Params(StrategyParams):
    q: float = 0.1  # fairness: 0 is FedAvg

    def __post_init__(self) -> None:
        object.__setattr__(self, "q", check_float("q", self.q, low=0))


def train_config(params: Params) -> dict[str, Any]:
    return {LOSS_AT_GLOBAL: True}


def build(params: Params, run: Any):
    from flwr.serverapp.strategy import QFedAvg

    return QFedAvg(client_learning_rate=run.train.lr, q=params.q, train_loss_key=LOSS_AT_GLOBAL, **flower_sampling())
