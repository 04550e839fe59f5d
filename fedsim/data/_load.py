"""``load_dataset``: one entry point from a config's dataset section to a train/test split."""

from __future__ import annotations

from numbers import Real
from pathlib import Path

from fedsim.data._dataset import DataSplit
from fedsim.data._digits import load_digits_split
from fedsim.data._download import download_idx
from fedsim.data._mnist import find_idx_pairs, load_idx_split
from fedsim.data._names import DATASETS
from fedsim.errors import ConfigError


_PATH_ALLOWED = (
    "a directory holding MNIST IDX files (t10k-images-idx3-ubyte[.gz] and "
    "t10k-labels-idx1-ubyte[.gz], optionally train-*)"
)


def _default_cache(name: str) -> Path:
    return Path("~/.cache/fedsim").expanduser() / name


def load_dataset(
    name: str,
    path: str | None = None,
    download: bool = False,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> DataSplit:
    """Load ``name`` as a train/test split.

    For the IDX datasets, ``path`` is a directory of IDX files; with ``download=True`` and no
    usable files there (``path`` defaulting to ``~/.cache/fedsim/<name>``), the four official
    files are fetched first. ``test_fraction`` and ``seed`` drive the stratified split used when
    there is no official one (digits, or an IDX directory holding only one pair of files).
    """
    if name not in DATASETS:
        raise ConfigError("dataset.name", name, "one of " + ", ".join(DATASETS))
    is_number = isinstance(test_fraction, Real) and not isinstance(test_fraction, bool)
    if not is_number or not 0.0 < test_fraction < 1.0:
        raise ConfigError("dataset.test_fraction", test_fraction, "a number strictly between 0 and 1")
    if name == "digits":
        return load_digits_split(test_fraction, seed)

    directory = Path(path).expanduser() if path is not None else None
    pairs = find_idx_pairs(directory) if directory is not None and directory.is_dir() else {}
    if not pairs:
        if not download:
            raise ConfigError("dataset.path", path, _PATH_ALLOWED)
        directory = download_idx(name, directory if directory is not None else _default_cache(name))
        pairs = find_idx_pairs(directory)
    return load_idx_split(pairs, name, test_fraction, seed)
