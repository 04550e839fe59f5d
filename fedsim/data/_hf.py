"""``dataset=hf``: a Hugging Face dataset through ``datasets``.

From the hub (``dataset.hf_name``, downloaded and cached by ``datasets``, which verifies what it
fetches) or from a ``save_to_disk`` directory (``dataset.path``). The input column
(``dataset.image_key``: images, fixed-length feature lists or token-id lists) and the label column
(``dataset.label_key``) become a fedsim Dataset; ``dataset.client_key`` names each example's
client for ``partition.kind=natural_id``. Without a test split the train split is cut by
``dataset.test_fraction``, stratified and seeded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fedsim.data._arrays import build_split_parts
from fedsim.data._dataset import DataSplit
from fedsim.data._split import split_dataset
from fedsim.errors import ConfigError, DataError


def _open(hf_name: str | None, path: str | None, download: bool) -> Any:
    import datasets

    if path is not None:
        directory = Path(path).expanduser()
        if not directory.is_dir():
            raise ConfigError("dataset.path", path, "a directory written by datasets' save_to_disk (no such directory)")
        try:
            return datasets.load_from_disk(str(directory))
        except (FileNotFoundError, ValueError, OSError) as error:
            raise DataError(f"{directory}: not a datasets save_to_disk directory ({str(error).splitlines()[0]})") from None
    if not download:
        raise ConfigError("dataset.download", False, f"true to fetch {hf_name} from the Hugging Face hub (or give dataset.path)")
    try:
        return datasets.load_dataset(hf_name)
    except Exception as error:  # noqa: BLE001 - the hub's failures are many (network, missing repo, auth); one line each
        raise DataError(f"{hf_name}: could not load from the Hugging Face hub ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})") from None


def _split(table: Any, name: str) -> Any:
    """The split ``name`` of a DatasetDict (None if it has none); a single Dataset is "train"."""
    import datasets

    if isinstance(table, datasets.DatasetDict):
        return table[name] if name in table else None
    return table if name == "train" else None


def _column(table: Any, key: str, what: str, source: str) -> np.ndarray:
    if key not in table.column_names:
        raise ConfigError(what, key, f"a column of {source} (it has {', '.join(table.column_names)})")
    try:
        array = np.asarray(table.with_format("numpy")[key])
    except (ValueError, TypeError) as error:
        raise DataError(f"{source}: column {key!r} does not stack into one array ({str(error).splitlines()[0]})") from None
    if array.dtype == object:
        try:
            array = np.stack([np.asarray(v) for v in array])
        except ValueError:
            raise DataError(f"{source}: column {key!r} holds examples of different shapes") from None
    return array


def _label_codes(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """String labels as integer codes in sorted order; integer labels unchanged."""
    if train.dtype.kind in "iu" and test.dtype.kind in "iu":
        return train, test
    classes = np.unique(np.concatenate([train, test]))
    return np.searchsorted(classes, train), np.searchsorted(classes, test)


def load_hf_split(
    hf_name: str | None,
    path: str | None,
    *,
    download: bool,
    image_key: str,
    label_key: str,
    client_key: str | None,
    train_split: str,
    test_split: str,
    test_fraction: float,
    seed: int,
) -> DataSplit:
    source = hf_name or str(path)
    table = _open(hf_name, path, download)
    train_table = _split(table, train_split)
    if train_table is None:
        raise ConfigError("dataset.train_split", train_split, f"a split of {source}")
    test_table = _split(table, test_split)
    is_image = type(train_table.features.get(image_key)).__name__ == "Image"
    x_train = _column(train_table, image_key, "dataset.image_key", source)
    y_train = _column(train_table, label_key, "dataset.label_key", source)
    clients = None if client_key is None else _column(train_table, client_key, "dataset.client_key", source)
    # PIL images come out (H, W, C) when they have channels.
    channels_last = is_image and x_train.ndim == 4
    if test_table is None:  # cut a stratified test part from the train split
        y_train, _ = _label_codes(y_train, y_train)
        train, _ = build_split_parts("hf", x_train, y_train, x_train[:1], y_train[:1], clients, source, channels_last=channels_last)
        return split_dataset(train, test_fraction, seed)
    x_test = _column(test_table, image_key, "dataset.image_key", source)
    y_test = _column(test_table, label_key, "dataset.label_key", source)
    y_train, y_test = _label_codes(y_train, y_test)
    train, test = build_split_parts("hf", x_train, y_train, x_test, y_test, clients, source, channels_last=channels_last)
    return DataSplit(train=train, test=test)
