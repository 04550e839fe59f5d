"""Whether an upload beats a deadline: the SNR it needs, the probability it gets it, and the
largest transmit power an energy budget allows.

An upload of S bits on b Hz finishes within τ_max exactly when its SNR reaches
γ = 2^(S/(b·τ_max)) − 1. With the mean SNR γ̄ = P·ḡ/(N0·b) (ḡ the large-scale gain with the
mean antenna gain) and unit-mean fading power X, the success probability is Pr[γ̄·X ≥ γ]:

- Rayleigh: exp(−γ/γ̄);
- Rician with factor K: 2(K+1)·X is noncentral χ² with 2 degrees of freedom and
  noncentrality 2K, so Pr = Q1(√(2K), √(2(K+1)γ/γ̄)) (Marcum Q);
- Nakagami-m: X ~ Gamma(m, 1/m), so Pr = Γ(m, mγ/γ̄)/Γ(m);
- no fading: 1 where γ̄ ≥ γ.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import special, stats

from fedsim._checks import check_float
from fedsim.errors import ConfigError

_BISECTION_STEPS = 100


def threshold_snr(payload_bits: float, bandwidth_hz: float, deadline_s: float) -> float:
    """γ = 2^(S/(b·τ_max)) − 1: the SNR at which ``payload_bits`` take exactly ``deadline_s``."""
    s = check_float("payload_bits", payload_bits, low=0, low_open=True)
    b = check_float("radio.bandwidth_hz", bandwidth_hz, low=0, low_open=True)
    tau = check_float("world.deadline_s", deadline_s, low=0, low_open=True)
    return float(np.expm1(s / (b * tau) * math.log(2.0)))


def success_probability(mean_snr: ArrayLike, threshold: float, fading: str = "rayleigh", **params: float) -> np.ndarray:
    """Pr[mean_snr·X ≥ threshold] for unit-mean fading power X of the named kind (closed forms
    above); ``params``: rician ``k_factor`` (linear), nakagami ``m`` (and ``omega`` = 1)."""
    snr = np.asarray(mean_snr, dtype=float)
    with np.errstate(divide="ignore"):
        ratio = np.where(snr > 0, threshold / snr, np.inf)  # γ/γ̄
    if fading == "rayleigh":
        return np.exp(-ratio)
    if fading == "rician":
        k = float(params["k_factor"])
        return stats.ncx2.sf(2.0 * (k + 1.0) * ratio, df=2, nc=2.0 * k)
    if fading == "nakagami":
        m = float(params["m"])
        return special.gammaincc(m, m * ratio / float(params.get("omega", 1.0)))
    if fading == "none":
        return (ratio <= 1.0).astype(float)
    raise ConfigError("radio.fading", fading, "one of none, rayleigh, rician, nakagami")


def success_probability_mc(
    tx_power_w: ArrayLike,
    path_gain: ArrayLike,
    threshold: float,
    noise_w: float,
    rng: np.random.Generator,
    *,
    fading: str = "rayleigh",
    fading_params: dict | None = None,
    pointing_sigma_deg: float = 0.0,
    beamwidth_deg: float = 30.0,
    max_gain_dbi: float = 8.0,
    rx_gain_dbi: float = 0.0,
    draws: int = 20_000,
) -> np.ndarray:
    """(N,) Pr[SNR_i ≥ γ] by Monte Carlo over the fading and the antenna pointing error (two
    planes, each N(0, σθ²), the TR 38.901 parabolic pattern with its 30 dB floor) as the simulator
    draws them; ``path_gain`` excludes the antennas. The closed forms above use the mean antenna
    gain instead: this estimate measures what that approximation costs."""
    from fedsim.world._antenna import draw_pointing_error_deg, pointing_gain_db
    from fedsim.world._fading import fading_power

    beta = np.atleast_1d(np.asarray(path_gain, float))
    fade = fading_power(fading, rng, (draws, beta.size), **(fading_params or {}))
    errors = draw_pointing_error_deg(rng, pointing_sigma_deg, (draws, beta.size), planes=2)
    antenna_db = pointing_gain_db(errors, beamwidth_deg, max_gain_dbi, 30.0, planes=2) + rx_gain_dbi
    snr = np.asarray(tx_power_w, float) * beta * 10.0 ** (antenna_db / 10.0) * fade / noise_w
    return np.mean(snr >= threshold, axis=0)


def upload_energy_j(tx_power_w: ArrayLike, payload_bits: float, bandwidth_hz: float, gain: ArrayLike, noise_w: float) -> np.ndarray:
    """P·τ(P) = P·S/(b·log2(1 + P·g/(N0·b))): joules of one upload at the mean gain."""
    p = np.asarray(tx_power_w, dtype=float)
    rate = bandwidth_hz * np.log1p(p * np.asarray(gain, float) / noise_w) / math.log(2.0)
    return p * payload_bits / rate


def energy_limited_power(
    budget_per_round_j: float,
    compute_energy_j: ArrayLike,
    payload_bits: float,
    bandwidth_hz: float,
    gain: ArrayLike,
    noise_w: float,
    max_power_w: float,
) -> np.ndarray:
    """(N,) the largest P in (0, P_max] with P·τ(P) + E_comp ≤ budget, by bisection.

    P·τ(P) grows with P (from S·N0·ln 2/g as P → 0), so the budget fixes one power per device;
    a budget that cannot pay one round even at vanishing power is a ConfigError.
    """
    gain = np.asarray(gain, dtype=float)
    left = budget_per_round_j - np.asarray(compute_energy_j, dtype=float) * np.ones_like(gain)
    floor_j = payload_bits * (noise_w / bandwidth_hz) * math.log(2.0) / gain  # P·τ(P) as P -> 0: S·N0·ln 2/g
    if np.any(left <= floor_j):
        worst = float(np.max(floor_j - left))
        raise ConfigError(
            "energy_budget_j", float(budget_per_round_j),
            f"more than compute + {float(np.max(floor_j)):.3g} J per round (the cheapest upload of the farthest device); short by {worst:.3g} J",
        )
    low = np.zeros_like(gain)
    high = np.full_like(gain, float(max_power_w))
    fits = upload_energy_j(high, payload_bits, bandwidth_hz, gain, noise_w) <= left
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (low + high)
        ok = upload_energy_j(mid, payload_bits, bandwidth_hz, gain, noise_w) <= left
        low = np.where(ok, mid, low)
        high = np.where(ok, high, mid)
    return np.where(fits, float(max_power_w), low)
