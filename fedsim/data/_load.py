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
# The LEAF sets as Flower's datasets on the Hugging Face hub: (repo, input, label, client column).
_HUB_COPIES = {
    "femnist": ("flwrlabs/femnist", "image", "character", "writer_id"),
    "shakespeare": ("flwrlabs/shakespeare", "x", "y", "character_id"),
}


def _default_cache(name: str) -> Path:
    return Path("~/.cache/fedsim").expanduser() / name


def load_dataset(
    name: str,
    path: str | None = None,
    download: bool = False,
    test_fraction: float = 0.2,
    seed: int = 0,
    *,
    hf_name: str | None = None,
    image_key: str = "image",
    label_key: str = "label",
    client_key: str | None = None,
    train_split: str = "train",
    test_split: str = "test",
    channels_last: bool = False,
    max_clients: int | None = None,
) -> DataSplit:
    """Load ``name`` as a train/test split.

    For the IDX datasets, ``path`` is a directory of IDX files; with ``download=True`` and no
    usable files there (``path`` defaulting to ``~/.cache/fedsim/<name>``), the four official
    files are fetched first. ``test_fraction`` and ``seed`` drive the stratified split used when
    there is no official one (digits, an IDX directory holding only one pair of files, a Hugging
    Face dataset without a test split). The keyword options are those of ``dataset=hf``, ``npz``
    and the LEAF sets (see ``DatasetConfig``).
    """
    if name not in DATASETS:
        raise ConfigError("dataset.name", name, "one of " + ", ".join(DATASETS))
    is_number = isinstance(test_fraction, Real) and not isinstance(test_fraction, bool)
    if not is_number or not 0.0 < test_fraction < 1.0:
        raise ConfigError("dataset.test_fraction", test_fraction, "a number strictly between 0 and 1")
    if name == "digits":
        return load_digits_split(test_fraction, seed)
    if name == "npz":
        from fedsim.data._npz import load_npz_split

        return load_npz_split(path, channels_last=channels_last)
    if name == "hf":
        from fedsim.data._hf import load_hf_split

        return load_hf_split(hf_name, path, download=download, image_key=image_key, label_key=label_key,
                             client_key=client_key, train_split=train_split, test_split=test_split,
                             test_fraction=test_fraction, seed=seed)
    if name == "cifar10":
        from fedsim.data._cifar10 import load_cifar10_split

        return load_cifar10_split(Path(path).expanduser() if path is not None else None, download)
    if name in _HUB_COPIES:
        return _load_leaf(name, path, download, test_fraction, seed, max_clients)

    directory = Path(path).expanduser() if path is not None else None
    pairs = find_idx_pairs(directory) if directory is not None and directory.is_dir() else {}
    if not pairs:
        if not download:
            raise ConfigError("dataset.path", path, _PATH_ALLOWED)
        directory = download_idx(name, directory if directory is not None else _default_cache(name))
        pairs = find_idx_pairs(directory)
    return load_idx_split(pairs, name, test_fraction, seed)


def _load_leaf(name: str, path: str | None, download: bool, test_fraction: float, seed: int, max_clients: int | None) -> DataSplit:
    """A LEAF set from its JSON directory, or Flower's copy of it on the Hugging Face hub."""
    from fedsim.data import _leaf

    if path is not None:
        reader = _leaf.load_femnist_split if name == "femnist" else _leaf.load_shakespeare_split
        return reader(Path(path).expanduser(), max_clients=max_clients)
    import datasets

    repo, x_key, y_key, client_key = _HUB_COPIES[name]
    try:
        table = datasets.load_dataset(repo, split="train")
    except Exception as error:  # noqa: BLE001 - network, missing repo, auth: one line each
        from fedsim.errors import DataError

        raise DataError(f"{repo}: could not load from the Hugging Face hub ({type(error).__name__})") from None
    clients = list(table[client_key])
    kept = _leaf.client_order(clients, (), max_clients)
    if name == "femnist":
        dataset = _leaf.femnist_from_columns(table[x_key], table[y_key], clients, writers=kept)
    else:
        dataset = _leaf.shakespeare_from_columns(table[x_key], table[y_key], clients, roles=kept)
    # Flower's copies hold one split: each writer or role keeps LEAF's per-user train/test cut.
    return _leaf.split_by_client(dataset, test_fraction, seed)
