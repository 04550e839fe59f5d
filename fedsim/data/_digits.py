"""scikit-learn's bundled 8x8 digits: a tiny, download-free dataset for fast runs and tests."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np

from fedsim.data._dataset import Dataset, DataSplit
from fedsim.data._split import split_dataset

# The pixels are counts of set pixels in 4x4 blocks of a 32x32 bitmap: 0..16.
_MAX_PIXEL = 16.0


def _digits_csv_path() -> Path:
    """scikit-learn's ``datasets/data/digits.csv.gz``, found without importing sklearn: its
    import (scipy.stats, pandas, narwhals) costs more start-up than the whole first round."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("dataset=digits reads scikit-learn's bundled copy: pip install scikit-learn")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 images (N, 8, 8) as float64 pixel counts and their labels, as
    ``sklearn.datasets.load_digits`` reads them (the same file, the same ``np.loadtxt``)."""
    with gzip.open(_digits_csv_path(), mode="rt", encoding="utf-8") as csv:
        table = np.loadtxt(csv, delimiter=",")
    return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(int)


def load_digits_split(test_fraction: float, seed: int) -> DataSplit:
    """The 1,797 digits as (N, 1, 8, 8) in [0, 1], split stratified by class."""
    images, labels = load_digits_arrays()
    x = (images / _MAX_PIXEL).astype(np.float32)[:, None, :, :]
    y = labels.astype(np.int64)
    return split_dataset(Dataset(x=x, y=y, num_classes=10, name="digits"), test_fraction, seed)
