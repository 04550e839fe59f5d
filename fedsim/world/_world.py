"""World v0: one round of federated learning as physics (compute, uplink airtime, joules).

v0 is deliberately simple: no deadline, no packet error, every selected device gets the whole band
(FDMA splitting of the bandwidth comes later), transmit power is the configured one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from fedsim.errors import ConfigError
from fedsim.rng import numpy_stream
from fedsim._checks import check_float, check_int
from fedsim.world._compute_energy import QnnEnergyModel, Workload, check_train_bits
from fedsim.world._placement import distances_to_bs, place_uniform_square
from fedsim.world._radio import path_gain, rayleigh_power, shannon_rate_bps, uplink_time_energy

# Forward plus a backward of twice the forward: the usual 1 + 2 MAC count of a training step.
_TRAIN_MACS_PER_FORWARD = 3.0
# Monte-Carlo drops are evaluated in blocks so drops x devices never exceeds this many floats.
_MC_BLOCK_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class WorldConfig:
    """Physical parameters of a World; defaults are the Green-QFL setup (except num_devices)."""

    num_devices: int = 20
    area_side_m: float = 500.0
    bs_position_m: tuple[float, float] = (0.0, 0.0)  # the square's corner, as in Green-QFL
    tx_power_w: float = 0.1
    bandwidth_hz: float = 10e6
    noise_psd_w_hz: float = 4e-21  # -174 dBm/Hz
    path_loss_exponent: float = 4.0
    # Compute time: one local iteration costs batch_size·3·N_c MACs (forward, plus a backward of
    # twice the forward) executed at this rate. The energy model does not depend on it.
    device_macs_per_s: float = 1e10
    energy: QnnEnergyModel = field(default_factory=QnnEnergyModel)

    def __post_init__(self) -> None:
        check_int("world.num_devices", self.num_devices, 1)
        check_float("world.area_side_m", self.area_side_m, low=0, low_open=True)
        bs = self.bs_position_m
        try:
            bs_ok = len(bs) == 2 and all(
                not isinstance(c, bool) and math.isfinite(float(c)) for c in bs
            )
        except (TypeError, ValueError):
            bs_ok = False
        if not bs_ok:
            raise ConfigError("world.bs_position_m", bs, "a pair of finite coordinates (x, y) in m")
        check_float("world.tx_power_w", self.tx_power_w, low=0, low_open=True)
        check_float("world.bandwidth_hz", self.bandwidth_hz, low=0, low_open=True)
        check_float("world.noise_psd_w_hz", self.noise_psd_w_hz, low=0, low_open=True)
        check_float("world.path_loss_exponent", self.path_loss_exponent, low=0, low_open=True)
        check_float("world.device_macs_per_s", self.device_macs_per_s, low=0, low_open=True)
        if not isinstance(self.energy, QnnEnergyModel):
            raise ConfigError("world.energy", self.energy, "a QnnEnergyModel")


def _frozen_array(values: object, dtype: type) -> np.ndarray:
    array = np.array(values, dtype=dtype, copy=True).reshape(-1)
    array.flags.writeable = False  # frozen dataclass: the arrays must not change behind it either
    return array


# eq=False: the generated __eq__ would compare numpy arrays with `==` and fail on truthiness;
# compare fields with np.array_equal instead.
@dataclass(frozen=True, eq=False)
class RoundPlan:
    """What the federation asks of the world in one round, one entry per selected device."""

    round: int
    devices: np.ndarray  # device indices, unique, in [0, num_devices)
    local_iters: np.ndarray  # local SGD iterations (mini-batches)
    train_bits: np.ndarray  # training precision n, in [1, 32]
    uplink_bits: np.ndarray  # payload size in bits (e.g. d·m for m-bit updates), not the precision

    def __post_init__(self) -> None:
        check_int("plan.round", self.round, 0)
        object.__setattr__(self, "round", int(self.round))
        arrays = {
            "devices": self.devices,
            "local_iters": self.local_iters,
            "train_bits": self.train_bits,
            "uplink_bits": self.uplink_bits,
        }
        converted = {}
        for name, values in arrays.items():
            raw = np.asarray(values)
            if raw.ndim > 1:
                raise ConfigError(f"plan.{name}", values, "a 1-D sequence, one entry per device")
            converted[name] = raw.reshape(-1)
        size = converted["devices"].size
        for name, raw in converted.items():
            if raw.size != size:
                raise ConfigError(f"plan.{name}", arrays[name], f"{size} entries, one per device")
        devices = converted["devices"]
        if devices.size and (
            not np.issubdtype(devices.dtype, np.integer)
            or np.any(devices < 0)
            or np.unique(devices).size != size
        ):
            raise ConfigError("plan.devices", arrays["devices"], "unique integer indices >= 0")
        iters = converted["local_iters"]
        if iters.size and (not np.issubdtype(iters.dtype, np.integer) or np.any(iters < 1)):
            raise ConfigError("plan.local_iters", arrays["local_iters"], "integers >= 1")
        bits = check_train_bits(converted["train_bits"])
        payload = converted["uplink_bits"]
        if payload.size and (
            not np.issubdtype(payload.dtype, np.number)
            or not np.all(np.isfinite(payload))
            or np.any(payload < 0)
        ):
            raise ConfigError("plan.uplink_bits", arrays["uplink_bits"], "finite bit counts >= 0")
        object.__setattr__(self, "devices", _frozen_array(devices, np.int64))
        object.__setattr__(self, "local_iters", _frozen_array(iters, np.int64))
        object.__setattr__(self, "train_bits", _frozen_array(bits, np.int64))
        object.__setattr__(self, "uplink_bits", _frozen_array(payload, float))


@dataclass(frozen=True, eq=False)
class RoundOutcome:
    """What happened to each selected device in one round (arrays aligned with ``devices``)."""

    round: int
    devices: np.ndarray
    compute_s: np.ndarray
    upload_s: np.ndarray
    energy_compute_j: np.ndarray
    energy_uplink_j: np.ndarray
    delivered: np.ndarray  # bool; all True in v0 (no deadline, no packet error yet)
    channel_gain: np.ndarray  # fading x path gain, linear
    distance_m: np.ndarray

    @property
    def round_s(self) -> float:
        """Wall-clock of the round: the slowest selected device (synchronous FL); 0 if none."""
        total = self.compute_s + self.upload_s
        return float(total.max()) if total.size else 0.0

    @property
    def energy_j(self) -> float:
        """Total joules spent by all selected devices this round (compute + uplink)."""
        return float(self.energy_compute_j.sum() + self.energy_uplink_j.sum())


class World:
    """Devices dropped once in an area around one base station; each round is priced in s and J.

    Randomness comes from named streams: placement from ``(seed, "placement")`` and the fading of
    round r from ``(seed, "fading", r)``, drawn for every device so a device's channel does not
    depend on who else was selected.
    """

    def __init__(self, config: WorldConfig, workload: Workload, seed: int) -> None:
        if not isinstance(config, WorldConfig):
            raise ConfigError("world", config, "a WorldConfig")
        if not isinstance(workload, Workload):
            raise ConfigError("workload", workload, "a Workload")
        check_int("seed", seed, 0)
        self.config = config
        self.workload = workload
        self.seed = int(seed)
        positions = place_uniform_square(
            config.num_devices, config.area_side_m, numpy_stream(self.seed, "placement")
        )
        self._positions_m = positions
        self._positions_m.flags.writeable = False
        self._distances_m = distances_to_bs(positions, config.bs_position_m)
        self._distances_m.flags.writeable = False
        self._path_gain = path_gain(self._distances_m, config.path_loss_exponent)

    @property
    def positions_m(self) -> np.ndarray:
        """(N, 2) device positions in metres (read-only)."""
        return self._positions_m

    @property
    def distances_m(self) -> np.ndarray:
        """(N,) distances to the base station in metres (read-only)."""
        return self._distances_m

    def channel_gains(self, round_index: int) -> np.ndarray:
        """(N,) channel power gains of every device in a round: Exp(1) fading x path gain."""
        fading = rayleigh_power(
            numpy_stream(self.seed, "fading", round_index), self.config.num_devices
        )
        return fading * self._path_gain

    def simulate_round(self, plan: RoundPlan) -> RoundOutcome:
        """Price one round: local training on each selected device, then its upload."""
        cfg = self.config
        devices = plan.devices
        if devices.size and devices.max() >= cfg.num_devices:
            allowed = f"indices in [0, {cfg.num_devices})"
            raise ConfigError("plan.devices", devices.tolist(), allowed)
        gain = self.channel_gains(plan.round)[devices]

        iters = plan.local_iters.astype(float)
        energy_compute_j = iters * cfg.energy.train_iteration_energy(plan.train_bits, self.workload)
        macs_per_iter = cfg.energy.batch_size * _TRAIN_MACS_PER_FORWARD * self.workload.macs
        compute_s = iters * macs_per_iter / cfg.device_macs_per_s

        # v0: every device transmits on the full band; FDMA splitting of bandwidth_hz comes later.
        rate_bps = shannon_rate_bps(cfg.bandwidth_hz, cfg.tx_power_w, gain, cfg.noise_psd_w_hz)
        upload_s, energy_uplink_j = uplink_time_energy(plan.uplink_bits, rate_bps, cfg.tx_power_w)

        return RoundOutcome(
            round=plan.round,
            devices=_frozen_array(devices, np.int64),
            compute_s=_frozen_array(compute_s, float),
            upload_s=_frozen_array(upload_s, float),
            energy_compute_j=_frozen_array(energy_compute_j, float),
            energy_uplink_j=_frozen_array(energy_uplink_j, float),
            delivered=_frozen_array(np.ones(devices.shape), bool),
            channel_gain=_frozen_array(gain, float),
            distance_m=_frozen_array(self._distances_m[devices], float),
        )

    def expected_uplink_energy_per_bit(
        self,
        weights: np.ndarray | None = None,
        drops: int = 10_000,
        seed: int | None = None,
        redraw_positions: bool = False,
    ) -> float:
        """Monte-Carlo E of sum_i w_i·P / (B·log2(1 + P·h_i/(B·N0))), in joules per bit.

        Multiply by the payload (e.g. d·m bits) to get the expected uplink energy of a sampled
        device. Weights default to uniform 1/N and are normalised to sum to 1, so weights given up
        to a constant (p_i ∝ 1/sigma_i^2) are fine. As in the Green-QFL release, each drop draws ONE
        fading value shared by all devices.

        By default the expectation is over fading only, for this world's placement. The release
        (Get_comm_parameter.m) also redraws every device's position in each drop, so its number is
        an average over placements too; ``redraw_positions=True`` reproduces that protocol. With one
        fixed placement the answer hinges on where the heavily weighted devices happen to stand.

        E[1/log2(1 + aX)] with X ~ Exp(1) diverges (logarithmically, from deep fades), so the
        estimate grows slowly with ``drops`` and is seed-sensitive: fix and report both. Streams:
        ``(seed, "uplink_energy_mc")`` for fading, ``(seed, "uplink_energy_mc_placement")`` for
        redrawn positions; ``seed`` defaults to the world's seed.
        """
        cfg = self.config
        n = cfg.num_devices
        if weights is None:
            w = np.full(n, 1.0 / n)
        else:
            w = np.asarray(weights, dtype=float).reshape(-1)
            if w.size != n or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
                raise ConfigError(
                    "weights", weights, f"{n} finite non-negative numbers with a positive sum"
                )
            w = w / w.sum()
        check_int("drops", drops, 1)
        drops = int(drops)
        if seed is not None:
            check_int("seed", seed, 0)
        stream_seed = self.seed if seed is None else int(seed)
        fading = rayleigh_power(numpy_stream(stream_seed, "uplink_energy_mc"), drops)
        placement_rng = numpy_stream(stream_seed, "uplink_energy_mc_placement")

        total = 0.0
        block = max(1, _MC_BLOCK_ELEMENTS // n)
        for start in range(0, drops, block):
            fade = fading[start : start + block, None]
            if redraw_positions:
                positions = place_uniform_square(fade.size * n, cfg.area_side_m, placement_rng)
                distances = distances_to_bs(positions, cfg.bs_position_m).reshape(fade.size, n)
                large_scale = path_gain(distances, cfg.path_loss_exponent)
            else:
                large_scale = self._path_gain[None, :]
            rate = shannon_rate_bps(
                cfg.bandwidth_hz, cfg.tx_power_w, fade * large_scale, cfg.noise_psd_w_hz
            )
            total += float(np.sum((cfg.tx_power_w / rate) @ w))
        return total / drops
