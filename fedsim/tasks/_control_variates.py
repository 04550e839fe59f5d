"""SCAFFOLD's client side (Karimireddy et al., ICML 2020): local steps corrected by control
variates, and the device's own variate after them (the paper's option II).

The device keeps c_i (its state across rounds); the server sends c. Each local gradient step
uses g - c_i + c. Afterwards the paper's option II sets c_i+ = c_i - c + (x - y_i) / (I·η), x the
received model, y_i the trained one, I the local steps and η the step size: for plain SGD that is
exactly the mean of the raw local gradients g over the I steps. fedsim's devices step SGD with
momentum, for which (x - y_i) / (I·η) overstates that mean by up to 1 / (1 - β) (with β = 0.9 the
variates blew up and training collapsed), so c_i+ is the mean raw gradient the classifier measures
(``LocalResult.mean_gradient``). The device uploads Δc_i = c_i+ - c_i.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def correction(c_global: Sequence[np.ndarray], c_local: Sequence[np.ndarray]) -> list[np.ndarray]:
    """c - c_i, added to every local gradient."""
    return [np.asarray(c, dtype=np.float32) - np.asarray(ci, dtype=np.float32) for c, ci in zip(c_global, c_local, strict=True)]
