"""The World's configuration: one frozen dataclass per section a user writes.

These *are* the run configuration's ``world``, ``radio``, ``devices`` and ``mobility`` sections
(``access`` is :class:`~fedsim.world.AccessConfig`): ``fedsim.config`` builds them from the
composed Hydra config and hands the same objects to the World, with no copy in between.

Validation names a field by its own name; the builder that knows where the section sits prefixes
the path (``radio.tx_power_w``), so a message always shows the key the user wrote. dB and dBm
appear only here, at the boundary, and are converted once (``RadioConfig.noise_psd_w_hz``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

from fedsim._checks import check_choice, check_float, check_int
from fedsim._target import keyword_arguments
from fedsim.errors import ConfigError
from fedsim.world._antenna import ANTENNAS
from fedsim.world._availability import AvailabilityConfig
from fedsim.world._cellular import MAX_ALTITUDE_M, CellularConfig
from fedsim.world._compute_energy import QnnEnergyModel
from fedsim.world._fading import FADING_KINDS
from fedsim.world._faults import FaultConfig
from fedsim.world._link import AccessConfig
from fedsim.world._mobility import FORMATION_SHAPES
from fedsim.world._pathloss import AIR_TO_GROUND_ENVIRONMENTS, CUSTOM_PATH_LOSS, PATH_LOSS_MODELS
from fedsim.world._units import db_to_linear, dbm_to_w
from fedsim.world._user_pathloss import UserPathLoss

COMPUTE_MODELS = ("qnn", "cmos")
MOBILITY_KINDS = ("static", "random_waypoint", "uav_swarm", "drone_routes")
PLACEMENTS = ("square", "disc", "hex")


def _pair(key: str, value: object) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ConfigError(key, value, "a pair [low, high]") from None
    return low, high


def _ordered_pair(owner: object, key: str) -> None:
    """A [low, high] pair with 0 < low <= high, stored as a tuple (YAML gives a list)."""
    value = getattr(owner, key)
    low, high = _pair(key, value)
    if not (0 < low <= high and math.isfinite(high)):
        raise ConfigError(key, value, "a pair [low, high] of finite numbers with 0 < low <= high")
    object.__setattr__(owner, key, (low, high))


@dataclass(frozen=True)
class DeploymentConfig:
    """The ``world`` section: how many devices stand where, and how long the server waits."""

    num_devices: int = 20  # N: devices in the world (K of them selected per round)
    area_side_m: float = 500.0  # devices in a square, base station at its corner (0, 0)
    bs_position_m: tuple[float, float] = (0.0, 0.0)  # (x, y) of the base station the ground devices' distances are measured to
    deadline_s: float | None = None  # the server waits at most this long per round (None: for all)

    def __post_init__(self) -> None:
        check_int("num_devices", self.num_devices, 1)
        check_float("area_side_m", self.area_side_m, low=0, low_open=True)
        bs = self.bs_position_m
        try:
            x, y = (float(c) for c in bs)
            ok = all(math.isfinite(c) for c in (x, y)) and not any(isinstance(c, bool) for c in bs)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ConfigError("bs_position_m", bs, "a pair of finite coordinates (x, y) in m")
        object.__setattr__(self, "bs_position_m", (x, y))
        if self.deadline_s is not None:
            check_float("deadline_s", self.deadline_s, low=0, low_open=True)


LINK_ADAPTATIONS = ("subband", "wideband")


@dataclass(frozen=True)
class RadioConfig:
    """The ``radio`` section: transmit power, band, noise, and how each uplink gain is drawn.

    Defaults are Green-QFL's: 0.1 W, 10 MHz, -174 dBm/Hz, d^-4 path loss, Rayleigh fading
    redrawn every round, isotropic antennas, no packet errors, no modelled downlink.
    """

    tx_power_w: float = 0.1  # the default transmit power, and the cap of any policy's choice
    bandwidth_hz: float = 10e6  # uplink band B: each device's (orthogonal, tdma), split among the K (fdma) or in blocks (ofdma)
    noise_psd_dbm_hz: float = -174.0  # receiver noise density N0 (-174: thermal noise at 290 K)
    noise_figure_db: float = 0.0  # receiver noise figure NF (noise power N0·B·NF)
    path_loss: str = "exponent"  # one of PATH_LOSS_MODELS
    path_loss_exponent: float = 4.0  # of the "exponent" model (2.0-2.05 for air_to_air)
    # custom: your vectorized (distance_m, carrier_hz) -> path loss in dB, MODULE:FUNCTION
    # (installed, or a .py file in the current directory); see fedsim.world._user_pathloss
    path_loss_target: str | None = None
    # custom: keyword arguments of that function, its own parameters (null when empty)
    path_loss_kwargs: dict[str, Any] | None = None
    carrier_hz: float = 2.4e9  # carrier frequency of the path-loss models that use one (not exponent or macro_36814)
    device_height_m: float = 0.0  # the devices' antenna height h_UT (3GPP models; vertical separation from the base station)
    bs_height_m: float = 0.0  # the base station's antenna height h_BS
    environment: str = "urban"  # air_to_ground only
    shadowing_db: float = 0.0  # log-normal shadowing std, redrawn each round
    fading: str = "rayleigh"  # small-scale fading |h|²: none | rayleigh | rician | nakagami, redrawn each round (or coherence_s)
    rician_k_db: float = 10.0  # fading=rician: K-factor, line-of-sight to scattered power
    nakagami_m: float = 1.0  # fading=nakagami: shape m (1: Rayleigh), unit mean power
    coherence_s: float | None = None  # None: block fading per round
    antenna: str = "isotropic"  # device transmit antenna: isotropic (0 dBi) | parabolic (beamwidth_deg, max_gain_dbi, pointing)
    beamwidth_deg: float = 30.0  # parabolic: 3 dB beamwidth θ_3dB
    max_gain_dbi: float = 8.0  # parabolic: boresight gain
    pointing_sigma_deg: float = 0.0  # parabolic: std of the Gaussian pointing error (uav_swarm: of the OU attitude jitter)
    rx_gain_dbi: float = 0.0  # receive antenna gain (base station, or the swarm's leader), added to every link
    waterfall_threshold: float | None = None  # Chen et al.'s m_w; None: no packet errors
    downlink_power_w: float | None = None  # base-station broadcast power; None: not modelled
    # The uplink's rate model (fedsim.world._rate_model): shannon, B·log2(1 + SINR) as the papers
    # price it; nr / lte, a 3GPP link abstraction (MCS and TBS tables, BLER, HARQ, overhead).
    rate_model: str = "shannon"
    bler_target: float = 0.1  # first-transmission BLER that link adaptation aims at (nr, lte)
    harq_max_tx: int = 4  # transmissions per transport block before HARQ gives up (harq_exhausted)
    overhead_fraction: float | None = None  # resource elements carrying no data; None: the spec's default
    numerology: int = 0  # NR subcarrier spacing 15·2^mu kHz, slot 1/2^mu ms (lte: 0)
    mcs_table: str | None = None  # nr: qam64 | qam256; lte: pusch | pdsch; None: qam64 / pusch
    implementation_loss_db: float = 0.0  # receiver loss against the best finite-length code
    # The SINR link adaptation picks the MCS on: subband, the one the device sends on (its power
    # on its PRBs); wideband, its power spread over the whole carrier, as a sounding reference
    # signal over the band measures it (ns-3's LTE uplink scheduler). They differ under fdma only.
    link_adaptation: str = "subband"
    # None: the MCS meets bler_target; a gap Γ in dB: the highest MCS with data bits per RE <=
    # log2(1 + SINR/Γ) (the M-QAM SNR-gap rule; ns-3's LTE uplink uses 7.4 dB, BER 5e-5).
    snr_gap_db: float | None = None
    # Seconds from a device having its update to its first transmission (scheduling request,
    # grant, the grant-to-PUSCH timing); None: 12 ms for lte, 0 for nr (a configured grant).
    grant_delay_s: float | None = None

    def __post_init__(self) -> None:
        check_float("tx_power_w", self.tx_power_w, low=0, low_open=True)
        check_float("bandwidth_hz", self.bandwidth_hz, low=0, low_open=True)
        check_float("noise_psd_dbm_hz", self.noise_psd_dbm_hz, low=-250, high=0)
        check_float("noise_figure_db", self.noise_figure_db, low=0)
        check_choice("path_loss", self.path_loss, PATH_LOSS_MODELS)
        check_float("path_loss_exponent", self.path_loss_exponent, low=0, low_open=True)
        self._check_user_path_loss()
        check_float("carrier_hz", self.carrier_hz, low=0, low_open=True)
        check_float("device_height_m", self.device_height_m, low=0)
        check_float("bs_height_m", self.bs_height_m, low=0)
        check_choice("environment", self.environment, tuple(AIR_TO_GROUND_ENVIRONMENTS))
        check_float("shadowing_db", self.shadowing_db, low=0)
        check_choice("fading", self.fading, FADING_KINDS)
        check_float("rician_k_db", self.rician_k_db)
        check_float("nakagami_m", self.nakagami_m, low=0.5)
        if self.coherence_s is not None:
            check_float("coherence_s", self.coherence_s, low=0, low_open=True)
        check_choice("antenna", self.antenna, ANTENNAS)
        check_float("beamwidth_deg", self.beamwidth_deg, low=0, low_open=True)
        check_float("max_gain_dbi", self.max_gain_dbi)
        check_float("pointing_sigma_deg", self.pointing_sigma_deg, low=0)
        check_float("rx_gain_dbi", self.rx_gain_dbi)
        if self.waterfall_threshold is not None:
            check_float("waterfall_threshold", self.waterfall_threshold, low=0, low_open=True)
        if self.downlink_power_w is not None:
            check_float("downlink_power_w", self.downlink_power_w, low=0, low_open=True)
        self.make_rate_model()  # checks the rate model's keys
        check_choice("link_adaptation", self.link_adaptation, LINK_ADAPTATIONS)
        if self.grant_delay_s is not None:
            check_float("grant_delay_s", self.grant_delay_s, low=0, high=10)
        if self.rate_model != "shannon" and self.waterfall_threshold is not None:
            # One error model: the link abstraction's BLER and HARQ replace the waterfall.
            raise ConfigError("waterfall_threshold", self.waterfall_threshold,
                              f"null with rate_model={self.rate_model} (its BLER and HARQ decide which uploads are lost)")

    def _check_user_path_loss(self) -> None:
        """radio.path_loss_target is imported and its signature checked whenever it is set (even
        where it is inert: a sweep over path_loss must not fail in its last job); its outputs are
        checked on every call, in the World."""
        object.__setattr__(self, "path_loss_kwargs",
                           keyword_arguments("path_loss_kwargs", self.path_loss_kwargs, "path_loss_target", "{breakpoint_m: 150}"))
        if self.path_loss_target is not None or self.path_loss == CUSTOM_PATH_LOSS:
            UserPathLoss(self.path_loss_target, self.path_loss_kwargs, prefix="")

    def make_rate_model(self):
        """The uplink's RateModel (fedsim.world._rate_model) of these keys."""
        from fedsim.world._rate_model import make_rate_model

        try:
            return make_rate_model(
                self.rate_model, bler_target=self.bler_target, harq_max_tx=self.harq_max_tx, overhead_fraction=self.overhead_fraction,
                numerology=self.numerology, mcs_table=self.mcs_table, implementation_loss_db=self.implementation_loss_db,
                snr_gap_db=self.snr_gap_db,
            )
        except ConfigError as error:  # its keys are named under radio.; this section's are bare
            raise ConfigError(error.key.removeprefix("radio."), error.value, error.allowed) from None

    @property
    def grant_delay_or_default_s(self) -> float:
        """The scheduling delay before an upload's first transmission: the key, else the rate
        model's default. LTE's 12 ms is the SR/grant cycle (SR opportunity, the eNB's grant,
        TS 36.213 §8.0's PUSCH four subframes after it, decoding) as ns-3's LTE stack measured it
        (validation/ns3_lte.py: first grant 6 ms after data, PUSCH 4 TTIs later)."""
        if self.rate_model == "shannon":  # the papers' model has no scheduler
            return 0.0
        if self.grant_delay_s is not None:
            return self.grant_delay_s
        return 0.012 if self.rate_model == "lte" else 0.0

    @property
    def noise_psd_w_hz(self) -> float:
        """N0 in W/Hz (the dBm/Hz of the config, converted once)."""
        return float(dbm_to_w(self.noise_psd_dbm_hz))

    @property
    def noise_psd_with_figure_w_hz(self) -> float:
        """N0·NF: the receiver's noise density."""
        return self.noise_psd_w_hz * float(db_to_linear(self.noise_figure_db))

    @property
    def fading_params(self) -> dict:
        if self.fading == "rician":
            return {"k_factor": 10.0 ** (self.rician_k_db / 10.0)}
        if self.fading == "nakagami":
            return {"m": self.nakagami_m, "omega": 1.0}
        return {}


@dataclass(frozen=True)
class EnergyConfig:
    """Constants of the QNN energy model (green_qfl.md) and, optionally, a paper's workload."""

    mac_energy_pj: float = 3.7  # A: energy of one 32-bit MAC
    alpha: float = 1.25  # MAC energy scales as (n/32)^alpha
    dram_factor: float = 150.0  # A_d: a DRAM access costs A_d MACs
    sram_bits: float = 16e6  # S_SRAM: on-chip memory; only traffic beyond it goes to DRAM
    pe_reuse: float = 16.0  # p: PE-array reuse, divides memory traffic by sqrt(p)
    # None = measured from the model; numbers reproduce a paper's constants.
    params: int | None = None
    macs: float | None = None  # N_c: MACs of one sample's forward pass (null: measured)
    activations: int | None = None  # O_c: activation count in the memory terms (null: measured)
    input_size: int | None = None  # values per input sample, read from DRAM (null: measured)

    def __post_init__(self) -> None:
        for name in ("mac_energy_pj", "alpha", "dram_factor", "sram_bits", "pe_reuse"):
            check_float(name, getattr(self, name), low=0, low_open=True)
        for name in ("params", "activations", "input_size"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), 1)
        if self.macs is not None:
            check_float("macs", self.macs, low=0, low_open=True)

    @property
    def given_workload(self) -> bool:
        """All four sizes given: the paper's workload, no model needs to be measured."""
        return all(getattr(self, n) is not None for n in ("params", "macs", "activations", "input_size"))

    def model(self, batch_size: int) -> QnnEnergyModel:
        """The energy model of a local iteration of ``batch_size`` samples."""
        return QnnEnergyModel(
            mac_energy_j=self.mac_energy_pj * 1e-12,
            alpha=self.alpha,
            dram_factor=self.dram_factor,
            sram_bits=self.sram_bits,
            pe_reuse=self.pe_reuse,
            batch_size=batch_size,
        )


@dataclass(frozen=True)
class DeviceConfig:
    """The ``devices`` section: compute energy and time, receive power, batteries.

    ``compute="qnn"``: the QNN energy model (``energy``) at ``macs_per_s``.
    ``compute="cmos"``: Yang et al.'s kappa·C·D·f^2 per iteration with D = the mini-batch and
    C drawn per device uniformly in ``cycles_per_sample`` (their setup: 1e4 to 3e4).
    """

    compute: str = "qnn"  # qnn: the QNN energy model at macs_per_s | cmos: κ·C·D·f² per iteration (Yang et al.)
    macs_per_s: float = 1e10  # compute time = batch·3·MACs / macs_per_s per local iteration
    energy: EnergyConfig = field(default_factory=EnergyConfig)
    cpu_hz: float = 1e9  # cmos: CPU clock f
    cycles_per_sample: tuple[float, float] = (2e4, 2e4)  # cmos: C (CPU cycles per sample), per device uniform in [low, high]
    kappa: float = 1e-28  # cmos: effective switched capacitance κ [J·s²] of the energy κ·C·D·f²
    rx_power_w: float = 0.0  # power drawn while downloading the global model (download energy = rx_power_w × download time)
    battery_j: float | None = None  # None: mains power
    harvest_w: float = 0.0  # harvested power charging each device's battery (with battery_j)
    # Compute heterogeneity (fedsim.world._compute_speed): this fraction of devices computes
    # straggler_slowdown times slower, and every device's time is scaled by a log-normal factor
    # exp(speed_sigma·z). Defaults leave every device at the profile's speed.
    straggler_fraction: float = 0.0
    straggler_slowdown: float = 10.0  # factor on a straggler's compute time
    speed_sigma: float = 0.0  # σ of the log-normal factor exp(σ·z) on every device's compute time (0: none)

    def __post_init__(self) -> None:
        check_choice("compute", self.compute, COMPUTE_MODELS)
        check_float("macs_per_s", self.macs_per_s, low=0, low_open=True)
        if not isinstance(self.energy, EnergyConfig):
            raise ConfigError("energy", self.energy, "an EnergyConfig")
        check_float("cpu_hz", self.cpu_hz, low=0, low_open=True)
        _ordered_pair(self, "cycles_per_sample")
        check_float("kappa", self.kappa, low=0, low_open=True)
        check_float("rx_power_w", self.rx_power_w, low=0)
        if self.battery_j is not None:
            check_float("battery_j", self.battery_j, low=0, low_open=True)
        check_float("harvest_w", self.harvest_w, low=0)
        check_float("straggler_fraction", self.straggler_fraction, low=0, high=1)
        check_float("straggler_slowdown", self.straggler_slowdown, low=1)
        check_float("speed_sigma", self.speed_sigma, low=0)


@dataclass(frozen=True)
class MobilityConfig:
    """The ``mobility`` section: where devices are and how they move. ``uav_swarm``: the devices
    are the followers of a leader UAV that is also the server (no ground base station).
    ``drone_routes``: cellular-connected drones, each flying its own closed route of
    ``route_legs`` legs at ``altitude_m`` through the ``cellular`` network (speed drawn in
    ``speed_mps``), measured every ``route_step_m``."""

    kind: str = "static"  # static | random_waypoint | uav_swarm (the leader UAV is the server) | drone_routes (cellular)
    placement: str = "square"  # square: [0, side]^2; disc/hex: radius side/2 around the BS
    speed_mps: tuple[float, float] = (1.0, 2.0)  # random waypoint
    pause_s: float = 0.0  # random waypoint: pause at each waypoint
    altitude_m: float = 100.0  # swarm
    formation: str = "ring"  # uav_swarm: ring | v | line, the followers' shape around the leader
    spacing_m: float = 30.0  # uav_swarm: the ring's radius, or the distance between neighbours of v and line
    leader_speed_mps: float = 10.0  # uav_swarm: the leader's ground speed (along x)
    wind_mps: float = 0.0  # uav_swarm: mean wind along x; sets the airspeed for propulsion, does not move the formation
    gust_sigma_m: float = 0.0  # uav_swarm: stationary std of each follower's gust displacement (per-axis OU process)
    gust_tau_s: float = 1.0  # uav_swarm: correlation time of the gust and attitude-jitter OU processes
    route_legs: int = 3  # drone_routes: random legs of each drone's closed route
    route_step_m: float = 10.0  # drone_routes: spacing of the points where RSRP and SINR are sampled along a route
    # The event-driven world's mobility step: positions, and the rate of every upload in flight,
    # are updated every step_s of simulated time (synchronous rounds move once per round).
    step_s: float = 1.0

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, MOBILITY_KINDS)
        check_choice("placement", self.placement, PLACEMENTS)
        _ordered_pair(self, "speed_mps")
        check_float("pause_s", self.pause_s, low=0)
        check_float("altitude_m", self.altitude_m, low=0)
        check_choice("formation", self.formation, FORMATION_SHAPES)  # here: the error names mobility.formation
        check_float("spacing_m", self.spacing_m, low=0, low_open=True)
        check_float("leader_speed_mps", self.leader_speed_mps, low=0)
        check_float("wind_mps", self.wind_mps)
        check_float("gust_sigma_m", self.gust_sigma_m, low=0)
        # An Ornstein-Uhlenbeck gust needs a positive correlation time (0 would divide by zero).
        check_float("gust_tau_s", self.gust_tau_s, low=0, low_open=True)
        check_int("route_legs", self.route_legs, 1)
        check_float("route_step_m", self.route_step_m, low=0, low_open=True)
        check_float("step_s", self.step_s, low=0, low_open=True)
        if self.kind == "drone_routes":  # TR 36.777's aerial models: 1.5 m to 300 m
            check_float("altitude_m", self.altitude_m, low=1.5, high=MAX_ALTITUDE_M)


@dataclass(frozen=True)
class WorldConfig:
    """Everything a World needs: its sections, plus the samples of one local iteration.
    ``cellular`` is read only by ``mobility.kind=drone_routes``."""

    deployment: DeploymentConfig = field(default_factory=DeploymentConfig)
    radio: RadioConfig = field(default_factory=RadioConfig)
    access: AccessConfig = field(default_factory=lambda: AccessConfig(scheme="orthogonal"))
    devices: DeviceConfig = field(default_factory=DeviceConfig)
    mobility: MobilityConfig = field(default_factory=MobilityConfig)
    batch_size: int = 32  # samples per local iteration (the run's train.batch_size)
    cellular: CellularConfig = field(default_factory=CellularConfig)
    faults: FaultConfig = field(default_factory=FaultConfig)  # injected stragglers and message loss
    availability: AvailabilityConfig = field(default_factory=AvailabilityConfig)  # event-driven world only

    def __post_init__(self) -> None:
        for key, kind in (
            ("deployment", DeploymentConfig),
            ("radio", RadioConfig),
            ("access", AccessConfig),
            ("devices", DeviceConfig),
            ("mobility", MobilityConfig),
            ("cellular", CellularConfig),
            ("faults", FaultConfig),
            ("availability", AvailabilityConfig),
        ):
            if not isinstance(getattr(self, key), kind):
                raise ConfigError(key, getattr(self, key), f"a {kind.__name__}")
        check_int("batch_size", self.batch_size, 1)
        if self.mobility.kind == "drone_routes" and self.access.scheme != "orthogonal":
            raise ConfigError("access.scheme", self.access.scheme, "orthogonal with mobility.kind=drone_routes (each drone uses its serving cell's carrier)")
        model = self.radio.rate_model
        if model != "shannon" and self.access.scheme == "ofdma":
            raise ConfigError("radio.rate_model", model, "shannon with access.scheme=ofdma (its one-block-per-device assignment "
                              "prices Shannon rates); nr and lte run with orthogonal, fdma or tdma")
        if model != "shannon" and self.mobility.kind == "drone_routes":
            raise ConfigError("radio.rate_model", model, "shannon with mobility.kind=drone_routes (the drones' cellular links "
                              "have their own SINR-to-rate model)")

    @classmethod
    def of(cls, **values: object) -> "WorldConfig":
        """A WorldConfig from flat keyword arguments, each routed to the section that owns it,
        e.g. ``WorldConfig.of(num_devices=30, tx_power_w=0.2, access=AccessConfig("tdma"))``;
        a whole section may be given too (``radio=RadioConfig(...)``), flat keys then override it.
        A name two sections share goes to the first (``carrier_hz`` to radio, not cellular)."""
        kinds = {"deployment": DeploymentConfig, "radio": RadioConfig, "devices": DeviceConfig, "mobility": MobilityConfig,
                 "cellular": CellularConfig, "faults": FaultConfig, "availability": AvailabilityConfig}
        owner: dict[str, str] = {}
        for section, kind in kinds.items():  # a name two sections share (carrier_hz) stays the earlier's
            for f in fields(kind):
                owner.setdefault(f.name, section)
        sections: dict[str, object] = {}
        flat: dict[str, dict[str, object]] = {section: {} for section in kinds}
        for key, value in values.items():
            if key in kinds or key in ("access", "batch_size"):
                sections[key] = value
            elif key in owner:
                flat[owner[key]][key] = value
            else:
                raise ConfigError(key, value, "a field of the world, radio, devices or mobility section")
        for section, kw in flat.items():
            if kw:
                base = sections.get(section)
                sections[section] = replace(base, **kw) if base is not None else kinds[section](**kw)
        return cls(**sections)

    # The fields the round simulation reads most, without the section in front.
    @property
    def num_devices(self) -> int:
        return self.deployment.num_devices

    @property
    def energy(self) -> QnnEnergyModel:
        """The QNN energy model of a local iteration (SI units)."""
        return self.devices.energy.model(self.batch_size)
