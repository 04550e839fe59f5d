"""FedBuff (Nguyen et al., AISTATS 2022), on the event-driven world: every ``buffer_size``
delivered updates, x <- x + server_lr·Σ w_k s(τ_k) Δ_k / Σ w_k (w_k the example counts)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._checks import check_float, check_int
from ._staleness import AsyncParams, AsyncStrategy

ASYNCHRONOUS = True


@dataclass(frozen=True)
class Params(AsyncParams):
    buffer_size: int = 5  # arrivals per aggregation
    server_lr: float = 1.0  # the step on the buffer's averaged update

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "buffer_size", check_int("buffer_size", self.buffer_size, 1))
        object.__setattr__(self, "server_lr", check_float("server_lr", self.server_lr, low=0, low_open=True))


class FedBuff(AsyncStrategy):
    def __init__(self, params: Params) -> None:
        self.params = params
        self.buffer: list[tuple[list, float, int]] = []  # (s(τ)·Δ, examples, τ)

    def arrive(self, task: Any, current: Any, downloaded: Any, delta: list, examples: float, staleness: int) -> tuple[Any, list[int]] | None:
        """The new global model once the buffer is full (None before), and the staleness it held."""
        weight = self.params.staleness_weight(staleness)
        self.buffer.append(([weight * d for d in delta], examples, staleness))
        if len(self.buffer) < self.params.buffer_size:
            return None
        updates = [[self.params.server_lr * d for d in scaled] for scaled, _, _ in self.buffer]
        new, _ = task.aggregate(current, updates, [w for _, w, _ in self.buffer])
        staleness_list = [tau for _, _, tau in self.buffer]
        self.buffer = []
        return new, staleness_list

    def state_dict(self) -> dict[str, Any]:
        return {"buffer": [(list(scaled), examples, tau) for scaled, examples, tau in self.buffer]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.buffer = [(list(scaled), float(examples), int(tau)) for scaled, examples, tau in state["buffer"]]


def build(params: Params, run: Any) -> FedBuff:
    return FedBuff(params)
