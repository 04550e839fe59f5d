"""Uplink codec: a client's model update quantized to m bits, stochastically and unbiased.

Each tensor of the update is scaled by its own absolute maximum s and mapped to 2^m evenly
spaced levels on [-s, s]; stochastic rounding between the two neighbouring levels keeps
E[decode(encode(x))] = x, with variance proportional to s^2 2^-2m (the form the convergence
analysis assumes). The paper's release rounds to a fixed 2^-(m-1) grid instead; with updates of
order 1e-3 that grid rounds almost every value to zero at m <= 8, so fedsim scales per tensor
and pays 32 bits per tensor for the scale. m = 32 sends the float32 update unchanged.

The payload is two arrays, ``codes`` (packed bits) and ``scales`` (float32): their byte size is
what goes on the air.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._bitpack import pack_codes, unpack_codes

FLOAT_BITS = 32


@dataclass(frozen=True)
class EncodedUpdate:
    """An m-bit payload: packed codes plus one float32 scale per tensor."""

    bits: int
    codes: np.ndarray
    scales: np.ndarray

    @property
    def payload_bits(self) -> int:
        """Bits on the air: the real size of the arrays sent."""
        return int(self.codes.nbytes + self.scales.nbytes) * 8


def encode_update(update: Sequence[np.ndarray], bits: int, rng: np.random.Generator) -> EncodedUpdate:
    """Quantize the tensors of ``update`` to ``bits`` bits each and pack them."""
    if not 1 <= bits <= FLOAT_BITS:
        raise ValueError(f"op.uplink_bits={bits} is not allowed: an integer in [1, 32]")
    flat = [np.asarray(t, dtype=np.float32).ravel() for t in update]
    if bits == FLOAT_BITS:
        codes = np.concatenate(flat) if flat else np.zeros(0, np.float32)
        return EncodedUpdate(bits, codes, np.zeros(0, np.float32))
    levels = 2**bits - 1
    scales = np.array([np.abs(t).max() if t.size else 0.0 for t in flat], dtype=np.float32)
    sizes = [t.size for t in flat]
    values = np.concatenate(flat).astype(np.float64)
    per_value_scale = np.repeat(scales.astype(np.float64), sizes)
    safe = np.where(per_value_scale > 0, per_value_scale, 1.0)
    # A non-finite update (a diverged client) keeps its NaN/inf scale, which the server detects;
    # its codes are meaningless, so their NaNs are only kept out of the integer cast.
    with np.errstate(invalid="ignore"):
        position = (values / safe + 1.0) * 0.5 * levels  # in [0, levels]
        codes = np.floor(position + rng.random(position.shape))
    codes = np.clip(np.nan_to_num(codes, nan=0.0), 0, levels).astype(np.uint32)
    return EncodedUpdate(bits, pack_codes(codes, bits), scales)


def encode_updates(updates: Sequence[Sequence[np.ndarray]], bits: int, rngs: Sequence[np.random.Generator]) -> list[EncodedUpdate]:
    """``encode_update`` of each update (all of the same shapes) with its own generator, over a
    (clients, values) matrix: the same codes and scales, byte for byte, as encoding them one by
    one (each generator draws the same uniforms, and each value takes the same float64 steps)."""
    if not 1 <= bits <= FLOAT_BITS:
        raise ValueError(f"op.uplink_bits={bits} is not allowed: an integer in [1, 32]")
    if not updates:
        return []
    sizes = [int(np.asarray(t).size) for t in updates[0]]
    flat = np.empty((len(updates), sum(sizes)), dtype=np.float32)
    for row, update in zip(flat, updates, strict=True):
        start = 0
        for tensor, size in zip(update, sizes, strict=True):
            row[start : start + size] = np.asarray(tensor, dtype=np.float32).ravel()
            start += size
    if bits == FLOAT_BITS:
        return [EncodedUpdate(bits, row, np.zeros(0, np.float32)) for row in flat]
    levels = 2**bits - 1
    bounds = np.cumsum([0, *sizes]).tolist()
    blocks = [(t, a, b) for t, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])) if b > a]
    scales = np.zeros((len(updates), len(sizes)), dtype=np.float32)
    for t, a, b in blocks:
        scales[:, t] = np.abs(flat[:, a:b]).max(axis=1)
    safe = np.where(scales > 0, scales, 1.0).astype(np.float64)
    finite = np.isfinite(scales).all(axis=1)  # then every position is finite, in [0, levels + 1]
    # Codes straight in the width pack_codes stores (8 and 16 bits: that array is the payload).
    codes = np.empty(flat.shape, dtype=np.uint8 if bits == 8 else np.uint16 if bits == 16 else np.uint32)
    # encode_update's arithmetic, one client's row at a time (its float64 row stays in cache)
    position = np.empty(flat.shape[1], dtype=np.float64)
    noise = np.empty_like(position)
    for j, rng in enumerate(rngs):
        with np.errstate(invalid="ignore"):  # non-finite updates: as encode_update
            for t, a, b in blocks:
                np.divide(flat[j, a:b], safe[j, t], out=position[a:b], dtype=np.float64)
            position += 1.0
            # (p * 0.5) * levels == p * (0.5 * levels): the halving is exact, so one rounding either way
            position *= 0.5 * levels
            position += rng.random(out=noise)
            np.floor(position, out=position)
        if not finite[j]:
            np.nan_to_num(position, copy=False, nan=0.0)
        np.clip(position, 0, levels, out=position)
        codes[j] = position  # whole numbers in [0, levels]: exact in any of the code dtypes
    if bits in (8, 16):
        return [EncodedUpdate(bits, row, row_scales) for row, row_scales in zip(codes, scales)]
    return [EncodedUpdate(bits, pack_codes(row, bits), row_scales) for row, row_scales in zip(codes, scales)]


def decode_update(encoded: EncodedUpdate, shapes: Sequence[tuple[int, ...]]) -> list[np.ndarray]:
    """Rebuild float32 tensors of the given shapes from an encoded update."""
    sizes = [math.prod(s) for s in shapes]
    total = sum(sizes)
    if encoded.bits == FLOAT_BITS:
        values = encoded.codes
    elif encoded.bits in (8, 16):  # stored in their own dtype: no unpacking
        values = encoded.codes[:total].astype(np.float64)
    else:
        values = unpack_codes(encoded.codes, total, encoded.bits).astype(np.float64)
    if values.size != total:
        raise ValueError(f"payload holds {values.size} values, the model expects {total}")
    out, start = [], 0
    if encoded.bits == FLOAT_BITS:
        for shape, size in zip(shapes, sizes):
            out.append(np.array(values[start : start + size], dtype=np.float32).reshape(shape))
            start += size
        return out
    # ((codes / levels) * 2 - 1) * scale, step by step in float64 (in place), then float32
    values /= 2**encoded.bits - 1
    values *= 2.0
    values -= 1.0
    scales = encoded.scales.astype(np.float64)
    with np.errstate(invalid="ignore"):  # 0 x an inf scale: NaN, as non-finite as the rest
        for t, (shape, size) in enumerate(zip(shapes, sizes)):
            block = values[start : start + size]
            block *= scales[t]
            out.append(block.astype(np.float32).reshape(shape))
            start += size
    return out
