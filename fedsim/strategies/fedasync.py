"""FedAsync (Xie et al., 2019), on the event-driven world: every delivered update moves the model
at once, x <- x + mixing·s(τ)·((x_τ + Δ) - x), x_τ the version the device downloaded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._checks import check_float
from ._staleness import AsyncParams, AsyncStrategy

ASYNCHRONOUS = True


@dataclass(frozen=True)
class Params(AsyncParams):
    mixing: float = 0.6  # alpha of x <- (1 - alpha s) x + alpha s x_device

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "mixing", check_float("mixing", self.mixing, low=0, high=1, low_open=True))


class FedAsync(AsyncStrategy):
    def __init__(self, params: Params) -> None:
        self.params = params

    def arrive(self, task: Any, current: Any, downloaded: Any, delta: list, examples: float, staleness: int) -> tuple[Any, list[int]] | None:
        """The new global model after one delivered update, and the staleness it carried."""
        alpha = self.params.staleness_weight(staleness) * self.params.mixing
        old, now = task.update_arrays(downloaded), task.update_arrays(current)
        # (x_τ + Δ) - x: the device's model relative to the current one.
        step = [alpha * (o + d - c) for o, d, c in zip(old, delta, now)]
        return task.aggregate(current, [step], [1.0])[0], [staleness]


def build(params: Params, run: Any) -> FedAsync:
    return FedAsync(params)
