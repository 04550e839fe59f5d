"""``encode_updates``: the cohort engine's bulk uplink encoder gives ``encode_update``'s bytes."""

from __future__ import annotations

import numpy as np
import pytest

from fedsim.uplink import encode_update, encode_updates

SHAPES = [(16, 12), (12,), (3, 16), (3,), (0,)]


def _updates(count: int = 6) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(4)
    updates = [[(rng.standard_normal(s) * 10.0 ** -rng.integers(1, 4)).astype(np.float32) for s in SHAPES] for _ in range(count)]
    updates[1][0][2, 3] = np.nan  # a diverged client
    updates[2][1][5] = np.inf
    updates[3][2][:] = 0.0  # an all-zero tensor: scale 0
    return updates


@pytest.mark.parametrize("bits", [1, 3, 8, 12, 16, 32])
def test_bulk_encoding_gives_each_clients_own_bytes(bits):
    updates = _updates()
    bulk = encode_updates(updates, bits, [np.random.default_rng(10 + i) for i in range(len(updates))])
    one_by_one = [encode_update(u, bits, np.random.default_rng(10 + i)) for i, u in enumerate(updates)]
    assert len(bulk) == len(updates)
    for ours, theirs in zip(bulk, one_by_one):
        assert ours.bits == theirs.bits and ours.payload_bits == theirs.payload_bits
        assert ours.codes.dtype == theirs.codes.dtype and ours.codes.tobytes() == theirs.codes.tobytes()
        assert ours.scales.tobytes() == theirs.scales.tobytes()
    # Each client's own generator: swapping two generators changes the codes (the test can fail).
    if bits < 32:
        swapped = encode_updates(updates, bits, [np.random.default_rng(10 + i) for i in (1, 0, 2, 3, 4, 5)])
        assert swapped[0].codes.tobytes() != bulk[0].codes.tobytes()


def test_bulk_encoding_refuses_a_bad_precision_and_takes_no_updates():
    with pytest.raises(ValueError, match="uplink_bits=0"):
        encode_updates(_updates(), 0, [np.random.default_rng(0)] * 6)
    assert encode_updates([], 8, []) == []
