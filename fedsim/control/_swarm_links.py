"""What a swarm-aware policy knows of each follower's link before it decides a round.

From the Observation (large-scale gain with the closed-form mean pointing gain, never the
realised draw), the payload and the control deadline τ_max: the SNR an upload needs
(γ = 2^(S/(b·τ)) − 1 on a resource block of b Hz, τ the time τ_max leaves after local training), each follower's success probability
s_i(P) over the fading (closed forms for Rayleigh, Rician and Nakagami), its expected energy per
round, and the energy-limited power under a per-round budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedsim.errors import ConfigError
from fedsim.theory import success_probability, threshold_snr
from fedsim.world import Observation


@dataclass(frozen=True)
class SwarmLinks:
    gain: np.ndarray  # (N,) mean link gain (path loss x mean antenna gain), linear
    noise_w: float  # N0·b on one channel
    bandwidth_hz: float  # b: one channel (an OFDMA resource block)
    payload_bits: float  # S
    threshold: np.ndarray  # (N,) γ_i: the SNR that fits the upload in the time the deadline leaves
    fading: str
    fading_params: dict

    @classmethod
    def of(cls, observation: Observation, run, payload_bits: float, compute_s: np.ndarray) -> "SwarmLinks":
        """``compute_s``: each follower's local training time, which the deadline also covers."""
        if observation.deadline_s is None:
            raise ConfigError("world.deadline_s", None, "the control deadline τ_max in s (the swarm policies need one)")
        band = observation.bandwidth_hz / observation.channels
        upload_s = observation.deadline_s - np.asarray(compute_s, float)
        with np.errstate(over="ignore"):
            threshold = np.array([threshold_snr(payload_bits, band, t) if t > 0 else np.inf for t in upload_s])
        return cls(
            gain=observation.channel_gain,
            noise_w=observation.noise_psd_w_hz * band,
            bandwidth_hz=band,
            payload_bits=payload_bits,
            threshold=threshold,
            fading=run.radio.fading,
            fading_params=run.radio.fading_params,
        )

    def success(self, tx_power_w: np.ndarray | float) -> np.ndarray:
        """(N,) s_i(P_i): the upload finishes by τ_max (SNR ≥ γ) over the fading."""
        mean_snr = np.asarray(tx_power_w, float) * self.gain / self.noise_w
        return success_probability(mean_snr, self.threshold, self.fading, **self.fading_params)


def schedule(scores: np.ndarray, candidates: np.ndarray, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``channels`` candidates with the largest scores, each on its own channel: a Hungarian
    assignment of (device, channel) scores (scipy), which with equal channels is the greedy pick.
    Returns (devices, channel per device), devices sorted."""
    from scipy.optimize import linear_sum_assignment

    value = np.repeat(scores[candidates, None], channels, axis=1)
    rows, cols = linear_sum_assignment(-value)
    order = np.argsort(candidates[rows], kind="stable")
    return candidates[rows][order], cols[order].astype(np.int64)
