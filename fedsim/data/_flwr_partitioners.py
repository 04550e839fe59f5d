"""Partitions drawn by flwr-datasets' partitioners, the ones Flower users already know.

fedsim hands each partitioner a small table of the training labels (plus each example's index
and, for natural partitions, its client id) and reads back the indices of every partition, so a
partition here is exactly flwr-datasets' own for the same parameters and seed. flwr-datasets
(and Hugging Face ``datasets`` under it) is imported only when one of these kinds is used.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from fedsim.errors import ConfigError
from fedsim.rng import numpy_stream

# Size partitioners cut the table into contiguous chunks of growing size; fedsim shuffles it first
# (with the run's partition stream), as flwr-datasets' FederatedDataset does before partitioning.
SIZE_KINDS = ("linear", "square", "exponential")


@dataclass(frozen=True)
class PartitionParams:
    """The knobs of every partitioner (each kind reads its own)."""

    alpha: float = 0.5
    shards_per_device: int = 2
    classes_per_device: int = 2
    min_partition_size: int = 1


def _partitioner(kind: str, num_devices: int, seed: int, p: PartitionParams):
    from flwr_datasets import partitioner as fp

    if kind == "dirichlet":
        return fp.DirichletPartitioner(num_devices, "label", p.alpha, min_partition_size=p.min_partition_size,
                                       self_balancing=False, shuffle=True, seed=seed)
    if kind == "shards":
        return fp.ShardPartitioner(num_devices, "label", num_shards_per_partition=p.shards_per_device, shuffle=True, seed=seed)
    if kind == "pathological":
        return fp.PathologicalPartitioner(num_devices, "label", p.classes_per_device, class_assignment_mode="random",
                                          shuffle=True, seed=seed)
    if kind == "natural_id":
        return fp.NaturalIdPartitioner("client")
    sized = {"linear": fp.LinearPartitioner, "square": fp.SquarePartitioner, "exponential": fp.ExponentialPartitioner}
    return sized[kind](num_devices)


# Which key a partitioner's refusal is about, for the one-line error.
_KEY_OF_KIND = {
    "dirichlet": ("partition.alpha", "alpha"),
    "shards": ("partition.shards_per_device", "shards_per_device"),
    "pathological": ("partition.classes_per_device", "classes_per_device"),
}


def flwr_partition(
    labels: np.ndarray, num_devices: int, kind: str, seed: int, params: PartitionParams, client_ids: np.ndarray | None = None
) -> list[np.ndarray]:
    """One int64 index array per device, as flwr-datasets' ``kind`` partitioner draws them."""
    import datasets

    labels = np.asarray(labels)
    columns = {"label": labels, "index": np.arange(len(labels), dtype=np.int64)}
    if kind == "natural_id":
        if client_ids is None:
            raise ConfigError("partition.kind", kind, "a dataset with a natural partition (femnist, shakespeare, an npz with "
                              "client_train, or dataset=hf with dataset.client_key)")
        clients = len(np.unique(client_ids))
        if clients != num_devices:
            raise ConfigError("world.num_devices", num_devices, f"{clients}, the number of natural clients in the dataset")
        columns["client"] = np.asarray(client_ids)
    table = datasets.Dataset.from_dict(columns)
    if kind in SIZE_KINDS:
        table = table.select(numpy_stream(seed, "partition").permutation(len(labels)))
    partitioner = _partitioner(kind, num_devices, seed, params)
    partitioner.dataset = table
    try:
        with warnings.catch_warnings():  # the Dirichlet partitioner warns at each redraw
            warnings.simplefilter("ignore")
            parts = [np.asarray(partitioner.load_partition(i)["index"], dtype=np.int64) for i in range(num_devices)]
    except (ValueError, ZeroDivisionError) as error:  # the partitioners' refusals
        key, field = _KEY_OF_KIND.get(kind, ("world.num_devices", None))
        value = getattr(params, field) if field else num_devices
        reason = str(error).splitlines()[0]
        raise ConfigError(key, value, f"a value flwr-datasets' {kind} partitioner can use for {num_devices} devices and "
                          f"{len(labels)} examples ({reason})") from None
    empty = [i for i, part in enumerate(parts) if not len(part)]
    if empty:
        raise ConfigError("world.num_devices", num_devices, f"a number that leaves no device empty under partition.kind={kind} "
                          f"(device {empty[0]} holds no example)")
    return parts
