"""Storage formats: int4 nibble packing and 2:4 sparse (kept values + 2-bit in-group indices).

On CPU 2:4 is a storage format, not a speed-up: what matters is bytes per weight, which
``bits_per_weight`` gives analytically and ``packed_nbytes`` counts exactly for a tensor.
Scales are counted per group of ``group_size`` *dense* input columns of each row (per channel:
group_size = d_in; ``None`` = one scale for the whole tensor).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["pack_int4", "unpack_int4", "pack_2to4", "unpack_2to4", "bits_per_weight", "packed_nbytes"]

_FORMATS = ("dense", "2:4")


def pack_int4(codes: Tensor, signed: bool = True) -> Tensor:
    """Two 4-bit codes per byte along the last dim (even length): element 2k in the low nibble.

    Signed codes must lie in [−8, 7] (two's complement nibbles), unsigned ones in [0, 15].
    """
    if not isinstance(codes, Tensor) or codes.is_floating_point() or codes.dim() == 0:
        raise ValueError("codes must be an integer tensor with at least one dim")
    if codes.shape[-1] % 2:
        raise ValueError(f"codes.shape[-1]={codes.shape[-1]} is odd; pack_int4 needs an even length")
    lo, hi = (-8, 7) if signed else (0, 15)
    if codes.numel() and (int(codes.min()) < lo or int(codes.max()) > hi):
        raise ValueError(f"codes span [{int(codes.min())}, {int(codes.max())}]; expected values in "
                         f"[{lo}, {hi}] (signed={signed})")
    nib = codes.to(torch.int16) & 0xF
    return (nib[..., 0::2] | (nib[..., 1::2] << 4)).to(torch.uint8)


def unpack_int4(packed: Tensor, signed: bool = True) -> Tensor:
    """Inverse of ``pack_int4``: int8 codes, last dim doubled."""
    if not isinstance(packed, Tensor) or packed.dtype != torch.uint8:
        raise ValueError(f"packed must be a uint8 tensor; got {getattr(packed, 'dtype', type(packed).__name__)}")
    p = packed.to(torch.int16)
    nib = torch.stack((p & 0xF, (p >> 4) & 0xF), dim=-1).reshape(*packed.shape[:-1], -1)
    if signed:
        nib = torch.where(nib >= 8, nib - 16, nib)
    return nib.to(torch.int8)


def pack_2to4(W_sparse: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Compress a 2:4 matrix: values (d_out, d_in/2) in W's dtype, and the 2-bit in-group index
    of every value packed four per byte, (d_out, ceil(d_in/8)) uint8.

    ``mask`` must keep exactly 2 of every 4 consecutive inputs in each row.
    """
    if not isinstance(W_sparse, Tensor) or W_sparse.dim() != 2:
        raise ValueError(f"W_sparse must be 2-D (d_out, d_in); got shape {tuple(getattr(W_sparse, 'shape', ()))}")
    if not isinstance(mask, Tensor) or mask.shape != W_sparse.shape:
        raise ValueError(f"mask has shape {tuple(getattr(mask, 'shape', ()))}; expected {tuple(W_sparse.shape)}")
    d_out, d_in = W_sparse.shape
    if d_in % 4:
        raise ValueError(f"d_in={d_in} is not divisible by 4; 2:4 needs whole groups")
    groups = mask.to(torch.bool).reshape(d_out, -1, 4)
    per_group = groups.sum(-1)
    if bool((per_group != 2).any()):
        raise ValueError(f"mask is not 2:4: groups keep {sorted(set(per_group.unique().tolist()))} "
                         "values; expected exactly 2 per group of 4")
    # Positions of the two kept entries per group, ascending (sorting the bool descending is stable).
    pos = torch.argsort(groups.to(torch.int8), dim=-1, descending=True, stable=True)[..., :2]
    pos = torch.sort(pos, dim=-1).values  # (d_out, G, 2)
    values = torch.gather(W_sparse.reshape(d_out, -1, 4), -1, pos).reshape(d_out, d_in // 2)
    idx = pos.reshape(d_out, -1).to(torch.int16)  # d_in/2 two-bit indices per row
    pad = (-idx.shape[1]) % 4
    if pad:
        idx = torch.cat((idx, torch.zeros(d_out, pad, dtype=idx.dtype)), dim=1)
    idx = idx.reshape(d_out, -1, 4)
    packed = idx[..., 0] | (idx[..., 1] << 2) | (idx[..., 2] << 4) | (idx[..., 3] << 6)
    return values, packed.to(torch.uint8)


def unpack_2to4(values: Tensor, indices: Tensor) -> tuple[Tensor, Tensor]:
    """Inverse of ``pack_2to4``: (dense W (d_out, 2·values.shape[1]), keep mask)."""
    if not isinstance(values, Tensor) or values.dim() != 2 or values.shape[1] % 2:
        raise ValueError(f"values must be 2-D with an even number of columns; got shape "
                         f"{tuple(getattr(values, 'shape', ()))}")
    d_out, half = values.shape
    d_in = 2 * half
    if not isinstance(indices, Tensor) or indices.dtype != torch.uint8 or indices.shape != (d_out, math.ceil(d_in / 8)):
        raise ValueError(f"indices must be uint8 of shape ({d_out}, {math.ceil(d_in / 8)}); got "
                         f"{getattr(indices, 'dtype', None)} {tuple(getattr(indices, 'shape', ()))}")
    p = indices.to(torch.int64)
    idx = torch.stack([(p >> s) & 0x3 for s in (0, 2, 4, 6)], dim=-1).reshape(d_out, -1)[:, :half]
    pos = idx.reshape(d_out, -1, 2)
    dense = torch.zeros(d_out, d_in // 4, 4, dtype=values.dtype)
    dense.scatter_(-1, pos, values.reshape(d_out, -1, 2))
    mask = torch.zeros(d_out, d_in // 4, 4, dtype=torch.bool)
    mask.scatter_(-1, pos, True)
    return dense.reshape(d_out, d_in), mask.reshape(d_out, d_in)


def _check_format(bits: int, group_size: int | None, sparsity_format: str, scale_bits: int) -> None:
    if not (isinstance(bits, int) and 1 <= bits <= 32):
        raise ValueError(f"bits={bits!r} is invalid; expected an int in [1, 32]")
    if group_size is not None and not (isinstance(group_size, int) and group_size >= 1):
        raise ValueError(f"group_size={group_size!r} is invalid; expected an int >= 1 or None")
    if sparsity_format not in _FORMATS:
        raise ValueError(f"sparsity_format={sparsity_format!r} is invalid; expected one of {', '.join(_FORMATS)}")
    if not (isinstance(scale_bits, int) and scale_bits >= 0):
        raise ValueError(f"scale_bits={scale_bits!r} is invalid; expected an int >= 0")


def bits_per_weight(bits: int, group_size: int | None, sparsity_format: str = "dense",
                    scale_bits: int = 16) -> float:
    """Storage bits per dense weight position.

    dense: bits + scale_bits/group_size.  2:4: two values and two 2-bit indices per 4 positions,
    bits/2 + 1, plus scale_bits/group_size.  ``group_size=None`` (one scale per tensor) counts
    no scale overhead (it vanishes per weight).
    """
    _check_format(bits, group_size, sparsity_format, scale_bits)
    value_bits = bits if sparsity_format == "dense" else bits / 2 + 1
    return value_bits + (0.0 if group_size is None else scale_bits / group_size)


def packed_nbytes(shape: tuple[int, int] | torch.Size, bits: int, group_size: int | None,
                  sparsity_format: str = "dense", scale_bits: int = 16) -> int:
    """Exact bytes of the packed layout of a (d_out, d_in) weight (rows padded to whole bytes):
    values, 2:4 indices (``pack_2to4`` layout) and scales (one per row group, or one per tensor)."""
    _check_format(bits, group_size, sparsity_format, scale_bits)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape={tuple(shape)!r} is invalid; expected (d_out, d_in) with positive sizes")
    d_out, d_in = int(shape[0]), int(shape[1])
    if sparsity_format == "dense":
        nbytes = d_out * math.ceil(d_in * bits / 8)
    else:
        if d_in % 4:
            raise ValueError(f"d_in={d_in} is not divisible by 4; 2:4 needs whole groups")
        nbytes = d_out * math.ceil(d_in // 2 * bits / 8) + d_out * math.ceil(d_in / 8)
    if group_size is None:
        n_scales = 1
    else:
        if d_in % group_size:
            raise ValueError(f"group_size={group_size} does not divide d_in={d_in}")
        n_scales = d_out * (d_in // group_size)
    return nbytes + math.ceil(n_scales * scale_bits / 8)
