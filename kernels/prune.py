"""Hessian-aware pruning: SparseGPT, the OPTIMA closed-form reconstruction, and the error metric.

All solvers run in float64 and return tensors in W's dtype.  H is the layer Hessian proxy
XᵀX/N (d_in × d_in); the layer output error of a replacement Ŵ is tr((W−Ŵ)H(W−Ŵ)ᵀ).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .quant import QuantSpec, _ColumnQuantizer, _check_block, _obs_sweep, _prepare_hessian

__all__ = ["sparsegpt_prune", "optimal_reconstruction", "layer_output_error"]

_BATCH_ELEMS = 1 << 24  # float64 elements per batched OPTIMA solve (~128 MiB)


def _check_wh(W: Tensor, H: Tensor) -> None:
    if not isinstance(W, Tensor) or W.dim() != 2:
        raise ValueError(f"W must be a 2-D tensor (d_out, d_in); got shape {tuple(getattr(W, 'shape', ()))}")
    if not isinstance(H, Tensor) or H.shape != (W.shape[1], W.shape[1]):
        raise ValueError(f"H has shape {tuple(getattr(H, 'shape', ()))}; expected "
                         f"({W.shape[1]}, {W.shape[1]}) = (d_in, d_in)")


def sparsegpt_prune(
    W: Tensor,
    H: Tensor,
    sparsity: float | None = None,
    n: int | None = None,
    m: int | None = None,
    quant_spec: QuantSpec | None = None,
    block_size: int = 128,
    damp: float = 0.01,
) -> tuple[Tensor, Tensor]:
    """SparseGPT: prune (unstructured ``sparsity`` or ``n``:``m``, keeping n of every m) with
    OBS error feedback, optionally quantizing the kept weights jointly (the returned weights are
    then dequantized values).

    Unstructured masks are chosen per block of columns by w²/[H⁻¹]_jj² (lowest fraction of the
    block pruned), N:M masks per group of m columns.  Returns (Ŵ, keep mask).  With sparsity 0 and
    no quantization, W is returned unchanged.
    """
    _check_wh(W, H)
    _check_block(block_size)
    if (sparsity is None) == (n is None and m is None):
        raise ValueError(f"give either sparsity or n and m; got sparsity={sparsity!r}, n={n!r}, m={m!r}")
    nm: tuple[int, int] | None = None
    if sparsity is not None:
        if not (isinstance(sparsity, (int, float)) and 0.0 <= sparsity <= 1.0):
            raise ValueError(f"sparsity={sparsity!r} is invalid; expected a float in [0, 1]")
    else:
        if not (isinstance(n, int) and isinstance(m, int) and m >= 1 and 0 <= n <= m):
            raise ValueError(f"n={n!r}, m={m!r} are invalid; expected ints with 0 <= n <= m, m >= 1")
        if W.shape[1] % m or block_size % m:
            raise ValueError(f"m={m} must divide d_in={W.shape[1]} and block_size={block_size}")
        nm = (n, m)
    if quant_spec is not None and not isinstance(quant_spec, QuantSpec):
        raise ValueError(f"quant_spec={quant_spec!r} is invalid; expected a QuantSpec or None")
    if quant_spec is not None and quant_spec.granularity == "group" and block_size % quant_spec.group_size:
        raise ValueError(f"block_size={block_size} must be a multiple of group_size={quant_spec.group_size}")
    if quant_spec is None and (sparsity == 0 or (nm is not None and nm[0] == nm[1])):
        return W.clone(), torch.ones_like(W, dtype=torch.bool)
    W64, U = _prepare_hessian(W, H, damp)
    quantizer = None if quant_spec is None else _ColumnQuantizer(quant_spec, W64)
    W_hat, pruned = _obs_sweep(W64, U, block_size, quantizer=quantizer, sparsity=sparsity, nm=nm)
    return W_hat.to(W.dtype), ~pruned


def optimal_reconstruction(W: Tensor, H: Tensor, mask: Tensor, damp: float = 0.01) -> Tensor:
    """OPTIMA: the exact per-row optimum for a fixed mask.

    For each row, min_r ½ rᵀHr s.t. r_P = −w_P (P pruned, K kept) gives
    ŵ_K = w_K + H_KK⁻¹·H_KP·w_P and ŵ_P = 0.  Rows with the same mask pattern share one Cholesky
    factorization and one multi-right-hand-side solve.  ``damp`` adds damp·mean(diag H)·I (0 for
    the undamped optimum); dead inputs (H_jj = 0) get H_jj = 1, so their weights are left as is.
    The output error never exceeds that of the same mask without update (for any damp ≥ 0).
    """
    _check_wh(W, H)
    if not isinstance(mask, Tensor) or mask.shape != W.shape:
        raise ValueError(f"mask has shape {tuple(getattr(mask, 'shape', ()))}; expected {tuple(W.shape)}")
    if not (isinstance(damp, (int, float)) and damp >= 0):
        raise ValueError(f"damp={damp!r} is invalid; expected a float >= 0")
    keep = mask.to(torch.bool)
    H64 = H.detach().to(torch.float64).clone()
    dead = torch.diagonal(H64) == 0
    H64[dead, dead] = 1.0
    if damp:
        H64 += damp * torch.diagonal(H64).mean() * torch.eye(H64.shape[0], dtype=torch.float64)
    W64 = W.detach().to(torch.float64)
    out = torch.where(keep, W64, torch.zeros_like(W64))
    # Row i needs (H_KP w_P) = (H·(w ⊙ 1_P))_K: one matmul gives every row's right-hand side.
    Z = torch.where(keep, torch.zeros_like(W64), W64) @ H64

    # Rows with identical patterns share one factorization; patterns with equal |K| are batched.
    patterns, inverse, counts = torch.unique(keep, dim=0, return_inverse=True, return_counts=True)
    row_order = torch.argsort(inverse, stable=True)  # rows grouped by pattern
    starts = torch.cumsum(counts, 0) - counts
    ks = patterns.sum(1)
    todo = [p for p in torch.argsort(ks * (W.shape[0] + 1) + counts, stable=True).tolist()
            if 0 < int(ks[p]) < W.shape[1]]  # all pruned / none pruned: nothing to solve
    while todo:
        k = int(ks[todo[0]])
        chunk: list[int] = []
        while todo and int(ks[todo[0]]) == k and (len(chunk) + 1) * k * (k + int(counts[todo[0]])) <= _BATCH_ELEMS:
            chunk.append(todo.pop(0))
        if not chunk:
            chunk.append(todo.pop(0))  # a single pattern larger than the budget
        pc = torch.tensor(chunk)
        g, maxc = len(chunk), int(counts[pc].max())
        Kidx = patterns[pc].nonzero()[:, 1].reshape(g, k)  # kept inputs per pattern (sorted)
        L, info = torch.linalg.cholesky_ex(H64[Kidx.unsqueeze(2), Kidx.unsqueeze(1)])
        if bool((info != 0).any()):
            raise ValueError(f"H restricted to the kept inputs is singular (damp={damp}); "
                             "use damp > 0 or more calibration tokens")
        slot = torch.arange(maxc).unsqueeze(0)
        valid = slot < counts[pc].unsqueeze(1)  # (g, maxc)
        rows = row_order[(starts[pc].unsqueeze(1) + slot).clamp(max=W.shape[0] - 1)]
        rows = torch.where(valid, rows, torch.zeros_like(rows))
        rhs = Z[rows.unsqueeze(2), Kidx.unsqueeze(1)] * valid.unsqueeze(2)  # (g, maxc, k)
        delta = torch.cholesky_solve(rhs.transpose(1, 2), L).transpose(1, 2)  # H_KK⁻¹ H_KP w_P
        r_idx = rows.unsqueeze(2).expand(g, maxc, k)[valid]
        k_idx = Kidx.unsqueeze(1).expand(g, maxc, k)[valid]
        out[r_idx, k_idx] = W64[r_idx, k_idx] + delta[valid]
    return out.to(W.dtype)


def layer_output_error(W: Tensor, W_hat: Tensor, H: Tensor) -> float:
    """tr((W−Ŵ)H(W−Ŵ)ᵀ) in float64: the mean squared output change per token when H = XᵀX/N."""
    _check_wh(W, H)
    if W_hat.shape != W.shape:
        raise ValueError(f"W_hat has shape {tuple(W_hat.shape)}; expected {tuple(W.shape)}")
    E = W.detach().to(torch.float64) - W_hat.detach().to(torch.float64)
    return float(((E @ H.detach().to(torch.float64)) * E).sum())

