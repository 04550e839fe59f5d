"""Local SGD at a given precision and evaluation: the learning a device (or the server) does."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..data import Dataset
from ..qnn import set_precision
from ._optimizer import build_optimizer, release


def train_locally(
    model: nn.Module,
    data: Dataset,
    *,
    iterations: int,
    batch_size: int,
    lr: float,
    momentum: float,
    train_bits: int,
    rounding: str,
    generator: torch.Generator,
    optimizer: str = "sgd",
    mkor_inv_freq: int = 1,
    proximal_mu: float = 0.0,
    gradient_correction: dict[str, torch.Tensor] | None = None,
    gradient_sum: dict[str, torch.Tensor] | None = None,
) -> float:
    """Run ``iterations`` mini-batch steps (SGD with momentum, AdamW, or MKOR over SGD) at
    precision ``train_bits``; return the mean loss.

    Batches walk through seeded permutations of the local data (reshuffled each pass), and the
    same generator drives stochastic rounding, so a (seed, device, round) fixes the result.
    ``proximal_mu`` > 0 adds FedProx's μ/2·‖w - w_start‖² to each step's loss (the mean loss
    returned is the data loss alone). ``gradient_correction`` (SCAFFOLD's c - c_i, by parameter
    name) is added to every step's gradient; ``gradient_sum``, when given, accumulates each
    parameter's raw gradients (before the correction) over the steps. A model that draws from
    torch's global generator (Dropout) draws from one seeded by ``generator``'s seed, restored after.
    """
    x = torch.from_numpy(data.x)
    y = torch.from_numpy(data.y)
    n = len(y)
    set_precision(model, train_bits, rounding, generator)
    model.train()
    opt = build_optimizer(optimizer, model, model.parameters(), lr=lr, momentum=momentum, inv_freq=mkor_inv_freq, inner="sgd")
    anchor = [p.detach().clone() for p in model.parameters()] if proximal_mu > 0 else None
    order = torch.randperm(n, generator=generator)
    cursor, total = 0, 0.0
    global_state = torch.get_rng_state()
    torch.default_generator.manual_seed(generator.initial_seed() ^ 0x5DEECE66D)  # not the stream's own draws
    try:
        for _ in range(iterations):
            if cursor >= n:
                order, cursor = torch.randperm(n, generator=generator), 0
            batch = order[cursor : cursor + batch_size]
            cursor += batch_size
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[batch]), y[batch])
            objective = loss if anchor is None else loss + proximal_term(model.parameters(), anchor, proximal_mu)
            objective.backward()
            if gradient_sum is not None:
                for name, p in model.named_parameters():
                    if p.grad is not None:
                        gradient_sum[name] = gradient_sum[name] + p.grad if name in gradient_sum else p.grad.detach().clone()
            if gradient_correction is not None:
                for name, p in model.named_parameters():
                    if name in gradient_correction and p.grad is not None:
                        p.grad.add_(gradient_correction[name])
            opt.step()
            total += loss.detach().item()
    finally:
        release(opt)
        torch.set_rng_state(global_state)
    return total / iterations


def proximal_term(params, anchor, mu: float) -> torch.Tensor:
    """FedProx's μ/2·‖w - w_start‖² over the parameters."""
    return 0.5 * mu * sum(((p - a) ** 2).sum() for p, a in zip(params, anchor))


@torch.no_grad()
def evaluate(model: nn.Module, data: Dataset, *, bits: int, batch_size: int = 1024) -> tuple[float, float]:
    """(loss, accuracy) of ``model`` on ``data`` at precision ``bits`` with nearest rounding."""
    set_precision(model, bits, "nearest")
    model.eval()
    x = torch.from_numpy(data.x)
    y = torch.from_numpy(data.y)
    loss_sum, correct = 0.0, 0
    for start in range(0, len(y), batch_size):
        logits = model(x[start : start + batch_size])
        target = y[start : start + batch_size]
        loss_sum += float(F.cross_entropy(logits, target, reduction="sum"))
        correct += int((logits.argmax(1) == target).sum())
    return loss_sum / len(y), correct / len(y)
