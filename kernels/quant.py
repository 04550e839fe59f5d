"""Uniform weight quantization: round-to-nearest, clip search (SLiM-Quant) and GPTQ.

Symmetric b-bit: scale = α/(2^{b-1}−1), codes = clamp(round(W/scale), −2^{b-1}, 2^{b-1}−1).
Asymmetric b-bit: range [min(W,0), max(W,0)] (optionally clipped to [−α, α]), scale =
range/(2^b−1), zero point round(−lo/scale), codes in [0, 2^b−1]; zero is always exact.

Scales are stored with shape (rows, groups): (1, 1) per tensor, (d_out, 1) per channel,
(d_out, d_in/group_size) per group.  ``gptq_quantize`` shares the column-by-column OBS sweep
(Cholesky factor of the damped inverse Hessian, lazy block updates) with SparseGPT in
``kernels.prune``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "QuantSpec",
    "QuantizedTensor",
    "quantize",
    "dequantize",
    "absmax_clip",
    "slim_quant_clip",
    "mse_optimal_clip_bruteforce",
    "gptq_quantize",
]

_GRANULARITIES = ("tensor", "channel", "group")


@dataclass(frozen=True)
class QuantSpec:
    """How to quantize: bit width, symmetric or not, and the scale granularity."""

    bits: int
    symmetric: bool = True
    granularity: str = "tensor"
    group_size: int = 128

    def __post_init__(self) -> None:
        if not (isinstance(self.bits, int) and 2 <= self.bits <= 16):
            raise ValueError(f"bits={self.bits!r} is invalid; expected an int in [2, 16]")
        if self.granularity not in _GRANULARITIES:
            raise ValueError(f"granularity={self.granularity!r} is invalid; expected one of "
                             f"{', '.join(_GRANULARITIES)}")
        if not (isinstance(self.group_size, int) and self.group_size >= 1):
            raise ValueError(f"group_size={self.group_size!r} is invalid; expected an int >= 1")

    @property
    def qmin(self) -> int:
        return -(2 ** (self.bits - 1)) if self.symmetric else 0

    @property
    def qmax(self) -> int:
        return 2 ** (self.bits - 1) - 1 if self.symmetric else 2**self.bits - 1

    @property
    def code_dtype(self) -> torch.dtype:
        for dt in (torch.int8, torch.int16, torch.int32):
            info = torch.iinfo(dt)
            if info.min <= self.qmin and self.qmax <= info.max:
                return dt
        raise AssertionError("unreachable")  # pragma: no cover


@dataclass
class QuantizedTensor:
    """Integer codes plus what is needed to dequantize them."""

    codes: Tensor  # integer tensor, same shape as the original
    scale: Tensor  # (rows, groups), see module docstring
    zero_point: Tensor | None  # like scale (integer-valued float), None when symmetric
    spec: QuantSpec
    shape: torch.Size

    @property
    def step(self) -> Tensor:
        """Quantization step broadcast to ``shape`` (the rounding error bound is step/2)."""
        return _unview(self.scale.unsqueeze(-1).expand(*_view_shape(self.shape, self.spec)), self.shape)


# ---------------------------------------------------------------------------- views
def _view_shape(shape: torch.Size, spec: QuantSpec) -> tuple[int, int, int]:
    numel = math.prod(shape)
    if spec.granularity == "tensor":
        return (1, 1, numel)
    if len(shape) < 2:
        raise ValueError(f"granularity={spec.granularity!r} needs a tensor with >= 2 dims; got "
                         f"shape {tuple(shape)}")
    rows, cols = shape[0], numel // shape[0]
    if spec.granularity == "channel":
        return (rows, 1, cols)
    if cols % spec.group_size:
        raise ValueError(f"group_size={spec.group_size} does not divide the {cols} inputs per row")
    return (rows, cols // spec.group_size, spec.group_size)


def _view(W: Tensor, spec: QuantSpec) -> Tensor:
    return W.reshape(_view_shape(W.shape, spec))


def _unview(V: Tensor, shape: torch.Size) -> Tensor:
    return V.reshape(shape)


def _params(V: Tensor, spec: QuantSpec, clip: Tensor | float | None) -> tuple[Tensor, Tensor | None]:
    """Scale (and zero point) per (row, group) of the view V (rows, groups, g)."""
    a, b, _ = V.shape
    if clip is not None:
        alpha = torch.as_tensor(clip, dtype=V.dtype)
        if bool((alpha <= 0).any()) or not bool(torch.isfinite(alpha).all()):
            raise ValueError(f"clip={clip!r} is invalid; expected finite values > 0")
        try:
            alpha = torch.broadcast_to(alpha, (a, b)).unsqueeze(-1)
        except RuntimeError:
            raise ValueError(f"clip has shape {tuple(alpha.shape)}; expected a scalar or a shape "
                             f"broadcastable to the scale shape ({a}, {b})") from None
    if spec.symmetric:
        if clip is None:
            alpha = V.abs().amax(-1, keepdim=True)
        scale = alpha / spec.qmax
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        return scale, None
    lo = V.amin(-1, keepdim=True).clamp(max=0)
    hi = V.amax(-1, keepdim=True).clamp(min=0)
    if clip is not None:
        lo, hi = torch.maximum(lo, -alpha), torch.minimum(hi, alpha)
    scale = (hi - lo) / spec.qmax
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    zp = torch.round(-lo / scale).clamp(spec.qmin, spec.qmax)
    return scale, zp


def _codes(V: Tensor, scale: Tensor, zp: Tensor | None, spec: QuantSpec) -> Tensor:
    q = torch.round(V / scale)
    if zp is not None:
        q = q + zp
    return q.clamp(spec.qmin, spec.qmax)


def _check_spec(spec: QuantSpec) -> None:
    if not isinstance(spec, QuantSpec):
        raise ValueError(f"spec={spec!r} is invalid; expected a QuantSpec")


# ---------------------------------------------------------------------------- RTN
def quantize(W: Tensor, spec: QuantSpec, clip: Tensor | float | None = None) -> QuantizedTensor:
    """Round-to-nearest quantization; ``clip`` is α (max magnitude kept), default absmax."""
    _check_spec(spec)
    if not torch.is_floating_point(W):
        raise ValueError(f"W must be a floating-point tensor; got dtype {W.dtype}")
    V = _view(W, spec)
    scale, zp = _params(V, spec, clip)
    codes = _codes(V, scale, zp, spec)
    return QuantizedTensor(
        codes=_unview(codes, W.shape).to(spec.code_dtype),
        scale=scale.squeeze(-1),
        zero_point=None if zp is None else zp.squeeze(-1),
        spec=spec,
        shape=W.shape,
    )


def dequantize(qt: QuantizedTensor) -> Tensor:
    """Float weights (dtype of the scale) from codes: (codes − zero_point)·scale."""
    V = _view(qt.codes, qt.spec).to(qt.scale.dtype)
    if qt.zero_point is not None:
        V = V - qt.zero_point.unsqueeze(-1)
    return _unview(V * qt.scale.unsqueeze(-1), qt.shape)


def absmax_clip(W: Tensor, spec: QuantSpec) -> Tensor:
    """α = max|W| per tensor / channel / group, shaped like the scale."""
    _check_spec(spec)
    return _view(W, spec).abs().amax(-1)


# ---------------------------------------------------------------------------- clip search
def _symmetric_error(values: Tensor, weights: Tensor, alphas: Tensor, bits: int) -> Tensor:
    """J(α) for each α: Σ p(v)(v − q_α(v))² below α plus Σ p(v)(v − α)² above (v = |w|)."""
    qmax = 2 ** (bits - 1) - 1
    scale = (alphas / qmax).unsqueeze(1)  # (A, 1)
    v = values.unsqueeze(0)  # (1, B)
    below = v < alphas.unsqueeze(1)
    rounded = torch.round(v / scale) * scale
    err = torch.where(below, (v - rounded) ** 2, (v - alphas.unsqueeze(1)) ** 2)
    return (err * weights.unsqueeze(0)).sum(1)


def slim_quant_clip(W: Tensor, bits: int, bins: int = 2048) -> float:
    """SLiM-Quant: one symmetric clip α per tensor minimising J(α) over the histogram of |W|.

    Candidates are the histogram bin edges; 11 evenly spaced coarse positions are scored first,
    then every edge between the neighbours of the best coarse position.
    """
    if not (isinstance(bits, int) and 2 <= bits <= 16):
        raise ValueError(f"bits={bits!r} is invalid; expected an int in [2, 16]")
    if not (isinstance(bins, int) and bins >= 11):
        raise ValueError(f"bins={bins!r} is invalid; expected an int >= 11")
    a = W.detach().abs().reshape(-1).to(torch.float64)
    top = float(a.max()) if a.numel() else 0.0
    if top == 0.0 or not math.isfinite(top):
        if not math.isfinite(top):
            raise ValueError("W contains non-finite values")
        return 1.0  # all-zero tensor: any positive α is exact
    counts = torch.histc(a, bins=bins, min=0.0, max=top)
    p = counts / counts.sum()
    width = top / bins
    centers = (torch.arange(bins, dtype=torch.float64) + 0.5) * width
    edges = torch.arange(1, bins + 1, dtype=torch.float64) * width  # candidate α (edge k+1)

    coarse = torch.linspace(0, bins - 1, 11).round().long()
    j = _symmetric_error(centers, p, edges[coarse], bits)
    best = int(torch.argmin(j))
    lo = int(coarse[max(best - 1, 0)])
    hi = int(coarse[min(best + 1, len(coarse) - 1)])
    fine = torch.arange(lo, hi + 1)
    j_fine = _symmetric_error(centers, p, edges[fine], bits)
    return float(edges[fine[int(torch.argmin(j_fine))]])


def mse_optimal_clip_bruteforce(W: Tensor, bits: int, grid: int = 1000) -> float:
    """Test oracle: α ∈ {max|W|·k/grid} minimising the true per-tensor symmetric RTN MSE."""
    if not (isinstance(grid, int) and grid >= 1):
        raise ValueError(f"grid={grid!r} is invalid; expected an int >= 1")
    spec = QuantSpec(bits)
    w = W.detach().reshape(-1).to(torch.float64)
    top = float(w.abs().max())
    if top == 0.0:
        return 1.0
    alphas = torch.arange(1, grid + 1, dtype=torch.float64) * (top / grid)
    best_a, best_e = top, math.inf
    for chunk in alphas.split(64):
        scale = (chunk / spec.qmax).unsqueeze(1)
        q = torch.round(w.unsqueeze(0) / scale).clamp(spec.qmin, spec.qmax) * scale
        err = ((q - w.unsqueeze(0)) ** 2).mean(1)
        k = int(torch.argmin(err))
        if float(err[k]) < best_e:
            best_a, best_e = float(chunk[k]), float(err[k])
    return best_a


# ---------------------------------------------------------------------------- OBS sweep
def _prepare_hessian(W: Tensor, H: Tensor, damp: float) -> tuple[Tensor, Tensor]:
    """Float64 copies: W with dead inputs zeroed, upper Cholesky factor of (H + λI)⁻¹."""
    if not (W.dim() == 2 and H.shape == (W.shape[1], W.shape[1])):
        raise ValueError(f"H has shape {tuple(H.shape)}; expected ({W.shape[1]}, {W.shape[1]}) for "
                         f"W of shape {tuple(W.shape)}")
    if not (isinstance(damp, (int, float)) and damp >= 0):
        raise ValueError(f"damp={damp!r} is invalid; expected a float >= 0")
    W = W.detach().to(torch.float64).clone()
    H = H.detach().to(torch.float64).clone()
    dead = torch.diagonal(H) == 0
    H[dead, dead] = 1.0  # an input that never fires: any weight is fine, keep H invertible
    W[:, dead] = 0.0
    H += damp * torch.diagonal(H).mean() * torch.eye(H.shape[0], dtype=torch.float64)
    L, info = torch.linalg.cholesky_ex(H)
    if int(info):
        raise ValueError(f"H + damp·mean(diag H)·I is not positive definite (damp={damp}); "
                         "increase damp or use more calibration tokens")
    Hinv = torch.cholesky_solve(torch.eye(H.shape[0], dtype=torch.float64), L)  # (faster than cholesky_inverse on CPU)
    U, info = torch.linalg.cholesky_ex(Hinv, upper=True)
    if int(info):
        raise ValueError(f"inverse Hessian is not positive definite (damp={damp}); increase damp")
    return W, U


class _ColumnQuantizer:
    """Quantizes one column at a time with scales fixed up front (tensor/channel) or per group."""

    def __init__(self, spec: QuantSpec, W: Tensor, static_groups: bool = False) -> None:
        self.spec = spec
        d_out, d_in = W.shape
        self.lazy_groups = spec.granularity == "group" and not static_groups
        if self.lazy_groups:
            if d_in % spec.group_size:
                raise ValueError(f"group_size={spec.group_size} does not divide d_in={d_in}")
            self.scale = torch.ones(d_out, d_in // spec.group_size, dtype=torch.float64)
            self.zp = None if spec.symmetric else torch.zeros_like(self.scale)
        else:
            scale, zp = _params(_view(W, spec), spec, None)
            self.scale, self.zp = scale.squeeze(-1), None if zp is None else zp.squeeze(-1)
        self.codes = torch.zeros(d_out, d_in, dtype=torch.float64)
        self.perm: Tensor | None = None  # sweep position -> original column (act order)

    def start_group(self, j: int, cols: Tensor) -> None:
        """Fix the scale of the group starting at column j from its current (updated) columns."""
        g = j // self.spec.group_size
        scale, zp = _params(cols.unsqueeze(1), self.spec, None)
        self.scale[:, g] = scale.reshape(-1)
        if zp is not None:
            self.zp[:, g] = zp.reshape(-1)

    def __call__(self, w: Tensor, j: int) -> Tensor:
        j = int(self.perm[j]) if self.perm is not None else j
        g = j // self.spec.group_size if self.spec.granularity == "group" else 0
        scale = self.scale[:, g]  # (d_out,) or (1,) for a per-tensor scale; broadcasts over w
        zp = None if self.zp is None else self.zp[:, g]
        c = _codes(w, scale, zp, self.spec)
        self.codes[:, j] = c
        return (c - zp) * scale if zp is not None else c * scale

    def result(self, shape: torch.Size, dtype: torch.dtype) -> QuantizedTensor:
        return QuantizedTensor(
            codes=self.codes.to(self.spec.code_dtype).reshape(shape),
            scale=self.scale.to(dtype),
            zero_point=None if self.zp is None else self.zp.to(dtype),
            spec=self.spec,
            shape=shape,
        )


def _obs_sweep(
    W: Tensor,
    U: Tensor,
    block_size: int,
    quantizer: _ColumnQuantizer | None = None,
    sparsity: float | None = None,
    nm: tuple[int, int] | None = None,
) -> tuple[Tensor, Tensor]:
    """SparseGPT/GPTQ column sweep on float64 W with U = chol((H+λI)⁻¹, upper).

    Returns (reconstructed W, pruned mask).  Errors of column i are spread over the remaining
    columns of its block immediately and over later blocks once per block (lazy batch update).
    """
    W = W.clone()
    d_out, d_in = W.shape
    pruned = torch.zeros(d_out, d_in, dtype=torch.bool)
    for i1 in range(0, d_in, block_size):
        i2 = min(i1 + block_size, d_in)
        count = i2 - i1
        W1 = W[:, i1:i2].clone()
        Q1 = torch.zeros_like(W1)
        Err1 = torch.zeros_like(W1)
        Hinv1 = U[i1:i2, i1:i2]
        d = torch.diagonal(Hinv1)
        mask1 = torch.zeros_like(W1, dtype=torch.bool)
        if sparsity is not None and sparsity > 0:
            # OBS saliency w²/[H⁻¹]_jj², lowest fraction of the whole block is pruned
            tmp = (W1**2 / d.unsqueeze(0) ** 2).reshape(-1)
            k = min(tmp.numel(), int(math.floor(sparsity * tmp.numel() + 1e-9)))
            if k:
                idx = torch.argsort(tmp, stable=True)[:k]
                mask1.view(-1)[idx] = True
        for i in range(count):
            j = i1 + i
            w = W1[:, i]
            if nm is not None and i % nm[1] == 0:
                n, m = nm
                tmp = W1[:, i:i + m] ** 2 / d[i:i + m].unsqueeze(0) ** 2
                if m - n:
                    idx = torch.topk(tmp, m - n, dim=1, largest=False).indices
                    mask1[:, i:i + m].scatter_(1, idx, True)
            if quantizer is not None and quantizer.lazy_groups and j % quantizer.spec.group_size == 0:
                cols = torch.where(mask1[:, i:i + quantizer.spec.group_size], 0.0,
                                   W1[:, i:i + quantizer.spec.group_size])
                quantizer.start_group(j, cols)
            q = torch.where(mask1[:, i], torch.zeros_like(w), w)
            if quantizer is not None:
                q = quantizer(q, j)
            Q1[:, i] = q
            err = (w - q) / d[i]
            W1[:, i:] -= err.unsqueeze(1) * Hinv1[i, i:].unsqueeze(0)
            Err1[:, i] = err
        W[:, i1:i2] = Q1
        pruned[:, i1:i2] = mask1
        W[:, i2:] -= Err1 @ U[i1:i2, i2:]
    return W, pruned


def _check_block(block_size: int) -> None:
    if not (isinstance(block_size, int) and block_size >= 1):
        raise ValueError(f"block_size={block_size!r} is invalid; expected an int >= 1")


def gptq_quantize(
    W: Tensor,
    H: Tensor,
    spec: QuantSpec,
    block_size: int = 128,
    damp: float = 0.01,
    act_order: bool = False,
    static_groups: bool = False,
) -> QuantizedTensor:
    """GPTQ: quantize columns in order, feeding each rounding error back through the Cholesky
    factor of the damped inverse Hessian, which minimises tr((W−Q)H(W−Q)ᵀ) greedily.

    Dead inputs (H_jj = 0) get H_jj = 1 and weight 0.  By default group scales are fixed from the
    updated weights when the sweep reaches the group (as in the reference), so with granularity
    "group" ``block_size`` must be a multiple of ``group_size``; ``static_groups`` fixes them from
    W up front instead.  ``act_order`` sweeps inputs by decreasing H_jj (outlier channels first,
    before they absorb other columns' errors); it implies static groups.
    """
    _check_spec(spec)
    _check_block(block_size)
    if W.dim() != 2:
        raise ValueError(f"W must be 2-D (d_out, d_in); got shape {tuple(W.shape)}")
    static_groups = bool(static_groups or act_order)
    if spec.granularity == "group" and not static_groups and block_size % spec.group_size:
        raise ValueError(f"block_size={block_size} must be a multiple of group_size={spec.group_size}")
    if act_order:
        if H.shape != (W.shape[1], W.shape[1]):
            raise ValueError(f"H has shape {tuple(H.shape)}; expected ({W.shape[1]}, {W.shape[1]})")
        perm = torch.argsort(torch.diagonal(H), descending=True, stable=True)
        W64, U = _prepare_hessian(W[:, perm], H[perm][:, perm], damp)
        quantizer = _ColumnQuantizer(spec, W64[:, torch.argsort(perm)], static_groups=True)
        quantizer.perm = perm
    else:
        W64, U = _prepare_hessian(W, H, damp)
        quantizer = _ColumnQuantizer(spec, W64, static_groups=static_groups)
    _obs_sweep(W64, U, block_size, quantizer=quantizer)
    return quantizer.result(W.shape, W.dtype)
