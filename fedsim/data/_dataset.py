"""In-memory datasets: images as float32 (N, C, H, W) in [0, 1], labels as int64 (N,)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedsim.errors import DataError


# eq=False: a generated __eq__/__hash__ would compare or hash the arrays field by field, which
# numpy cannot do; identity equality is what callers need for a frozen value holding arrays.
@dataclass(frozen=True, eq=False)
class Dataset:
    """Images and labels of one split of one dataset."""

    x: np.ndarray
    y: np.ndarray
    num_classes: int
    name: str

    def __post_init__(self) -> None:
        # Check once here so models, partitioners and the engine can trust the layout.
        if self.x.dtype != np.float32 or self.x.ndim != 4:
            raise DataError(
                f"{self.name}: x must be float32 (N, C, H, W), got {self.x.dtype} {self.x.shape}"
            )
        if self.y.dtype != np.int64 or self.y.ndim != 1 or len(self.y) != len(self.x):
            raise DataError(
                f"{self.name}: y must be int64 (N,) matching x, got {self.y.dtype} {self.y.shape}"
            )
        if len(self.y) and (self.y.min() < 0 or self.y.max() >= self.num_classes):
            raise DataError(f"{self.name}: labels must lie in [0, {self.num_classes})")
        if self.x.size and (self.x.min() < 0.0 or self.x.max() > 1.0):
            raise DataError(f"{self.name}: pixel values must lie in [0, 1]")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one sample."""
        c, h, w = self.x.shape[1:]
        return int(c), int(h), int(w)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, indices: np.ndarray | list[int]) -> Dataset:
        """The samples at ``indices`` (copied), in that order."""
        idx = np.asarray(indices, dtype=np.intp)
        return Dataset(x=self.x[idx], y=self.y[idx], num_classes=self.num_classes, name=self.name)


@dataclass(frozen=True, eq=False)
class DataSplit:
    """The train and test parts of one dataset."""

    train: Dataset
    test: Dataset
