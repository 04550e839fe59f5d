"""The uplink channel of every device: large-scale gain (path loss, shadowing, antennas) times
small-scale fading, drawn for all devices at once.

Fading is block fading. With ``coherence_s`` unset a block is a round (i.i.d. across rounds);
otherwise block b covers [b·T_c, (b+1)·T_c) of simulated time and a device sees the block in
force when its upload starts. The draws of block b come from the stream (seed, "fading", b) for
all devices, so this is exactly what a channel-clock process redrawing every T_c would produce,
without waking up when nobody transmits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedsim._checks import check_choice, check_float
from fedsim.rng import numpy_stream
from fedsim.world._antenna import draw_pointing_error_deg, pointing_gain_db
from fedsim.world._fading import FADING_KINDS, fading_power
from fedsim.world._pathloss import (
    AIR_TO_GROUND_ENVIRONMENTS,
    air_to_ground_db,
    air_to_ground_los_probability,
    air_to_air_db,
    draw_los,
    elevation_deg,
    free_space_db,
    macro_36814_db,
    shadowing_db,
    uma_38901_db,
    uma_av_36777_db,
    uma_av_los_probability,
    uma_los_probability,
    umi_38901_db,
    umi_av_36777_db,
    umi_av_los_probability,
    umi_los_probability,
)
from fedsim.world._radio import path_gain

# "exponent" is Green-QFL's g·d^-alpha with no reference loss; the others are the named models.
CHANNEL_PATH_LOSS = (
    "exponent",
    "free_space",
    "macro_36814",
    "uma_38901",
    "umi_38901",
    "uma_av_36777",
    "umi_av_36777",
    "air_to_ground",
    "air_to_air",
)
ANTENNAS = ("isotropic", "parabolic")


@dataclass(frozen=True)
class ChannelConfig:
    """How a device's uplink gain is drawn. Defaults: Green-QFL (d^-4, Rayleigh, isotropic)."""

    path_loss: str = "exponent"  # the exponent itself is WorldConfig.path_loss_exponent
    carrier_hz: float = 2.4e9
    device_height_m: float = 0.0
    bs_height_m: float = 0.0
    environment: str = "urban"  # air_to_ground only
    shadowing_db: float = 0.0  # log-normal shadowing std, redrawn each round
    fading: str = "rayleigh"
    rician_k_db: float = 10.0
    nakagami_m: float = 1.0
    coherence_s: float | None = None
    antenna: str = "isotropic"
    beamwidth_deg: float = 30.0
    max_gain_dbi: float = 8.0
    pointing_sigma_deg: float = 0.0
    rx_gain_dbi: float = 0.0

    def __post_init__(self) -> None:
        check_choice("radio.path_loss", self.path_loss, CHANNEL_PATH_LOSS)
        check_float("radio.carrier_hz", self.carrier_hz, low=0, low_open=True)
        check_float("radio.device_height_m", self.device_height_m, low=0)
        check_float("radio.bs_height_m", self.bs_height_m, low=0)
        check_choice("radio.environment", self.environment, AIR_TO_GROUND_ENVIRONMENTS)
        check_float("radio.shadowing_db", self.shadowing_db, low=0)
        check_choice("radio.fading", self.fading, FADING_KINDS)
        check_float("radio.rician_k_db", self.rician_k_db)
        check_float("radio.nakagami_m", self.nakagami_m, low=0.5)
        if self.coherence_s is not None:
            check_float("radio.coherence_s", self.coherence_s, low=0, low_open=True)
        check_choice("radio.antenna", self.antenna, ANTENNAS)
        check_float("radio.beamwidth_deg", self.beamwidth_deg, low=0, low_open=True)
        check_float("radio.max_gain_dbi", self.max_gain_dbi)
        check_float("radio.pointing_sigma_deg", self.pointing_sigma_deg, low=0)
        check_float("radio.rx_gain_dbi", self.rx_gain_dbi)

    @property
    def fading_params(self) -> dict:
        if self.fading == "rician":
            return {"k_factor": 10.0 ** (self.rician_k_db / 10.0)}
        if self.fading == "nakagami":
            return {"m": self.nakagami_m, "omega": 1.0}
        return {}


class Channel:
    """Draws channel power gains for devices at given positions; all randomness from named streams."""

    def __init__(self, config: ChannelConfig, seed: int, path_loss_exponent: float = 4.0) -> None:
        self.config = config
        self.seed = seed
        self.path_loss_exponent = path_loss_exponent

    # -- large scale --------------------------------------------------------------------------
    def path_loss_db(self, horizontal_m: np.ndarray, vertical_m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Path loss (dB) of links with the given horizontal and vertical separations."""
        c = self.config
        d3d = np.hypot(horizontal_m, vertical_m)
        model = c.path_loss
        if model == "free_space":
            return free_space_db(d3d, c.carrier_hz)
        if model == "macro_36814":
            return macro_36814_db(d3d)
        if model == "air_to_air":
            return air_to_air_db(d3d, c.carrier_hz, min(max(self.path_loss_exponent, 2.0), 2.05))
        # Models with a LoS state: draw it per link from the model's LoS probability.
        if model == "uma_38901":
            los = draw_los(rng, uma_los_probability(horizontal_m, c.device_height_m))
            return uma_38901_db(horizontal_m, c.carrier_hz, h_bs_m=c.bs_height_m, h_ut_m=c.device_height_m, los=los)
        if model == "umi_38901":
            los = draw_los(rng, umi_los_probability(horizontal_m))
            return umi_38901_db(horizontal_m, c.carrier_hz, h_bs_m=c.bs_height_m, h_ut_m=c.device_height_m, los=los)
        if model == "uma_av_36777":
            los = draw_los(rng, uma_av_los_probability(horizontal_m, c.device_height_m))
            return uma_av_36777_db(horizontal_m, c.carrier_hz, c.device_height_m, h_bs_m=c.bs_height_m, los=los)
        if model == "umi_av_36777":
            los = draw_los(rng, umi_av_los_probability(horizontal_m, c.device_height_m))
            return umi_av_36777_db(horizontal_m, c.carrier_hz, c.device_height_m, h_bs_m=c.bs_height_m, los=los)
        # air_to_ground: the device is the aerial end (altitude above the ground station).
        altitude = np.maximum(vertical_m, 1e-3)
        los = draw_los(rng, air_to_ground_los_probability(elevation_deg(horizontal_m, altitude), c.environment))
        return air_to_ground_db(horizontal_m, altitude, c.carrier_hz, c.environment, los=los)

    def large_scale_gain(
        self,
        horizontal_m: np.ndarray,
        vertical_m: np.ndarray,
        round_index: int,
        pointing_error_deg: np.ndarray | None = None,
    ) -> np.ndarray:
        """Linear gain without fading: path loss, shadowing and antenna gains, per device."""
        c = self.config
        if c.path_loss == "exponent":
            gain = path_gain(np.hypot(horizontal_m, vertical_m), self.path_loss_exponent)
        else:
            rng = numpy_stream(self.seed, "line-of-sight", round_index)
            gain = 10.0 ** (-self.path_loss_db(horizontal_m, vertical_m, rng) / 10.0)
        if c.shadowing_db > 0:
            shadow = shadowing_db(numpy_stream(self.seed, "shadowing", round_index), c.shadowing_db, gain.shape)
            gain = gain * 10.0 ** (-shadow / 10.0)
        if c.antenna == "parabolic":
            if pointing_error_deg is None:
                rng = numpy_stream(self.seed, "pointing", round_index)
                pointing_error_deg = draw_pointing_error_deg(rng, c.pointing_sigma_deg, gain.shape)
            tx_db = pointing_gain_db(pointing_error_deg, c.beamwidth_deg, c.max_gain_dbi, 30.0)
            gain = gain * 10.0 ** ((tx_db + c.rx_gain_dbi) / 10.0)
        elif c.rx_gain_dbi:
            gain = gain * 10.0 ** (c.rx_gain_dbi / 10.0)
        return gain

    # -- small scale --------------------------------------------------------------------------
    def fading_block(self, round_index: int, start_s: np.ndarray | float) -> np.ndarray:
        """Block index of each upload starting at ``start_s`` (the round itself without T_c)."""
        if self.config.coherence_s is None:
            return np.full(np.shape(start_s), round_index, dtype=np.int64)
        return np.floor(np.asarray(start_s) / self.config.coherence_s).astype(np.int64)

    def fading(self, block: int, num_devices: int, resource_blocks: int | None = None) -> np.ndarray:
        """Fading power of every device in one block: (N,) or (N, resource_blocks) for OFDMA."""
        c = self.config
        if resource_blocks is None:
            rng = numpy_stream(self.seed, "fading", block)
            return fading_power(c.fading, rng, num_devices, **c.fading_params)
        rng = numpy_stream(self.seed, "fading-per-resource-block", block)
        return fading_power(c.fading, rng, (num_devices, resource_blocks), **c.fading_params)

    def fading_at(self, blocks: np.ndarray, devices: np.ndarray, num_devices: int) -> np.ndarray:
        """Fading of each device in its own block (vectorized over the distinct blocks)."""
        out = np.empty(devices.shape, dtype=float)
        for block in np.unique(blocks):
            here = blocks == block
            out[here] = self.fading(int(block), num_devices)[devices[here]]
        return out
