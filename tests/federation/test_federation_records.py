"""Flower arrays decoded without np.load give np.load's arrays, bit for bit."""

import numpy as np
import pytest
import torch
from flwr.app import Array, ArrayRecord

from fedsim.tasks._records import array_to_numpy, record_to_state_dict

RNG = np.random.default_rng(0)
CASES = {
    "float32 matrix": RNG.standard_normal((64, 32)).astype(np.float32),
    "float64 vector": RNG.standard_normal(10),
    "int64": np.arange(7, dtype=np.int64),
    "0-d": np.array(3.5),
    "empty": np.zeros((0, 3)),
    "fortran order": np.asfortranarray(RNG.standard_normal((4, 5))),
    "uint8 codes": RNG.integers(0, 255, 100).astype(np.uint8),
    "big-endian": np.array([1, 2], dtype=">i4"),
    "bool": np.array([True, False]),
}


@pytest.mark.parametrize("name", CASES)
def test_an_array_decodes_as_np_load_does(name):
    array = Array(CASES[name])
    fast, loaded = array_to_numpy(array), array.numpy()
    assert fast.dtype == loaded.dtype and fast.shape == loaded.shape
    assert fast.tobytes() == loaded.tobytes() and fast.flags.writeable
    assert np.array_equal(fast, CASES[name])


def test_a_record_becomes_the_state_dict_flower_would_give():
    record = ArrayRecord(torch_state_dict={"w": torch.randn(3, 4), "b": torch.randn(5), "n": torch.tensor(7)})
    ours, flowers = record_to_state_dict(record), record.to_torch_state_dict()
    assert list(ours) == list(flowers)
    for key in flowers:
        assert ours[key].dtype == flowers[key].dtype and torch.equal(ours[key], flowers[key])
