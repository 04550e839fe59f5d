"""Finite-blocklength rates (Polyanskiy, Poor, Verdú 2010, the normal approximation).

Over n channel uses at SNR γ and block error probability ε, the largest rate is about
  R(γ) = C(γ) - sqrt(V(γ)/n)·Q⁻¹(ε)·log2(e)   bits per channel use,
C = log2(1 + γ), V = 1 - (1 + γ)⁻² (the channel dispersion in nats²). Clipped at 0 where the
approximation goes negative. R is increasing in γ, so the SNR that carries a given rate is found
by bisection on log γ (vectorised).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from fedsim.errors import ConfigError

_LOG2E = math.log2(math.e)
_SNR_RANGE = (1e-9, 1e12)  # the bisection's bracket on γ (linear)


def _check_error(epsilon: float) -> float:
    if not (isinstance(epsilon, (int, float)) and 0.0 < float(epsilon) < 1.0):
        raise ConfigError("decoding_error", epsilon, "a probability in (0, 1)")
    return float(epsilon)


def fbl_rate(snr: ArrayLike, channel_uses: ArrayLike, epsilon: float) -> np.ndarray:
    """Bits per channel use at linear SNR ``snr`` over ``channel_uses`` with error ``epsilon``."""
    g = np.asarray(snr, dtype=float)
    n = np.asarray(channel_uses, dtype=float)
    from scipy.special import ndtri  # scipy imported where used: it costs start-up to runs that never call this

    q_inv = float(ndtri(1.0 - _check_error(epsilon)))
    dispersion = 1.0 - 1.0 / (1.0 + g) ** 2
    return np.maximum(np.log2(1.0 + g) - np.sqrt(dispersion / n) * q_inv * _LOG2E, 0.0)


def fbl_snr_for_rate(rate: ArrayLike, channel_uses: ArrayLike, epsilon: float, iterations: int = 80) -> np.ndarray:
    """The linear SNR at which :func:`fbl_rate` equals ``rate`` (0 for a zero rate)."""
    r = np.asarray(rate, dtype=float)
    n = np.broadcast_to(np.asarray(channel_uses, dtype=float), r.shape)
    low = np.full(r.shape, math.log(_SNR_RANGE[0]))
    high = np.full(r.shape, math.log(_SNR_RANGE[1]))
    for _ in range(iterations):  # 80 halvings of ~48 nats: far below float resolution
        mid = 0.5 * (low + high)
        short = fbl_rate(np.exp(mid), n, epsilon) < r
        low = np.where(short, mid, low)
        high = np.where(short, high, mid)
    return np.where(r > 0, np.exp(high), 0.0)
