"""Bulyan (El Mhamdi et al., ICML 2018): Multi-Krum selects n - 2f models, then a coordinate-wise
trimmed mean around their median keeps n - 4f, Flower's ``Bulyan``. Needs n >= 4f + 3 updates
(a round that delivers fewer is not aggregated: Flower skips it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._base import flower_sampling
from ._byzantine import ByzantineParams

ASYNCHRONOUS = False


@dataclass(frozen=True)
class Params(ByzantineParams):
    def min_devices(self) -> int:
        return 4 * self.num_malicious + 3


def build(params: Params, run: Any):
    from flwr.serverapp.strategy import Bulyan

    return Bulyan(num_malicious_nodes=params.num_malicious, **flower_sampling())
