"""Observation: what the server can know about the world when it decides a round.

Built by ``World.observe``; read by policies (``fedsim.control``). Arrays cover every device
(index = device id), so a policy can rank, select and assign without asking the World again.
The channel state is what the CSI model says the server knows (large-scale gains by default),
never the round's realised fading unless the policy models perfect CSI.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedsim.world._link import rate_bps
from fedsim.world._round import RoundOutcome


@dataclass(frozen=True, eq=False)
class Observation:
    round: int
    sim_time_s: float
    available: np.ndarray  # (N,) bool: charged and reachable
    position_m: np.ndarray  # (N, 3)
    distance_m: np.ndarray  # (N,) to the server (3-D)
    channel_gain: np.ndarray  # (N,) linear uplink gain the server knows (see PolicyConfig.csi)
    battery_j: np.ndarray  # (N,) levels (inf: mains power)
    bandwidth_hz: float
    noise_psd_w_hz: float  # noise figure included
    max_tx_power_w: float  # the radio's transmit power: the default and the cap
    access_scheme: str
    channels: int  # orthogonal channels a decision may assign (OFDMA resource blocks; else 1)
    deadline_s: float | None
    previous: RoundOutcome | None = None  # what happened last round (None before the first)
    serving_cell: np.ndarray | None = None  # (N,) cell ids where the world has cells
    num_examples: np.ndarray | None = None  # (N,) local data sizes K_i, where the server knows them

    @property
    def num_devices(self) -> int:
        return int(self.available.size)

    @property
    def available_devices(self) -> np.ndarray:
        return np.flatnonzero(self.available)

    def expected_rate_bps(self, tx_power_w: float | np.ndarray | None = None, bandwidth_hz: float | None = None) -> np.ndarray:
        """(N,) Shannon rate at the known gain: B·log2(1 + P·g/(N0·B)), full band by default."""
        power = self.max_tx_power_w if tx_power_w is None else tx_power_w
        band = self.bandwidth_hz if bandwidth_hz is None else bandwidth_hz
        return rate_bps(band, np.asarray(power, float) * self.channel_gain / (self.noise_psd_w_hz * band))
