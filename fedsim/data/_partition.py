"""Splitting a training set across simulated devices.

``iid`` is fedsim's own: a seeded permutation cut into near-equal parts, which is flwr-datasets'
IidPartitioner applied to the table shuffled by that permutation (a test shows the two agree);
it needs no flwr-datasets import, and its ledgers are those of every earlier fedsim release.
Every other kind is drawn by flwr-datasets' partitioner of that name (``_flwr_partitioners``).
No device is left empty (an empty device could not train or be weighted).
"""

from __future__ import annotations

import numpy as np

from fedsim.data._flwr_partitioners import PartitionParams, flwr_partition
from fedsim.data._names import PARTITION_KINDS
from fedsim.errors import ConfigError
from fedsim.rng import numpy_stream


def _check_num_devices(num_devices: int, num_samples: int) -> None:
    if not 1 <= num_devices <= num_samples:
        raise ConfigError(
            "world.num_devices", num_devices, f"between 1 and the number of training samples ({num_samples}): each device holds one at least"
        )


def _finish(parts: list[np.ndarray]) -> list[np.ndarray]:
    return [np.sort(part).astype(np.int64) for part in parts]


def iid_partition(num_samples: int, num_devices: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A random permutation cut into ``num_devices`` parts whose sizes differ by at most one."""
    _check_num_devices(num_devices, num_samples)
    return _finish(np.array_split(rng.permutation(num_samples), num_devices))


def partition(
    labels: np.ndarray,
    num_devices: int,
    kind: str,
    seed: int,
    alpha: float = 0.5,
    shards_per_device: int = 2,
    classes_per_device: int = 2,
    min_partition_size: int = 1,
    client_ids: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Split sample indices across ``num_devices`` devices with the partitioner named ``kind``.

    Only the parameters of the chosen kind are validated, so a config can keep defaults for the
    others. ``client_ids`` (one per example) is the natural partition ``natural_id`` follows.
    """
    labels = np.asarray(labels)
    if kind not in PARTITION_KINDS:
        raise ConfigError("partition.kind", kind, "one of " + ", ".join(PARTITION_KINDS))
    if kind == "iid":
        return iid_partition(len(labels), num_devices, numpy_stream(seed, "partition"))
    if kind != "natural_id":
        _check_num_devices(num_devices, len(labels))
    checks = {"dirichlet": ("partition.alpha", alpha, alpha > 0, "a positive number"),
              "shards": ("partition.shards_per_device", shards_per_device, shards_per_device >= 1, "an integer >= 1"),
              "pathological": ("partition.classes_per_device", classes_per_device, classes_per_device >= 1, "an integer >= 1")}
    if kind in checks and not checks[kind][2]:
        raise ConfigError(*checks[kind][:2], checks[kind][3])
    if kind == "shards" and num_devices * shards_per_device > len(labels):
        raise ConfigError("partition.shards_per_device", shards_per_device,
                          f"at most {len(labels) // num_devices} so that each of the {num_devices * shards_per_device} shards holds a sample")
    params = PartitionParams(alpha=alpha, shards_per_device=shards_per_device, classes_per_device=classes_per_device,
                             min_partition_size=min_partition_size)
    return flwr_partition(labels, num_devices, kind, seed, params, client_ids)


def label_skew(labels: np.ndarray, parts: list[np.ndarray], num_classes: int) -> float:
    """Mean over devices of the total-variation distance from the global label distribution.

    0 means every device sees the global mix; 1 would mean disjoint label supports.
    """
    labels = np.asarray(labels)
    global_dist = np.bincount(labels, minlength=num_classes) / len(labels)
    distances = []
    for part in parts:
        if len(part) == 0:
            raise ValueError("label_skew needs every device to hold at least one sample")
        local = np.bincount(labels[part], minlength=num_classes) / len(part)
        distances.append(0.5 * np.abs(local - global_dist).sum())
    return float(np.mean(distances))
