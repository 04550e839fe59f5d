"""Krum (Blanchard et al., NeurIPS 2017): the one delivered model closest to its n - f - 2 nearest
neighbours, Flower's ``Krum``. Needs n >= 2f + 3 updates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._base import flower_sampling
from ._byzantine import ByzantineParams

ASYNCHRONOUS = False


@dataclass(frozen=True)
class Params(ByzantineParams):
    pass


def build(params: Params, run: Any):
    from flwr.serverapp.strategy import Krum

    return Krum(num_malicious_nodes=params.num_malicious, **flower_sampling())
