"""dB / dBm conversions. fedsim works in SI (W, linear ratios) internally; these run once, at the
config boundary."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def dbm_to_w(power_dbm: ArrayLike) -> np.ndarray | float:
    """Power in dBm -> watts (0 dBm = 1 mW)."""
    return 10.0 ** ((np.asarray(power_dbm, dtype=float) - 30.0) / 10.0)


def w_to_dbm(power_w: ArrayLike) -> np.ndarray | float:
    """Watts -> dBm. Zero watts maps to -inf dBm (numpy warns: that is the honest answer)."""
    return 10.0 * np.log10(np.asarray(power_w, dtype=float)) + 30.0


def db_to_linear(ratio_db: ArrayLike) -> np.ndarray | float:
    """A power ratio in dB -> linear (gains, noise figures, SNR)."""
    return 10.0 ** (np.asarray(ratio_db, dtype=float) / 10.0)
