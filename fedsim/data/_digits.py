"""scikit-learn's bundled 8x8 digits: a tiny, download-free dataset for fast runs and tests."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from fedsim.data._dataset import Dataset, DataSplit
from fedsim.data._split import split_dataset

# load_digits pixels are counts of set pixels in 4x4 blocks of a 32x32 bitmap: 0..16.
_MAX_PIXEL = 16.0


def load_digits_split(test_fraction: float, seed: int) -> DataSplit:
    """The 1,797 digits as (N, 1, 8, 8) in [0, 1], split stratified by class."""
    bunch = load_digits()
    x = (bunch.images / _MAX_PIXEL).astype(np.float32)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    return split_dataset(Dataset(x=x, y=y, num_classes=10, name="digits"), test_fraction, seed)
