"""Antenna gains and pointing error.

Patterns (3GPP TR 38.901 V17.0.0, Table 7.3-1, one element), angles in degrees:
  vertical   A_V(θ) = -min(12·((θ - 90)/θ_3dB)², SLA_V),   θ the zenith angle (90° = horizon)
  horizontal A_H(φ) = -min(12·(φ/φ_3dB)², A_max)
  combined   A(θ, φ) = -min(-(A_V + A_H), A_max),  G = G_E,max + A
with θ_3dB = φ_3dB = 65° (full half-power beamwidth: 12·(θ/θ_3dB)² = 3 dB at θ_3dB/2),
SLA_V = A_max = 30 dB and G_E,max = 8 dBi. The one-plane form G(δ) = G_max - min(12·(δ/θ_3dB)², A_max)
of an off-boresight angle δ is :func:`parabolic_gain_db` (the UAV swarm uses θ_3dB = 30°).

Pointing error. The simulator draws a Gaussian deviation δ ~ N(0, σ²) per plane
(:func:`draw_pointing_error_deg`) and evaluates the pattern. The optimizer uses the mean linear gain
in closed form (:func:`mean_pointing_gain`). Derivation: in linear units and without the floor the
pattern is a Gaussian beam, G(δ) = G_max·10^(-1.2·δ²/θ_3dB²) = G_max·exp(-c·δ²), c = a/θ_3dB²,
a = 1.2·ln 10. For δ ~ N(0, σ²),
  E[exp(-c·δ²)] = ∫ exp(-c·δ²)·exp(-δ²/(2σ²)) dδ / (σ·sqrt(2π)) = 1/sqrt(1 + 2cσ²),
so E[G] = G_max/sqrt(1 + 2aσ²/θ_3dB²) for one plane. With independent errors in both planes of the
TR 38.901 element, the exponents add, 12·(δ_V² + δ_H²)/θ_3dB², and E[G] = G_max/(1 + 2aσ²/θ_3dB²).
With the floor (A_max) the gain is G_max·exp(-c·δ²) inside |δ| < δ_c = θ_3dB·sqrt(A_max/12) and
G_max·10^(-A_max/10) outside. Let s = sqrt(1 + 2cσ²). One plane:
  E[G]/G_max = erf(δ_c·s/(σ·sqrt 2))/s + 10^(-A_max/10)·erfc(δ_c/(σ·sqrt 2)).
Two planes (r² = δ_V² + δ_H² ~ Exp(mean 2σ²); exact for TR 38.901 because SLA_V = A_max, so any
per-plane cap already puts the sum past the overall cap):
  E[G]/G_max = (1 - exp(-δ_c²·s²/(2σ²)))/s² + 10^(-A_max/10)·exp(-δ_c²/(2σ²)).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from fedsim._checks import check_float, check_int
from fedsim.errors import ConfigError

# 38.901 Table 7.3-1 element defaults.
BEAMWIDTH_38901_DEG = 65.0
MAX_ATTENUATION_38901_DB = 30.0
ELEMENT_GAIN_38901_DBI = 8.0
ANTENNAS = ("isotropic", "parabolic")  # the values of radio.antenna
_PARABOLIC_COEF = 12.0  # dB at δ = θ_3dB
_A = 1.2 * math.log(10.0)  # 12 dB/10 in nepers-of-power: 10^(-1.2·x²) = exp(-a·x²)


def isotropic_gain_db(angle_deg: ArrayLike) -> np.ndarray:
    """Isotropic antenna: 0 dBi in every direction (same shape as ``angle_deg``)."""
    return np.zeros(np.shape(angle_deg))


def _check_pattern(beamwidth_deg: float, max_attenuation_db: float | None) -> tuple[float, float | None]:
    beam = check_float("antenna.beamwidth_deg", beamwidth_deg, low=0, low_open=True, high=360)
    cap = None
    if max_attenuation_db is not None:
        cap = check_float("antenna.max_attenuation_db", max_attenuation_db, low=0, low_open=True)
    return beam, cap


def parabolic_gain_db(
    offset_deg: ArrayLike,
    beamwidth_deg: float = BEAMWIDTH_38901_DEG,
    max_gain_dbi: float = ELEMENT_GAIN_38901_DBI,
    max_attenuation_db: float | None = MAX_ATTENUATION_38901_DB,
) -> np.ndarray:
    """One-plane TR 38.901 pattern G(δ) = G_max - min(12·(δ/θ_3dB)², A_max), δ off boresight.

    ``max_attenuation_db=None`` drops the floor (a pure Gaussian beam in linear units).
    """
    beam, cap = _check_pattern(beamwidth_deg, max_attenuation_db)
    g_max = check_float("antenna.max_gain_dbi", max_gain_dbi)
    loss = _PARABOLIC_COEF * (np.asarray(offset_deg, dtype=float) / beam) ** 2
    if cap is not None:
        loss = np.minimum(loss, cap)
    return g_max - loss


def element_gain_38901_db(
    zenith_deg: ArrayLike,
    azimuth_deg: ArrayLike,
    *,
    beamwidth_deg: float = BEAMWIDTH_38901_DEG,
    side_lobe_db: float = MAX_ATTENUATION_38901_DB,
    max_attenuation_db: float = MAX_ATTENUATION_38901_DB,
    max_gain_dbi: float = ELEMENT_GAIN_38901_DBI,
) -> np.ndarray:
    """TR 38.901 Table 7.3-1 element: G_E,max - min(min(12((θ-90)/θ_3dB)², SLA_V) +
    min(12(φ/φ_3dB)², A_max), A_max), zenith θ and azimuth φ in degrees (boresight θ=90°, φ=0°).
    Azimuth is wrapped to [-180°, 180°)."""
    beam, cap = _check_pattern(beamwidth_deg, max_attenuation_db)
    sla = check_float("antenna.side_lobe_db", side_lobe_db, low=0, low_open=True)
    g_max = check_float("antenna.max_gain_dbi", max_gain_dbi)
    theta = np.asarray(zenith_deg, dtype=float)
    phi = (np.asarray(azimuth_deg, dtype=float) + 180.0) % 360.0 - 180.0
    att_v = np.minimum(_PARABOLIC_COEF * ((theta - 90.0) / beam) ** 2, sla)
    att_h = np.minimum(_PARABOLIC_COEF * (phi / beam) ** 2, cap)
    return g_max - np.minimum(att_v + att_h, cap)


def draw_pointing_error_deg(
    rng: np.random.Generator, sigma_deg: float, size: int | tuple[int, ...], planes: int = 1
) -> np.ndarray:
    """Gaussian pointing deviations δ ~ N(0, σ²) in degrees; shape ``size`` for one plane,
    ``size + (2,)`` (vertical, horizontal) for two."""
    sigma = check_float("antenna.pointing_sigma_deg", sigma_deg, low=0)
    planes = check_int("antenna.planes", planes, 1, 2)
    shape = (size,) if isinstance(size, (int, np.integer)) else tuple(size)
    if planes == 2:
        shape = shape + (2,)
    return sigma * rng.standard_normal(shape)


def pointing_gain_db(
    error_deg: ArrayLike,
    beamwidth_deg: float = BEAMWIDTH_38901_DEG,
    max_gain_dbi: float = ELEMENT_GAIN_38901_DBI,
    max_attenuation_db: float | None = MAX_ATTENUATION_38901_DB,
    planes: int = 1,
) -> np.ndarray:
    """Gain (dBi) at drawn pointing errors: one plane → :func:`parabolic_gain_db`; two planes
    (last axis = vertical, horizontal) → the combined pattern 12·(δ_V² + δ_H²)/θ_3dB², capped."""
    planes = check_int("antenna.planes", planes, 1, 2)
    err = np.asarray(error_deg, dtype=float)
    if planes == 1:
        return parabolic_gain_db(err, beamwidth_deg, max_gain_dbi, max_attenuation_db)
    if err.shape[-1:] != (2,):
        raise ConfigError("antenna.planes", planes, "errors with a last axis of 2 (vertical, horizontal)")
    offset = np.sqrt(np.sum(err * err, axis=-1))  # 12(δv² + δh²)/θ² = 12(r/θ)²
    return parabolic_gain_db(offset, beamwidth_deg, max_gain_dbi, max_attenuation_db)


def mean_pointing_gain(
    sigma_deg: ArrayLike,
    beamwidth_deg: float = BEAMWIDTH_38901_DEG,
    max_gain_dbi: float = ELEMENT_GAIN_38901_DBI,
    max_attenuation_db: float | None = None,
    planes: int = 1,
) -> np.ndarray:
    """Closed-form E[G] (LINEAR, not dB) under Gaussian pointing error σ per plane.

    Without a floor (default): G_max/sqrt(1 + 2aσ²/θ_3dB²) (one plane) or G_max/(1 + 2aσ²/θ_3dB²)
    (two planes), a = 1.2·ln 10. With ``max_attenuation_db`` the exact floored forms of the module
    docstring. Vectorized over σ; σ = 0 gives G_max.
    """
    beam, cap = _check_pattern(beamwidth_deg, max_attenuation_db)
    g_max = 10.0 ** (check_float("antenna.max_gain_dbi", max_gain_dbi) / 10.0)
    planes = check_int("antenna.planes", planes, 1, 2)
    sigma = np.asarray(sigma_deg, dtype=float)
    if not np.all(np.isfinite(sigma)) or np.any(sigma < 0):
        raise ConfigError("antenna.pointing_sigma_deg", sigma_deg, "finite numbers >= 0")
    c = _A / beam**2
    s2 = 1.0 + 2.0 * c * sigma**2
    if cap is None:
        return g_max * (s2 ** (-0.5) if planes == 1 else 1.0 / s2)
    floor = 10.0 ** (-cap / 10.0)
    delta_c = beam * math.sqrt(cap / _PARABOLIC_COEF)
    from scipy.special import erf, erfc  # scipy imported where used: it costs start-up to runs that never call this

    with np.errstate(divide="ignore", invalid="ignore"):
        if planes == 1:
            z = delta_c / (np.sqrt(2.0) * sigma)
            ratio = erf(z * np.sqrt(s2)) / np.sqrt(s2) + floor * erfc(z)
        else:
            u = delta_c**2 / (2.0 * sigma**2)
            ratio = -np.expm1(-u * s2) / s2 + floor * np.exp(-u)
    return g_max * np.where(sigma == 0.0, 1.0, ratio)
