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


def optimal_reconstruction(W: Tensor, H: Tensor, mask: Tensor, damp: float = 0.01, *, method: str = "auto",
                           tol: float = 1e-6) -> Tensor:
    """OPTIMA: the exact per-row optimum for a fixed mask.

    For each row, min_r ½ rᵀHr s.t. r_P = −w_P (P pruned, K kept) gives
    ŵ_K = w_K + H_KK⁻¹·H_KP·w_P and ŵ_P = 0.  ``damp`` adds damp·mean(diag H)·I (0 for the
    undamped optimum); dead inputs (H_jj = 0) get H_jj = 1, so their weights are left as is.
    The output error never exceeds that of the same mask without update (for any damp ≥ 0).

    ``method``: "direct" factors H_KK per distinct row pattern (rows with the same pattern share
    one Cholesky and one multi-right-hand-side solve): exact, O(|K|³) per pattern.
    "iterative" solves every row's system at once through the shared H: Jacobi-preconditioned
    conjugate gradients in float32, where one iteration is one (d_out × d_in)·H product for all
    rows, refined in float64 until every row's relative residual ‖H_KK δ − b‖/‖b‖ ≤ ``tol``;
    rows that do not get there are solved directly.  Every CG iterate lowers the row's output
    error from the no-update value, and at ``tol`` = 1e-6 the excess over the exact optimum is
    of order tol² of it (far below the 4-bit quantization that follows); ``tol`` = 1e-9 costs a
    float64 refinement cycle and matches the direct solve to ~1e-10.  "auto" picks "iterative" when the direct
    factorizations would cost more than the iterations (many distinct patterns of large |K|,
    e.g. a 2:4 mask, whose rows all differ).
    """
    _check_wh(W, H)
    if not isinstance(mask, Tensor) or mask.shape != W.shape:
        raise ValueError(f"mask has shape {tuple(getattr(mask, 'shape', ()))}; expected {tuple(W.shape)}")
    if not (isinstance(damp, (int, float)) and damp >= 0):
        raise ValueError(f"damp={damp!r} is invalid; expected a float >= 0")
    if method not in ("auto", "direct", "iterative"):
        raise ValueError(f"method={method!r} is invalid; expected auto, direct or iterative")
    if not (isinstance(tol, (int, float)) and 0 < tol < 1):
        raise ValueError(f"tol={tol!r} is invalid; expected a float in (0, 1)")
    keep = mask.to(torch.bool)
    H64 = H.detach().to(torch.float64).clone()
    dead = torch.diagonal(H64) == 0
    H64[dead, dead] = 1.0
    if damp:
        H64 += damp * torch.diagonal(H64).mean() * torch.eye(H64.shape[0], dtype=torch.float64)
    W64 = W.detach().to(torch.float64)
    # Row i needs (H_KP w_P) = (H·(w ⊙ 1_P))_K: one matmul gives every row's right-hand side.
    Z = torch.where(keep, torch.zeros_like(W64), W64) @ H64
    out = torch.where(keep, W64, torch.zeros_like(W64))
    if method == "auto":
        method = "iterative" if _direct_flops(keep) > _ITERATIVE_FLOPS_FACTOR * W.shape[0] * W.shape[1] ** 2 else "direct"
    rows = torch.arange(W.shape[0])
    if method == "iterative":
        delta, rows = _solve_pcg(H64, keep, torch.where(keep, Z, torch.zeros_like(Z)), tol)
        out += delta
    if rows.numel():
        out[rows] = _solve_direct(W64[rows], H64, keep[rows], Z[rows], out[rows])
    return out.to(W.dtype)


# Direct factorizations cost Σ|K|³/3 per distinct pattern; ~60 PCG iterations (float32 plus one
# float64 refinement) cost ~60·d_out·d_in² and run at float32 speed: iterate when direct is dearer.
_ITERATIVE_FLOPS_FACTOR = 30.0
_PCG_MAX_ITERS = 200


def _direct_flops(keep: Tensor) -> float:
    patterns = torch.unique(keep, dim=0)
    k = patterns.sum(1).to(torch.float64)
    return float((k ** 3 / 3).sum())


def _solve_pcg(H64: Tensor, keep: Tensor, B64: Tensor, tol: float) -> tuple[Tensor, Tensor]:
    """δ with (H δ_i)_K = b_i on every row's kept set K (δ_P = 0), all rows at once; the rows
    whose relative residual stayed above ``tol`` (to be solved directly)."""
    H32, k32 = H64.to(torch.float32), keep.to(torch.float32)
    dinv = (1.0 / torch.diagonal(H32)).unsqueeze(0) * k32
    b_norm = B64.norm(dim=1).clamp_min(torch.finfo(torch.float64).tiny)
    delta = torch.zeros_like(B64)
    residual = B64.clone()
    for _cycle in range(3):  # float32 CG on the float64 residual: iterative refinement
        rel = residual.norm(dim=1) / b_norm
        active = (rel > tol).nonzero().squeeze(1)
        if not active.numel():
            break
        # A margin below tol: the float64 residual of a float32 solve is a little worse than its own.
        step = _pcg32(H32, k32[active], dinv[active], residual[active].to(torch.float32), max(tol / 4, 2.5e-7))
        delta[active] += step.to(torch.float64)
        residual = B64 - (delta @ H64) * keep
    rel = residual.norm(dim=1) / b_norm
    return delta, (rel > tol).nonzero().squeeze(1)


def _pcg32(H: Tensor, k: Tensor, dinv: Tensor, b: Tensor, rtol: float) -> Tensor:
    """Jacobi-preconditioned CG per row of (k ⊙ (x·H)) = b, float32; converged rows drop out."""
    x = torch.zeros_like(b)
    r = b.clone()
    z = r * dinv
    p = z.clone()
    rz = (r * z).sum(1)
    stop = rtol * b.norm(dim=1)
    idx = torch.arange(b.shape[0])
    for _ in range(_PCG_MAX_ITERS):
        Ap = (p @ H).mul_(k)
        alpha = rz / (p * Ap).sum(1).clamp_min(torch.finfo(torch.float32).tiny)
        x[idx] += alpha.unsqueeze(1) * p
        r.sub_(alpha.unsqueeze(1) * Ap)
        going = r.norm(dim=1) > stop
        if not bool(going.any()):
            break
        if not bool(going.all()):  # shrink the system to the rows still converging
            idx, r, p, rz, k, dinv, stop = idx[going], r[going], p[going], rz[going], k[going], dinv[going], stop[going]
        z = r * dinv
        rz_new = (r * z).sum(1)
        p = z + (rz_new / rz.clamp_min(torch.finfo(torch.float32).tiny)).unsqueeze(1) * p
        rz = rz_new
    return x


def _solve_direct(W64: Tensor, H64: Tensor, keep: Tensor, Z: Tensor, out: Tensor) -> Tensor:
    """The rows' optimum by Cholesky of H_KK, one factorization per distinct pattern."""
    out = out.clone()
    patterns, inverse, counts = torch.unique(keep, dim=0, return_inverse=True, return_counts=True)
    row_order = torch.argsort(inverse, stable=True)  # rows grouped by pattern
    starts = torch.cumsum(counts, 0) - counts
    ks = patterns.sum(1)
    todo = [p for p in torch.argsort(ks * (W64.shape[0] + 1) + counts, stable=True).tolist()
            if 0 < int(ks[p]) < W64.shape[1]]  # all pruned / none pruned: nothing to solve
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
            raise ValueError("H restricted to the kept inputs is singular; use damp > 0 or more calibration tokens")
        slot = torch.arange(maxc).unsqueeze(0)
        valid = slot < counts[pc].unsqueeze(1)  # (g, maxc)
        rows = row_order[(starts[pc].unsqueeze(1) + slot).clamp(max=W64.shape[0] - 1)]
        rows = torch.where(valid, rows, torch.zeros_like(rows))
        rhs = Z[rows.unsqueeze(2), Kidx.unsqueeze(1)] * valid.unsqueeze(2)  # (g, maxc, k)
        delta = torch.cholesky_solve(rhs.transpose(1, 2), L).transpose(1, 2)  # H_KK⁻¹ H_KP w_P
        r_idx = rows.unsqueeze(2).expand(g, maxc, k)[valid]
        k_idx = Kidx.unsqueeze(1).expand(g, maxc, k)[valid]
        out[r_idx, k_idx] = W64[r_idx, k_idx] + delta[valid]
    return out


def layer_output_error(W: Tensor, W_hat: Tensor, H: Tensor) -> float:
    """tr((W−Ŵ)H(W−Ŵ)ᵀ) in float64: the mean squared output change per token when H = XᵀX/N."""
    _check_wh(W, H)
    if W_hat.shape != W.shape:
        raise ValueError(f"W_hat has shape {tuple(W_hat.shape)}; expected {tuple(W.shape)}")
    E = W.detach().to(torch.float64) - W_hat.detach().to(torch.float64)
    return float(((E @ H.detach().to(torch.float64)) * E).sum())

