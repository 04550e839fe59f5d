"""Read a pickle of plain data and numpy arrays without running any code it names.

CIFAR's python batches are pickles: a dict of bytes, lists, ints and one uint8 array. A plain
``pickle.load`` would call whatever callable a (tampered) file names, so this unpickler resolves
only the handful of globals that numpy's array pickles use, and maps each to a stand-in written
here: no numpy constructor ever sees the file's arguments. The array's shape, dtype and raw bytes
are checked and turned into an array by ``np.frombuffer``; a dtype must be a plain bool, integer
or float code (no object, void or structured dtypes, so no pointers hidden in the bytes).
Everything else (``os.system``, ``builtins.eval``, any class) is refused.
"""

from __future__ import annotations

import io
import math
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np

from fedsim.errors import DataError

_DTYPE_CODE = re.compile(r"b1|[iu][1248]|f[248]")
_ENDIANS = ("<", ">", "|", "=")
_MAX_DEPTH = 32


class _DtypeSpec:
    """Stand-in for ``numpy.dtype(code, align, copy)`` and its ``__setstate__``."""

    def __init__(self, code: Any, align: Any = False, copy: Any = True) -> None:
        if isinstance(code, bytes):
            code = code.decode("latin-1")
        if not isinstance(code, str) or not _DTYPE_CODE.fullmatch(code):
            raise pickle.UnpicklingError(f"dtype {code!r} is not a plain bool, integer or float type")
        self.code = code
        self.endian = "|"

    def __setstate__(self, state: Any) -> None:
        # numpy's state: (version, endian, subarray, names, fields, elsize, alignment, flags[, metadata]).
        if not isinstance(state, tuple) or len(state) < 5:
            raise pickle.UnpicklingError("malformed dtype state")
        endian = state[1].decode("latin-1") if isinstance(state[1], bytes) else state[1]
        if endian not in _ENDIANS or any(part is not None for part in state[2:5]):
            raise pickle.UnpicklingError("dtype with sub-arrays or fields is not allowed")
        self.endian = endian

    def dtype(self) -> np.dtype:
        base = np.dtype(self.code)
        return base.newbyteorder(self.endian) if self.endian in ("<", ">") else base


class _ArraySpec:
    """Stand-in for the empty array ``numpy.core.multiarray._reconstruct`` makes; filled by state."""

    def __init__(self) -> None:
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        # numpy's state: (version, shape, dtype, is_fortran, raw bytes); version 0 has no version.
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise pickle.UnpicklingError("malformed array state")
        shape, dtype, fortran, raw = state[-4:]
        self.array = _array_from_bytes(raw, dtype, shape, "F" if fortran else "C")


class _NdarrayClass:
    """Stand-in for ``numpy.ndarray``: only ever an argument of ``_reconstruct``, never called."""

    def __setstate__(self, state: Any) -> None:
        raise pickle.UnpicklingError("numpy.ndarray takes no state")


_NDARRAY = _NdarrayClass()


def _array_from_bytes(raw: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    if isinstance(raw, str):  # a Python 2 str read without encoding="bytes"
        raw = raw.encode("latin-1")
    if not isinstance(raw, (bytes, bytearray)):
        raise pickle.UnpicklingError("array data is not a byte string")
    if not isinstance(dtype, _DtypeSpec):
        raise pickle.UnpicklingError("array dtype is not a numpy dtype")
    if isinstance(shape, int):
        shape = (shape,)
    if not isinstance(shape, tuple) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
        raise pickle.UnpicklingError(f"array shape {shape!r} is not a tuple of sizes")
    if order not in ("C", "F"):
        raise pickle.UnpicklingError(f"array order {order!r} is not C or F")
    dt = dtype.dtype()
    if len(raw) != math.prod(shape) * dt.itemsize:
        raise pickle.UnpicklingError(f"array data holds {len(raw)} bytes, not {math.prod(shape)} x {dt.itemsize}")
    return np.frombuffer(bytes(raw), dtype=dt).reshape(shape, order=order)


def _reconstruct(subtype: Any, shape: Any, code: Any) -> _ArraySpec:
    if subtype is not _NDARRAY:
        raise pickle.UnpicklingError("only plain numpy arrays may be reconstructed")
    return _ArraySpec()


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    # Pickle protocol 5's array reduction; an out-of-band buffer never reaches here (none is given).
    return _array_from_bytes(buffer, dtype, shape, order)


def _latin1_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    # Protocol 2 stores bytes as _codecs.encode(str, "latin1").
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("only _codecs.encode(str, 'latin1') is allowed")
    return text.encode("latin-1")


def _bytes(*args: Any) -> bytes:
    # Protocol 2 stores b"" as bytes(); nothing else may go through this.
    if args:
        raise pickle.UnpicklingError("only bytes() without arguments is allowed")
    return b""


class _Callable:
    """What ``find_class`` hands out: calls ``fn`` and nothing else. A pickle's BUILD on a bare
    function or class would set attributes on it (and so change it for later loads); on this
    wrapper it is refused, and NEWOBJ refuses it as it is not a class."""

    __slots__ = ("_fn",)

    def __init__(self, fn: Any) -> None:
        self._fn = fn

    def __call__(self, *args: Any) -> Any:
        return self._fn(*args)

    def __setstate__(self, state: Any) -> None:
        raise pickle.UnpicklingError("a global takes no state")


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _Callable(_reconstruct),
    ("numpy._core.multiarray", "_reconstruct"): _Callable(_reconstruct),
    ("numpy.core.numeric", "_frombuffer"): _Callable(_frombuffer),
    ("numpy._core.numeric", "_frombuffer"): _Callable(_frombuffer),
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _Callable(_DtypeSpec),
    ("_codecs", "encode"): _Callable(_latin1_encode),
    ("builtins", "bytes"): _Callable(_bytes),
    ("__builtin__", "bytes"): _Callable(_bytes),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed")


def _resolve(obj: Any, depth: int = 0) -> Any:
    """``obj`` with every array stand-in replaced by its array."""
    if depth > _MAX_DEPTH:
        raise pickle.UnpicklingError(f"nested deeper than {_MAX_DEPTH} levels")
    if isinstance(obj, _ArraySpec):
        if obj.array is None:
            raise pickle.UnpicklingError("an array was never given its data")
        return obj.array
    if isinstance(obj, (_DtypeSpec, _NdarrayClass, _Callable)):
        raise pickle.UnpicklingError("a bare numpy dtype, class or function is not data")
    if isinstance(obj, dict):
        return {_resolve(k, depth + 1): _resolve(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_resolve(v, depth + 1) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_resolve(v, depth + 1) for v in obj)
    return obj


def load_data_pickle(path: Path) -> Any:
    """The plain data (dicts, lists, tuples, bytes, str, numbers, numpy arrays) pickled in ``path``.

    Python 2 strings come back as bytes (``encoding="bytes"``, as CIFAR's own loader uses). Any
    file that is unreadable, truncated, or names anything beyond numpy's array reconstruction
    raises one DataError line naming the file.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot be read ({error.strerror or error})") from None
    try:
        return _resolve(_RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load())
    except Exception as error:  # any malformed or hostile stream: UnpicklingError, EOFError, ValueError, ...
        reason = " ".join(str(error).split()) or type(error).__name__
        raise DataError(f"{path}: not a pickle of plain data and numpy arrays ({reason})") from None
