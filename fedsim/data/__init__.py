"""Datasets and their partition across simulated devices.

``load_dataset`` gives a train/test ``DataSplit`` of ``Dataset`` values (float32 NCHW in [0, 1]);
``partition`` splits the training indices across devices (IID, Dirichlet or shards)."""

from fedsim._lazy import lazy_exports

_EXPORTS = {
    "Dataset": "._dataset",
    "DataSplit": "._dataset",
    "download_idx": "._download",
    "read_idx": "._idx",
    "DATASETS": "._names",
    "load_dataset": "._load",
    "PARTITION_KINDS": "._names",
    "iid_partition": "._partition",
    "label_skew": "._partition",
    "partition": "._partition",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)
