"""FedAvg over decoded updates (device selection is the control plane's: fedsim.control)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def weighted_average(updates: Sequence[Sequence[np.ndarray]], weights: Sequence[float]) -> list[np.ndarray]:
    """Σ_k w_k Δ_k / Σ_k w_k, tensor by tensor (FedAvg weighted by example counts)."""
    if not updates:
        raise ValueError("no updates to average")
    w = np.asarray(weights, dtype=np.float64)
    if np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be non-negative with a positive sum, got {w.tolist()}")
    w = w / w.sum()
    out = []
    for tensors in zip(*updates):
        acc = np.zeros(tensors[0].shape, dtype=np.float64)
        for weight, tensor in zip(w, tensors):
            acc += weight * tensor
        out.append(acc.astype(np.float32))
    return out
