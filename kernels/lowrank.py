"""Low-rank error compensation (SLiM-LoRA, naive LoRA) and adapter re-factorization.

Orientation: W is (d_out, d_in) and y = x·Wᵀ; an adapter adds (x·L)·R with L (d_in × r) and
R (r × d_out), so L·R stands in for (W − W_c)ᵀ.  Over inputs with channel energies s_j the
expected squared output error of a correction is ‖D((W − W_c)ᵀ − L·R)‖²_F with D = diag(√s),
i.e. ‖(E − (L·R)ᵀ)·D‖²_F for E = W − W_c.  Eckart–Young on E·D = UΣVᵀ gives the optimum
(L·R)ᵀ = U_rΣ_rV_rᵀD⁻¹, i.e. L = D⁻¹V_rΣ_r and R = U_rᵀ.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .quant import QuantizedTensor, QuantSpec, quantize

__all__ = ["slim_lora", "naive_lora", "quantize_adapter", "refactorize", "rank_from_ratio"]


def _check_rank(rank: int, limit: int) -> None:
    if not (isinstance(rank, int) and 1 <= rank <= limit):
        raise ValueError(f"rank={rank!r} is invalid; expected an int in [1, {limit}]")


def _check_pair(W: Tensor, W_c: Tensor) -> None:
    if not isinstance(W, Tensor) or W.dim() != 2:
        raise ValueError(f"W must be a 2-D tensor (d_out, d_in); got shape {tuple(getattr(W, 'shape', ()))}")
    if not isinstance(W_c, Tensor) or W_c.shape != W.shape:
        raise ValueError(f"W_c has shape {tuple(getattr(W_c, 'shape', ()))}; expected {tuple(W.shape)}")


def _weighted_lora(W: Tensor, W_c: Tensor, d: Tensor, rank: int) -> tuple[Tensor, Tensor]:
    E = W.detach().to(torch.float64) - W_c.detach().to(torch.float64)
    U, S, Vh = torch.linalg.svd(E * d.unsqueeze(0), full_matrices=False)
    # D⁻¹ with dead channels (s_j = 0) mapped to 0: such inputs never fire, nothing to correct.
    d_inv = torch.where(d > 0, 1.0 / torch.where(d > 0, d, torch.ones_like(d)), torch.zeros_like(d))
    L = d_inv.unsqueeze(1) * Vh[:rank].T * S[:rank].unsqueeze(0)  # (d_in, r)
    R = U[:, :rank].T  # (r, d_out)
    return L.to(W.dtype), R.to(W.dtype)


def slim_lora(W: Tensor, W_c: Tensor, s: Tensor, rank: int) -> tuple[Tensor, Tensor]:
    """SLiM-LoRA: the rank-r (L, R) minimising the activation-weighted error ‖D((W−W_c)ᵀ − LR)‖_F.

    Args:
        W: original weight (d_out, d_in).
        W_c: compressed weight, e.g. mask ⊙ deq(Q(W)).
        s: input-channel energies s_j (d_in,), from ``LayerStats.s``.
        rank: adapter rank r.
    Returns:
        L (d_in × r) and R (r × d_out); the forward adds (x @ L) @ R.
    """
    _check_pair(W, W_c)
    _check_rank(rank, min(W.shape))
    s = torch.as_tensor(s)
    if s.shape != (W.shape[1],):
        raise ValueError(f"s has shape {tuple(s.shape)}; expected ({W.shape[1]},) = (d_in,)")
    if bool((s < 0).any()) or not bool(torch.isfinite(s).all()):
        raise ValueError("s must be finite and >= 0 (squared input-channel norms)")
    return _weighted_lora(W, W_c, s.to(torch.float64).sqrt(), rank)


def naive_lora(W: Tensor, W_c: Tensor, rank: int) -> tuple[Tensor, Tensor]:
    """Same as ``slim_lora`` with D = I: the best rank-r correction in the plain Frobenius norm."""
    _check_pair(W, W_c)
    _check_rank(rank, min(W.shape))
    return _weighted_lora(W, W_c, torch.ones(W.shape[1], dtype=torch.float64), rank)


def quantize_adapter(A: Tensor, bits: int = 4, granularity: str = "channel",
                     group_size: int = 128) -> QuantizedTensor:
    """Symmetric RTN of an adapter factor, one scale per row by default (rows of L are input
    channels whose scale differs by D⁻¹; rows of R are rank components)."""
    if not isinstance(A, Tensor) or A.dim() != 2:
        raise ValueError(f"A must be a 2-D adapter factor; got shape {tuple(getattr(A, 'shape', ()))}")
    return quantize(A, QuantSpec(bits, symmetric=True, granularity=granularity, group_size=group_size))


def refactorize(delta_w: Tensor, rank: int) -> tuple[Tensor, Tensor]:
    """Best rank-r factorization of an averaged adapter product ΔW = L·R (d_in × d_out).

    Averaging L and R separately is inexact (mean(L)·mean(R) ≠ mean(L·R)); averaging ΔW and
    re-factorizing is exact up to truncation and works across clients of different ranks.  The
    singular values are split evenly: L = U_r√Σ_r, R = √Σ_r V_rᵀ.
    """
    if not isinstance(delta_w, Tensor) or delta_w.dim() != 2:
        raise ValueError(f"delta_w must be a 2-D tensor; got shape {tuple(getattr(delta_w, 'shape', ()))}")
    _check_rank(rank, min(delta_w.shape))
    U, S, Vh = torch.linalg.svd(delta_w.detach().to(torch.float64), full_matrices=False)
    root = S[:rank].sqrt()
    L = U[:, :rank] * root.unsqueeze(0)
    R = root.unsqueeze(1) * Vh[:rank]
    return L.to(delta_w.dtype), R.to(delta_w.dtype)


def rank_from_ratio(shape: tuple[int, ...] | torch.Size, ratio: float) -> int:
    """r = floor(ratio·min(d_out, d_in)), at least 1 (SLiM uses ratio 0.1)."""
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape={tuple(shape)!r} is invalid; expected (d_out, d_in) with positive sizes")
    if not (isinstance(ratio, (int, float)) and 0.0 < ratio <= 1.0):
        raise ValueError(f"ratio={ratio!r} is invalid; expected a float in (0, 1]")
    return max(1, min(min(shape), int(math.floor(ratio * min(shape) + 1e-9))))
