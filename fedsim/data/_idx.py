"""Reader for the IDX format of MNIST-style files, raw or gzip-compressed."""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from fedsim.errors import DataError

# IDX type code -> big-endian element dtype.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """The file's IDX bytes, decompressed when it starts with the gzip magic (names can lie)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read IDX file ({exc})") from exc
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt gzip data ({exc})") from exc


def read_idx(file: str | os.PathLike[str]) -> np.ndarray:
    """Parse one IDX file into a native-endian array of the shape its header declares."""
    path = Path(file)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{path}: not an IDX file (bad magic {data[:4].hex() or 'empty'})")
    type_code, ndims = data[2], data[3]
    if type_code not in _IDX_DTYPES:
        raise DataError(f"{path}: unknown IDX type code 0x{type_code:02x}")
    header_end = 4 + 4 * ndims
    if len(data) < header_end:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndims, offset=4))
    dtype = _IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header_end
    if actual != expected:
        # Both short and long bodies mean the header and data disagree; neither can be trusted.
        kind = "truncated" if actual < expected else "trailing bytes in"
        raise DataError(f"{path}: {kind} IDX data (shape {shape} needs {expected} bytes, found {actual})")
    array = np.frombuffer(data, dtype=dtype, offset=header_end).reshape(shape)
    return array.astype(dtype.newbyteorder("="))
