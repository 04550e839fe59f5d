"""Helpers for the data tests: where the real MNIST files live and an independent IDX writer.

A plain module with a distinctive name rather than imports from conftest, which several test
directories may each define.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

# /work/shared/data/mnist next to the repository: only the t10k pair, gzip-compressed.
MNIST_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"
T10K_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

_TYPE_CODES = {
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int8): 0x09,
    np.dtype(np.int16): 0x0B,
    np.dtype(np.int32): 0x0C,
    np.dtype(np.float32): 0x0D,
    np.dtype(np.float64): 0x0E,
}


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding of ``array``, written independently of the reader under test."""
    header = bytes([0, 0, _TYPE_CODES[array.dtype], array.ndim])
    dims = np.asarray(array.shape, dtype=">u4").tobytes()
    return header + dims + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path
