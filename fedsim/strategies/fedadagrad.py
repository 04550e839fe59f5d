"""FedAdagrad (Reddi et al., ICLR 2021): the averaged update as a pseudo-gradient for a
server-side Adagrad step, Flower's ``FedAdagrad``. Defaults are Flower's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._base import flower_sampling
from ._server_optimizer import AdaptiveParams

ASYNCHRONOUS = False


@dataclass(frozen=True)
class Params(AdaptiveParams):
    eta: float = 1e-1
    eta_l: float = 1e-1
    tau: float = 1e-3


def build(params: Params, run: Any):
    from flwr.serverapp.strategy import FedAdagrad

    return FedAdagrad(eta=params.eta, eta_l=params.eta_l, tau=params.tau, **flower_sampling())
