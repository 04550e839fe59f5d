"""Pruning scores and sparsity masks (True = keep).

Scores are compared within each output row (row i of W, shape (d_out, d_in)); N:M groups are
M consecutive input columns of one row.  Ties are broken deterministically (stable sort / topk on
CPU), so equal scores give equal masks.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "magnitude_score",
    "wanda_score",
    "unstructured_mask",
    "nm_mask",
    "double_pruned_mask",
    "tile_hybrid_mask",
    "mask_density",
]


def _check_2d(name: str, t: Tensor) -> None:
    if not isinstance(t, Tensor) or t.dim() != 2:
        raise ValueError(f"{name} must be a 2-D tensor (d_out, d_in); got shape "
                         f"{tuple(getattr(t, 'shape', ()))}")


def _check_nm(n: int, m: int, d_in: int) -> None:
    if not (isinstance(m, int) and m >= 1):
        raise ValueError(f"m={m!r} is invalid; expected an int >= 1")
    if not (isinstance(n, int) and 0 <= n <= m):
        raise ValueError(f"n={n!r} is invalid; expected an int in [0, m={m}]")
    if d_in % m:
        raise ValueError(f"d_in={d_in} is not divisible by m={m}; N:M groups need whole groups")


def magnitude_score(W: Tensor) -> Tensor:
    """|W|: the data-free baseline."""
    return W.abs()


def wanda_score(W: Tensor, s: Tensor) -> Tensor:
    """Wanda: |W_ij|·sqrt(s_j), s_j = mean-over-samples squared norm of input channel j."""
    _check_2d("W", W)
    s = torch.as_tensor(s)
    if s.shape != (W.shape[1],):
        raise ValueError(f"s has shape {tuple(s.shape)}; expected ({W.shape[1]},) = (d_in,)")
    if bool((s < 0).any()):
        raise ValueError("s has negative entries; squared norms must be >= 0")
    return W.abs() * s.to(torch.float64).sqrt().to(W.dtype).unsqueeze(0)


def _prune_count(sparsity: float, n: int) -> int:
    # floor with a tolerance, so 0.3*10 prunes 3 (not 2.9999 -> 2)
    return min(n, int(math.floor(sparsity * n + 1e-9)))


def unstructured_mask(score: Tensor, sparsity: float, per_row: bool = True) -> Tensor:
    """Drop the ``floor(sparsity·n)`` lowest scores per row (or over the whole tensor)."""
    _check_2d("score", score)
    if not (0.0 <= float(sparsity) <= 1.0):
        raise ValueError(f"sparsity={sparsity!r} is invalid; expected a float in [0, 1]")
    flat = score if per_row else score.reshape(1, -1)
    k = _prune_count(float(sparsity), flat.shape[1])
    mask = torch.ones_like(flat, dtype=torch.bool)
    if k:
        idx = torch.argsort(flat, dim=1, stable=True)[:, :k]
        mask.scatter_(1, idx, False)
    return mask.reshape(score.shape)


def nm_mask(score: Tensor, n: int = 2, m: int = 4) -> Tensor:
    """Keep the ``n`` largest scores of every ``m`` consecutive inputs in each row."""
    _check_2d("score", score)
    _check_nm(n, m, score.shape[1])
    groups = score.reshape(score.shape[0], -1, m)
    mask = torch.zeros_like(groups, dtype=torch.bool)
    if n:
        idx = torch.topk(groups, n, dim=-1, largest=True, sorted=False).indices
        mask.scatter_(-1, idx, True)
    return mask.reshape(score.shape)


def double_pruned_mask(W_or_score: Tensor, n: int = 2, m: int = 4) -> Tensor:
    """SLoPe double pruning: row-wise N:M, then N:M along columns applied to the result.

    The second mask makes the transposed matrix (used by the input-gradient GEMM) N:M too; it
    only removes entries, so the result is a subset of the row mask.  On random data with 2:4 the
    expected density is E[min(Bin(4, 1/2), 2)]/4 = 26/64 ≈ 0.406.
    """
    _check_2d("W_or_score", W_or_score)
    _check_nm(n, m, W_or_score.shape[1])
    if W_or_score.shape[0] % m:
        raise ValueError(f"d_out={W_or_score.shape[0]} is not divisible by m={m}; the column "
                         "N:M pass needs whole groups")
    score = W_or_score.abs()
    row = nm_mask(score, n, m)
    # Pruned entries can never win the column pass: give them -inf.
    col_score = torch.where(row, score, torch.full_like(score, -math.inf)).T.contiguous()
    col = nm_mask(col_score, n, m).T
    return row & col


def tile_hybrid_mask(score: Tensor, dense_tiles: Tensor | float, tile: int = 128) -> Tensor:
    """PATCH hybrid mask: each ``tile``×``tile`` tile is either dense or 2:4.

    Args:
        score: saliency (d_out, d_in); 2:4 tiles keep the 2 largest of every 4.
        dense_tiles: bool tensor (ceil(d_out/tile), ceil(d_in/tile)) choosing dense tiles, or a
            fraction in [0, 1]; with a fraction, the tiles that 2:4 would hurt most (largest
            pruned score mass) are made dense.
        tile: tile edge.
    Density (by area; exactly for whole tiles) = 0.5 + 0.5·(dense-tile fraction).
    """
    _check_2d("score", score)
    if not (isinstance(tile, int) and tile >= 4 and tile % 4 == 0):
        raise ValueError(f"tile={tile!r} is invalid; expected an int >= 4 divisible by 4")
    d_out, d_in = score.shape
    _check_nm(2, 4, d_in)
    nt_r, nt_c = math.ceil(d_out / tile), math.ceil(d_in / tile)
    sparse = nm_mask(score, 2, 4)
    if isinstance(dense_tiles, Tensor):
        if dense_tiles.shape != (nt_r, nt_c):
            raise ValueError(f"dense_tiles has shape {tuple(dense_tiles.shape)}; expected "
                             f"({nt_r}, {nt_c}) tiles of {tile}")
        gate = dense_tiles.to(torch.bool)
    else:
        frac = float(dense_tiles)
        if not 0.0 <= frac <= 1.0:
            raise ValueError(f"dense_tiles={dense_tiles!r} is invalid; expected a bool tensor or "
                             "a fraction in [0, 1]")
        lost = torch.zeros(nt_r * tile, nt_c * tile, dtype=torch.float64)
        lost[:d_out, :d_in] = (score.to(torch.float64) * (~sparse))
        per_tile = lost.reshape(nt_r, tile, nt_c, tile).sum(dim=(1, 3)).flatten()
        k = int(round(frac * per_tile.numel()))
        gate = torch.zeros(per_tile.numel(), dtype=torch.bool)
        if k:
            gate[torch.argsort(per_tile, descending=True, stable=True)[:k]] = True
        gate = gate.reshape(nt_r, nt_c)
    dense = gate.repeat_interleave(tile, 0).repeat_interleave(tile, 1)[:d_out, :d_in]
    return sparse | dense


def mask_density(mask: Tensor) -> float:
    """Fraction of kept entries."""
    return float(mask.to(torch.float64).mean()) if mask.numel() else 0.0
