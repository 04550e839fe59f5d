"""Stratified train/test split used when a dataset ships without an official split."""

from __future__ import annotations

import numpy as np

from fedsim.data._dataset import Dataset, DataSplit
from fedsim.errors import DataError
from fedsim.rng import numpy_stream


def _test_counts(class_sizes: np.ndarray, test_fraction: float) -> np.ndarray:
    """Test samples per class, summing to round(test_fraction * N) (largest remainder method).

    Rounding each class on its own can miss the requested total by up to one per class; the
    largest-remainder allocation hits the total exactly while staying within one of each share.
    """
    total = int(class_sizes.sum())
    n_test = min(max(round(test_fraction * total), 1), total - 1)
    exact = test_fraction * class_sizes
    counts = np.floor(exact).astype(np.int64)
    extra = n_test - int(counts.sum())
    # Stable sort: ties go to the lower class id, so the split does not depend on float noise order.
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:extra]] += 1
    return counts


def stratified_split(
    labels: np.ndarray, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, test) index arrays with each class split in ``test_fraction``."""
    if len(labels) < 2:
        raise DataError(f"cannot split {len(labels)} sample(s) into train and test")
    classes, inverse = np.unique(labels, return_inverse=True)
    counts = _test_counts(np.bincount(inverse, minlength=len(classes)), test_fraction)
    train, test = [], []
    for c, k in enumerate(counts):
        members = rng.permutation(np.flatnonzero(inverse == c))
        test.append(members[:k])
        train.append(members[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def split_dataset(dataset: Dataset, test_fraction: float, seed: int) -> DataSplit:
    """Stratified, seeded train/test split of one Dataset."""
    train, test = stratified_split(dataset.y, test_fraction, numpy_stream(seed, "data-split"))
    return DataSplit(train=dataset.subset(train), test=dataset.subset(test))
