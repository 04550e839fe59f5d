"""Small-scale fading: power gains |h|² (linear, unit mean unless Ω says otherwise) and block fading.

- Rayleigh: |h|² ~ Exp(1).
- Rician(K): h = sqrt(K/(K+1)) + sqrt(1/(K+1))·CN(0, 1), K = LoS power / scattered power (linear;
  convert a K in dB with db_to_linear). E|h|² = 1, Var|h|² = (1 + 2K)/(1 + K)².
- Nakagami(m, Ω): |h|² ~ Gamma(shape m, scale Ω/m), m >= 1/2. E|h|² = Ω, Var|h|² = Ω²/m.

Block fading: the gain is constant over a coherence time T_c ≈ 0.423/f_D (the geometric-mean rule
of thumb, see ``coherence_time_s``), f_D = v·f_c/c, and independent across blocks. A duration T
spans ceil(T/T_c) blocks.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from fedsim._checks import check_choice, check_float
from fedsim.errors import ConfigError
from fedsim.world._pathloss import SPEED_OF_LIGHT_M_S
from fedsim.world._link import rayleigh_power

FADING_KINDS: tuple[str, ...] = ("none", "rayleigh", "rician", "nakagami")
_FADING_PARAMS = {"none": (), "rayleigh": (), "rician": ("k_factor",), "nakagami": ("m", "omega")}
_COHERENCE_CONSTANT = 0.423  # sqrt(9/(16π)): geometric mean of Clarke's 50%-correlation time and 1/f_D


def rician_power(rng: np.random.Generator, size: int | tuple[int, ...], k_factor: float) -> np.ndarray:
    """|h|² of Rician fading with linear K-factor (K = 0 is Rayleigh), unit mean power."""
    k = check_float("radio.rician_k_factor", k_factor, low=0)
    los = math.sqrt(k / (k + 1.0))
    scatter = math.sqrt(0.5 / (k + 1.0))  # per real dimension: total scattered power 1/(K+1)
    real = los + scatter * rng.standard_normal(size)
    imag = scatter * rng.standard_normal(size)
    return real * real + imag * imag


def nakagami_power(
    rng: np.random.Generator, size: int | tuple[int, ...], m: float, omega: float = 1.0
) -> np.ndarray:
    """|h|² of Nakagami-m fading: Gamma(shape m, scale Ω/m), mean Ω (m = 1 is Rayleigh)."""
    m = check_float("radio.nakagami_m", m, low=0.5)
    omega = check_float("radio.nakagami_omega", omega, low=0, low_open=True)
    return rng.gamma(m, omega / m, size)


def _check_params(kind: str, params: dict) -> None:
    check_choice("radio.fading", kind, FADING_KINDS)
    unknown = set(params) - set(_FADING_PARAMS[kind])
    if unknown:
        allowed = ", ".join(_FADING_PARAMS[kind]) or "no parameters"
        raise ConfigError(f"radio.fading.{sorted(unknown)[0]}", params[sorted(unknown)[0]],
                          f"{kind} fading takes {allowed}")
    if kind == "rician" and "k_factor" not in params:
        raise ConfigError("radio.rician_k_factor", None, "a linear K-factor >= 0 for rician fading")
    if kind == "nakagami" and "m" not in params:
        raise ConfigError("radio.nakagami_m", None, "a shape m >= 0.5 for nakagami fading")


def fading_power(kind: str, rng: np.random.Generator, size: int | tuple[int, ...], **params) -> np.ndarray:
    """Draw |h|² of the named fading (one of FADING_KINDS); ``none`` gives ones.

    Parameters: rician ``k_factor`` (linear); nakagami ``m`` and optional ``omega`` (default 1).
    """
    _check_params(kind, params)
    if kind == "none":
        return np.ones(size)
    if kind == "rayleigh":
        return rayleigh_power(rng, size)
    if kind == "rician":
        return rician_power(rng, size, **params)
    return nakagami_power(rng, size, **params)


def fading_power_moments(kind: str, **params) -> tuple[float, float]:
    """Closed-form (mean, variance) of |h|² for the named fading."""
    _check_params(kind, params)
    if kind == "none":
        return 1.0, 0.0
    if kind == "rayleigh":
        return 1.0, 1.0
    if kind == "rician":
        k = check_float("radio.rician_k_factor", params["k_factor"], low=0)
        return 1.0, (1.0 + 2.0 * k) / (1.0 + k) ** 2
    m = check_float("radio.nakagami_m", params["m"], low=0.5)
    omega = check_float("radio.nakagami_omega", params.get("omega", 1.0), low=0, low_open=True)
    return omega, omega * omega / m


def doppler_hz(speed_mps: ArrayLike, freq_hz: ArrayLike) -> np.ndarray:
    """Maximum Doppler shift f_D = v·f_c/c."""
    return np.abs(np.asarray(speed_mps, dtype=float)) * np.asarray(freq_hz, dtype=float) / SPEED_OF_LIGHT_M_S


def coherence_time_s(doppler_hz: ArrayLike) -> np.ndarray:
    """T_c ≈ 0.423/f_D (infinite for a static channel, f_D = 0).

    0.423/f_D is the geometric-mean rule of thumb: the geometric mean of Clarke's 50%-correlation
    time 9/(16π f_D) ≈ 0.179/f_D and the 1/f_D rule, sqrt(9/(16π))/f_D ≈ 0.423/f_D. It is not the
    time over which the envelope correlation stays above 0.5 (that is the shorter 0.179/f_D).
    """
    f_d = np.asarray(doppler_hz, dtype=float)
    if np.any(f_d < 0) or np.any(np.isnan(f_d)):
        raise ConfigError("radio.doppler_hz", doppler_hz, "numbers >= 0")
    with np.errstate(divide="ignore"):
        return _COHERENCE_CONSTANT / f_d


def num_fading_blocks(duration_s: ArrayLike, coherence_time_s: ArrayLike) -> np.ndarray:
    """Independent fading blocks a transmission of ``duration_s`` spans: max(1, ceil(T/T_c)).

    A zero-length transmission still sees one block; T_c = inf (static channel) gives one block.
    """
    duration = np.asarray(duration_s, dtype=float)
    t_c = np.asarray(coherence_time_s, dtype=float)
    if np.any(duration < 0) or np.any(np.isnan(duration)):
        raise ConfigError("duration_s", duration_s, "numbers >= 0")
    if np.any(t_c <= 0) or np.any(np.isnan(t_c)):
        raise ConfigError("radio.coherence_time_s", coherence_time_s, "numbers > 0")
    # A relative tolerance keeps T = k·T_c from becoming k + 1 blocks by rounding.
    ratio = duration / t_c
    return np.maximum(1, np.ceil(ratio * (1.0 - 1e-12))).astype(np.int64)
