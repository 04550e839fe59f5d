"""Conversions between models, updates and Flower records (the wire format of fedsim messages)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from flwr.app import Array, ArrayRecord
from torch import nn

from ..uplink import EncodedUpdate

CODES_KEY = "codes"
SCALES_KEY = "scales"


def model_to_record(model: nn.Module) -> ArrayRecord:
    return ArrayRecord(torch_state_dict=model.state_dict())


def record_to_numpy(record: ArrayRecord, keys: Sequence[str]) -> list[np.ndarray]:
    return [record[k].numpy() for k in keys]


def load_record(model: nn.Module, record: ArrayRecord) -> None:
    model.load_state_dict(record.to_torch_state_dict(), strict=True)


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
    return EncodedUpdate(bits=bits, codes=record[CODES_KEY].numpy(), scales=record[SCALES_KEY].numpy())


def apply_update(record: ArrayRecord, keys: Sequence[str], delta: Sequence[np.ndarray]) -> ArrayRecord:
    """A new global ArrayRecord: ``record`` with ``delta`` added to the averaged entries."""
    state = record.to_torch_state_dict()
    for key, d in zip(keys, delta):
        state[key] = state[key] + torch.from_numpy(np.asarray(d, dtype=np.float32)).to(state[key].dtype)
    return ArrayRecord(torch_state_dict=state)
