"""What the asynchronous strategies (FedAsync, FedBuff) share: how many devices train at once, and
the staleness discount s(τ), τ the server versions between a device's download and its arrival:

- ``constant``: 1;
- ``polynomial``: (1 + τ)^-a (Xie et al., FedAsync);
- ``hinge``: 1 for τ <= b, else 1 / (a (τ - b) + 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._checks import check_choice, check_float, check_int
from ._base import StrategyParams

STALENESS_FUNCTIONS = ("constant", "polynomial", "hinge")


@dataclass(frozen=True)
class AsyncParams(StrategyParams):
    concurrency: int | None = None  # devices training at once (None: op.devices_per_round)
    staleness: str = "polynomial"  # update discount s(τ), τ versions old: constant 1 | polynomial (1 + τ)^-a | hinge (a, b)
    staleness_a: float = 0.5  # a of s(τ): the polynomial's exponent, the hinge's slope
    staleness_b: float = 4.0  # hinge: staleness up to b is not discounted

    def __post_init__(self) -> None:
        if self.concurrency is not None:
            object.__setattr__(self, "concurrency", check_int("concurrency", self.concurrency, 1))
        check_choice("staleness", self.staleness, STALENESS_FUNCTIONS)
        object.__setattr__(self, "staleness_a", check_float("staleness_a", self.staleness_a, low=0))
        object.__setattr__(self, "staleness_b", check_float("staleness_b", self.staleness_b, low=0))

    def staleness_weight(self, staleness: int) -> float:
        """s(τ) of the configured function."""
        tau = float(staleness)
        if self.staleness == "polynomial":
            return (1.0 + tau) ** -self.staleness_a
        if self.staleness == "hinge":
            return 1.0 if tau <= self.staleness_b else 1.0 / (self.staleness_a * (tau - self.staleness_b) + 1.0)
        return 1.0


class AsyncStrategy:
    """The server side of an asynchronous strategy: ``arrive`` takes each delivered update and
    says when a new global model exists; what it carries from one arrival to the next (FedBuff's
    buffer) is its ``state_dict``, checkpointed after every aggregation."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"{type(self).__name__} keeps no state, got {sorted(state)}")
