"""The uplink channel of every device: large-scale gain (path loss, shadowing, antennas) times
small-scale fading, drawn for all devices at once.

Fading is block fading. With ``coherence_s`` unset a block is a round (i.i.d. across rounds);
otherwise block b covers [b·T_c, (b+1)·T_c) of simulated time and a device sees the block in
force when its upload starts. The draws of block b come from the stream (seed, "fading", b) for
all devices, so this is exactly what a channel-clock process redrawing every T_c would produce,
without waking up when nobody transmits.
"""

from __future__ import annotations

import numpy as np

from fedsim.rng import StreamFamily, numpy_stream
from fedsim.world._antenna import draw_pointing_error_deg, mean_pointing_gain, pointing_gain_db
from fedsim.world._config import RadioConfig
from fedsim.world._fading import fading_power
from fedsim.world._pathloss import CUSTOM_PATH_LOSS, DETERMINISTIC_MODELS, PathLossLinks, path_gain_of, shadowing_db
from fedsim.world._user_pathloss import UserPathLoss

_MAX_ATTENUATION_DB = 30.0  # the parabolic pattern's floor (TR 38.901 A_max)


class Channel:
    """Draws channel power gains for devices at given positions; all randomness from named streams."""

    def __init__(self, config: RadioConfig, seed: int) -> None:
        self.config = config
        self.seed = seed
        # The fading streams (seed, "fading", block) and (seed, "fading-per-resource-block", block):
        # the same draws as numpy_stream's, reseeded cheaply block after block.
        self._fading_streams = StreamFamily(seed, "fading")
        self._rb_fading_streams = StreamFamily(seed, "fading-per-resource-block")
        # The last block's fading of every device: a round reads it for the downlink and again
        # for the uplink (and the server's perfect CSI), and the draw is the same each time.
        self._last_fading: tuple[int, int, np.ndarray] | None = None
        # radio.path_loss=custom: the user's function, imported with the World, checked each call.
        self._user_path_loss = UserPathLoss(config.path_loss_target, config.path_loss_kwargs) if config.path_loss == CUSTOM_PATH_LOSS else None

    # -- large scale --------------------------------------------------------------------------
    @property
    def draws_large_scale(self) -> bool:
        """Whether the large-scale gain is random (LoS states, shadowing or pointing errors)."""
        c = self.config
        user = self._user_path_loss
        random_path_loss = user.draws if user is not None else c.path_loss not in DETERMINISTIC_MODELS
        return random_path_loss or c.shadowing_db > 0 or (c.antenna == "parabolic" and c.pointing_sigma_deg > 0)

    def path_gain(
        self, horizontal_m: np.ndarray, vertical_m: np.ndarray, round_index: int, *, seed: int | None = None, purpose: str = ""
    ) -> np.ndarray:
        """Linear path gain 10^(-PL/10) of links with the given horizontal and vertical separations
        under ``config.path_loss``; the model draws its LoS states (and UMa h_E) from the streams
        (seed, "line-of-sight", round) and (seed, "uma-effective-height", round)."""
        c = self.config
        links = PathLossLinks(
            horizontal_m, vertical_m, c.carrier_hz, h_bs_m=c.bs_height_m, h_ut_m=c.device_height_m,
            environment=c.environment, exponent=c.path_loss_exponent,
        )
        streams = self._streams(round_index, seed, purpose)
        if self._user_path_loss is not None:
            return self._user_path_loss(links, streams)
        return path_gain_of(c.path_loss, links, streams)

    def _streams(self, round_index: int, seed: int | None, purpose: str):
        """Named streams of one round; ``purpose`` prefixes the names (an estimator's own draws)."""
        base = self.seed if seed is None else seed
        prefix = f"{purpose}-" if purpose else ""
        return lambda name: numpy_stream(base, prefix + name, round_index)

    def _shadowed_path_gain(self, horizontal_m, vertical_m, round_index: int, seed: int | None, purpose: str) -> np.ndarray:
        """Path loss and log-normal shadowing of the round, before any antenna gain."""
        gain = self.path_gain(horizontal_m, vertical_m, round_index, seed=seed, purpose=purpose)
        if self.config.shadowing_db > 0:
            shadow = shadowing_db(self._streams(round_index, seed, purpose)("shadowing"), self.config.shadowing_db, gain.shape)
            gain = gain * 10.0 ** (-shadow / 10.0)
        return gain

    def large_scale_gain(
        self,
        horizontal_m: np.ndarray,
        vertical_m: np.ndarray,
        round_index: int,
        pointing_error_deg: np.ndarray | None = None,
        *,
        seed: int | None = None,
        purpose: str = "",
    ) -> np.ndarray:
        """Linear gain without fading: path loss, shadowing and antenna gains, per device.

        Draws come from the round's named streams (``purpose`` prefixes them, ``seed`` overrides
        the channel's: a Monte-Carlo estimator's own draws). Pointing errors are drawn when not
        given (a swarm gives its own, moved by the wind)."""
        c = self.config
        gain = self._shadowed_path_gain(horizontal_m, vertical_m, round_index, seed, purpose)
        if c.antenna == "parabolic":
            if pointing_error_deg is None:
                rng = self._streams(round_index, seed, purpose)("pointing")
                pointing_error_deg = draw_pointing_error_deg(rng, c.pointing_sigma_deg, gain.shape)
            tx_db = pointing_gain_db(pointing_error_deg, c.beamwidth_deg, c.max_gain_dbi, _MAX_ATTENUATION_DB)
            gain = gain * 10.0 ** ((tx_db + c.rx_gain_dbi) / 10.0)
        elif c.rx_gain_dbi:
            gain = gain * 10.0 ** (c.rx_gain_dbi / 10.0)
        return gain

    def mean_large_scale_gain(
        self, horizontal_m: np.ndarray, vertical_m: np.ndarray, round_index: int, *, planes: int = 1
    ) -> np.ndarray:
        """What a server can know of a link before it transmits: path loss and shadowing of the
        round (large-scale CSI) times the closed-form mean antenna gain over the pointing error
        (``planes`` = 2 where the error has azimuth and elevation parts), never its draw."""
        c = self.config
        if c.antenna != "parabolic":
            return self.large_scale_gain(horizontal_m, vertical_m, round_index)
        antenna = mean_pointing_gain(c.pointing_sigma_deg, c.beamwidth_deg, c.max_gain_dbi, _MAX_ATTENUATION_DB, planes)
        return self._shadowed_path_gain(horizontal_m, vertical_m, round_index, None, "") * antenna * 10.0 ** (c.rx_gain_dbi / 10.0)

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
            last = self._last_fading
            if last is not None and last[0] == block and last[1] == num_devices:
                return last[2]
            rng = self._fading_streams.at(block)
            power = fading_power(c.fading, rng, num_devices, **c.fading_params)
            power.flags.writeable = False  # shared by the block's readers
            self._last_fading = (block, num_devices, power)
            return power
        rng = self._rb_fading_streams.at(block)
        return fading_power(c.fading, rng, (num_devices, resource_blocks), **c.fading_params)

    def fading_at(self, blocks: np.ndarray, devices: np.ndarray, num_devices: int) -> np.ndarray:
        """Fading of each device in its own block (vectorized over the distinct blocks)."""
        if blocks.size and blocks[0] == blocks[-1] and np.all(blocks == blocks[0]):
            return self.fading(int(blocks[0]), num_devices)[devices]  # one block: the usual round
        out = np.empty(devices.shape, dtype=float)
        for block in np.unique(blocks):
            here = blocks == block
            out[here] = self.fading(int(block), num_devices)[devices[here]]
        return out
