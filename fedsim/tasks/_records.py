"""Conversions between models, updates and Flower records (the wire format of fedsim messages)."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from flwr.app import Array, ArrayRecord
from flwr.common.constant import SType
from torch import nn

from ..uplink import EncodedUpdate

CODES_KEY = "codes"
SCALES_KEY = "scales"


def model_to_record(model: nn.Module) -> ArrayRecord:
    return ArrayRecord(torch_state_dict=model.state_dict())


_NPY_V1 = b"\x93NUMPY\x01"  # magic and major version of a .npy v1.0 header (2-byte length)


def array_to_numpy(array: Array) -> np.ndarray:
    """``array.numpy()`` without ``np.load``: Flower's arrays are .npy bytes, and parsing their
    header (``ast.literal_eval``) costs more than copying a small model's data. The data after the
    header is read as the dtype and shape the Array declares, once the header agrees with them
    (C order, same dtype string, the right byte count); anything else goes through ``np.load``."""
    data = array.data
    if array.stype == SType.NUMPY and data[:7] == _NPY_V1:
        offset = 10 + int.from_bytes(data[8:10], "little")
        header = data[10:offset]
        dtype = np.dtype(array.dtype)
        shape = tuple(array.shape)
        count = math.prod(shape)
        if (
            b"'fortran_order': False" in header
            and f"'descr': '{dtype.str}'".encode() in header
            and not dtype.hasobject
            and count > 0
            and len(data) - offset == count * dtype.itemsize
        ):
            return np.frombuffer(data, dtype, count, offset).reshape(shape).copy()  # writable, as np.load's
    return array.numpy()


def record_to_numpy(record: ArrayRecord, keys: Sequence[str]) -> list[np.ndarray]:
    return [array_to_numpy(record[k]) for k in keys]


def record_to_state_dict(record: ArrayRecord) -> OrderedDict[str, torch.Tensor]:
    """``record.to_torch_state_dict()``, decoded by :func:`array_to_numpy`."""
    return OrderedDict((k, torch.from_numpy(array_to_numpy(record[k]))) for k in list(record.keys()))


def load_record(model: nn.Module, record: ArrayRecord) -> None:
    model.load_state_dict(record_to_state_dict(record), strict=True)


def update_from_model(model: nn.Module, global_arrays: Sequence[np.ndarray], keys: Sequence[str]) -> list[np.ndarray]:
    """Δw = local - global for the averaged state entries."""
    return update_from_state(model.state_dict(), global_arrays, keys)


def update_from_state(state: Mapping[str, torch.Tensor], global_arrays: Sequence[np.ndarray], keys: Sequence[str]) -> list[np.ndarray]:
    """Δw = local - global from a local state by state-dict name."""
    return [state[k].detach().numpy() - g for k, g in zip(keys, global_arrays)]


def encoded_to_record(encoded: EncodedUpdate) -> ArrayRecord:
    # Two flat arrays rather than one per tensor: each Flower array carries a ~128-byte header.
    record = ArrayRecord()
    record[CODES_KEY] = Array(np.ascontiguousarray(encoded.codes))
    record[SCALES_KEY] = Array(np.ascontiguousarray(encoded.scales))
    return record


def record_to_encoded(record: ArrayRecord, bits: int) -> EncodedUpdate:
    return EncodedUpdate(bits=bits, codes=array_to_numpy(record[CODES_KEY]), scales=array_to_numpy(record[SCALES_KEY]))


def apply_update(record: ArrayRecord, keys: Sequence[str], delta: Sequence[np.ndarray]) -> ArrayRecord:
    """A new global ArrayRecord: ``record`` with ``delta`` added to the averaged entries."""
    state = record_to_state_dict(record)
    for key, d in zip(keys, delta):
        state[key] = state[key] + torch.from_numpy(np.asarray(d, dtype=np.float32)).to(state[key].dtype)
    return ArrayRecord(torch_state_dict=state)
