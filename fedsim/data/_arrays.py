"""Arrays a user brings (an npz file, Hugging Face columns) turned into fedsim's Dataset layout.

Shared by the npz and Hugging Face loaders, so both read the same inputs the same way:
uint8 pixels are scaled to [0, 1]; (N, H, W) images get a channel axis; channels-last images are
moved to (N, C, H, W) when asked; int32/int64 matrices are token ids; other floats are features.
"""

from __future__ import annotations

import numpy as np

from fedsim.data._dataset import Dataset
from fedsim.errors import DataError

_MAX_PIXEL = 255.0


def as_inputs(x: np.ndarray, source: str, *, channels_last: bool = False) -> np.ndarray:
    """``x`` as float32 (N, C, H, W) / (N, D) or int64 (N, L) token ids."""
    x = np.asarray(x)
    if x.ndim < 2:
        raise DataError(f"{source}: inputs must hold one row per example, got shape {x.shape}")
    if x.dtype.kind in "iu" and x.dtype != np.uint8:
        if x.ndim != 2:
            raise DataError(f"{source}: integer inputs are token ids of shape (N, L), got shape {x.shape}")
        return x.astype(np.int64)
    if x.dtype.kind not in "fu" and x.dtype != np.bool_:
        raise DataError(f"{source}: inputs must be numbers (uint8 pixels, floats or token ids), got dtype {x.dtype}")
    scaled = x.astype(np.float32) / np.float32(_MAX_PIXEL) if x.dtype == np.uint8 else x.astype(np.float32)
    if scaled.ndim == 3:  # (N, H, W): one channel
        scaled = scaled[:, None]
    elif scaled.ndim == 4 and channels_last:
        scaled = np.ascontiguousarray(scaled.transpose(0, 3, 1, 2))
    elif scaled.ndim > 4:
        raise DataError(f"{source}: inputs must be (N, D) features or (N, C, H, W) images, got shape {x.shape}")
    return scaled


def as_labels(y: np.ndarray, source: str, count: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != count:
        raise DataError(f"{source}: labels must be one integer per example ({count}), got shape {y.shape}")
    if y.dtype.kind not in "iu" and not (y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0)):
        raise DataError(f"{source}: labels must be integers, got dtype {y.dtype}")
    if len(y) and y.min() < 0:
        raise DataError(f"{source}: labels must be >= 0, got {y.min()}")
    return y.astype(np.int64)


def as_client_ids(ids: np.ndarray, source: str, count: int) -> np.ndarray:
    """Any per-example client names (ints or strings) as ids 0..U-1 in sorted order of the names."""
    ids = np.asarray(ids)
    if ids.ndim != 1 or len(ids) != count:
        raise DataError(f"{source}: client ids must be one per example ({count}), got shape {ids.shape}")
    return np.unique(ids, return_inverse=True)[1].astype(np.int64).reshape(-1)


def build_split_parts(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    client_train: np.ndarray | None,
    source: str,
    *,
    channels_last: bool = False,
) -> tuple[Dataset, Dataset]:
    """Train and test Datasets from raw arrays, with classes (and a vocabulary) counted over both."""
    xs = [as_inputs(x, f"{source} ({part})", channels_last=channels_last) for x, part in ((x_train, "train"), (x_test, "test"))]
    if xs[0].shape[1:] != xs[1].shape[1:] or xs[0].dtype != xs[1].dtype:
        raise DataError(f"{source}: train inputs {xs[0].dtype} {xs[0].shape[1:]} and test inputs {xs[1].dtype} {xs[1].shape[1:]} differ")
    ys = [as_labels(y, f"{source} ({part})", len(x)) for y, x, part in ((y_train, xs[0], "train"), (y_test, xs[1], "test"))]
    if not len(ys[0]) or not len(ys[1]):
        raise DataError(f"{source}: the train and test parts must each hold an example")
    num_classes = int(max(ys[0].max(), ys[1].max())) + 1
    if num_classes < 2:
        raise DataError(f"{source}: labels must name 2 classes at least, found {num_classes}")
    vocab = int(max(xs[0].max(), xs[1].max())) + 1 if xs[0].dtype == np.int64 else None
    if vocab is not None and min(xs[0].min(), xs[1].min()) < 0:
        raise DataError(f"{source}: token ids must be >= 0")
    clients = None if client_train is None else as_client_ids(client_train, f"{source} (client_train)", len(ys[0]))
    train = Dataset(x=xs[0], y=ys[0], num_classes=num_classes, name=name, vocab_size=vocab, client_ids=clients)
    test = Dataset(x=xs[1], y=ys[1], num_classes=num_classes, name=name, vocab_size=vocab)
    return train, test
