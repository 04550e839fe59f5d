"""Partitioners: every sample used once, no empty device, seeded, and the intended label skew."""

from __future__ import annotations

import numpy as np
import pytest

from fedsim.data import (
    PARTITION_KINDS,
    dirichlet_partition,
    iid_partition,
    label_skew,
    load_dataset,
    partition,
    shard_partition,
)
from fedsim.errors import ConfigError


@pytest.fixture(scope="module")
def digit_labels() -> np.ndarray:
    return load_dataset("digits").train.y


def _assert_exact_cover(parts: list[np.ndarray], num_samples: int, num_devices: int) -> None:
    assert len(parts) == num_devices
    assert all(len(p) >= 1 and p.dtype == np.int64 for p in parts)
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(num_samples))


@pytest.mark.parametrize("kind", PARTITION_KINDS)
@pytest.mark.parametrize("num_devices", [1, 7, 50])
def test_every_index_exactly_once(digit_labels: np.ndarray, kind: str, num_devices: int) -> None:
    parts = partition(digit_labels, num_devices, kind, seed=0)
    _assert_exact_cover(parts, len(digit_labels), num_devices)


@pytest.mark.parametrize("kind", PARTITION_KINDS)
def test_seeded(digit_labels: np.ndarray, kind: str) -> None:
    a, b = partition(digit_labels, 10, kind, seed=4), partition(digit_labels, 10, kind, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    c = partition(digit_labels, 10, kind, seed=5)
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_every_device_gets_a_sample_down_to_one_each() -> None:
    labels = np.arange(30) % 3
    for kind in PARTITION_KINDS:
        _assert_exact_cover(partition(labels, 30, kind, seed=1, shards_per_device=1), 30, 30)


def test_dirichlet_fallback_fills_empty_devices() -> None:
    # alpha this small puts nearly each class on one device: resampling cannot fill 40 devices.
    labels = np.arange(100) % 5
    parts = dirichlet_partition(labels, 40, 1e-3, np.random.default_rng(0))
    _assert_exact_cover(parts, 100, 40)


def test_iid_sizes_are_balanced() -> None:
    sizes = [len(p) for p in iid_partition(103, 10, np.random.default_rng(0))]
    assert max(sizes) - min(sizes) <= 1


def test_dirichlet_skew_grows_as_alpha_falls(digit_labels: np.ndarray) -> None:
    for seed in range(3):
        skew = [
            label_skew(digit_labels, partition(digit_labels, 10, "dirichlet", seed, alpha=alpha), 10)
            for alpha in (0.05, 1.0, 100.0)
        ]
        assert skew[0] > skew[1] > skew[2]
    iid = label_skew(digit_labels, partition(digit_labels, 10, "iid", seed=0), 10)
    assert iid < 0.15


def test_shards_give_few_labels_per_device(digit_labels: np.ndarray) -> None:
    # Class sizes that are a multiple of the shard size: shards never straddle two labels.
    balanced = np.repeat(np.arange(10), 100)
    parts = shard_partition(balanced, 10, 2, np.random.default_rng(0))
    assert all(len(np.unique(balanced[p])) <= 2 for p in parts)
    # Real class sizes: a shard may straddle a boundary, but its top labels hold nearly everything.
    for part in partition(digit_labels, 10, "shards", seed=0, shards_per_device=2):
        counts = np.sort(np.bincount(digit_labels[part]))[::-1]
        assert counts[:2].sum() >= 0.9 * len(part)


def test_label_skew_extremes() -> None:
    labels = np.array([0, 0, 1, 1])
    assert label_skew(labels, [np.array([0, 2]), np.array([1, 3])], 2) == 0.0
    assert label_skew(labels, [np.array([0, 1]), np.array([2, 3])], 2) == 0.5
    with pytest.raises(ValueError):
        label_skew(labels, [np.arange(4), np.array([], dtype=np.int64)], 2)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"kind": "pathological"}, "partition.kind"),
        ({"kind": "dirichlet", "alpha": 0.0}, "partition.alpha"),
        ({"kind": "dirichlet", "alpha": -1.0}, "partition.alpha"),
        ({"kind": "shards", "shards_per_device": 0}, "partition.shards_per_device"),
        ({"kind": "shards", "shards_per_device": 4}, "partition.shards_per_device"),
        ({"kind": "iid", "num_devices": 11}, "world.num_devices"),
        ({"kind": "dirichlet", "num_devices": 0}, "world.num_devices"),
    ],
)
def test_config_errors_name_the_key(kwargs: dict, key: str) -> None:
    args = {"labels": np.arange(10) % 2, "num_devices": 3, "seed": 0, **kwargs}
    with pytest.raises(ConfigError, match=f"^{key}="):
        partition(**args)
