"""FedMedian (Yin et al., ICML 2018): the coordinate-wise median of the delivered models,
Flower's ``FedMedian``; robust to a minority of arbitrary updates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._base import StrategyParams, flower_sampling

ASYNCHRONOUS = False


@dataclass(frozen=True)
class Params(StrategyParams):
    pass


def build(params: Params, run: Any):
    from flwr.serverapp.strategy import FedMedian

    return FedMedian(**flower_sampling())
