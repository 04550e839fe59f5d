"""Where devices stand: random drops in an area and their distances to the base station."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def place_uniform_square(num_devices: int, side_m: float, rng: np.random.Generator) -> np.ndarray:
    """(num_devices, 2) positions in metres, i.i.d. uniform over the square [0, side_m]^2."""
    return rng.uniform(0.0, float(side_m), size=(int(num_devices), 2))


def distances_to_bs(
    positions_m: ArrayLike, bs_position_m: tuple[float, float] = (0.0, 0.0)
) -> np.ndarray:
    """Euclidean distance (m) of each position to a base station at (x, y).

    The default (0, 0) is the square's corner, where the Green-QFL release puts its base station.
    """
    offsets = np.asarray(positions_m, dtype=float) - np.asarray(bs_position_m, dtype=float)
    return np.hypot(offsets[..., 0], offsets[..., 1])
