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
    eta: float = 1e-1  # η: server learning rate of the Adagrad step
    eta_l: float = 1e-1  # η_l: the clients' learning rate, which Flower only records (local training uses train.lr)
    tau: float = 1e-3  # τ: adaptivity, added to sqrt(v) in the step's denominator


def build(params: Params, run: Any):
    from flwr.serverapp.strategy import FedAdagrad

    return FedAdagrad(eta=params.eta, eta_l=params.eta_l, tau=params.tau, **flower_sampling())
