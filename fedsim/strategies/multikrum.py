"""Multi-Krum (El Mhamdi et al., ICML 2018): the average of the ``num_selected`` models with the
best Krum scores, Flower's ``MultiKrum``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._checks import check_int
from ..errors import ConfigError
from ._base import flower_sampling
from ._byzantine import ByzantineParams

ASYNCHRONOUS = False


@dataclass(frozen=True)
class Params(ByzantineParams):
    num_selected: int = 3  # m: models averaged

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "num_selected", check_int("num_selected", self.num_selected, 1))

    def check_run(self, run: Any) -> None:
        super().check_run(run)
        k = run.op.devices_per_round
        if self.num_selected > k - self.num_malicious:
            raise ConfigError("strategy.num_selected", self.num_selected, f"an integer in [1, op.devices_per_round - f = {k - self.num_malicious}]")


def build(params: Params, run: Any):
    from flwr.serverapp.strategy import MultiKrum

    return MultiKrum(num_malicious_nodes=params.num_malicious, num_nodes_to_select=params.num_selected, **flower_sampling())
