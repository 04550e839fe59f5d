"""Datasets and their partition across simulated devices.

``load_dataset`` gives a train/test ``DataSplit`` of ``Dataset`` values (float32 NCHW in [0, 1]);
``partition`` splits the training indices across devices (IID, Dirichlet or shards).
"""

from fedsim.data._dataset import Dataset, DataSplit
from fedsim.data._download import download_idx
from fedsim.data._idx import read_idx
from fedsim.data._load import DATASETS, load_dataset
from fedsim.data._partition import (
    PARTITION_KINDS,
    dirichlet_partition,
    iid_partition,
    label_skew,
    partition,
    shard_partition,
)

__all__ = [
    "DATASETS",
    "PARTITION_KINDS",
    "DataSplit",
    "Dataset",
    "dirichlet_partition",
    "download_idx",
    "iid_partition",
    "label_skew",
    "load_dataset",
    "partition",
    "read_idx",
    "shard_partition",
]
