"""In-memory datasets: what one split of a dataset holds, checked once.

Inputs are float32 images (N, C, H, W), float32 flat features (N, D), or int64 token ids (N, L)
below ``vocab_size``; labels are int64 (N,) below ``num_classes``. A dataset with a natural
partition (LEAF's writers or roles, an npz's ``client_train``) carries one client id per example.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedsim.errors import DataError


# eq=False: a generated __eq__/__hash__ would compare or hash the arrays field by field, which
# numpy cannot do; identity equality is what callers need for a frozen value holding arrays.
@dataclass(frozen=True, eq=False)
class Dataset:
    """Inputs and labels of one split of one dataset."""

    x: np.ndarray
    y: np.ndarray
    num_classes: int
    name: str
    vocab_size: int | None = None  # token inputs: ids lie in [0, vocab_size)
    client_ids: np.ndarray | None = None  # natural partition: int64 (N,), one client per example

    def __post_init__(self) -> None:
        # Check once here so models, partitioners and the engine can trust the layout.
        self._check_inputs()
        if self.y.dtype != np.int64 or self.y.ndim != 1 or len(self.y) != len(self.x):
            raise DataError(
                f"{self.name}: y must be int64 (N,) matching x, got {self.y.dtype} {self.y.shape}"
            )
        if len(self.y) and (self.y.min() < 0 or self.y.max() >= self.num_classes):
            raise DataError(f"{self.name}: labels must lie in [0, {self.num_classes})")
        ids = self.client_ids
        if ids is not None and (ids.dtype != np.int64 or ids.shape != self.y.shape or (len(ids) and ids.min() < 0)):
            raise DataError(f"{self.name}: client ids must be int64 >= 0, one per example, got {ids.dtype} {ids.shape}")

    def _check_inputs(self) -> None:
        x = self.x
        if self.vocab_size is not None:
            if x.dtype != np.int64 or x.ndim != 2:
                raise DataError(f"{self.name}: token inputs must be int64 (N, L), got {x.dtype} {x.shape}")
            if x.size and (x.min() < 0 or x.max() >= self.vocab_size):
                raise DataError(f"{self.name}: token ids must lie in [0, {self.vocab_size})")
            return
        if x.dtype != np.float32 or x.ndim not in (2, 4):
            raise DataError(
                f"{self.name}: x must be float32 (N, C, H, W) images or (N, D) features, got {x.dtype} {x.shape}"
            )
        if x.size and not np.isfinite(x).all():
            raise DataError(f"{self.name}: inputs must be finite (no NaN or inf)")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one example: (C, H, W), (D,) or (L,)."""
        return tuple(int(s) for s in self.x.shape[1:])

    @property
    def is_tokens(self) -> bool:
        return self.vocab_size is not None

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, indices: np.ndarray | list[int]) -> Dataset:
        """The samples at ``indices`` (copied), in that order."""
        idx = np.asarray(indices, dtype=np.intp)
        ids = None if self.client_ids is None else self.client_ids[idx]
        return Dataset(x=self.x[idx], y=self.y[idx], num_classes=self.num_classes, name=self.name,
                       vocab_size=self.vocab_size, client_ids=ids)


@dataclass(frozen=True, eq=False)
class DataSplit:
    """The train and test parts of one dataset."""

    train: Dataset
    test: Dataset
