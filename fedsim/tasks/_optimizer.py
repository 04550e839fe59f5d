"""The local optimizer a device steps with (``train.optimizer``), and what its step costs.

SGD is ``PlainSGD``: torch's SGD-with-momentum update, op for op (so the same bytes), without
``torch.optim.Optimizer``, whose first construction imports ``torch._dynamo`` (seconds per
process, for machinery a device's five local steps never use). AdamW is torch's. MKOR (``kernels.MKOR``) preconditions each Linear layer, and each
adapter pair of a compressed LM, with inverse Kronecker factors refreshed by rank-1
Sherman–Morrison steps, then takes the inner step (SGD+momentum or AdamW). Its extra arithmetic
per step is priced as one more compute part at 32 bits, so the World charges it like any MAC.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

import fedsim_kernels as kernels

from ..workload import Workload


class PlainSGD:
    """SGD with momentum (no dampening, no weight decay, no Nesterov), as ``torch.optim.SGD``
    computes it: the first step's buffer is a copy of the gradient, later ones
    ``buf = momentum * buf + grad``; then ``param -= lr * buf``. Foreach ops update every
    parameter in one call each (on CPU they run the same per-tensor kernels)."""

    def __init__(self, params: Iterable[nn.Parameter], *, lr: float, momentum: float) -> None:
        self.params = list(params)
        self.lr, self.momentum = float(lr), float(momentum)
        self._buffers: list[torch.Tensor | None] = [None] * len(self.params)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor] | None = None) -> None:
        """One update from the parameters' ``.grad``, or from ``grads`` (one per parameter: the
        cohort engine steps stacked tensors that hold no ``.grad``)."""
        if grads is None:
            # As torch: a parameter without a gradient is skipped; its buffer starts at its first one.
            live = [i for i, p in enumerate(self.params) if p.grad is not None]
            grads = [self.params[i].grad for i in live]
        else:
            live = list(range(len(self.params)))
        params = [self.params[i] for i in live]
        if self.momentum == 0.0:
            torch._foreach_add_(params, grads, alpha=-self.lr)
            return
        running = [k for k, i in enumerate(live) if self._buffers[i] is not None]
        if running:
            buffers = [self._buffers[live[k]] for k in running]
            torch._foreach_mul_(buffers, self.momentum)
            torch._foreach_add_(buffers, [grads[k] for k in running])
        for k, i in enumerate(live):
            if self._buffers[i] is None:
                self._buffers[i] = grads[k].detach().clone()
        torch._foreach_add_(params, [self._buffers[i] for i in live], alpha=-self.lr)


def build_optimizer(name: str, model: nn.Module, params: Iterable[nn.Parameter], *, lr: float, momentum: float,
                    inv_freq: int, inner: str) -> torch.optim.Optimizer | PlainSGD:
    """``sgd`` (with momentum), ``adamw``, or ``mkor`` over ``model`` with ``inner`` (sgd | adamw) as
    its inner step. Call ``release(optimizer)`` when done: MKOR hooks the model."""
    params = list(params)
    if name == "sgd":
        return PlainSGD(params, lr=lr, momentum=momentum)
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
