"""HARQ with chase combining: how many transmissions a batch of transport blocks takes.

Chase combining (Chase, IEEE T-Comm 1985) resends the same coded bits; the receiver adds the
copies' soft symbols (maximum-ratio combining), so after k copies each resource element's SINR
is the sum of the copies' SINRs: k·γ when the channel holds over the retransmissions. Each
attempt k is decoded on that combined SINR and fails with p_k = BLER(k·γ), independently of the
earlier attempts' draws (as ns-3's LTE PHY abstraction draws each retransmission against the
error rate of the combined signal); a block still lost after ``max_tx`` attempts is dropped
(HARQ exhausted).

With n blocks, N_1 = n attempts are made, N_{k+1} ~ Binomial(N_k, p_k) blocks need another, and
the total is Σ_{k<=max_tx} N_k; N_{max_tx+1} blocks are lost. The draws come from the Generator
the caller passes (the World passes its named stream), max_tx binomial draws per device.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def chase_combined_sinr(sinr_linear: ArrayLike, copies: int) -> np.ndarray:
    """SINR per resource element after ``copies`` chase-combined copies on an unchanged channel."""
    return copies * np.asarray(sinr_linear, dtype=float)


def expected_transmissions(attempt_error: ArrayLike) -> np.ndarray:
    """Mean attempts per block, Σ_k Π_{j<k} p_j, from (..., max_tx) per-attempt failures p_k."""
    p = np.asarray(attempt_error, dtype=float)
    reach = np.cumprod(np.concatenate([np.ones(p.shape[:-1] + (1,)), p[..., :-1]], axis=-1), axis=-1)
    return reach.sum(axis=-1)


def residual_error(attempt_error: ArrayLike) -> np.ndarray:
    """Probability that a block fails all of its attempts, Π_k p_k."""
    return np.prod(np.asarray(attempt_error, dtype=float), axis=-1)


def draw_transmissions(
    rng: np.random.Generator, blocks: ArrayLike, attempt_error: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """(transmissions, lost blocks) per device for ``blocks`` (K,) transport blocks each, whose
    attempt k fails with ``attempt_error[:, k-1]`` (K, max_tx)."""
    p = np.clip(np.asarray(attempt_error, dtype=float), 0.0, 1.0)
    pending = np.asarray(blocks, dtype=np.int64).copy()
    total = np.zeros_like(pending)
    for k in range(p.shape[-1]):
        total += pending
        pending = rng.binomial(pending, p[..., k])
    return total, pending
