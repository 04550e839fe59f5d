"""The World: physics of federated-learning rounds, advanced by a simpy clock.

Each round, for the selected devices at once (numpy arrays): geometry from the mobility model,
channel gains, the downlink broadcast of the global model, local compute, uplink rates under the
multiple-access scheme, battery budgets, packet errors and the server's deadline. simpy owns the
simulated clock and the events that change state (broadcast done, each upload arriving, the
deadline); there is one round process, never one process per device.

Defaults reproduce the Green-QFL model (Kim et al.): devices in a 500 m square with the base
station at a corner, d^-4 path loss, Rayleigh fading redrawn every round, a dedicated full-band
channel per device, no deadline, no packet errors, mains power.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import simpy

from fedsim._checks import check_choice, check_float, check_int
from fedsim.errors import ConfigError
from fedsim.rng import numpy_stream
from fedsim.world._channel import Channel, ChannelConfig
from fedsim.world._compute_energy import QnnEnergyModel, Workload, check_train_bits
from fedsim.world._devices import Battery, DeviceProfile, draw_fleet
from fedsim.world._link import (
    AccessConfig,
    broadcast_time_s,
    fdma_rates,
    ofdma_assign,
    packet_error_rate,
    serve_in_order,
)
from fedsim.world._mobility import RandomWaypoint, SwarmFormation, formation_offsets, place_disc, place_hex_cell
from fedsim.world._placement import distances_to_bs, place_uniform_square
from fedsim.world._propulsion import propulsion_power_w
from fedsim.world._radio import path_gain, rayleigh_power, shannon_rate_bps

# Forward plus a backward of twice the forward: the usual 1 + 2 MAC count of a training step.
_TRAIN_MACS_PER_FORWARD = 3.0
# Monte-Carlo drops are evaluated in blocks so drops x devices never exceeds this many floats.
_MC_BLOCK_ELEMENTS = 1 << 20

COMPUTE_MODELS = ("qnn", "cmos")
MOBILITY_KINDS = ("static", "random_waypoint", "uav_swarm")
PLACEMENTS = ("square", "disc", "hex")
DROP_REASONS = ("", "deadline", "packet_error", "battery")


@dataclass(frozen=True)
class DeviceConfig:
    """Device hardware: the compute energy model, receive power and the battery.

    ``compute="qnn"``: the QNN energy model (green_qfl.md) and ``WorldConfig.device_macs_per_s``.
    ``compute="cmos"``: Yang et al.'s kappa·C·D·f^2 per iteration with D = the mini-batch and
    C drawn per device uniformly in ``cycles_per_sample`` (their setup: 1e4 to 3e4).
    """

    compute: str = "qnn"
    cpu_hz: float = 1e9
    cycles_per_sample: tuple[float, float] = (2e4, 2e4)
    kappa: float = 1e-28
    rx_power_w: float = 0.0
    battery_j: float | None = None  # None: mains power
    harvest_w: float = 0.0

    def __post_init__(self) -> None:
        check_choice("devices.compute", self.compute, COMPUTE_MODELS)
        check_float("devices.cpu_hz", self.cpu_hz, low=0, low_open=True)
        low, high = _pair("devices.cycles_per_sample", self.cycles_per_sample)
        if not 0 < low <= high:
            raise ConfigError("devices.cycles_per_sample", self.cycles_per_sample, "0 < low <= high")
        object.__setattr__(self, "cycles_per_sample", (low, high))  # YAML gives a list
        check_float("devices.kappa", self.kappa, low=0, low_open=True)
        check_float("devices.rx_power_w", self.rx_power_w, low=0)
        if self.battery_j is not None:
            check_float("devices.battery_j", self.battery_j, low=0, low_open=True)
        check_float("devices.harvest_w", self.harvest_w, low=0)


@dataclass(frozen=True)
class MobilityConfig:
    """Where devices are and how they move. ``uav_swarm``: the devices are the followers of a
    leader UAV that is also the server (no ground base station)."""

    kind: str = "static"
    placement: str = "square"  # square: [0, side]^2; disc/hex: radius side/2 around the BS
    speed_mps: tuple[float, float] = (1.0, 2.0)  # random waypoint
    pause_s: float = 0.0
    altitude_m: float = 100.0  # swarm
    formation: str = "ring"
    spacing_m: float = 30.0
    leader_speed_mps: float = 10.0
    wind_mps: float = 0.0
    gust_sigma_m: float = 0.0
    gust_tau_s: float = 1.0

    def __post_init__(self) -> None:
        check_choice("mobility.kind", self.kind, MOBILITY_KINDS)
        check_choice("mobility.placement", self.placement, PLACEMENTS)
        low, high = _pair("mobility.speed_mps", self.speed_mps)
        if not 0 < low <= high:
            raise ConfigError("mobility.speed_mps", self.speed_mps, "0 < low <= high")
        object.__setattr__(self, "speed_mps", (low, high))  # YAML gives a list
        check_float("mobility.pause_s", self.pause_s, low=0)
        check_float("mobility.altitude_m", self.altitude_m, low=0)
        check_float("mobility.spacing_m", self.spacing_m, low=0, low_open=True)
        check_float("mobility.leader_speed_mps", self.leader_speed_mps, low=0)
        check_float("mobility.wind_mps", self.wind_mps)
        check_float("mobility.gust_sigma_m", self.gust_sigma_m, low=0)
        check_float("mobility.gust_tau_s", self.gust_tau_s, low=0)


def _pair(key: str, value: object) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ConfigError(key, value, "a pair [low, high]") from None
    return low, high


@dataclass(frozen=True)
class WorldConfig:
    """Physical parameters of a World; defaults are the Green-QFL setup (except num_devices)."""

    num_devices: int = 20
    area_side_m: float = 500.0
    bs_position_m: tuple[float, float] = (0.0, 0.0)  # the square's corner, as in Green-QFL
    tx_power_w: float = 0.1
    bandwidth_hz: float = 10e6
    noise_psd_w_hz: float = 4e-21  # -174 dBm/Hz
    noise_figure_db: float = 0.0
    path_loss_exponent: float = 4.0  # of the "exponent" path-loss model
    # Compute time: one local iteration costs batch_size·3·N_c MACs (forward, plus a backward of
    # twice the forward) executed at this rate. The energy model does not depend on it.
    device_macs_per_s: float = 1e10
    energy: QnnEnergyModel = field(default_factory=QnnEnergyModel)
    deadline_s: float | None = None  # the server waits at most this long per round
    downlink_power_w: float | None = None  # base-station power of the model broadcast; None: ignored
    waterfall_threshold: float | None = None  # Chen et al.'s m_w; None: no packet errors
    access: AccessConfig = field(default_factory=lambda: AccessConfig(scheme="orthogonal"))
    channel: ChannelConfig = field(default_factory=ChannelConfig)
    devices: DeviceConfig = field(default_factory=DeviceConfig)
    mobility: MobilityConfig = field(default_factory=MobilityConfig)

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
        check_float("world.noise_figure_db", self.noise_figure_db, low=0)
        check_float("world.path_loss_exponent", self.path_loss_exponent, low=0, low_open=True)
        check_float("world.device_macs_per_s", self.device_macs_per_s, low=0, low_open=True)
        if self.deadline_s is not None:
            check_float("world.deadline_s", self.deadline_s, low=0, low_open=True)
        if self.downlink_power_w is not None:
            check_float("world.downlink_power_w", self.downlink_power_w, low=0, low_open=True)
        if self.waterfall_threshold is not None:
            check_float("radio.waterfall_threshold", self.waterfall_threshold, low=0, low_open=True)
        for key, value, kind in (
            ("world.energy", self.energy, QnnEnergyModel),
            ("world.access", self.access, AccessConfig),
            ("world.channel", self.channel, ChannelConfig),
            ("world.devices", self.devices, DeviceConfig),
            ("world.mobility", self.mobility, MobilityConfig),
        ):
            if not isinstance(value, kind):
                raise ConfigError(key, value, f"a {kind.__name__}")

    @property
    def noise_psd_with_figure_w_hz(self) -> float:
        return self.noise_psd_w_hz * 10.0 ** (self.noise_figure_db / 10.0)


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
    downlink_bits: float = 0.0  # global model broadcast before training (0: not modelled)

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
        check_float("plan.downlink_bits", self.downlink_bits, low=0)
        object.__setattr__(self, "devices", _frozen_array(devices, np.int64))
        object.__setattr__(self, "local_iters", _frozen_array(iters, np.int64))
        object.__setattr__(self, "train_bits", _frozen_array(bits, np.int64))
        object.__setattr__(self, "uplink_bits", _frozen_array(payload, float))


@dataclass(frozen=True, eq=False)
class RoundOutcome:
    """What happened to each selected device in one round (arrays aligned with ``devices``).

    Times ending in ``_s`` are durations except ``start_s`` (the simulated time the round began),
    ``upload_start_s`` and ``finish_s`` (absolute simulated times).
    """

    round: int
    devices: np.ndarray
    compute_s: np.ndarray
    upload_s: np.ndarray  # seconds actually on air
    energy_compute_j: np.ndarray
    energy_uplink_j: np.ndarray
    delivered: np.ndarray  # bool: arrived before the deadline, intact, battery not empty
    channel_gain: np.ndarray  # large-scale gain x fading, linear
    distance_m: np.ndarray
    start_s: float = 0.0
    duration_s: float = 0.0  # until every expected upload arrived or the deadline passed
    download_s: float = 0.0
    energy_download_j: np.ndarray | None = None
    upload_start_s: np.ndarray | None = None
    finish_s: np.ndarray | None = None
    drop_reason: np.ndarray | None = None  # "" (delivered), "deadline", "packet_error", "battery"
    battery_j: np.ndarray | None = None  # level after the round (inf: mains power)
    position_m: np.ndarray | None = None  # (K, 3)
    energy_propulsion_j: np.ndarray | None = None  # UAVs only; reported apart from learning energy

    @property
    def round_s(self) -> float:
        """Simulated duration of the round (synchronous FL: until all arrive or the deadline)."""
        return float(self.duration_s)

    @property
    def energy_j(self) -> float:
        """Joules spent by the selected devices for learning (download, compute, uplink)."""
        download = 0.0 if self.energy_download_j is None else float(self.energy_download_j.sum())
        return float(self.energy_compute_j.sum() + self.energy_uplink_j.sum()) + download


class World:
    """Devices around one server, priced round by round in seconds and joules on a simpy clock.

    Randomness comes from named streams: placement from ``(seed, "placement")``, the fading of
    block b from ``(seed, "fading", b)`` for every device (so a device's channel does not depend
    on who else was selected), packet errors from ``(seed, "packet-error", round)``.
    """

    def __init__(
        self, config: WorldConfig, workload: Workload | Sequence[tuple[Workload, int | None]], seed: int
    ) -> None:
        """``workload``: one Workload trained at the round's training bits, or parts
        ``(workload, bits)`` priced separately (bits None: the round's training bits), e.g. a
        compressed base at 4 bits plus adapters at the training precision."""
        if not isinstance(config, WorldConfig):
            raise ConfigError("world", config, "a WorldConfig")
        parts = [(workload, None)] if isinstance(workload, Workload) else list(workload)
        if not parts or not all(isinstance(w, Workload) and (b is None or 1 <= b <= 32) for w, b in parts):
            raise ConfigError("workload", workload, "a Workload or (Workload, bits in [1, 32] or None) pairs")
        check_int("seed", seed, 0)
        self.config = config
        self.workload_parts = parts
        self.workload = parts[0][0]
        self.seed = int(seed)
        self.env = simpy.Environment()
        self.channel = Channel(config.channel, self.seed, config.path_loss_exponent)
        n = config.num_devices
        mob = config.mobility
        rng = numpy_stream(self.seed, "placement")
        self._swarm: SwarmFormation | None = None
        self._walk: RandomWaypoint | None = None
        if mob.kind == "uav_swarm":
            offsets = formation_offsets(mob.formation, n, mob.spacing_m)
            self._swarm = SwarmFormation(
                offsets,
                numpy_stream(self.seed, "swarm"),
                leader_position_m=(0.0, 0.0, mob.altitude_m),
                leader_velocity_mps=(mob.leader_speed_mps, 0.0, 0.0),
                wind_mps=(mob.wind_mps, 0.0, 0.0),
                gust_sigma_m=mob.gust_sigma_m,
                pointing_sigma_deg=config.channel.pointing_sigma_deg,
                gust_tau_s=mob.gust_tau_s,
            )
            positions = self._swarm.follower_positions_m[:, :2]
        elif mob.placement == "square":
            positions = place_uniform_square(n, config.area_side_m, rng)
        elif mob.placement == "disc":
            positions = place_disc(n, config.area_side_m / 2, rng, center_m=config.bs_position_m)
        else:
            positions = place_hex_cell(n, config.area_side_m / 2, rng, center_m=config.bs_position_m)
        if mob.kind == "random_waypoint":
            bounds = (0.0, 0.0, config.area_side_m, config.area_side_m)
            self._walk = RandomWaypoint(
                positions, bounds, numpy_stream(self.seed, "waypoints"), speed_mps=tuple(mob.speed_mps), pause_s=mob.pause_s
            )
        self._positions_m = np.array(positions, dtype=float)
        self._distances_m = distances_to_bs(self._positions_m, config.bs_position_m)
        self._path_gain = path_gain(self._distances_m, config.path_loss_exponent)
        dev = config.devices
        capacity = math.inf if dev.battery_j is None else dev.battery_j
        self.battery = Battery(np.full(n, capacity), harvest_w=dev.harvest_w)
        profile = DeviceProfile(
            "device", cpu_hz=dev.cpu_hz, macs_per_s=config.device_macs_per_s, cycles_per_sample=dev.cycles_per_sample,
            kappa=dev.kappa, tx_power_w=config.tx_power_w, rx_power_w=dev.rx_power_w,
        )
        self.fleet = draw_fleet([profile], n, numpy_stream(self.seed, "device-cycles"))

    # -- state ---------------------------------------------------------------------------------
    @property
    def now_s(self) -> float:
        """The simulated clock."""
        return float(self.env.now)

    @property
    def positions_m(self) -> np.ndarray:
        """(N, 2) device positions in metres at the start of the next round (a copy)."""
        if self._swarm is not None:
            return self._swarm.follower_positions_m[:, :2].copy()
        if self._walk is not None:
            return self._walk.positions_m.copy()
        return self._positions_m.copy()

    @property
    def distances_m(self) -> np.ndarray:
        """(N,) distances to the server in metres (3-D for a swarm)."""
        horizontal, vertical, _ = self._geometry()
        return np.hypot(horizontal, vertical)

    def available_devices(self) -> np.ndarray:
        """Devices that can be selected: those with charge left."""
        return np.flatnonzero(self.battery.available)

    def _geometry(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Horizontal and vertical separation from the server, and pointing errors (swarm)."""
        if self._swarm is not None:
            rel = self._swarm.follower_positions_m - self._swarm.leader_position_m
            pointing = np.hypot(*self._swarm.pointing_error_deg().T)
            return np.hypot(rel[:, 0], rel[:, 1]), np.abs(rel[:, 2]), pointing
        positions = self._walk.positions_m if self._walk is not None else self._positions_m
        horizontal = distances_to_bs(positions, self.config.bs_position_m)
        c = self.config.channel
        return horizontal, np.full(horizontal.shape, abs(c.bs_height_m - c.device_height_m)), None

    def channel_gains(self, round_index: int) -> np.ndarray:
        """(N,) uplink power gains of every device in a round (block fading per round)."""
        horizontal, vertical, pointing = self._geometry()
        large = self.channel.large_scale_gain(horizontal, vertical, round_index, pointing)
        return large * self.channel.fading(round_index, self.config.num_devices)

    # -- one round -----------------------------------------------------------------------------
    def simulate_round(self, plan: RoundPlan) -> RoundOutcome:
        """Run one synchronous round on the simulated clock and report every selected device."""
        cfg = self.config
        devices = plan.devices
        n_all = cfg.num_devices
        if devices.size and devices.max() >= n_all:
            raise ConfigError("plan.devices", devices.tolist(), f"indices in [0, {n_all})")
        if cfg.access.scheme == "ofdma":
            cfg.access.check_devices(devices.size)
        t0 = self.now_s
        horizontal, vertical, pointing = self._geometry()
        large = self.channel.large_scale_gain(horizontal, vertical, plan.round, pointing)[devices]
        distance = np.hypot(horizontal, vertical)[devices]
        noise_psd = cfg.noise_psd_with_figure_w_hz

        # Downlink: the server broadcasts the global model at the worst selected device's rate.
        download_s = 0.0
        if cfg.downlink_power_w is not None and plan.downlink_bits > 0 and devices.size:
            gain_dl = large * self.channel.fading(plan.round, n_all)[devices]
            rate_dl = shannon_rate_bps(cfg.bandwidth_hz, cfg.downlink_power_w, gain_dl, noise_psd)
            download_s = broadcast_time_s(plan.downlink_bits, rate_dl)
        energy_download_j = np.full(devices.shape, cfg.devices.rx_power_w * download_s)

        compute_s, energy_compute_j = self._compute(plan)
        ready_s = t0 + download_s + compute_s

        # Uplink rates under the access scheme, with the fading block in force when ready.
        blocks = self.channel.fading_block(plan.round, ready_s)
        bits = plan.uplink_bits
        if cfg.access.scheme == "ofdma":
            rate, band_hz, gain = self._ofdma_rates(devices, large, blocks, bits, noise_psd)
        else:
            gain = large * self.channel.fading_at(blocks, devices, n_all)
            if cfg.access.scheme == "fdma":
                band_hz = np.full(devices.shape, cfg.bandwidth_hz / max(devices.size, 1))
                rate = fdma_rates(cfg.bandwidth_hz, cfg.tx_power_w, gain, noise_psd_w_hz=noise_psd) if devices.size else gain
            else:  # orthogonal and tdma use the full band
                band_hz = np.full(devices.shape, cfg.bandwidth_hz)
                rate = shannon_rate_bps(cfg.bandwidth_hz, cfg.tx_power_w, gain, noise_psd)
        with np.errstate(divide="ignore"):
            airtime_s = np.where(bits > 0, bits / rate, 0.0)

        # Batteries: a device that cannot pay for download and compute never transmits; one that
        # runs dry on air stops there.
        level = self.battery.level_j[devices]
        before_upload_j = energy_download_j + energy_compute_j
        dead_early = level < before_upload_j
        with np.errstate(invalid="ignore", over="ignore"):  # mains power: an infinite budget
            budget_s = np.where(dead_early, 0.0, (level - before_upload_j) / cfg.tx_power_w)
        on_air_s = np.minimum(airtime_s, budget_s)
        dead_on_air = ~dead_early & (on_air_s < airtime_s)

        start_s, end_s = upload_schedule(cfg.access.scheme, ready_s, on_air_s, devices)
        deadline = math.inf if cfg.deadline_s is None else t0 + cfg.deadline_s
        late = end_s > deadline
        # A device stops transmitting at the deadline: the server has closed the round.
        sent_s = np.clip(np.minimum(end_s, deadline) - start_s, 0.0, None)
        energy_uplink_j = cfg.tx_power_w * sent_s

        if cfg.waterfall_threshold is not None and devices.size:
            q = packet_error_rate(cfg.tx_power_w, gain, band_hz, cfg.waterfall_threshold, noise_psd_w_hz=noise_psd)
            corrupted = numpy_stream(self.seed, "packet-error", plan.round).random(n_all)[devices] < q
        else:
            corrupted = np.zeros(devices.shape, dtype=bool)

        battery_out = dead_early | dead_on_air
        # A device that runs dry spends exactly what it had, phase by phase, and ends at 0 J.
        energy_download_j = np.where(dead_early, np.minimum(energy_download_j, level), energy_download_j)
        energy_compute_j = np.where(dead_early, np.maximum(level - energy_download_j, 0.0), energy_compute_j)
        energy_uplink_j = np.where(dead_early, 0.0, energy_uplink_j)
        energy_uplink_j = np.where(dead_on_air & ~late, level - before_upload_j, energy_uplink_j)
        reason = np.full(devices.shape, "", dtype=object)
        reason[corrupted] = "packet_error"
        reason[late] = "deadline"
        reason[battery_out] = "battery"
        delivered = reason == ""

        # The server waits for every upload it can expect, or for the deadline.
        arrivals = np.sort(end_s[delivered | (corrupted & ~late & ~battery_out)])
        waiting_for_missing = bool(np.any(battery_out | late))
        if cfg.deadline_s is not None and waiting_for_missing:
            end_of_round = max(deadline, t0 + download_s)  # the broadcast itself always completes
        else:
            end_of_round = max(float(arrivals[-1]) if arrivals.size else t0, t0 + download_s)
        self.env.run(until=self.env.process(self._round_process(t0 + download_s, arrivals, end_of_round)))
        duration = end_of_round - t0

        self.battery.drain(energy_download_j + energy_compute_j + energy_uplink_j, devices)
        self.battery.harvest(duration)
        propulsion = self._fly(duration)
        positions = self._positions_3d()[devices]

        return RoundOutcome(
            round=plan.round,
            devices=_frozen_array(devices, np.int64),
            compute_s=_frozen_array(compute_s, float),
            upload_s=_frozen_array(sent_s, float),
            energy_compute_j=_frozen_array(energy_compute_j, float),
            energy_uplink_j=_frozen_array(energy_uplink_j, float),
            delivered=_frozen_array(delivered, bool),
            channel_gain=_frozen_array(gain, float),
            distance_m=_frozen_array(distance, float),
            start_s=t0,
            duration_s=duration,
            download_s=download_s,
            energy_download_j=_frozen_array(energy_download_j, float),
            upload_start_s=_frozen_array(start_s, float),
            finish_s=_frozen_array(end_s, float),
            drop_reason=_frozen_array(reason, object),
            battery_j=_frozen_array(self.battery.level_j[devices], float),
            position_m=np.array(positions, dtype=float),
            energy_propulsion_j=_frozen_array(propulsion[devices], float),
        )

    def _round_process(self, broadcast_done_s: float, arrivals_s: np.ndarray, end_s: float):
        """The round on the clock: broadcast, each upload arriving, then the round's end."""
        env = self.env
        if broadcast_done_s > env.now:
            yield env.timeout(broadcast_done_s - env.now)
        for arrival in arrivals_s:
            if arrival > env.now:
                yield env.timeout(arrival - env.now)
        if end_s > env.now:
            yield env.timeout(end_s - env.now)

    def _compute(self, plan: RoundPlan) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.config
        iters = plan.local_iters.astype(float)
        if cfg.devices.compute == "cmos":  # Yang et al.: D = the mini-batch, C per device
            samples = cfg.energy.batch_size
            seconds = self.fleet.compute_time_s(samples, 1.0)[plan.devices] * iters
            joules = self.fleet.compute_energy_j(samples, 1.0)[plan.devices] * iters
            return np.asarray(seconds, float), np.asarray(joules, float)
        joules = np.zeros(plan.devices.shape)
        macs = 0.0
        for workload, bits in self.workload_parts:
            precision = plan.train_bits if bits is None else np.full(plan.devices.shape, bits)
            joules = joules + iters * cfg.energy.train_iteration_energy(precision, workload)
            macs += workload.macs
        macs_per_iter = cfg.energy.batch_size * _TRAIN_MACS_PER_FORWARD * macs
        return iters * macs_per_iter / cfg.device_macs_per_s, np.asarray(joules, float)

    def _ofdma_rates(self, devices, large, blocks, bits, noise_psd):
        """One resource block per device, assigned by the Hungarian algorithm on airtime."""
        cfg = self.config
        rbs = cfg.access.resource_blocks
        rb_hz = cfg.bandwidth_hz / rbs
        fading = np.empty((devices.size, rbs))
        for block in np.unique(blocks):
            here = blocks == block
            fading[here] = self.channel.fading(int(block), cfg.num_devices, rbs)[devices[here]]
        gains = large[:, None] * fading
        rates = shannon_rate_bps(rb_hz, cfg.tx_power_w, gains, noise_psd)
        rb = ofdma_assign(np.asarray(bits, float)[:, None] / rates) if devices.size else np.zeros(0, np.int64)
        pick = np.arange(devices.size)
        return rates[pick, rb], np.full(devices.shape, rb_hz), gains[pick, rb]

    def _fly(self, duration_s: float) -> np.ndarray:
        """Advance mobility by the round's duration; propulsion energy per device (UAVs only)."""
        n = self.config.num_devices
        if duration_s <= 0:
            return np.zeros(n)
        if self._walk is not None:
            self._walk.step(duration_s)
        if self._swarm is None:
            return np.zeros(n)
        power = float(propulsion_power_w(self._swarm.airspeed_mps))
        self._swarm.step(duration_s)
        return np.full(n, power * duration_s)

    def _positions_3d(self) -> np.ndarray:
        if self._swarm is not None:
            return self._swarm.follower_positions_m
        xy = self._walk.positions_m if self._walk is not None else self._positions_m
        return np.column_stack([xy, np.full(len(xy), self.config.channel.device_height_m)])

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


def upload_schedule(
    scheme: str, ready_s: np.ndarray, airtime_s: np.ndarray, devices: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Upload start and end times (absolute) of each device under a multiple-access scheme.

    Orthogonal, FDMA and OFDMA devices transmit as soon as they are ready. TDMA serves one device
    at a time in order of readiness, ties by device index, as a FIFO channel queue would.
    """
    if scheme != "tdma" or ready_s.size == 0:
        return ready_s.copy(), ready_s + airtime_s
    order = np.lexsort((devices, ready_s))
    start, end = np.empty_like(ready_s), np.empty_like(ready_s)
    start[order], end[order] = serve_in_order(ready_s[order], airtime_s[order])
    return start, end
