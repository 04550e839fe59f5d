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
from fedsim.rng import numpy_stream
from fedsim.workload import Workload
from fedsim.world._channel import Channel
from fedsim.world._clock import single_step_end_s
from fedsim.world._compute_speed import compute_slowdown
from fedsim.world._compute_energy import check_train_bits
from fedsim.world._config import WorldConfig
from fedsim.world._devices import Battery, DeviceProfile, draw_fleet
from fedsim.world._drone_fleet import DroneFleet
from fedsim.world._faults import MESSAGE_LOSS
from fedsim.world._link import broadcast_time_s, fdma_rates, ofdma_assign, packet_error_rate, serve_in_order, shannon_rate_bps
from fedsim.world._motion import build_motion
from fedsim.world._observation import Observation
from fedsim.world._round import AUTO_CHANNEL, RoundOutcome, RoundPlan, _frozen_array

CSI_KINDS = ("large_scale", "perfect", "noisy")
# Drop reasons a round assigns, by code (0: delivered).
_REASONS = np.array(["", "packet_error", "deadline", "handover", "battery", MESSAGE_LOSS], dtype=object)
_PACKET_ERROR, _DEADLINE, _HANDOVER, _BATTERY, _MESSAGE_LOSS = range(1, 6)


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
        n_all = cfg.num_devices
        if devices.size and devices.max() >= n_all:
            raise ConfigError("plan.devices", devices.tolist(), f"indices in [0, {n_all})")
        if scheme == "ofdma":
            cfg.access.check_devices(devices.size)
        power = np.full(devices.shape, radio.tx_power_w) if plan.tx_power_w is None else plan.tx_power_w
        channel = np.full(devices.shape, AUTO_CHANNEL, dtype=np.int64) if plan.channel is None else plan.channel
        if scheme != "ofdma" and plan.channel is not None and np.any(channel != AUTO_CHANNEL):
            raise ConfigError("plan.channel", channel.tolist(), f"-1 under access={scheme} (the scheme assigns channels)")
        t0 = self.now_s
        large_all, distance_all = self._large_scale(plan.round)
        # Everyone selected, in order (the plan's devices are unique and in range): per-device
        # arrays are the fleet's own, read in place instead of gathered.
        everyone = devices.size == n_all and bool((devices[1:] > devices[:-1]).all())

        def pick(values: np.ndarray) -> np.ndarray:
            """The selected devices' entries (the array itself for everyone: read it, never write)."""
            return values if everyone else values[devices]

        large, distance = pick(large_all), pick(distance_all)
        noise_psd = radio.noise_psd_with_figure_w_hz

        # Without a coherence time the uplink sees the round's fading block, as the downlink does:
        # one gain serves both.
        round_gain = large * pick(self.channel.fading(plan.round, n_all)) if radio.coherence_s is None else None

        # Downlink: the server broadcasts the global model at the worst selected device's rate.
        download_s = 0.0
        if radio.downlink_power_w is not None and plan.downlink_bits > 0 and devices.size:
            gain_dl = large * pick(self.channel.fading(plan.round, n_all)) if round_gain is None else round_gain
            rate_dl = shannon_rate_bps(radio.bandwidth_hz, radio.downlink_power_w, gain_dl, noise_psd)
            download_s = broadcast_time_s(plan.downlink_bits, rate_dl)
        energy_download_j = np.full(devices.shape, cfg.devices.rx_power_w * download_s)

        compute_s, energy_compute_j = self._compute(plan)
        faults = cfg.faults.draw_round(self.seed, plan.round, devices)
        # A transient straggler (background load, throttling) does the same work more slowly:
        # its compute time grows, its compute energy (per operation) does not.
        if faults.straggler.any():
            compute_s = np.where(faults.straggler, compute_s * cfg.faults.straggler_slowdown, compute_s)
        ready_s = t0 + download_s + compute_s

        # Uplink rates under the access scheme, with the fading block in force when ready.
        blocks = self.channel.fading_block(plan.round, ready_s)
        bits = plan.uplink_bits
        unhindered_s = None
        if self.drones is not None:
            # Cellular drones: the serving cell's carrier, its rate along the route, handovers.
            airtime_s, unhindered_s = self.drones.upload(devices, ready_s, bits)
            channel = self.drones.serving_cells(t0)[devices]
            gain = 10.0 ** (self.drones.serving_sinr_db(devices, ready_s) / 10.0)
            band_hz = np.full(devices.shape, cfg.cellular.bandwidth_hz)
        elif scheme == "ofdma":
            rate, band_hz, gain, channel = self._ofdma_rates(devices, large, blocks, bits, noise_psd, power, channel)
        else:
            gain = large * self.channel.fading_at(blocks, devices, n_all) if round_gain is None else round_gain
            # One band for all (a scalar prices each device as the array of it would).
            if scheme == "fdma":
                band_hz = radio.bandwidth_hz / max(devices.size, 1)
                rate = fdma_rates(radio.bandwidth_hz, power, gain, noise_psd_w_hz=noise_psd) if devices.size else gain
                channel = np.arange(devices.size, dtype=np.int64)  # the k-th equal sub-band
            else:  # orthogonal and tdma use the full band
                band_hz = radio.bandwidth_hz
                rate = shannon_rate_bps(radio.bandwidth_hz, power, gain, noise_psd)
                # orthogonal: each device on its own channel; tdma: everyone on the one channel
                channel = devices.astype(np.int64) if scheme == "orthogonal" else np.zeros(devices.size, np.int64)
        if self.drones is None:
            with np.errstate(divide="ignore"):
                airtime_s = bits / rate if (bits > 0).all() else np.where(bits > 0, bits / rate, 0.0)

        # Batteries: a device that cannot pay for download and compute never transmits; one that
        # runs dry on air stops there.
        level = self.battery.level_j if everyone else self.battery.levels_at(devices)  # copies
        before_upload_j = energy_download_j + energy_compute_j
        dead_early = level < before_upload_j
        any_dead_early = bool(dead_early.any())  # rare: the fixes below are skipped without one
        with np.errstate(invalid="ignore", over="ignore"):  # mains power: an infinite budget
            budget_s = (level - before_upload_j) / power
        if any_dead_early:
            budget_s = np.where(dead_early, 0.0, budget_s)
        on_air_s = np.minimum(airtime_s, budget_s)
        dead_on_air = ~dead_early & (on_air_s < airtime_s)

        start_s, end_s = upload_schedule(scheme, ready_s, on_air_s, devices)
        deadline_s = cfg.deployment.deadline_s
        deadline = math.inf if deadline_s is None else t0 + deadline_s
        late = end_s > deadline
        # A device stops transmitting at the deadline: the server has closed the round.
        sent_s = np.clip(np.minimum(end_s, deadline) - start_s, 0.0, None)
        energy_uplink_j = power * sent_s

        if radio.waterfall_threshold is not None and devices.size and self.drones is None:
            q = packet_error_rate(power, gain, band_hz, radio.waterfall_threshold, noise_psd_w_hz=noise_psd)
            corrupted = pick(numpy_stream(self.seed, "packet-error", plan.round).random(n_all)) < q
        else:
            corrupted = np.zeros(devices.shape, dtype=bool)

        battery_out = dead_early | dead_on_air
        # A device that runs dry spends exactly what it had, phase by phase, and ends at 0 J.
        if any_dead_early:
            energy_download_j = np.where(dead_early, np.minimum(energy_download_j, level), energy_download_j)
            energy_compute_j = np.where(dead_early, np.maximum(level - energy_download_j, 0.0), energy_compute_j)
            energy_uplink_j = np.where(dead_early, 0.0, energy_uplink_j)
        dry_on_air = dead_on_air & ~late
        if dry_on_air.any():
            energy_uplink_j = np.where(dry_on_air, level - before_upload_j, energy_uplink_j)
        # Drop reasons as small codes (indices into _REASONS; strings only at the end).
        reason = np.zeros(devices.shape, dtype=np.int8)
        reason[corrupted] = _PACKET_ERROR
        reason[late] = _DEADLINE
        if unhindered_s is not None:  # late only because of handovers: they cost the upload
            reason[late & (start_s + unhindered_s <= deadline)] = _HANDOVER
        reason[battery_out] = _BATTERY
        # An upload that would have arrived is lost in the air: sent, paid for, never received.
        lost = faults.message_loss & (reason == 0)
        reason[lost] = _MESSAGE_LOSS
        delivered = reason == 0

        # The server waits for every upload it can expect, or for the deadline; a lost one
        # it waits for as for a corrupted one (no deadline: until its transmission would end).
        arrivals = end_s[delivered | ((corrupted | lost) & ~late & ~battery_out)]  # unsorted
        waiting_for_missing = bool((battery_out | late | lost).any())
        if deadline_s is not None and waiting_for_missing:
            end_of_round = max(deadline, t0 + download_s)  # the broadcast itself always completes
        else:
            end_of_round = max(float(arrivals.max()) if arrivals.size else t0, t0 + download_s)
        self._advance_clock(t0 + download_s, arrivals, end_of_round)
        duration = end_of_round - t0

        spent_j = energy_download_j + energy_compute_j + energy_uplink_j
        if everyone:
            self.battery.drain(spent_j)
        else:
            self.battery.drain_unique(spent_j, devices)
        self.battery.harvest(duration)
        propulsion_w = self.motion.step(duration) if duration > 0 else np.zeros(n_all)
        # A new array: take copies rows (several times faster than fancy indexing rows).
        positions = self.motion.positions_m().copy() if everyone else self.motion.positions_m().take(devices, axis=0)

        # Each array is this round's own or the plan's (already frozen): frozen without a copy.
        return RoundOutcome(
            round=plan.round,
            devices=_frozen_array(devices, np.int64, copy=False),
            tx_power_w=_frozen_array(power, float, copy=False),
            channel=_frozen_array(channel, np.int64, copy=False),
            compute_s=_frozen_array(compute_s, float, copy=False),
            upload_s=_frozen_array(sent_s, float, copy=False),
            energy_compute_j=_frozen_array(energy_compute_j, float, copy=False),
            energy_uplink_j=_frozen_array(energy_uplink_j, float, copy=False),
            energy_download_j=_frozen_array(energy_download_j, float, copy=False),
            energy_propulsion_j=_frozen_array(pick(propulsion_w) * duration, float, copy=False),
            delivered=_frozen_array(delivered, bool, copy=False),
            drop_reason=_frozen_array(_REASONS[reason], object, copy=False),
            channel_gain=_frozen_array(gain, float, copy=False),
            distance_m=_frozen_array(distance, float, copy=False),
            upload_start_s=_frozen_array(start_s, float, copy=False),
            finish_s=_frozen_array(end_s, float, copy=False),
            battery_j=_frozen_array(self.battery.level_j if everyone else self.battery.levels_at(devices), float, copy=False),
            position_m=np.asarray(positions, dtype=float),
            start_s=t0,
            duration_s=duration,
            download_s=download_s,
        )

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

    def _compute(self, plan: RoundPlan) -> tuple[np.ndarray, np.ndarray]:
        return self._compute_cost(plan.devices, plan.local_iters, plan.train_bits)  # checked by the plan

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
        """One resource block per device: the decision's where given, the rest assigned by the
        Hungarian algorithm on airtime over the blocks left free."""
        cfg = self.config
        rbs = cfg.access.resource_blocks
        rb_hz = cfg.radio.bandwidth_hz / rbs
        fading = np.empty((devices.size, rbs))
        for block in np.unique(blocks):
            here = blocks == block
            fading[here] = self.channel.fading(int(block), cfg.num_devices, rbs)[devices[here]]
        gains = large[:, None] * fading
        rates = shannon_rate_bps(rb_hz, power[:, None], gains, noise_psd)
        rb = np.array(channel, dtype=np.int64)
        auto = rb == AUTO_CHANNEL
        if auto.any():
            free = np.setdiff1d(np.arange(rbs), rb[~auto])
            cost = np.asarray(bits, float)[auto, None] / rates[np.ix_(auto, free)]
            rb[auto] = free[ofdma_assign(cost)]
        pick = np.arange(devices.size)
        return rates[pick, rb], np.full(devices.shape, rb_hz), gains[pick, rb], rb

    def expected_uplink_energy_per_bit(self, weights=None, drops: int = 10_000, seed: int | None = None, redraw_positions: bool = False, devices_per_round: int = 1) -> float:
        """Monte-Carlo E[P/r] in joules per bit, priced by this World's own Channel: see
        :func:`fedsim.world.expected_uplink_energy_per_bit`."""
        from fedsim.world._uplink_energy import expected_uplink_energy_per_bit

        return expected_uplink_energy_per_bit(
            self, weights, drops=drops, seed=seed, redraw_positions=redraw_positions, devices_per_round=devices_per_round
        )


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
