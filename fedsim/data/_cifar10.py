"""CIFAR-10 from its official python batches (``cifar-10-batches-py``), downloaded on request.

Each batch is a pickle of a dict with ``data`` (uint8 (N, 3072): the red, green and blue 32x32
planes of each image, row-major) and ``labels`` (N ints in 0..9). The pickles are read by the
restricted unpickler of ``_safe_pickle``: a tampered file can name no code to run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fedsim.data._dataset import Dataset, DataSplit
from fedsim.data._download import download_file, extract_tar
from fedsim.data._safe_pickle import load_data_pickle
from fedsim.errors import ConfigError, DataError

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
# The tarball is 170,498,071 bytes; a server sending more than this is refused.
CIFAR10_MAX_BYTES = 256 << 20
BATCH_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
_NUM_CLASSES = 10
_SHAPE = (3, 32, 32)
_MAX_PIXEL = 255.0
_PATH_ALLOWED = (
    f"a directory holding {BATCH_DIR}/ (data_batch_1..5 and test_batch), or that folder itself; "
    "or set dataset.download=true"
)


def default_cifar10_dir() -> Path:
    return Path("~/.cache/fedsim/cifar10").expanduser()


def _batch_dir(directory: Path) -> Path | None:
    """``directory`` or its ``cifar-10-batches-py`` child, whichever holds all six batches."""
    for candidate in (directory, directory / BATCH_DIR):
        if all((candidate / name).is_file() for name in (*TRAIN_BATCHES, TEST_BATCH)):
            return candidate
    return None


def _missing(directory: Path) -> str:
    # Name what is missing in the folder that holds most of the batches.
    candidates = (directory, directory / BATCH_DIR)
    best = max(candidates, key=lambda d: sum((d / n).is_file() for n in (*TRAIN_BATCHES, TEST_BATCH)))
    missing = [n for n in (*TRAIN_BATCHES, TEST_BATCH) if not (best / n).is_file()]
    return f"{best}: CIFAR-10 batch file(s) missing: {', '.join(missing)}"


def _field(batch: dict, key: str, path: Path) -> Any:
    # Python 2 pickles (the official files) have bytes keys; one written by Python 3 may have str.
    for candidate in (key.encode(), key):
        if candidate in batch:
            return batch[candidate]
    raise DataError(f"{path}: CIFAR-10 batch has no {key!r} entry")


def read_cifar10_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images float32 (N, 3, 32, 32) in [0, 1], labels int64 (N,)) of one python batch file."""
    batch = load_data_pickle(path)
    if not isinstance(batch, dict):
        raise DataError(f"{path}: CIFAR-10 batch is a {type(batch).__name__}, not a dict")
    data, labels = _field(batch, "data", path), _field(batch, "labels", path)
    width = int(np.prod(_SHAPE))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != width:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{path}: CIFAR-10 data must be uint8 (N, {width}), got {got}")
    if isinstance(labels, np.ndarray):
        y = labels
    elif isinstance(labels, list) and all(type(v) is int for v in labels):
        y = np.asarray(labels, dtype=np.int64) if labels else np.zeros(0, dtype=np.int64)
    else:
        raise DataError(f"{path}: CIFAR-10 labels must be a list of integers")
    if y.ndim != 1 or y.dtype.kind not in "iu" or len(y) != len(data):
        raise DataError(f"{path}: expected {len(data)} integer labels, got {y.dtype} {y.shape}")
    if len(y) and (y.min() < 0 or y.max() >= _NUM_CLASSES):
        raise DataError(f"{path}: labels outside 0..{_NUM_CLASSES - 1}")
    x = (data.astype(np.float32) / np.float32(_MAX_PIXEL)).reshape(-1, *_SHAPE)
    return x, y.astype(np.int64)


def _read_batches(paths: list[Path], name: str) -> Dataset:
    parts = [read_cifar10_batch(p) for p in paths]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    return Dataset(x=x, y=y, num_classes=_NUM_CLASSES, name=name)


def download_cifar10(directory: Path) -> Path:
    """Fetch and verify the official tarball into ``directory``, unpack it there; return the
    folder holding the batches. A verified tarball already in ``directory`` is not fetched again."""
    directory = Path(directory).expanduser()
    archive = download_file(CIFAR10_URL, directory / CIFAR10_ARCHIVE, CIFAR10_MD5, CIFAR10_MAX_BYTES)
    extract_tar(archive, directory)
    found = _batch_dir(directory)
    if found is None:
        raise DataError(f"{archive}: unpacked, but {_missing(directory)}")
    return found


def load_cifar10_split(directory: Path | None, download: bool = False, name: str = "cifar10") -> DataSplit:
    """The official 50,000/10,000 CIFAR-10 split as float32 (N, 3, 32, 32) images in [0, 1].

    ``directory`` is ``cifar-10-batches-py`` itself or the folder holding it (default
    ``~/.cache/fedsim/cifar10``). Without all six batches there, ``download=True`` fetches the
    official tarball into ``directory`` (md5-checked, safely unpacked) and loads it; otherwise a
    DataError names the missing files (a ConfigError on ``dataset.path`` when none was given).
    """
    root = Path(directory).expanduser() if directory is not None else default_cifar10_dir()
    found = _batch_dir(root)
    if found is None:
        if not download:
            if directory is None:
                raise ConfigError("dataset.path", None, _PATH_ALLOWED)
            if not root.is_dir():
                raise DataError(f"{root}: no such directory (expected {_PATH_ALLOWED})")
            raise DataError(_missing(root) + " (or set dataset.download=true)")
        found = download_cifar10(root)
    train = _read_batches([found / n for n in TRAIN_BATCHES], name)
    test = _read_batches([found / TEST_BATCH], name)
    return DataSplit(train=train, test=test)
