"""The local optimizer a device steps with (``train.optimizer``), and what its step costs.

SGD and AdamW are torch's. MKOR (``kernels.MKOR``) preconditions each Linear layer, and each
adapter pair of a compressed LM, with inverse Kronecker factors refreshed by rank-1
Sherman–Morrison steps, then takes the inner step (SGD+momentum or AdamW). Its extra arithmetic
per step is priced as one more compute part at 32 bits, so the World charges it like any MAC.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

import kernels

from ..workload import Workload


def build_optimizer(name: str, model: nn.Module, params: Iterable[nn.Parameter], *, lr: float, momentum: float,
                    inv_freq: int, inner: str) -> torch.optim.Optimizer:
    """``sgd`` (with momentum), ``adamw``, or ``mkor`` over ``model`` with ``inner`` (sgd | adamw) as
    its inner step. Call ``release(optimizer)`` when done: MKOR hooks the model."""
    params = list(params)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    if name == "mkor":
        return kernels.MKOR(model, lr=lr, inner=inner, momentum=momentum, inv_freq=inv_freq)
    raise ValueError(f"optimizer={name!r} is invalid; expected sgd, adamw or mkor")


def release(optimizer: torch.optim.Optimizer) -> None:
    """Detach MKOR's statistics hooks from the (reused) model."""
    if isinstance(optimizer, kernels.MKOR):
        optimizer.remove_hooks()


def optimizer_part(name: str, model: nn.Module, batch_size: int, inv_freq: int) -> tuple[Workload, int] | None:
    """MKOR's per-step work as a compute part at 32 bits (None for SGD/AdamW, whose element-wise
    updates the model's own parts already cover): its MACs spread over the mini-batch's samples
    so that one local iteration (batch × forward + backward ≈ 3 × MACs) charges ``step_macs``,
    and its inverse factors as the part's parameters (read once per step)."""
    if name != "mkor":
        return None
    optimizer = kernels.MKOR(model, lr=1.0, inv_freq=inv_freq)
    try:
        macs, entries = optimizer.step_macs(), optimizer.factor_entries()
    finally:
        optimizer.remove_hooks()
    per_sample = macs / (3.0 * batch_size)
    return Workload(params=max(1, entries // batch_size), macs=max(per_sample, 1.0), activations=1, input_size=1), 32
