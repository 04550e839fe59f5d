"""Uplink radio physics: large-scale path gain, Rayleigh fading, Shannon rate, airtime and energy.

Plain vectorised functions over devices; all quantities SI (m, W, Hz, W/Hz, bit/s, s, J).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

# Below one metre the power-law model is meaningless (the far-field assumption fails) and at 0 m it
# gives infinite gain; clipping keeps a device placed on top of the base station finite.
_MIN_DISTANCE_M = 1.0


def path_gain(distance_m: ArrayLike, exponent: float) -> np.ndarray:
    """Large-scale power gain distance^-exponent (Green-QFL's model: no reference constant)."""
    distance = np.maximum(np.asarray(distance_m, dtype=float), _MIN_DISTANCE_M)
    return distance ** (-float(exponent))


def rayleigh_power(rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
    """Small-scale power gain |h|^2 of Rayleigh fading: Exp(1), unit mean."""
    return rng.exponential(1.0, size=size)


def shannon_rate_bps(
    bandwidth_hz: ArrayLike,
    tx_power_w: ArrayLike,
    channel_gain: ArrayLike,
    noise_psd_w_hz: ArrayLike,
) -> np.ndarray:
    """Achievable rate B·log2(1 + P·h / (B·N0)) in bit/s (interference-free, Gaussian noise)."""
    bandwidth = np.asarray(bandwidth_hz, dtype=float)
    snr = np.asarray(tx_power_w, dtype=float) * np.asarray(channel_gain, dtype=float) / (
        bandwidth * np.asarray(noise_psd_w_hz, dtype=float)
    )
    # log1p keeps precision when the SNR is tiny (deep fades), where log2(1 + x) would round to 0.
    return bandwidth * np.log1p(snr) / np.log(2.0)


def uplink_time_energy(
    bits: ArrayLike, rate_bps: ArrayLike, tx_power_w: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Airtime bits/rate (s) and transmit energy P·bits/rate (J) of one upload.

    Only the radiated power is counted (no circuit power), as in the Green-QFL energy model.
    An empty payload costs nothing even on a dead channel.
    """
    bits = np.asarray(bits, dtype=float)
    rate = np.asarray(rate_bps, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        seconds = np.where(bits == 0.0, 0.0, bits / rate)
    joules = np.asarray(tx_power_w, dtype=float) * seconds
    return seconds, joules
