"""Splitting a training set across simulated devices: IID, Dirichlet label skew, label shards.

Every partitioner returns one sorted int64 index array per device; together they use every
sample exactly once and no device is left empty (an empty device could not train or be weighted).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fedsim.errors import ConfigError
from fedsim.data._names import PARTITION_KINDS
from fedsim.rng import numpy_stream


# Resampling Dirichlet draws until no device is empty almost always succeeds quickly for
# moderate alpha; for tiny alpha and many devices it may never, so the loop is bounded.
_DIRICHLET_TRIES = 100


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


def _dirichlet_counts(
    class_sizes: np.ndarray, num_devices: int, alpha: float, rng: np.random.Generator
) -> np.ndarray:
    """(classes, devices) sample counts: each class cut by Dir(alpha) proportions over devices."""
    counts = np.empty((len(class_sizes), num_devices), dtype=np.int64)
    for c, size in enumerate(class_sizes):
        proportions = rng.dirichlet(np.full(num_devices, alpha))
        cuts = np.round(np.cumsum(proportions)[:-1] * size).astype(np.int64)
        counts[c] = np.diff(np.concatenate(([0], cuts, [size])))
    return counts


def dirichlet_partition(
    labels: np.ndarray, num_devices: int, alpha: float, rng: np.random.Generator
) -> list[np.ndarray]:
    """Label-skewed parts: per class, device shares ~ Dir(alpha); smaller alpha, stronger skew."""
    labels = np.asarray(labels)
    _check_num_devices(num_devices, len(labels))
    if not alpha > 0:
        raise ConfigError("partition.alpha", alpha, "a positive number")
    classes, inverse = np.unique(labels, return_inverse=True)
    # Shuffle within classes once: which samples a device gets is independent of how many.
    members = [rng.permutation(np.flatnonzero(inverse == c)) for c in range(len(classes))]
    class_sizes = np.array([len(m) for m in members])
    for _ in range(_DIRICHLET_TRIES):
        counts = _dirichlet_counts(class_sizes, num_devices, alpha, rng)
        if counts.sum(axis=0).min() > 0:
            break
    parts: list[list[np.ndarray]] = [[] for _ in range(num_devices)]
    for c, class_members in enumerate(members):
        for device, chunk in enumerate(np.split(class_members, np.cumsum(counts[c])[:-1])):
            parts[device].append(chunk)
    merged = [np.concatenate(chunks) for chunks in parts]
    return _finish(_fill_empty(merged, rng))


def _fill_empty(parts: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Give each empty device one random sample of the currently largest device.

    The largest device has at least two samples while any device is empty, because there are at
    least as many samples as devices, so this never empties another device.
    """
    for device in range(len(parts)):
        if len(parts[device]):
            continue
        donor = max(range(len(parts)), key=lambda d: len(parts[d]))
        pick = int(rng.integers(len(parts[donor])))
        parts[device] = parts[donor][pick : pick + 1]
        parts[donor] = np.delete(parts[donor], pick)
    return parts


def shard_partition(
    labels: np.ndarray, num_devices: int, shards_per_device: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Pathological non-IID split (McMahan et al.): label-sorted shards dealt at random."""
    labels = np.asarray(labels)
    if shards_per_device < 1:
        raise ConfigError("partition.shards_per_device", shards_per_device, "an integer >= 1")
    _check_num_devices(num_devices, len(labels))
    num_shards = num_devices * shards_per_device
    if num_shards > len(labels):
        raise ConfigError(
            "partition.shards_per_device",
            shards_per_device,
            f"at most {len(labels) // num_devices} so that each of the {num_shards} shards holds a sample",
        )
    # Shuffle before the stable sort so the order within a label, and so shard contents, is seeded.
    shuffled = rng.permutation(len(labels))
    ordered = shuffled[np.argsort(labels[shuffled], kind="stable")]
    shards = np.array_split(ordered, num_shards)
    deal = rng.permutation(num_shards).reshape(num_devices, shards_per_device)
    return _finish([np.concatenate([shards[s] for s in row]) for row in deal])


def partition(
    labels: np.ndarray,
    num_devices: int,
    kind: str,
    seed: int,
    alpha: float = 0.5,
    shards_per_device: int = 2,
) -> list[np.ndarray]:
    """Split sample indices across ``num_devices`` devices with the partitioner named ``kind``.

    Only the parameters of the chosen kind are validated, so a config can keep defaults for the
    others.
    """
    labels = np.asarray(labels)
    rng = numpy_stream(seed, "partition")
    runners: dict[str, Callable[[], list[np.ndarray]]] = {
        "iid": lambda: iid_partition(len(labels), num_devices, rng),
        "dirichlet": lambda: dirichlet_partition(labels, num_devices, alpha, rng),
        "shards": lambda: shard_partition(labels, num_devices, shards_per_device, rng),
    }
    if kind not in runners:
        raise ConfigError("partition.kind", kind, "one of " + ", ".join(PARTITION_KINDS))
    return runners[kind]()


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
