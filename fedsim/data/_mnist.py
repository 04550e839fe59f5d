"""MNIST-layout datasets (MNIST, Fashion-MNIST) read from a directory of IDX files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fedsim.data._dataset import Dataset, DataSplit
from fedsim.data._idx import read_idx
from fedsim.data._split import split_dataset
from fedsim.errors import DataError

# Official split -> (images, labels) file names without the optional ".gz".
IDX_PAIRS: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "t10k": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_NUM_CLASSES = 10
_MAX_PIXEL = 255.0

IdxPair = tuple[Path, Path]


def _find(directory: Path, stem: str) -> Path | None:
    # The extension is only a hint: read_idx detects gzip from the bytes themselves.
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def find_idx_pairs(directory: Path) -> dict[str, IdxPair]:
    """The official splits whose images and labels both exist in ``directory``."""
    pairs = {}
    for split, stems in IDX_PAIRS.items():
        images, labels = (_find(directory, stem) for stem in stems)
        if images is not None and labels is not None:
            pairs[split] = (images, labels)
    return pairs


def _read_pair(pair: IdxPair, name: str) -> Dataset:
    images_path, labels_path = pair
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"{images_path}: expected uint8 images (N, H, W), got {images.dtype} {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{labels_path}: expected {len(images)} labels, got shape {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() >= _NUM_CLASSES):
        raise DataError(f"{labels_path}: labels outside 0..{_NUM_CLASSES - 1}")
    x = (images.astype(np.float32) / _MAX_PIXEL)[:, None, :, :]
    return Dataset(x=x, y=labels.astype(np.int64), num_classes=_NUM_CLASSES, name=name)


def load_idx_split(pairs: dict[str, IdxPair], name: str, test_fraction: float, seed: int) -> DataSplit:
    """The official train/test split if both pairs exist, else a stratified split of the one there."""
    if "train" in pairs and "t10k" in pairs:
        return DataSplit(train=_read_pair(pairs["train"], name), test=_read_pair(pairs["t10k"], name))
    (only,) = pairs.values()
    return split_dataset(_read_pair(only, name), test_fraction, seed)
