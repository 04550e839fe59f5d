"""Partitioners: no sample used twice, no empty device, seeded, the intended label skew, and
flwr-datasets' own partitions for the same parameters and seed."""

from __future__ import annotations

import numpy as np
import pytest

from fedsim.data import PARTITION_KINDS, iid_partition, label_skew, load_dataset, partition
from fedsim.errors import ConfigError
from fedsim.rng import numpy_stream

# Kinds that give every example to some device (shards and pathological drop what does not fit).
COVERING = ("iid", "dirichlet", "linear")
LABEL_KINDS = tuple(k for k in PARTITION_KINDS if k not in ("natural_id", "exponential"))


@pytest.fixture(scope="module")
def digit_labels() -> np.ndarray:
    return load_dataset("digits").train.y


def _assert_exact_cover(parts: list[np.ndarray], num_samples: int, num_devices: int) -> None:
    assert len(parts) == num_devices
    assert all(len(p) >= 1 and p.dtype == np.int64 for p in parts)
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(num_samples))


@pytest.mark.parametrize("kind", COVERING)
@pytest.mark.parametrize("num_devices", [1, 7, 50])
def test_every_index_exactly_once(digit_labels: np.ndarray, kind: str, num_devices: int) -> None:
    parts = partition(digit_labels, num_devices, kind, seed=0)
    _assert_exact_cover(parts, len(digit_labels), num_devices)


@pytest.mark.parametrize("kind", ("shards", "pathological"))
def test_dropping_kinds_use_no_index_twice(digit_labels: np.ndarray, kind: str) -> None:
    parts = partition(digit_labels, 10, kind, seed=0)
    joined = np.concatenate(parts)
    assert all(len(p) for p in parts) and len(np.unique(joined)) == len(joined) > 0.85 * len(digit_labels)


@pytest.mark.parametrize("kind", LABEL_KINDS)
def test_seeded(digit_labels: np.ndarray, kind: str) -> None:
    a, b = partition(digit_labels, 10, kind, seed=4), partition(digit_labels, 10, kind, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    c = partition(digit_labels, 10, kind, seed=5)
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_every_device_gets_a_sample_down_to_one_each() -> None:
    labels = np.arange(30) % 3
    for kind in ("iid", "shards"):
        _assert_exact_cover(partition(labels, 30, kind, seed=1, shards_per_device=1), 30, 30)


def test_dirichlet_that_cannot_fill_every_device_is_one_error() -> None:
    # alpha this small puts nearly each class on one device: redraws cannot fill 40 devices.
    with pytest.raises(ConfigError, match=r"^partition\.alpha=0\.001 is not allowed: .*dirichlet partitioner"):
        partition(np.arange(100) % 5, 40, "dirichlet", seed=0, alpha=1e-3)


def _flwr_parts(partitioner, columns: dict) -> list[np.ndarray]:
    import datasets

    partitioner.dataset = datasets.Dataset.from_dict({**columns, "i": np.arange(len(columns["label"]))})
    return [np.asarray(partitioner.load_partition(p)["i"]) for p in range(partitioner.num_partitions)]


@pytest.mark.parametrize(
    ("kind", "make"),
    [
        ("dirichlet", lambda fp, n, seed: fp.DirichletPartitioner(n, "label", 0.3, min_partition_size=1, self_balancing=False, seed=seed)),
        ("shards", lambda fp, n, seed: fp.ShardPartitioner(n, "label", num_shards_per_partition=2, seed=seed)),
        ("pathological", lambda fp, n, seed: fp.PathologicalPartitioner(n, "label", 2, seed=seed)),
    ],
)
def test_label_kinds_equal_flwr_datasets_own(digit_labels: np.ndarray, kind: str, make) -> None:
    from flwr_datasets import partitioner as fp

    ours = partition(digit_labels, 10, kind, seed=7, alpha=0.3, shards_per_device=2, classes_per_device=2)
    theirs = _flwr_parts(make(fp, 10, 7), {"label": digit_labels})
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True))


def test_iid_is_flwr_datasets_iid_partitioner_over_the_seeded_shuffle(digit_labels: np.ndarray) -> None:
    import datasets
    from flwr_datasets.partitioner import IidPartitioner

    ours = partition(digit_labels, 7, "iid", seed=3)
    shuffled = numpy_stream(3, "partition").permutation(len(digit_labels))
    iid = IidPartitioner(7)
    iid.dataset = datasets.Dataset.from_dict({"i": shuffled})
    theirs = [np.sort(np.asarray(iid.load_partition(p)["i"])) for p in range(7)]
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True))


def test_natural_id_gives_one_device_per_client() -> None:
    clients = np.array([2, 0, 1, 0, 2, 2], dtype=np.int64)
    parts = partition(np.zeros(6, np.int64), 3, "natural_id", seed=0, client_ids=clients)
    assert sorted(tuple(clients[p].tolist()) for p in parts) == [(0, 0), (1,), (2, 2, 2)]
    with pytest.raises(ConfigError, match=r"^world\.num_devices=4 is not allowed: 3, the number of natural clients"):
        partition(np.zeros(6, np.int64), 4, "natural_id", seed=0, client_ids=clients)
    with pytest.raises(ConfigError, match=r"^partition\.kind='natural_id' is not allowed: a dataset with a natural partition"):
        partition(np.zeros(6, np.int64), 3, "natural_id", seed=0)


def test_size_kinds_grow_and_exponential_refuses_too_many_devices(digit_labels: np.ndarray) -> None:
    sizes = {k: [len(p) for p in partition(digit_labels, 6, k, seed=0)] for k in ("linear", "square", "exponential")}
    assert all(s == sorted(s) and s[0] < s[-1] for s in sizes.values())
    assert sizes["exponential"][-1] / sizes["exponential"][-2] > sizes["linear"][-1] / sizes["linear"][-2]
    with pytest.raises(ConfigError, match=r"^world\.num_devices=10 is not allowed"):
        partition(digit_labels, 10, "exponential", seed=0)


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
    parts = partition(balanced, 10, "shards", seed=0, shards_per_device=2)
    assert all(len(np.unique(balanced[p])) <= 2 for p in parts)
    # Real class sizes (~143 a class, shards of 71): a shard may straddle a boundary, but the
    # device's top two labels still hold most of its examples.
    for part in partition(digit_labels, 10, "shards", seed=0, shards_per_device=2):
        counts = np.sort(np.bincount(digit_labels[part]))[::-1]
        assert counts[:2].sum() >= 0.8 * len(part)


def test_label_skew_extremes() -> None:
    labels = np.array([0, 0, 1, 1])
    assert label_skew(labels, [np.array([0, 2]), np.array([1, 3])], 2) == 0.0
    assert label_skew(labels, [np.array([0, 1]), np.array([2, 3])], 2) == 0.5
    with pytest.raises(ValueError):
        label_skew(labels, [np.arange(4), np.array([], dtype=np.int64)], 2)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"kind": "clustered"}, "partition.kind"),
        ({"kind": "pathological", "classes_per_device": 0}, "partition.classes_per_device"),
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
