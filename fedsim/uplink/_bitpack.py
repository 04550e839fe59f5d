"""Pack unsigned integer codes of ``bits`` width into the smallest byte stream that holds them."""

from __future__ import annotations

import numpy as np


def packed_nbytes(count: int, bits: int) -> int:
    """Bytes needed for ``count`` codes of ``bits`` bits each."""
    return (count * bits + 7) // 8


def pack_codes(codes: np.ndarray, bits: int) -> np.ndarray:
    """Pack codes (each < 2**bits) into a uint8/uint16 array of exactly packed_nbytes bytes.

    8 and 16 bits map onto native dtypes; any other width is bit-packed little-endian, so an
    m-bit update really costs m bits per value on the air.
    """
    if not 1 <= bits <= 31:
        raise ValueError(f"bits={bits} is not allowed: an integer in [1, 31]")
    if bits == 8:
        return codes.astype(np.uint8)
    if bits == 16:
        return codes.astype(np.uint16)
    shifts = np.arange(bits, dtype=np.uint32)
    bit_matrix = ((codes.astype(np.uint32)[:, None] >> shifts) & 1).astype(np.uint8)
    return np.packbits(bit_matrix.ravel(), bitorder="little")


def unpack_codes(packed: np.ndarray, count: int, bits: int) -> np.ndarray:
    """Inverse of :func:`pack_codes`: ``count`` codes as uint32."""
    if bits in (8, 16):
        return packed[:count].astype(np.uint32)
    flat = np.unpackbits(packed.view(np.uint8), count=count * bits, bitorder="little")
    weights = np.left_shift(np.uint32(1), np.arange(bits, dtype=np.uint32))
    return flat.reshape(count, bits).astype(np.uint32) @ weights
