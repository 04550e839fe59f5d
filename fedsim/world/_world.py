"""The World: physics of federated-learning rounds, advanced by a simpy clock.

Each round, for the selected devices at once (numpy arrays): geometry from the motion model,
channel gains, the downlink broadcast of the global model, local compute, uplink rates under the
multiple-access scheme at each device's transmit power, battery budgets, packet errors and the
server's deadline. simpy owns the simulated clock and the events that change state (broadcast
done, each upload arriving, the deadline); there is one round process, never one per device.

Defaults reproduce the Green-QFL model (Kim et al.): devices in a 500 m square with the base
station at a corner, d^-4 path loss, Rayleigh fading redrawn every round, a dedicated full-band
channel per device, no deadline, no packet errors, mains power.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np
import simpy

from fedsim._checks import check_choice, check_int
from fedsim.errors import ConfigError
from fedsim.rng import StreamFamily, numpy_stream
from fedsim.workload import Workload
from fedsim.world._channel import Channel
from fedsim.world._clock import single_step_end_s
from fedsim.world._compute_speed import compute_slowdown
from fedsim.world._compute_energy import check_train_bits
from fedsim.world._config import WorldConfig
from fedsim.world._devices import Battery, DeviceProfile, draw_fleet
from fedsim.world._drone_fleet import DroneFleet
from fedsim.world._faults import MESSAGE_LOSS
from fedsim.world._link import _LN2, broadcast_time_s, fdma_rates, noise_power_w, ofdma_assign, serve_in_order, shannon_rate_bps
from fedsim.world._motion import build_motion
from fedsim.world._observation import Observation
from fedsim.world._resource_grid import SUBCARRIERS_PER_PRB
from fedsim.world._round import AUTO_CHANNEL, RoundOutcome, RoundPlan, _frozen_array

CSI_KINDS = ("large_scale", "perfect", "noisy")


class World:
    """Devices around one server, priced round by round in seconds and joules on a simpy clock.

    Randomness comes from named streams: placement from ``(seed, "placement")``, the fading of
    block b from ``(seed, "fading", b)`` for every device (so a device's channel does not depend
    on who else was selected), packet errors from ``(seed, "packet-error", round)``, injected stragglers and lost uploads from
    ``(seed, "faults", round, device)`` (``fedsim.world._faults``).
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
        self.channel = Channel(config.radio, self.seed)
        self.motion = build_motion(config, self.seed)
        # Cellular-connected drones price their uplink along their routes (mobility=drone_routes).
        self.drones: DroneFleet | None = self.motion if isinstance(self.motion, DroneFleet) else None
        self.energy_model = config.energy
        n = config.num_devices
        dev = config.devices
        capacity = math.inf if dev.battery_j is None else dev.battery_j
        self.battery = Battery(np.full(n, capacity), harvest_w=dev.harvest_w)
        profile = DeviceProfile(
            "device", cpu_hz=dev.cpu_hz, macs_per_s=dev.macs_per_s, cycles_per_sample=dev.cycles_per_sample,
            kappa=dev.kappa, tx_power_w=config.radio.tx_power_w, rx_power_w=dev.rx_power_w,
        )
        self.fleet = draw_fleet([profile], n, numpy_stream(self.seed, "device-cycles"))
        self.slowdown = compute_slowdown(dev, n, self.seed)  # stragglers; ones by default
        self._uniform_speed = bool(np.all(self.slowdown == 1.0))
        self._csi_history: deque[np.ndarray] = deque()
        # Joules per local iteration at each precision 1..32, per workload part: a round prices
        # its devices by lookup (the same float ops per entry as pricing the array itself).
        self._iteration_energy_j = [
            np.asarray(self.energy_model.train_iteration_energy(np.arange(33.0).clip(1), w), float)
            for w, _ in parts
        ]
        self._static_gain: tuple | None = None  # (geometry, large-scale gain, distance) of a static drop
        # Constants of every round, from the config (frozen: nothing invalidates them).
        self._noise_psd_w_hz = config.radio.noise_psd_with_figure_w_hz
        self._full_band_noise_w = float(noise_power_w(config.radio.bandwidth_hz, self._noise_psd_w_hz))
        self._faults_drawn = config.faults.any  # all probabilities 0: no fault streams to draw
        self._packet_error_streams = StreamFamily(self.seed, "packet-error")  # (seed, "packet-error", round)
        # The uplink's 3GPP link abstraction (radio.rate_model nr or lte); None: Shannon, priced
        # inline below. Its HARQ outcomes come from (seed, "harq", round); grant_delay_s is the
        # scheduling delay before an upload's first transmission.
        self.rate_model = None if config.radio.rate_model == "shannon" else config.radio.make_rate_model()
        # The carrier's PRBs (orthogonal and tdma devices send on all of them): fixed by the config.
        self._full_band_prbs = 0 if self.rate_model is None else int(self.rate_model.prbs(config.radio.bandwidth_hz, 1)[0])
        self.grant_delay_s = config.radio.grant_delay_or_default_s
        self._harq_streams = StreamFamily(self.seed, "harq")
        # (seconds, joules) of a device of the uniform speed per (local iterations, training bits):
        # the config, the workload and the speeds are fixed, so nothing invalidates an entry.
        self._uniform_compute: dict[tuple[int, int], tuple[float, float]] = {}

    # -- state ---------------------------------------------------------------------------------
    @property
    def num_devices(self) -> int:
        return self.config.num_devices

    @property
    def now_s(self) -> float:
        """The simulated clock."""
        return float(self.env.now)

    @property
    def positions_m(self) -> np.ndarray:
        """(N, 2) device positions in metres at the start of the next round (a copy)."""
        return self.motion.positions_m()[:, :2].copy()

    @property
    def distances_m(self) -> np.ndarray:
        """(N,) distances to the server in metres (3-D for a swarm)."""
        horizontal, vertical, _ = self.motion.geometry()
        return np.hypot(horizontal, vertical)

    def available_devices(self) -> np.ndarray:
        """Devices that can be selected: those with charge left."""
        return np.flatnonzero(self.battery.available)

    def channel_gains(self, round_index: int) -> np.ndarray:
        """(N,) uplink power gains of every device in a round (block fading per round)."""
        horizontal, vertical, pointing = self.motion.geometry()
        large = self.channel.large_scale_gain(horizontal, vertical, round_index, pointing)
        return large * self.channel.fading(round_index, self.num_devices)

    # -- checkpoints -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """What running rounds has changed, as numpy arrays and plain values: the simulated clock,
        the batteries, the motion (positions, walks, gusts, the serving cells of drones, and the
        states of the generators that keep drawing across rounds) and the CSI the server has seen
        (stale CSI reads it). The rest is rebuilt from the config and the seed: every other draw
        comes from a ``(seed, purpose, round)`` stream."""
        return {
            "now_s": self.now_s,
            "battery": self.battery.state_dict(),
            "motion": self.motion.state_dict(),
            "csi_history": [np.array(gain, dtype=float) for gain in self._csi_history],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a ``state_dict`` of a World built from the same config and seed."""
        # simpy's clock only moves by running events: a fresh environment starts at the saved time.
        self.env = simpy.Environment(initial_time=float(state["now_s"]))
        self.battery.load_state_dict(state["battery"])
        self.motion.load_state_dict(state["motion"])
        self._csi_history = deque(np.array(gain, dtype=float) for gain in state["csi_history"])

    # -- what the server can know ----------------------------------------------------------------
    def observe(
        self,
        round_index: int,
        *,
        csi: str = "large_scale",
        csi_error_db: float = 0.0,
        csi_delay_rounds: int = 0,
        previous: RoundOutcome | None = None,
        reachable: np.ndarray | None = None,
        num_examples: np.ndarray | None = None,
    ) -> Observation:
        """The Observation a policy decides round ``round_index`` from.

        ``csi``: ``large_scale`` (path loss, shadowing, mean antenna gain), ``perfect`` (the
        realised gain of the round, fading and pointing included) or ``noisy`` (large-scale times
        a log-normal error of ``csi_error_db``, from the ``(seed, "csi-error", round)`` stream).
        ``csi_delay_rounds``: the server sees the state of that many observations ago (stale CSI).
        """
        check_choice("policy.csi", csi, CSI_KINDS)
        n = self.num_devices
        horizontal, vertical, pointing = self.motion.geometry()
        radio, access = self.config.radio, self.config.access
        bandwidth_hz = radio.bandwidth_hz
        serving = None
        if self.drones is not None:
            # Cellular drones: the gain that gives the serving cell's SINR at full power, so
            # Observation.expected_rate_bps is the rate the drone's upload would start at.
            serving = self.drones.serving_cells()
            bandwidth_hz = self.config.cellular.bandwidth_hz
            sinr = 10.0 ** (self.drones.serving_sinr_db(np.arange(n), self.now_s) / 10.0)
            gain = sinr * radio.noise_psd_with_figure_w_hz * bandwidth_hz / radio.tx_power_w
        elif csi == "perfect":
            gain = self.channel.large_scale_gain(horizontal, vertical, round_index, pointing)
            gain = gain * self.channel.fading(round_index, n)
        else:
            gain = self.channel.mean_large_scale_gain(horizontal, vertical, round_index, planes=1 if pointing is None else 2)
            if csi == "noisy" and csi_error_db > 0:
                error_db = numpy_stream(self.seed, "csi-error", round_index).standard_normal(n) * csi_error_db
                gain = gain * 10.0 ** (error_db / 10.0)
        self._csi_history.append(gain)
        while len(self._csi_history) > csi_delay_rounds + 1:
            self._csi_history.popleft()
        known = self._csi_history[0]  # the oldest kept: delay rounds ago (or the oldest there is)
        available = self.battery.available.copy()
        if reachable is not None:
            available &= np.asarray(reachable, dtype=bool)
        return Observation(
            round=int(round_index),
            sim_time_s=self.now_s,
            available=available,
            position_m=self.motion.positions_m().copy(),
            distance_m=np.hypot(horizontal, vertical),
            channel_gain=np.array(known, dtype=float),
            battery_j=self.battery.level_j.copy(),
            bandwidth_hz=bandwidth_hz,
            noise_psd_w_hz=radio.noise_psd_with_figure_w_hz,
            max_tx_power_w=radio.tx_power_w,
            access_scheme=access.scheme,
            channels=access.resource_blocks if access.scheme == "ofdma" else 1,
            deadline_s=self.config.deployment.deadline_s,
            previous=previous,
            serving_cell=serving,
            num_examples=None if num_examples is None else np.asarray(num_examples, dtype=float),
        )

    # -- one round -----------------------------------------------------------------------------
    def simulate_round(self, plan: RoundPlan) -> RoundOutcome:
        """Run one synchronous round on the simulated clock and report every selected device."""
        cfg = self.config
        radio, scheme = cfg.radio, cfg.access.scheme
        devices = plan.devices
        k = devices.size
        n_all = cfg.num_devices
        if k and devices.max() >= n_all:
            raise ConfigError("plan.devices", devices.tolist(), f"indices in [0, {n_all})")
        if scheme == "ofdma":
            cfg.access.check_devices(k)
        # Each fdma device's PRBs under a 3GPP rate model, split (and checked) before any state changes.
        fdma_prbs = self._fdma_prbs(k) if self.rate_model is not None and scheme == "fdma" else None
        # One power for all (a scalar prices each device as the array of it would).
        power = radio.tx_power_w if plan.tx_power_w is None else plan.tx_power_w
        if scheme != "ofdma" and plan.channel is not None and np.any(plan.channel != AUTO_CHANNEL):
            raise ConfigError("plan.channel", plan.channel.tolist(), f"-1 under access={scheme} (the scheme assigns channels)")
        t0 = self.now_s
        large_all, distance_all = self._large_scale(plan.round)
        # Everyone selected, in order (the plan's devices are unique and in range): per-device
        # arrays are the fleet's own, read in place instead of gathered.
        everyone = k == n_all and bool((devices[1:] > devices[:-1]).all())

        def pick(values: np.ndarray) -> np.ndarray:
            """The selected devices' entries (the array itself for everyone: read it, never write)."""
            return values if everyone else values[devices]

        def per_device(value) -> np.ndarray:
            """An array the round priced per device, or a float it priced once for all as a
            read-only array of that one value (no memory per device)."""
            return value if isinstance(value, np.ndarray) else _constant(value, k)

        large, distance = pick(large_all), pick(distance_all)
        noise_psd = self._noise_psd_w_hz
        # inf and nan are the round's to handle (mains power, dead channels, no deadline).
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # Without a coherence time the uplink sees the round's fading block, as the downlink
            # does: one gain serves both.
            round_gain = large * pick(self.channel.fading(plan.round, n_all)) if radio.coherence_s is None else None

            # Downlink: the server broadcasts the global model at the worst selected device's rate.
            download_s = 0.0
            if radio.downlink_power_w is not None and plan.downlink_bits > 0 and k:
                gain_dl = large * pick(self.channel.fading(plan.round, n_all)) if round_gain is None else round_gain
                download_s = self._broadcast_s(plan.downlink_bits, gain_dl)
            energy_download_j = cfg.devices.rx_power_w * download_s  # the same for every device

            compute_s, energy_compute_j = self._round_compute(plan)  # floats where all devices train alike
            straggler = message_loss = None
            if self._faults_drawn:
                faults = cfg.faults.draw_round(self.seed, plan.round, devices)
                straggler, message_loss = faults.straggler, faults.message_loss
            # A transient straggler (background load, throttling) does the same work more slowly:
            # its compute time grows, its compute energy (per operation) does not.
            if straggler is not None and straggler.any():
                compute_s = np.where(straggler, compute_s * cfg.faults.straggler_slowdown, compute_s)
            ready_s = per_device(t0 + download_s + compute_s)

            # Uplink rates under the access scheme, with the fading block in force when ready.
            bits = plan.uplink_bits
            unhindered_s = None
            received_w = None  # P·h, where the rate has computed it already
            if self.drones is not None:
                # Cellular drones: the serving cell's carrier, its rate along the route, handovers.
                airtime_s, unhindered_s = self.drones.upload(devices, ready_s, bits)
                channel = self.drones.serving_cells(t0)[devices]
                gain = 10.0 ** (self.drones.serving_sinr_db(devices, ready_s) / 10.0)
                band_hz = cfg.cellular.bandwidth_hz
            else:
                if scheme == "ofdma":
                    blocks = self.channel.fading_block(plan.round, ready_s)
                    rate, band_hz, gain, channel = self._ofdma_rates(
                        devices, large, blocks, bits, noise_psd, np.broadcast_to(power, (k,)), plan.channel
                    )
                else:
                    if round_gain is not None:
                        gain = round_gain
                    else:
                        gain = large * self.channel.fading_at(self.channel.fading_block(plan.round, ready_s), devices, n_all)
                    shannon = self.rate_model is None  # else the rate model prices the upload below
                    if scheme == "fdma":
                        band_hz = radio.bandwidth_hz / max(k, 1)
                        if shannon:
                            rate = fdma_rates(radio.bandwidth_hz, power, gain, noise_psd_w_hz=noise_psd) if k else gain
                        channel = np.arange(k, dtype=np.int64)  # the k-th equal sub-band
                    else:  # orthogonal and tdma use the full band
                        band_hz = radio.bandwidth_hz
                        if shannon:
                            received_w = power * gain
                            rate = self._full_band_rate_bps(received_w)
                        # orthogonal: each device on its own channel (the plan's devices are
                        # int64 already); tdma: everyone on the one channel
                        channel = devices if scheme == "orthogonal" else np.zeros(k, np.int64)
                if self.rate_model is not None:  # MCS, TBS, BLER and HARQ instead of B·log2(1 + SINR)
                    n_prb = fdma_prbs if fdma_prbs is not None else np.full(k, self._full_band_prbs)
                    airtime_s, harq_lost = self._link_abstraction_upload(plan.round, n_prb, power, gain, bits)
                    if self.grant_delay_s:  # the first transmission waits for the scheduler's grant
                        ready_s = ready_s + self.grant_delay_s
                else:
                    # bits/rate in place of the rate (a new array of this round's): an empty payload takes no time
                    airtime_s = np.divide(bits, rate, out=rate) if k and bits.min() > 0 else np.where(bits > 0, bits / rate, 0.0)

            # Batteries: a device that cannot pay for download and compute never transmits; one
            # that runs dry on air stops there.
            level = self.battery.levels_now() if everyone else self.battery.levels_at(devices)  # read only
            before_upload_j = energy_download_j + energy_compute_j
            dead_early = level < before_upload_j
            any_dead_early = bool(dead_early.any())  # rare: the fixes below are skipped without one
            budget_s = np.subtract(level, before_upload_j)  # infinite on mains power
            np.divide(budget_s, power, out=budget_s)
            if any_dead_early:
                budget_s[dead_early] = 0.0
            on_air_s = np.minimum(airtime_s, budget_s, out=budget_s)
            dead_on_air = on_air_s < airtime_s  # on_air is min(airtime, budget): the budget ran out
            if any_dead_early:
                dead_on_air &= ~dead_early

            if scheme == "tdma":
                start_s, end_s = upload_schedule(scheme, ready_s, on_air_s, devices)
            else:  # everyone transmits when ready (ready_s is this round's own, read-only)
                start_s, end_s = ready_s, ready_s + on_air_s
            deadline_s = cfg.deployment.deadline_s
            deadline = math.inf if deadline_s is None else t0 + deadline_s
            if deadline_s is None:
                late = np.zeros(k, dtype=bool)
                sent_s = end_s - start_s
            else:
                late = end_s > deadline
                # A device stops transmitting at the deadline: the server has closed the round
                # (min(end, deadline) is end where nobody is late).
                if late.any():
                    sent_s = np.minimum(end_s, deadline)
                    np.subtract(sent_s, start_s, out=sent_s)
                else:
                    sent_s = end_s - start_s
            np.maximum(sent_s, 0.0, out=sent_s)  # a TDMA slot after the deadline sends nothing
            energy_uplink_j = power * sent_s

            lost_reason = "packet_error"
            if self.rate_model is not None and self.drones is None:
                corrupted, lost_reason = harq_lost, "harq_exhausted"  # sent in full, paid for, not decoded
            elif radio.waterfall_threshold is not None and k and self.drones is None:
                corrupted = self._packet_errors(plan.round, power * gain if received_w is None else received_w, band_hz, pick)
            else:
                corrupted = np.zeros(k, dtype=bool)

            battery_out = (dead_early | dead_on_air) if any_dead_early else dead_on_air
            # A device that runs dry spends exactly what it had, phase by phase, and ends at 0 J.
            if any_dead_early:
                energy_download_j = np.where(dead_early, np.minimum(energy_download_j, level), energy_download_j)
                energy_compute_j = np.where(dead_early, np.maximum(level - energy_download_j, 0.0), energy_compute_j)
                energy_uplink_j[dead_early] = 0.0
            dry_on_air = dead_on_air & ~late
            if dry_on_air.any():
                energy_uplink_j = np.where(dry_on_air, level - before_upload_j, energy_uplink_j)
            handover = None
            if unhindered_s is not None:  # late only because of handovers: they cost the upload
                handover = late & (start_s + unhindered_s <= deadline)
            missing = late | battery_out  # the server gets nothing from these
            # An upload that would have arrived is lost in the air: sent, paid for, never received.
            lost = None
            if message_loss is not None and message_loss.any():
                lost = message_loss & ~(missing | corrupted)
                lost = lost if lost.any() else None
            drop_reason = _drop_reasons(k, corrupted, late, handover, battery_out, lost, lost_reason)
            delivered = ~(missing | corrupted) if lost is None else ~(missing | corrupted | lost)

            # The server waits for every upload it can expect, or for the deadline; a lost or a
            # corrupted one it waits for as for a delivered one (no deadline: until its
            # transmission would end): every device not late and not out of battery.
            any_missing = bool(missing.any())
            arrivals = end_s[~missing] if any_missing else end_s  # unsorted
            if deadline_s is not None and (any_missing or lost is not None):
                end_of_round = max(deadline, t0 + download_s)  # the broadcast itself always completes
            else:
                end_of_round = max(float(arrivals.max()) if arrivals.size else t0, t0 + download_s)
            spent_j = (energy_download_j + energy_compute_j) + energy_uplink_j
        self._advance_clock(t0 + download_s, arrivals, end_of_round)
        duration = end_of_round - t0

        self.battery.spend(spent_j, None if everyone else devices)
        self.battery.harvest(duration)
        propulsion_w = self.motion.step(duration) if duration > 0 else None
        positions = self.motion.positions_m()
        if everyone:
            # A static drop's positions are read-only and never change: shared, not copied.
            positions = positions if not positions.flags.writeable else positions.copy()
        else:
            positions = positions.take(devices, axis=0)  # take copies rows faster than fancy indexing
        if propulsion_w is None or not propulsion_w.any():  # on the ground: 0 W over the round
            energy_propulsion_j = per_device(0.0 * duration)
        else:
            energy_propulsion_j = pick(propulsion_w) * duration

        # Each array is this round's own, the plan's or a cache's (read-only): frozen in place.
        return RoundOutcome(
            round=plan.round,
            devices=_frozen(devices, _INT64),
            tx_power_w=_frozen(per_device(power), _FLOAT),
            channel=_frozen(channel, _INT64),
            compute_s=_frozen(per_device(compute_s), _FLOAT),
            upload_s=_frozen(sent_s, _FLOAT),
            energy_compute_j=_frozen(per_device(energy_compute_j), _FLOAT),
            energy_uplink_j=_frozen(energy_uplink_j, _FLOAT),
            energy_download_j=_frozen(per_device(energy_download_j), _FLOAT),
            energy_propulsion_j=_frozen(energy_propulsion_j, _FLOAT),
            delivered=_frozen(delivered, _BOOL),
            drop_reason=_frozen(drop_reason, _OBJECT),
            channel_gain=_frozen(gain, _FLOAT),
            distance_m=_frozen(distance, _FLOAT),
            upload_start_s=_frozen(start_s, _FLOAT),
            finish_s=_frozen(end_s, _FLOAT),
            battery_j=_frozen(self.battery.level_j if everyone else self.battery.levels_at(devices), _FLOAT),
            position_m=np.asarray(positions, dtype=float),
            start_s=t0,
            duration_s=duration,
            download_s=download_s,
        )

    def _full_band_rate_bps(self, received_w: np.ndarray) -> np.ndarray:
        """Shannon rate over the whole band of devices received at ``received_w`` (P·h), a new
        array: ``shannon_rate_bps`` op for op (the same bits)."""
        band_hz = self.config.radio.bandwidth_hz
        rate = received_w / self._full_band_noise_w
        np.log1p(rate, out=rate)
        np.multiply(band_hz, rate, out=rate)
        return np.divide(rate, _LN2, out=rate)

    def _broadcast_s(self, bits: float, gain: np.ndarray) -> float:
        """``broadcast_time_s`` of the full-band downlink rates of devices with ``gain``, rating
        only the devices that may be the slowest: the rate grows with the gain and rounding
        cannot reorder gains 1e-9 apart, so the slowest rate is among the gains within 1e-9 of
        the smallest (nearly always the smallest alone)."""
        smallest = int(gain.argmin())
        if np.count_nonzero(gain <= gain[smallest] * (1.0 + 1e-9)) == 1:
            gain = gain[smallest : smallest + 1]
        elif not np.isnan(gain[smallest]):  # a tie: rate the near ones (a NaN gain: rate them all)
            gain = gain[gain <= gain[smallest] * (1.0 + 1e-9)]
        return broadcast_time_s(bits, self._full_band_rate_bps(self.config.radio.downlink_power_w * gain))

    def _fdma_prbs(self, k: int) -> np.ndarray:
        """PRBs of each of ``k`` FDMA devices: the carrier's PRBs split as evenly as whole PRBs
        allow (the first ones get one more)."""
        total = self._full_band_prbs
        if k > total:
            raise ConfigError("op.devices_per_round", k, f"at most {total} with access.scheme=fdma and radio.rate_model={self.rate_model.name} "
                              f"(one PRB each of the {total} in radio.bandwidth_hz={self.config.radio.bandwidth_hz:g})")
        share = np.full(k, total // k, dtype=np.int64)
        share[: total % k] += 1
        return share

    def full_band_prbs(self) -> int:
        """PRBs of the whole band under the rate model (orthogonal and tdma devices send on all)."""
        return self._full_band_prbs

    def link_abstraction_sinr(self, received_w, n_prb) -> tuple[np.ndarray, np.ndarray]:
        """(SINR, occupied bandwidth) of devices received at ``received_w`` (P·h) that send on
        ``n_prb`` PRBs: their power spread over those PRBs."""
        occupied_hz = np.asarray(n_prb) * (SUBCARRIERS_PER_PRB * self.rate_model.scs_hz)
        return np.asarray(received_w, dtype=float) / (self._noise_psd_w_hz * occupied_hz), occupied_hz

    def link_adaptation_sinr(self, received_w, sinr: np.ndarray) -> np.ndarray | None:
        """The SINR the MCS is chosen on (radio.link_adaptation): None for the sub-band's own
        ``sinr``; wideband, the power spread over every PRB of the carrier."""
        if self.config.radio.link_adaptation == "subband":
            return None
        return self.link_abstraction_sinr(received_w, np.full(np.shape(sinr), self._full_band_prbs))[0]

    def _link_abstraction_upload(self, round_index: int, n_prb: np.ndarray, power, gain: np.ndarray, bits: np.ndarray):
        """(airtime, HARQ-exhausted) of each upload under the 3GPP rate model, each device sending
        on its ``n_prb`` PRBs. The SINR is over those PRBs (its power spread over them)."""
        model = self.rate_model
        received_w = power * gain
        sinr, occupied_hz = self.link_abstraction_sinr(received_w, n_prb)
        csi = self.link_adaptation_sinr(received_w, sinr)
        result = model.upload(sinr, occupied_hz, bits, self._harq_streams.at(round_index), n_prb=n_prb, csi_sinr_linear=csi)
        return np.array(result.airtime_s, dtype=float), result.harq_exhausted

    def _packet_errors(self, round_index: int, received_w: np.ndarray, band_hz: float, pick) -> np.ndarray:
        """Which uploads are corrupted: a uniform of the round's stream below q = 1 - exp(-m_w·B·N0/(P·h))
        (``packet_error_rate`` op for op, the same bits). ``received_w`` (P·h) is overwritten."""
        threshold = self.config.radio.waterfall_threshold
        scale = threshold * (band_hz * self._noise_psd_w_hz)
        # -(x / P·h) is (-x) / P·h exactly: the sign of an IEEE quotient is the signs' product.
        q = np.divide(-scale, received_w, out=received_w)
        np.expm1(q, out=q)
        np.negative(q, out=q)
        draws = self._packet_error_streams.at(round_index).random(self.config.num_devices)
        return pick(draws) < q

    def _round_compute(self, plan: RoundPlan) -> tuple[float | np.ndarray, float | np.ndarray]:
        """compute_cost of the plan's devices: two floats where every device trains alike (the
        same iterations and precision on devices of one speed, the MAC-count model), priced as
        the first device's (elementwise, so each device's entry would be these same bits);
        otherwise arrays."""
        iters, bits = plan.local_iters, plan.train_bits
        if (
            iters.size
            and self._uniform_speed
            and self.config.devices.compute == "qnn"
            and iters.min() == iters.max()
            and bits.min() == bits.max()
        ):
            key = (int(iters[0]), int(bits[0]))
            cost = self._uniform_compute.get(key)
            if cost is None:
                seconds, joules = self._compute_cost(plan.devices[:1], iters[:1], bits[:1])
                cost = self._uniform_compute[key] = (float(seconds[0]), float(joules[0]))
            return cost
        return self._compute_cost(plan.devices, iters, bits)

    def _large_scale(self, round_index: int) -> tuple[np.ndarray, np.ndarray]:
        """(N,) large-scale gains and distances of the round; computed once for a static drop
        under deterministic path loss (the same geometry arrays, no draws)."""
        horizontal, vertical, pointing = self.motion.geometry()
        cached = self._static_gain
        if cached is not None and cached[0] is horizontal and cached[1] is vertical:
            return cached[2], cached[3]
        large = self.channel.large_scale_gain(horizontal, vertical, round_index, pointing)
        distance = np.hypot(horizontal, vertical)
        if not horizontal.flags.writeable and pointing is None and not self.channel.draws_large_scale:
            self._static_gain = (horizontal, vertical, large, distance)
        return large, distance

    def _advance_clock(self, broadcast_done_s: float, arrivals_s: np.ndarray, end_s: float) -> None:
        """Move the clock through the round's events: in one timeout where that lands exactly where
        replaying them one by one would (nothing observes them in between), else one by one."""
        env = self.env
        at_s = single_step_end_s(env.now, broadcast_done_s, arrivals_s, end_s)
        if at_s is None:
            arrivals_s = np.sort(arrivals_s)
            env.run(until=env.process(self._round_process(broadcast_done_s, arrivals_s, end_s)))
        elif at_s > env.now:
            env.run(until=at_s)

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

    def compute_cost(self, devices: np.ndarray, local_iters: np.ndarray, train_bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(seconds, joules) of local training per device, as a round would price it."""
        bits = check_train_bits(train_bits).astype(np.int64)
        return self._compute_cost(np.asarray(devices, dtype=np.int64), local_iters, bits)

    def _compute_cost(self, devices: np.ndarray, local_iters: np.ndarray, precision: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """compute_cost of int64 ``devices`` and integer ``precision`` in [1, 32], checked."""
        cfg = self.config
        iters = np.asarray(local_iters).astype(float)
        if cfg.devices.compute == "cmos":  # Yang et al.: D = the mini-batch, C per device
            samples = cfg.batch_size
            seconds = self.fleet.compute_time_s(samples, 1.0)[devices] * iters
            joules = self.fleet.compute_energy_j(samples, 1.0)[devices] * iters
            return np.asarray(seconds, float) * self.slowdown[devices], np.asarray(joules, float)
        energy = self.energy_model
        joules = np.zeros(devices.shape)
        training_macs = 0.0  # forward + backward of one sample
        for (workload, bits), per_bits_j in zip(self.workload_parts, self._iteration_energy_j):
            joules = joules + iters * (per_bits_j[precision] if bits is None else per_bits_j[int(bits)])
            training_macs += workload.training_macs
        macs_per_iter = energy.batch_size * training_macs
        seconds = iters * macs_per_iter / cfg.devices.macs_per_s
        # x * 1.0 is x: uniform devices skip the gather and the product.
        return seconds if self._uniform_speed else seconds * self.slowdown[devices], np.asarray(joules, float)

    def _ofdma_rates(self, devices, large, blocks, bits, noise_psd, power, channel):
        """One resource block per device: the decision's where given (``channel``; None: none
        given), the rest assigned by the Hungarian algorithm on airtime over the blocks left free.
        Returns the rates, the block bandwidth, the gains and the blocks."""
        cfg = self.config
        rbs = cfg.access.resource_blocks
        rb_hz = cfg.radio.bandwidth_hz / rbs
        fading = np.empty((devices.size, rbs))
        for block in np.unique(blocks):
            here = blocks == block
            fading[here] = self.channel.fading(int(block), cfg.num_devices, rbs)[devices[here]]
        gains = large[:, None] * fading
        rates = shannon_rate_bps(rb_hz, power[:, None], gains, noise_psd)
        rb = np.full(devices.size, AUTO_CHANNEL, dtype=np.int64) if channel is None else np.array(channel, dtype=np.int64)
        auto = rb == AUTO_CHANNEL
        if auto.any():
            free = np.setdiff1d(np.arange(rbs), rb[~auto])
            cost = np.asarray(bits, float)[auto, None] / rates[np.ix_(auto, free)]
            rb[auto] = free[ofdma_assign(cost)]
        pick = np.arange(devices.size)
        return rates[pick, rb], rb_hz, gains[pick, rb], rb

    def expected_uplink_energy_per_bit(self, weights=None, drops: int = 10_000, seed: int | None = None, redraw_positions: bool = False, devices_per_round: int = 1) -> float:
        """Monte-Carlo E[P/r] in joules per bit, priced by this World's own Channel: see
        ``fedsim.world.expected_uplink_energy_per_bit``."""
        from fedsim.world._uplink_energy import expected_uplink_energy_per_bit

        return expected_uplink_energy_per_bit(
            self, weights, drops=drops, seed=seed, redraw_positions=redraw_positions, devices_per_round=devices_per_round
        )


_FLOAT, _INT64, _BOOL, _OBJECT = (np.dtype(t) for t in (np.float64, np.int64, np.bool_, np.object_))


def _frozen(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``values`` made read-only in place where it is a 1-D array of ``dtype`` already (the
    round's own arrays), else a frozen copy."""
    if values.ndim != 1 or values.dtype is not dtype:
        return _frozen_array(values, dtype)
    values.flags.writeable = False
    return values


def _constant(value: float, k: int) -> np.ndarray:
    """A read-only (k,) float array of one value, without k copies of it (stride 0)."""
    array = np.ndarray((k,), np.float64, np.array([value], dtype=np.float64), 0, (0,))
    array.flags.writeable = False
    return array


def _drop_reasons(k: int, corrupted, late, handover, battery_out, lost, corrupted_reason: str = "packet_error") -> np.ndarray:
    """Each device's drop reason ("" delivered), later reasons overriding earlier ones: a packet
    error (or HARQ exhausted), then missing the deadline (handovers: late only because of them),
    running out of battery, then losing an upload that would have arrived (masks of None: nobody)."""
    reasons = np.empty(k, dtype=object)
    reasons.fill("")  # one string for all, set per entry (np.full of an object is slower)
    order = ((corrupted, corrupted_reason), (late, "deadline"), (handover, "handover"), (battery_out, "battery"), (lost, MESSAGE_LOSS))
    for mask, reason in order:
        if mask is not None and mask.any():
            reasons[mask] = reason
    return reasons


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
