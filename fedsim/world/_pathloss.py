"""Large-scale path loss in dB and log-normal shadowing.

Every model takes distances in metres and carrier frequencies in Hz (3GPP formulas written with
f_c in GHz convert internally) and returns a loss in dB (positive = attenuation) with the broadcast
shape of its inputs. The linear power gain is ``10**(-PL/10)``. Sources and versions:

- free space: Friis.
- macro: 3GPP TR 36.814 (Annex A, macro cell, 2 GHz), as used by Yang et al. (IEEE TWC 2021).
- UMa / UMi street canyon: 3GPP TR 38.901 V17.0.0, Table 7.4.1-1 (path loss) and Table 7.4.2-1
  (LoS probability); these formulas are unchanged since V14.
- aerial UEs: 3GPP TR 36.777 V15.0.0, Annex B (UMa-AV, UMi-AV), 22.5 m < h_UT <= 300 m; at or
  below 22.5 m the TR says the terrestrial TR 38.901 models apply, and these functions fall back.
- air-to-ground: Al-Hourani, Kandeepan, Lardner, IEEE WCL 2014.
- air-to-air: free space with an exponent of 2.0-2.05.
- exponent: Green-QFL's d^-alpha gain with no reference loss, PL = 10·alpha·log10(max(d, 1 m));
  :func:`path_gain` gives it in linear form (bit for bit what the Green-QFL reproduction uses).

LoS state: the 3GPP and air-to-ground models take ``los`` as a boolean array (the simulator draws it
with :func:`draw_los` from the model's LoS probability) or ``None`` for the LoS-probability-weighted
mean in dB, p·PL_LoS + (1 - p)·PL_NLoS (Al-Hourani's mean path loss; an approximation for the
3GPP models, meant for optimizers, not for the simulator).

The Channel reaches the models through one registry, ``_REGISTRY``: a config name (``radio.path_loss``,
one of PATH_LOSS_MODELS) maps to an adapter ``(links, stream) -> linear gain`` that reads the radio
from :class:`PathLossLinks` and draws its own random state (LoS, UMa h_E) from the named streams of
the round. Adding a model is one adapter plus one registry line. A user's own model needs neither:
``radio.path_loss=custom radio.path_loss_target=MODULE:FUNCTION`` (``fedsim.world._user_pathloss``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from fedsim._checks import check_choice, check_float
from fedsim.errors import ConfigError

SPEED_OF_LIGHT_M_S = 299_792_458.0
# Below one metre the far-field formulas are meaningless and at 0 m give an infinite gain; distances
# are clipped there so a device on top of the base station stays finite.
_MIN_DISTANCE_M = 1.0
# 20·log10(4π/c) ≈ -147.55 dB: the free-space constant for d in m and f in Hz.
_FSPL_CONSTANT_DB = 20.0 * math.log10(4.0 * math.pi / SPEED_OF_LIGHT_M_S)
# TR 38.901 effective environment height h_E for the breakpoint distance: UMi always 1 m; UMa 1 m
# with probability 1/(1 + C(d2D, h_UT)), else drawn (draw_uma_effective_env_height_m). C = 0 below
# 13 m UE height, where h_E = 1 m always.
_H_ENV_M = 1.0
_UMA_H_ENV_UT_RANGE_M = (13.0, 23.0)  # where TR 38.901 defines C(d2D, h_UT) > 0
_AV_MIN_HEIGHT_M = 22.5  # TR 36.777: aerial models apply for 22.5 m < h_UT <= 300 m

# Al-Hourani (2014) environment parameters (a, b, eta_LoS dB, eta_NLoS dB).
AIR_TO_GROUND_ENVIRONMENTS: dict[str, tuple[float, float, float, float]] = {
    "suburban": (4.88, 0.43, 0.1, 21.0),
    "urban": (9.61, 0.16, 1.0, 20.0),
    "dense_urban": (12.08, 0.11, 1.6, 23.0),
    "high_rise": (27.23, 0.08, 2.3, 34.0),
}


def _arr(values: ArrayLike) -> np.ndarray:
    return np.asarray(values, dtype=float)


def _check_positive(key: str, values: ArrayLike, low: float = 0.0) -> np.ndarray:
    """Array version of check_float(low, low_open=True): finite values strictly above ``low``."""
    arr = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr <= low):
        shown = values if arr.size <= 8 else f"array of {arr.size} values"
        raise ConfigError(key, shown, f"finite numbers > {low:g}")
    return arr


def _freq_ghz(freq_hz: ArrayLike) -> np.ndarray:
    return _check_positive("radio.carrier_hz", freq_hz) / 1e9


def _select_los(los: ArrayLike | None, p_los: np.ndarray, pl_los: np.ndarray, pl_nlos: np.ndarray):
    if los is None:
        return p_los * pl_los + (1.0 - p_los) * pl_nlos
    return np.where(np.asarray(los, dtype=bool), pl_los, pl_nlos)


# --- generic models -------------------------------------------------------------------------


def free_space_db(distance_m: ArrayLike, freq_hz: ArrayLike) -> np.ndarray:
    """Friis free-space loss: PL = 20·log10(d) + 20·log10(f) + 20·log10(4π/c) (≈ -147.55 dB)."""
    distance = np.maximum(_arr(distance_m), _MIN_DISTANCE_M)
    freq = _check_positive("radio.carrier_hz", freq_hz)
    return 20.0 * np.log10(distance) + 20.0 * np.log10(freq) + _FSPL_CONSTANT_DB


def log_distance_db(
    distance_m: ArrayLike,
    exponent: float,
    *,
    reference_distance_m: float = 1.0,
    reference_loss_db: float | None = None,
    freq_hz: float | None = None,
) -> np.ndarray:
    """Log-distance: PL = PL(d0) + 10·n·log10(d/d0), for d >= d0 (closer devices get PL(d0)).

    PL(d0) is ``reference_loss_db`` if given, else free space at d0 (then ``freq_hz`` is needed).
    """
    n = check_float("radio.path_loss_exponent", exponent, low=0, low_open=True)
    d0 = check_float("radio.reference_distance_m", reference_distance_m, low=0, low_open=True)
    if reference_loss_db is None:
        if freq_hz is None:
            raise ConfigError("radio.carrier_hz", None, "a frequency when reference_loss_db is unset")
        pl0 = free_space_db(d0, freq_hz)
    else:
        pl0 = check_float("radio.reference_loss_db", reference_loss_db)
    distance = np.maximum(_arr(distance_m), d0)
    return pl0 + 10.0 * n * np.log10(distance / d0)


def path_gain(distance_m: ArrayLike, exponent: float) -> np.ndarray:
    """Green-QFL's large-scale power gain max(d, 1 m)^-exponent: no reference constant, i.e. the
    path loss PL = 10·exponent·log10(max(d, 1 m)) dB (the ``exponent`` model), in linear form."""
    distance = np.maximum(np.asarray(distance_m, dtype=float), _MIN_DISTANCE_M)
    return distance ** (-float(exponent))


def macro_36814_db(distance_m: ArrayLike) -> np.ndarray:
    """TR 36.814 macro cell (2 GHz): PL = 128.1 + 37.6·log10(d[km]). Shadowing σ = 8 dB."""
    distance_km = np.maximum(_arr(distance_m), _MIN_DISTANCE_M) / 1e3
    return 128.1 + 37.6 * np.log10(distance_km)


def air_to_air_db(distance_m: ArrayLike, freq_hz: ArrayLike, exponent: float = 2.0) -> np.ndarray:
    """UAV-to-UAV: free space at 1 m plus 10·n·log10(d), n in [2.0, 2.05] (n = 2 is Friis).

    Pair it with Rician fading (strong LoS). For other exponents use :func:`log_distance_db`.
    """
    n = check_float("radio.path_loss_exponent", exponent, low=2.0, high=2.05)
    distance = np.maximum(_arr(distance_m), _MIN_DISTANCE_M)
    return free_space_db(1.0, freq_hz) + 10.0 * n * np.log10(distance)


# --- 3GPP TR 38.901 UMa / UMi street canyon -------------------------------------------------


def breakpoint_distance_m(
    freq_hz: ArrayLike, h_bs_m: ArrayLike, h_ut_m: ArrayLike, h_env_m: ArrayLike = _H_ENV_M
) -> np.ndarray:
    """TR 38.901 note 1 of Table 7.4.1-1: d'_BP = 4·h'_BS·h'_UT·f_c/c, h' = h - h_E (f_c in Hz)."""
    freq = _check_positive("radio.carrier_hz", freq_hz)
    h_env = _arr(h_env_m)
    return 4.0 * (_arr(h_bs_m) - h_env) * (_arr(h_ut_m) - h_env) * freq / SPEED_OF_LIGHT_M_S


def _geometry(d2d_m: ArrayLike, h_bs_m: ArrayLike, h_ut_m: ArrayLike, key_prefix: str):
    d2d = np.maximum(_arr(d2d_m), 0.0)
    h_bs = _check_positive(f"{key_prefix}.h_bs_m", h_bs_m, _H_ENV_M)
    h_ut = _check_positive(f"{key_prefix}.h_ut_m", h_ut_m, _H_ENV_M)
    d3d = np.maximum(np.hypot(d2d, h_bs - h_ut), _MIN_DISTANCE_M)
    return d2d, d3d, h_bs, h_ut


def _check_env_height(h_env_m: ArrayLike, h_bs: np.ndarray, h_ut: np.ndarray) -> np.ndarray:
    """h_E >= 1 m and below both antennas (h' = h - h_E > 0 in the breakpoint distance)."""
    h_env = _arr(h_env_m)
    if not np.all(np.isfinite(h_env)) or np.any(h_env < _H_ENV_M) or np.any(h_env >= np.minimum(h_bs, h_ut)):
        shown = h_env_m if h_env.size <= 8 else f"array of {h_env.size} values"
        raise ConfigError("radio.h_env_m", shown, "heights >= 1 m below both h_bs_m and h_ut_m")
    return h_env


def _los_two_slope(d2d, d3d, h_bs, h_ut, freq_hz, intercept, slope1, bp_coef, h_env=_H_ENV_M):
    """PL1 = A + 10·n1·log10(d3D) + 20·log10(fc) up to d'_BP; beyond, the 40·log10(d3D) slope."""
    fc = _freq_ghz(freq_hz)
    d_bp = breakpoint_distance_m(freq_hz, h_bs, h_ut, h_env)
    pl1 = intercept + slope1 * np.log10(d3d) + 20.0 * np.log10(fc)
    pl2 = (
        intercept
        + 40.0 * np.log10(d3d)
        + 20.0 * np.log10(fc)
        - bp_coef * np.log10(d_bp**2 + (h_bs - h_ut) ** 2)
    )
    return np.where(d2d <= d_bp, pl1, pl2)


def _uma_los_db(d2d, d3d, h_bs, h_ut, freq_hz, h_env=_H_ENV_M):
    return _los_two_slope(d2d, d3d, h_bs, h_ut, freq_hz, 28.0, 22.0, 9.0, h_env)


def _uma_nlos_db(d2d, d3d, h_bs, h_ut, freq_hz, h_env=_H_ENV_M):
    fc = _freq_ghz(freq_hz)
    nlos = 13.54 + 39.08 * np.log10(d3d) + 20.0 * np.log10(fc) - 0.6 * (h_ut - 1.5)
    return np.maximum(_uma_los_db(d2d, d3d, h_bs, h_ut, freq_hz, h_env), nlos)


def _umi_los_db(d2d, d3d, h_bs, h_ut, freq_hz):
    return _los_two_slope(d2d, d3d, h_bs, h_ut, freq_hz, 32.4, 21.0, 9.5)


def _umi_nlos_db(d2d, d3d, h_bs, h_ut, freq_hz):
    fc = _freq_ghz(freq_hz)
    nlos = 35.3 * np.log10(d3d) + 22.4 + 21.3 * np.log10(fc) - 0.3 * (h_ut - 1.5)
    return np.maximum(_umi_los_db(d2d, d3d, h_bs, h_ut, freq_hz), nlos)


def uma_los_probability(d2d_m: ArrayLike, h_ut_m: ArrayLike = 1.5) -> np.ndarray:
    """TR 38.901 Table 7.4.2-1, UMa: 1 for d2D <= 18 m, else
    [18/d + exp(-d/63)·(1 - 18/d)]·(1 + C'(h_UT)·(5/4)·(d/100)^3·exp(-d/150)),
    C'(h) = 0 for h <= 13 m, ((h - 13)/10)^1.5 for 13 m < h <= 23 m.
    """
    d = np.maximum(_arr(d2d_m), 1e-9)
    base = 18.0 / d + np.exp(-d / 63.0) * (1.0 - 18.0 / d)
    p = base * (1.0 + _uma_height_factor(d, h_ut_m))
    return np.where(d <= 18.0, 1.0, np.minimum(p, 1.0))


def _uma_height_factor(d2d_m: ArrayLike, h_ut_m: ArrayLike) -> np.ndarray:
    """TR 38.901 UMa C(d2D, h_UT) = C'(h_UT)·g(d2D): C'(h) = 0 for h <= 13 m, ((h - 13)/10)^1.5
    above (the TR defines it up to 23 m); g(d) = 0 for d <= 18 m, (5/4)·(d/100)^3·exp(-d/150)
    beyond. It raises the LoS probability and sets the odds 1 : C of h_E = 1 m."""
    d = _arr(d2d_m)
    h_ut = _arr(h_ut_m)
    c_prime = np.where(h_ut <= 13.0, 0.0, (np.maximum(h_ut - 13.0, 0.0) / 10.0) ** 1.5)
    return np.where(d <= 18.0, 0.0, c_prime * 1.25 * (d / 100.0) ** 3 * np.exp(-d / 150.0))


def draw_uma_effective_env_height_m(
    rng: np.random.Generator, d2d_m: ArrayLike, h_ut_m: ArrayLike
) -> np.ndarray:
    """TR 38.901 Table 7.4.1-1 note 1, UMa effective environment height h_E per link: 1 m with
    probability 1/(1 + C(d2D, h_UT)), otherwise uniform over {12, 15, ..., h_UT - 1.5} m (1 m if
    that set is empty, h_UT < 13.5 m). Below 13 m UE height C = 0 and h_E is always 1 m.

    Draws two uniforms per link (the 1 m test, then the pick), shape broadcast(d2d_m, h_ut_m).
    """
    d2d, h_ut = np.broadcast_arrays(_arr(d2d_m), _arr(h_ut_m))
    factor = _uma_height_factor(d2d, h_ut)
    at_one = rng.random(d2d.shape) * (1.0 + factor) < 1.0  # U < 1/(1 + C)
    # Heights 12, 15, ..., h_UT - 1.5: floor((h_UT - 13.5)/3) + 1 of them (the 1e-9 absorbs rounding).
    choices = np.maximum(np.floor((h_ut - 13.5) / 3.0 + 1e-9) + 1.0, 0.0)
    pick = np.floor(rng.random(d2d.shape) * choices)
    return np.where(at_one | (choices == 0.0), _H_ENV_M, 12.0 + 3.0 * pick)


def umi_los_probability(d2d_m: ArrayLike) -> np.ndarray:
    """TR 38.901 Table 7.4.2-1, UMi street canyon: 1 for d2D <= 18 m, else
    18/d + exp(-d/36)·(1 - 18/d) (the form in radio_energy.md; TR 38.900 wrote the same function as
    min(18/d, 1)·(1 - exp(-d/36)) + exp(-d/36)).
    """
    d = np.maximum(_arr(d2d_m), 1e-9)
    p = 18.0 / d + np.exp(-d / 36.0) * (1.0 - 18.0 / d)
    return np.where(d <= 18.0, 1.0, p)


def uma_38901_db(
    d2d_m: ArrayLike,
    freq_hz: ArrayLike,
    *,
    h_bs_m: ArrayLike = 25.0,
    h_ut_m: ArrayLike = 1.5,
    los: ArrayLike | None = None,
    h_env_m: ArrayLike = _H_ENV_M,
) -> np.ndarray:
    """TR 38.901 UMa (valid 10 m <= d2D <= 5 km, 1.5 m <= h_UT <= 22.5 m, h_BS = 25 m), fc in GHz:
    LoS PL1 = 28.0 + 22·log10(d3D) + 20·log10(fc) for d2D <= d'_BP,
        PL2 = 28.0 + 40·log10(d3D) + 20·log10(fc) - 9·log10(d'_BP² + (h_BS - h_UT)²) beyond;
    NLoS max(PL_LoS, 13.54 + 39.08·log10(d3D) + 20·log10(fc) - 0.6·(h_UT - 1.5)).
    d'_BP uses h' = h - h_E for both antennas; ``h_env_m`` is h_E per link (1 m, the TR's value
    below 13 m UE height; above, draw it with :func:`draw_uma_effective_env_height_m`).
    Shadowing σ: 4 dB LoS, 6 dB NLoS.
    """
    d2d, d3d, h_bs, h_ut = _geometry(d2d_m, h_bs_m, h_ut_m, "radio")
    h_env = _check_env_height(h_env_m, h_bs, h_ut)
    pl_los = _uma_los_db(d2d, d3d, h_bs, h_ut, freq_hz, h_env)
    pl_nlos = _uma_nlos_db(d2d, d3d, h_bs, h_ut, freq_hz, h_env)
    p = uma_los_probability(d2d, h_ut) if los is None else None
    return _select_los(los, p, pl_los, pl_nlos)


def umi_38901_db(
    d2d_m: ArrayLike,
    freq_hz: ArrayLike,
    *,
    h_bs_m: ArrayLike = 10.0,
    h_ut_m: ArrayLike = 1.5,
    los: ArrayLike | None = None,
) -> np.ndarray:
    """TR 38.901 UMi street canyon (valid 10 m <= d2D <= 5 km, h_BS = 10 m), fc in GHz:
    LoS PL1 = 32.4 + 21·log10(d3D) + 20·log10(fc) for d2D <= d'_BP,
        PL2 = 32.4 + 40·log10(d3D) + 20·log10(fc) - 9.5·log10(d'_BP² + (h_BS - h_UT)²) beyond;
    NLoS max(PL_LoS, 35.3·log10(d3D) + 22.4 + 21.3·log10(fc) - 0.3·(h_UT - 1.5)).
    Shadowing σ: 4 dB LoS, 7.82 dB NLoS.
    """
    d2d, d3d, h_bs, h_ut = _geometry(d2d_m, h_bs_m, h_ut_m, "radio")
    pl_los = _umi_los_db(d2d, d3d, h_bs, h_ut, freq_hz)
    pl_nlos = _umi_nlos_db(d2d, d3d, h_bs, h_ut, freq_hz)
    p = umi_los_probability(d2d) if los is None else None
    return _select_los(los, p, pl_los, pl_nlos)


# --- 3GPP TR 36.777 aerial UEs ----------------------------------------------------------------


def _av_los_probability(d2d, d1, p1):
    d = np.maximum(d2d, 1e-9)
    p = d1 / d + np.exp(-d / p1) * (1.0 - d1 / d)
    return np.where(d <= d1, 1.0, p)


def uma_av_los_probability(d2d_m: ArrayLike, h_ut_m: ArrayLike) -> np.ndarray:
    """TR 36.777 UMa-AV: for 22.5 m < h <= 100 m, 1 if d2D <= d1 else
    d1/d2D + exp(-d2D/p1)·(1 - d1/d2D), d1 = max(460·log10(h) - 700, 18), p1 = 4300·log10(h) - 3800;
    1 above 100 m; the TR 38.901 UMa probability at or below 22.5 m.
    """
    d2d = _arr(d2d_m)
    h = _check_positive("radio.h_ut_m", h_ut_m, _H_ENV_M)
    h_av = np.maximum(h, _AV_MIN_HEIGHT_M)  # keeps p1 > 0 in the branch np.where discards
    d1 = np.maximum(460.0 * np.log10(h_av) - 700.0, 18.0)
    p1 = 4300.0 * np.log10(h_av) - 3800.0
    aerial = np.where(h > 100.0, 1.0, _av_los_probability(d2d, d1, p1))
    return np.where(h <= _AV_MIN_HEIGHT_M, uma_los_probability(d2d, h), aerial)


def umi_av_los_probability(d2d_m: ArrayLike, h_ut_m: ArrayLike) -> np.ndarray:
    """TR 36.777 UMi-AV: for 22.5 m < h <= 300 m, 1 if d2D <= d1 else
    d1/d2D + exp(-d2D/p1)·(1 - d1/d2D), d1 = max(294.05·log10(h) - 432.94, 18),
    p1 = 233.98·log10(h) - 0.95; the TR 38.901 UMi probability at or below 22.5 m.
    """
    d2d = _arr(d2d_m)
    h = _check_positive("radio.h_ut_m", h_ut_m, _H_ENV_M)
    h_av = np.maximum(h, _AV_MIN_HEIGHT_M)
    d1 = np.maximum(294.05 * np.log10(h_av) - 432.94, 18.0)
    p1 = 233.98 * np.log10(h_av) - 0.95
    aerial = _av_los_probability(d2d, d1, p1)
    return np.where(h <= _AV_MIN_HEIGHT_M, umi_los_probability(d2d), aerial)


def uma_av_36777_db(
    d2d_m: ArrayLike,
    freq_hz: ArrayLike,
    h_ut_m: ArrayLike,
    *,
    h_bs_m: ArrayLike = 25.0,
    los: ArrayLike | None = None,
    h_env_m: ArrayLike = _H_ENV_M,
) -> np.ndarray:
    """TR 36.777 UMa-AV (22.5 m < h_UT <= 300 m, d2D <= 4 km), fc in GHz:
    LoS 28.0 + 22·log10(d3D) + 20·log10(fc), σ = 4.64·exp(-0.0066·h_UT);
    NLoS -17.5 + (46 - 7·log10(h_UT))·log10(d3D) + 20·log10(40π·fc/3), σ = 6 dB.
    At or below 22.5 m: TR 38.901 UMa, with effective environment height ``h_env_m``.
    """
    d2d, d3d, h_bs, h_ut = _geometry(d2d_m, h_bs_m, h_ut_m, "radio")
    h_env = _check_env_height(h_env_m, h_bs, h_ut)
    fc = _freq_ghz(freq_hz)
    av_los = 28.0 + 22.0 * np.log10(d3d) + 20.0 * np.log10(fc)
    av_nlos = (
        -17.5
        + (46.0 - 7.0 * np.log10(h_ut)) * np.log10(d3d)
        + 20.0 * np.log10(40.0 * np.pi * fc / 3.0)
    )
    low = h_ut <= _AV_MIN_HEIGHT_M
    pl_los = np.where(low, _uma_los_db(d2d, d3d, h_bs, h_ut, freq_hz, h_env), av_los)
    pl_nlos = np.where(low, _uma_nlos_db(d2d, d3d, h_bs, h_ut, freq_hz, h_env), av_nlos)
    p = uma_av_los_probability(d2d, h_ut) if los is None else None
    return _select_los(los, p, pl_los, pl_nlos)


def umi_av_36777_db(
    d2d_m: ArrayLike,
    freq_hz: ArrayLike,
    h_ut_m: ArrayLike,
    *,
    h_bs_m: ArrayLike = 10.0,
    los: ArrayLike | None = None,
) -> np.ndarray:
    """TR 36.777 UMi-AV (22.5 m < h_UT <= 300 m, d2D <= 4 km), fc in GHz:
    LoS max(FSPL, 30.9 + (22.25 - 0.5·log10(h_UT))·log10(d3D) + 20·log10(fc)),
        σ = max(5·exp(-0.01·h_UT), 2);
    NLoS max(PL_LoS, 32.4 + (43.2 - 7.6·log10(h_UT))·log10(d3D) + 20·log10(fc)), σ = 8 dB.
    The NLoS slope (43.2 - 7.6·log10 h) MULTIPLIES log10(d3D); a widely copied implementation adds
    it instead, which makes NLoS nearly distance-independent. At or below 22.5 m: TR 38.901 UMi.
    """
    d2d, d3d, h_bs, h_ut = _geometry(d2d_m, h_bs_m, h_ut_m, "radio")
    fc = _freq_ghz(freq_hz)
    fspl = free_space_db(d3d, freq_hz)
    av_los = np.maximum(
        fspl, 30.9 + (22.25 - 0.5 * np.log10(h_ut)) * np.log10(d3d) + 20.0 * np.log10(fc)
    )
    av_nlos = np.maximum(
        av_los, 32.4 + (43.2 - 7.6 * np.log10(h_ut)) * np.log10(d3d) + 20.0 * np.log10(fc)
    )
    low = h_ut <= _AV_MIN_HEIGHT_M
    pl_los = np.where(low, _umi_los_db(d2d, d3d, h_bs, h_ut, freq_hz), av_los)
    pl_nlos = np.where(low, _umi_nlos_db(d2d, d3d, h_bs, h_ut, freq_hz), av_nlos)
    p = umi_av_los_probability(d2d, h_ut) if los is None else None
    return _select_los(los, p, pl_los, pl_nlos)


# --- Al-Hourani air-to-ground ---------------------------------------------------------------


def _environment(environment: str) -> tuple[float, float, float, float]:
    check_choice("radio.environment", environment, tuple(AIR_TO_GROUND_ENVIRONMENTS))
    return AIR_TO_GROUND_ENVIRONMENTS[environment]


def elevation_deg(horizontal_m: ArrayLike, altitude_m: ArrayLike) -> np.ndarray:
    """Elevation angle (degrees) of a UAV at ``altitude_m`` above, ``horizontal_m`` away."""
    return np.degrees(np.arctan2(_arr(altitude_m), _arr(horizontal_m)))


def air_to_ground_los_probability(elevation_deg: ArrayLike, environment: str = "urban") -> np.ndarray:
    """Al-Hourani (2014): P_LoS(θ) = 1 / (1 + a·exp(-b·(θ - a))), θ the elevation in degrees."""
    a, b, _, _ = _environment(environment)
    return 1.0 / (1.0 + a * np.exp(-b * (_arr(elevation_deg) - a)))


def air_to_ground_db(
    horizontal_m: ArrayLike,
    altitude_m: ArrayLike,
    freq_hz: ArrayLike,
    environment: str = "urban",
    *,
    los: ArrayLike | None = None,
) -> np.ndarray:
    """Al-Hourani (2014): FSPL(d3D) + η_LoS (LoS) or + η_NLoS (NLoS); with ``los=None`` the mean
    PL = FSPL + P_LoS·η_LoS + (1 - P_LoS)·η_NLoS. Environments: suburban, urban, dense_urban,
    high_rise (a, b, η_LoS, η_NLoS in AIR_TO_GROUND_ENVIRONMENTS).
    """
    _, _, eta_los, eta_nlos = _environment(environment)
    horizontal = _arr(horizontal_m)
    altitude = _arr(altitude_m)
    fspl = free_space_db(np.hypot(horizontal, altitude), freq_hz)
    p = None
    if los is None:
        p = air_to_ground_los_probability(elevation_deg(horizontal, altitude), environment)
    return _select_los(los, p, fspl + eta_los, fspl + eta_nlos)


# --- shadowing, LoS draws, dispatcher -------------------------------------------------------


def shadowing_db(rng: np.random.Generator, sigma_db: ArrayLike, size: int | tuple[int, ...]) -> np.ndarray:
    """Log-normal shadowing: X ~ N(0, σ²) in dB, added to the path loss. σ may be an array
    broadcastable to ``size`` (e.g. per-device LoS/NLoS σ)."""
    sigma = _arr(sigma_db)
    if not np.all(np.isfinite(sigma)) or np.any(sigma < 0):
        raise ConfigError("radio.shadowing_sigma_db", sigma_db, "finite numbers >= 0")
    return rng.standard_normal(size) * sigma


def draw_los(rng: np.random.Generator, p_los: ArrayLike) -> np.ndarray:
    """Bernoulli LoS states, one per entry of ``p_los``."""
    p = _arr(p_los)
    return rng.random(p.shape) < p


def shadowing_sigma_db(model: str, los: ArrayLike, h_ut_m: ArrayLike = 1.5) -> np.ndarray:
    """Shadowing σ (dB) of a model per LoS state: macro 8; UMa 4/6; UMi 4/7.82; UMa-AV
    4.64·exp(-0.0066·h)/6; UMi-AV max(5·exp(-0.01·h), 2)/8 (terrestrial values at h <= 22.5 m);
    0 for the deterministic models (exponent, free space, air-to-ground, air-to-air)."""
    check_choice("radio.path_loss", model, PATH_LOSS_MODELS)
    los = np.asarray(los, dtype=bool)
    h = _arr(h_ut_m)
    low = h <= _AV_MIN_HEIGHT_M
    if model == "macro_36814":
        return np.full(np.broadcast(los, h).shape, 8.0)
    if model == "uma_38901":
        return np.where(los, 4.0, 6.0) + 0.0 * h
    if model == "umi_38901":
        return np.where(los, 4.0, 7.82) + 0.0 * h
    if model == "uma_av_36777":
        return np.where(los, np.where(low, 4.0, 4.64 * np.exp(-0.0066 * h)), 6.0)
    if model == "umi_av_36777":
        aerial_los = np.maximum(5.0 * np.exp(-0.01 * h), 2.0)
        return np.where(los, np.where(low, 4.0, aerial_los), np.where(low, 7.82, 8.0))
    return np.zeros(np.broadcast(los, h).shape)


# --- the registry the Channel dispatches through -------------------------------------------

# A model's random state comes from named streams of the round: ``stream(name)`` is
# numpy_stream(seed, name, round). "line-of-sight": the LoS states; "uma-effective-height": UMa h_E.
Streams = Callable[[str], np.random.Generator]
_LOS_STREAM = "line-of-sight"
_UMA_ENV_HEIGHT_STREAM = "uma-effective-height"


@dataclass(frozen=True, eq=False)
class PathLossLinks:
    """A batch of device-to-server links as a registry model sees them: horizontal and vertical
    separations (m), the radio (carrier, antenna heights h_BS / h_UT, air-to-ground environment)
    and the exponent of the exponent-type models (``exponent``; ``air_to_air`` clips it to
    [2, 2.05])."""

    horizontal_m: np.ndarray
    vertical_m: np.ndarray
    carrier_hz: float
    h_bs_m: float = 0.0
    h_ut_m: float = 0.0
    environment: str = "urban"
    exponent: float = 4.0

    @property
    def distance_m(self) -> np.ndarray:
        return np.hypot(self.horizontal_m, self.vertical_m)


def _gain(loss_db: np.ndarray) -> np.ndarray:
    return 10.0 ** (-loss_db / 10.0)


def _draw_los(stream: Streams, p_los: np.ndarray) -> np.ndarray:
    return draw_los(stream(_LOS_STREAM), p_los)


def _uma_env_height(links: PathLossLinks, stream: Streams, max_h_ut_m: float) -> ArrayLike:
    """h_E per link for TR 38.901 UMa, drawn for the UEs at 13 m <= h_UT <= ``max_h_ut_m`` (23 m,
    the end of the TR's C(d2D, h_UT); 22.5 m where UMa-AV leaves the terrestrial model); 1 m for
    the others. Nothing is drawn when no UE is in that range: lower fleets see no new stream."""
    h_ut = np.broadcast_to(_arr(links.h_ut_m), np.shape(links.horizontal_m))
    low, high = _UMA_H_ENV_UT_RANGE_M
    drawn_here = (h_ut >= low) & (h_ut <= min(high, max_h_ut_m))
    if not np.any(drawn_here):
        return _H_ENV_M
    drawn = draw_uma_effective_env_height_m(stream(_UMA_ENV_HEIGHT_STREAM), links.horizontal_m, h_ut)
    return np.where(drawn_here, drawn, _H_ENV_M)


def _exponent(links: PathLossLinks, stream: Streams) -> np.ndarray:
    return path_gain(links.distance_m, links.exponent)


def _free_space(links: PathLossLinks, stream: Streams) -> np.ndarray:
    return _gain(free_space_db(links.distance_m, links.carrier_hz))


def _macro_36814(links: PathLossLinks, stream: Streams) -> np.ndarray:
    return _gain(macro_36814_db(links.distance_m))


def _air_to_air(links: PathLossLinks, stream: Streams) -> np.ndarray:
    exponent = min(max(links.exponent, 2.0), 2.05)
    return _gain(air_to_air_db(links.distance_m, links.carrier_hz, exponent))


def _uma_38901(links: PathLossLinks, stream: Streams) -> np.ndarray:
    d2d, h_ut = links.horizontal_m, links.h_ut_m
    los = _draw_los(stream, uma_los_probability(d2d, h_ut))
    h_env = _uma_env_height(links, stream, max_h_ut_m=math.inf)
    return _gain(uma_38901_db(d2d, links.carrier_hz, h_bs_m=links.h_bs_m, h_ut_m=h_ut, los=los, h_env_m=h_env))


def _umi_38901(links: PathLossLinks, stream: Streams) -> np.ndarray:
    d2d = links.horizontal_m
    los = _draw_los(stream, umi_los_probability(d2d))
    return _gain(umi_38901_db(d2d, links.carrier_hz, h_bs_m=links.h_bs_m, h_ut_m=links.h_ut_m, los=los))


def _uma_av_36777(links: PathLossLinks, stream: Streams) -> np.ndarray:
    d2d, h_ut = links.horizontal_m, links.h_ut_m
    los = _draw_los(stream, uma_av_los_probability(d2d, h_ut))
    h_env = _uma_env_height(links, stream, max_h_ut_m=_AV_MIN_HEIGHT_M)  # the terrestrial branch
    return _gain(uma_av_36777_db(d2d, links.carrier_hz, h_ut, h_bs_m=links.h_bs_m, los=los, h_env_m=h_env))


def _umi_av_36777(links: PathLossLinks, stream: Streams) -> np.ndarray:
    d2d, h_ut = links.horizontal_m, links.h_ut_m
    los = _draw_los(stream, umi_av_los_probability(d2d, h_ut))
    return _gain(umi_av_36777_db(d2d, links.carrier_hz, h_ut, h_bs_m=links.h_bs_m, los=los))


def _air_to_ground(links: PathLossLinks, stream: Streams) -> np.ndarray:
    # The device is the aerial end, at its altitude above the ground station.
    altitude = np.maximum(links.vertical_m, 1e-3)
    p_los = air_to_ground_los_probability(elevation_deg(links.horizontal_m, altitude), links.environment)
    los = _draw_los(stream, p_los)
    return _gain(air_to_ground_db(links.horizontal_m, altitude, links.carrier_hz, links.environment, los=los))


# Config name (radio.path_loss) -> adapter (links, stream) -> linear path gain 10^(-PL/10).
# log_distance_db is not here: it needs a reference distance and loss that ChannelConfig lacks.
_REGISTRY: dict[str, Callable[[PathLossLinks, Streams], np.ndarray]] = {
    "exponent": _exponent,
    "free_space": _free_space,
    "macro_36814": _macro_36814,
    "uma_38901": _uma_38901,
    "umi_38901": _umi_38901,
    "uma_av_36777": _uma_av_36777,
    "umi_av_36777": _umi_av_36777,
    "air_to_ground": _air_to_ground,
    "air_to_air": _air_to_air,
}
CUSTOM_PATH_LOSS = "custom"  # radio.path_loss_target's function (fedsim.world._user_pathloss)
PATH_LOSS_MODELS: tuple[str, ...] = (*_REGISTRY, CUSTOM_PATH_LOSS)
# Models that draw nothing (no LoS state): a Monte-Carlo estimator may evaluate them once. A new
# model need not be listed; it is then treated as random, which is only slower.
DETERMINISTIC_MODELS = ("exponent", "free_space", "macro_36814", "air_to_air")


def path_gain_of(model: str, links: PathLossLinks, stream: Streams) -> np.ndarray:
    """Linear large-scale gain 10^(-PL/10) of ``links`` under a registry model (one of
    PATH_LOSS_MODELS but custom), its random state drawn from ``stream``."""
    check_choice("radio.path_loss", model, tuple(_REGISTRY))
    return _REGISTRY[model](links, stream)
