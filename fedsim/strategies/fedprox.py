"""FedProx (Li et al., MLSys 2020): FedAvg on the server; every device adds (μ/2)·‖w - w_global‖²
to its local loss. Flower's ``FedProx`` sends μ in each TRAIN config (``proximal-mu``) and
fedsim's local training adds the term, on both engines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._checks import check_float
from ..errors import ConfigError
from ._base import StrategyParams, flower_sampling

ASYNCHRONOUS = False


@dataclass(frozen=True)
class Params(StrategyParams):
    mu: float = 0.01  # weight of the proximal term (0: FedAvg)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mu", check_float("mu", self.mu, low=0))

    def check_run(self, run: Any) -> None:
        if run.trains_language_model:  # its adapters train with AdamW, which has no proximal term here
            raise ConfigError("strategy", "fedprox", f"a strategy without a client-side term with model={run.model.name}")


def build(params: Params, run: Any):
    from flwr.serverapp.strategy import FedProx

    return FedProx(proximal_mu=params.mu, **flower_sampling())
