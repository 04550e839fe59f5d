"""The event-driven world: devices that come and go, train at their own speed and upload through
channel changes, on one event queue (asynchronous federation: ``strategy=fedasync|fedbuff``).

It reuses a synchronous :class:`~fedsim.world.World` for the physics (channel, motion, fleet,
batteries, compute cost) and owns the clock: a heap of timed events, each one a device event
(availability on/off, training done, a rate change of an upload in flight, an upload's arrival,
a wake-up after recharging). The server asks for idle online devices, dispatches jobs, and
advances the queue until a job completes; nothing here waits for a round.

Uplinks: each device transmits on the full band (the orthogonal scheme) at
``radio.tx_power_w``; the rate is recomputed at every coherence block (``radio.coherence_s``;
unset, every mobility step) and every mobility step (``mobility.step_s``) while the upload is on
air. Changes at coherence blocks inside the current mobility step are applied when the upload
is scheduled (they are known then) instead of being queued; ``events_processed`` still counts each
one the upload has passed. A job whose device goes offline before its upload arrives is lost (``unavailable``); one
whose battery cannot pay is lost (``battery``) and the device sleeps until harvesting recharges it
to ``availability.wake_fraction`` of its capacity.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from fedsim.errors import ConfigError
from fedsim.rng import numpy_stream
from fedsim.world._availability import OnOffProcess, read_trace
from fedsim.world._inflight_upload import InflightUpload, next_boundary_s
from fedsim.world._link import _LN2, noise_power_w
from fedsim.world._world import World

# Event kinds, in the order ties at one instant are served (then by insertion order).
ON, WAKE, READY, RATE, FINISH, OFF = range(6)
EVENT_NAMES = ("on", "wake", "ready", "rate", "finish", "off")
ASYNC_DROP_REASONS = ("", "unavailable", "battery", "harq_exhausted")


@dataclass(slots=True)  # slots: one is built per dispatch, its fields read at every event
class Job:
    """One device's download, local training and upload, from dispatch to arrival or loss."""

    job: int  # dispatch counter, from 1
    device: int
    version: int  # the server's model version the device downloaded
    local_iters: int
    train_bits: int
    uplink_bits: float  # payload bits
    dispatched_s: float
    download_s: float
    compute_s: float
    energy_download_j: float
    energy_compute_j: float
    ready_s: float
    upload: InflightUpload | None = None
    finish_s: float = math.nan  # arrival, or when it was lost
    energy_uplink_j: float = 0.0
    delivered: bool = False
    drop_reason: str = ""
    channel_gain: float = math.nan  # at the upload's start
    harq_loss_probability: float = 0.0  # radio.rate_model nr/lte: that the upload is lost to HARQ, at its start
    distance_m: float = math.nan
    battery_j: float = math.inf
    position_m: np.ndarray | None = None  # (3,) at the end, a read-only view of that step's positions
    # In-step rate changes already applied to the upload: (time_s, then the upload's remaining
    # bits, rate, since and on-air seconds just before it), to undo those after a loss.
    ahead: list[tuple[float, float, float, float, float]] = field(default_factory=list)
    # Training ends inside the mobility step it was dispatched in: its upload was started and
    # planned at dispatch, its 'ready' event not queued (counted once passed; undone on a loss before).
    ready_ahead: bool = False

    @property
    def upload_start_s(self) -> float:
        return self.ready_s

    @property
    def upload_s(self) -> float:
        return 0.0 if self.upload is None else self.upload.on_air_s

    @property
    def rate_changes(self) -> int:
        return 0 if self.upload is None else len(self.upload.segments) - 1

    @property
    def energy_j(self) -> float:
        return self.energy_download_j + self.energy_compute_j + self.energy_uplink_j


class AsyncWorld:
    """Devices of a World on an event queue. ``dispatch`` starts a job now; ``advance`` runs
    events until one job completes (returned) or availability changes (None)."""

    def __init__(self, world: World) -> None:
        cfg = world.config
        if cfg.access.scheme != "orthogonal":
            raise ConfigError("access.scheme", cfg.access.scheme, "orthogonal with an asynchronous federation (each device uses the full band)")
        if world.drones is not None:
            raise ConfigError("mobility.kind", cfg.mobility.kind, "static, random_waypoint or uav_swarm with an asynchronous federation")
        self.world = world
        self.config = cfg
        n = cfg.num_devices
        self.now_s = world.now_s
        self._events = 0  # events served from the queue plus in-step rate changes passed (events_processed)
        # Two heaps of (time, kind, seq, device, token), served merged in that order: the jobs'
        # events (ready, rate, finish: most of the traffic, on a heap of about the concurrency)
        # and the devices' switches (on, off, wake: one pending per device, token -1).
        self._queue: list[tuple[float, int, int, int, int]] = []
        self._switches: list[tuple[float, int, int, int, int]] = []
        self._seq = 0
        self._token = [0] * n  # bumped to cancel a device's pending job events (a list: read at every event)
        self.jobs: dict[int, Job] = {}  # device -> its job in progress
        self._dispatched = 0
        # Online and asleep flags as bytearrays read per event at Python speed, with numpy views
        # of the same memory for array reads (``online``, ``asleep``).
        self._asleep = bytearray(n)
        self.asleep = np.frombuffer(self._asleep, dtype=bool)
        self._step_s = cfg.mobility.step_s
        self._coherence_s = cfg.radio.coherence_s
        self._step_index = int(math.floor(self.now_s / self._step_s))
        self._step_fast_until_s = self._fast_until(self._step_index)
        self._large: np.ndarray | None = None
        # Gains and rates of every device for the current (step, block), computed at once: the
        # same elementwise numpy operations as one device at a time, so the same bits.
        self._link: tuple[int, np.ndarray, np.ndarray] | None = None  # (block, gain, uplink rate bps)
        self._links: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # block -> (gain, uplink rate) this step
        self._last_kind = ON
        self._compute: dict[tuple[int, int], tuple[list[float], list[float]]] = {}  # (iters, bits) -> (s, J) per device
        self._last_compute_key: tuple[int, int] = (-1, -1)  # the last key used and its costs
        self._last_compute: tuple[list[float], list[float]] = ([], [])
        self._free: bytearray | None = None  # online & awake & idle (0/1 per device), built on first use, then kept
        # The idle devices in pick order, and each one's place in it: O(1) additions (appended),
        # removals (the last one moves into the hole) and picks by position.
        self._idle: list[int] = []
        self._slot: list[int] = [0] * n
        self._periods_s = tuple(p for p in (self._coherence_s, self._step_s) if p is not None)
        radio = cfg.radio
        self._bandwidth_hz = radio.bandwidth_hz
        self._noise_w = float(noise_power_w(radio.bandwidth_hz, radio.noise_psd_with_figure_w_hz))  # checks the band once
        self._uplink_power_w = radio.tx_power_w
        # radio.rate_model nr/lte: uploads progress at the link abstraction's rate on air in each
        # coherence block (MCS, TBS, overhead, expected HARQ retransmissions), start after the
        # grant delay, and are lost to HARQ with the probability of their start block's SINR.
        self._rate_model = world.rate_model
        self._grant_delay_s = world.grant_delay_s
        self._full_band_prbs = world.full_band_prbs() if world.rate_model is not None else 0
        self._downlink_power_w = radio.downlink_power_w
        self._rx_power_w = cfg.devices.rx_power_w
        self._geometry: tuple | None = None  # (horizontal, vertical, pointing, positions, distance) this step
        self._fading: dict[int, np.ndarray] = {}
        self._finite_batteries = bool(np.isfinite(world.battery.capacity_j).any())
        # Rate changes inside a mobility step are applied when the upload is scheduled, not queued
        # (they touch nothing but the upload); batteries need the clock at each one to harvest.
        self._plan_ahead = self._coherence_s is not None and not self._finite_batteries
        self._harvested_until_s = self.now_s
        self._onoff: OnOffProcess | None = None
        av = cfg.availability
        self._online = bytearray(n)
        self.online = np.frombuffer(self._online, dtype=bool)
        if av.kind == "always":
            self.online[:] = True
        elif av.kind == "onoff":
            self._onoff = OnOffProcess(av, n, numpy_stream(world.seed, "availability"))
            online, first = self._onoff.initial()
            self.online[:] = online
            for device, starts_on, switch_s in zip(range(n), online.tolist(), first.tolist()):
                self._push(self.now_s + switch_s, OFF if starts_on else ON, device, -1)
        else:
            for device, spans in enumerate(read_trace(av.trace_path, n)):
                for start, end in spans:
                    if start <= self.now_s < end:
                        self.online[device] = True
                    elif start > self.now_s:
                        self._push(start, ON, device, -1)
                    if end > self.now_s:
                        self._push(end, OFF, device, -1)

    # -- the queue -----------------------------------------------------------------------------
    def _push(self, time_s: float, kind: int, device: int, token: int) -> None:
        self._seq += 1
        heapq.heappush(self._switches, (time_s, kind, self._seq, device, token))

    @property
    def pending_events(self) -> int:
        return len(self._queue) + len(self._switches)

    @property
    def dispatched(self) -> int:
        """Jobs dispatched so far."""
        return self._dispatched

    @property
    def busy(self) -> int:
        return len(self.jobs)

    def _free_mask(self) -> bytearray:
        """The idle-online mask and the pick-order list of it (built on first use, then kept)."""
        if self._free is None:
            busy = np.zeros(self.config.num_devices, dtype=bool)
            busy[list(self.jobs)] = True
            free = self.online & ~self.asleep & ~busy
            self._free = bytearray(free.tobytes())  # a bytearray: read and set per event at Python speed
            self._idle = free.nonzero()[0].tolist()
            for place, device in enumerate(self._idle):
                self._slot[device] = place
        return self._free

    def idle_online(self) -> np.ndarray:
        """Devices that are online, awake and not running a job, in index order."""
        return np.frombuffer(self._free_mask(), dtype=bool).nonzero()[0]

    @property
    def idle_count(self) -> int:
        """How many devices are online, awake and idle (len(idle_online()), kept as they change)."""
        if self._free is None:
            self._free_mask()
        return len(self._idle)

    def idle_device(self, k: int) -> int:
        """The k-th idle online device in pick order, O(1): a uniform k in [0, idle_count) picks a
        uniform idle device. The order is the same set as idle_online(), arranged by the history
        of additions and removals (deterministic per seed and dispatch sequence)."""
        if self._free is None:
            self._free_mask()
        if not 0 <= k < len(self._idle):
            raise IndexError(f"idle device {k} of {len(self._idle)}")
        return self._idle[k]

    def _set_free(self, device: int, now: int) -> None:
        """Keep the idle-online mask and pick list current: ``device`` is now idle and online
        (``now`` 1) or not (0); each caller knows which from the event, without numpy reads."""
        free = self._free
        if free is not None and now != free[device]:
            free[device] = now
            idle, slot = self._idle, self._slot
            if now:
                slot[device] = len(idle)
                idle.append(device)
            else:
                last = idle.pop()
                if last != device:  # the last one fills the hole
                    place = slot[device]
                    idle[place] = last
                    slot[last] = place

    # -- physics at a time ---------------------------------------------------------------------
    def _fast_until(self, step: int) -> float:
        """A time below which floor(t / step_s) is surely still ``step`` (a margin of 1e-9 relative
        under the boundary, far above rounding): events before it skip the floor division."""
        return (step + 1) * self._step_s * (1.0 - 1e-9)

    def _move_to(self, time_s: float) -> None:
        """Advance the clock: mobility steps passed, batteries harvested."""
        if time_s < self._step_fast_until_s and not self._finite_batteries:
            self.now_s = time_s  # same step, nothing to harvest
            return
        step = int(math.floor(time_s / self._step_s))
        if step > self._step_index:
            moves = self.config.mobility.kind != "static"
            if moves:
                for _ in range(step - self._step_index):
                    self.world.motion.step(self._step_s)
            if moves:
                self._geometry = None
            if moves or self.config.radio.shadowing_db > 0:
                self._large = self._link = None  # shadowing is redrawn per step, like per round
                self._links.clear()
            self._step_index = step
            self._step_fast_until_s = self._fast_until(step)
        if self._finite_batteries and time_s > self._harvested_until_s:
            self.world.battery.harvest(time_s - self._harvested_until_s)
            self._harvested_until_s = time_s
        self.now_s = time_s

    def _geom(self) -> tuple:
        """(horizontal, vertical, pointing, positions, distance) of every device this step."""
        if self._geometry is None:
            motion = self.world.motion
            horizontal, vertical, pointing = motion.geometry()
            positions = motion.positions_m().copy()
            positions.flags.writeable = False  # jobs closed this step hold views of it
            self._geometry = (horizontal, vertical, pointing, positions, np.hypot(horizontal, vertical))
        return self._geometry

    def _link_now(self) -> tuple[int, np.ndarray, np.ndarray]:
        """(block, gain, uplink rate) of every device in the current step and coherence block."""
        block = self._step_index if self._coherence_s is None else int(math.floor(self.now_s / self._coherence_s))
        link = self._link
        if link is not None and link[0] == block:
            return link
        self._link = link = (block, *self._block_link(block))
        return link

    def _block_link(self, block: int) -> tuple[np.ndarray, np.ndarray]:
        """(gain, uplink rate) of every device in coherence ``block`` of the current step, kept
        per block: an upload's in-step rate changes read blocks ahead of the clock."""
        link = self._links.get(block)
        if link is not None:
            return link
        if len(self._links) > 64:
            self._links.clear()
        if self._large is None:
            horizontal, vertical, pointing, _, _ = self._geom()
            self._large = self.world.channel.large_scale_gain(horizontal, vertical, self._step_index, pointing)
        fading = self._fading.get(block)
        if fading is None:
            if len(self._fading) > 64:
                self._fading.clear()
            fading = self._fading[block] = self.world.channel.fading(block, self.config.num_devices)
        gain = self._large * fading
        link = self._links[block] = (gain, self._uplink_rate_bps(gain))
        return link

    def _rate_bps(self, gain, power_w: float):
        """shannon_rate_bps(B, power_w, gain, N0) of every device's gain (an array) or of one (a
        float): the same operations in the same order (so the same bits), without its per-call
        checks (made once, in __init__). np.log1p for a float too: the array's function, unlike
        math.log1p."""
        return np.log1p(power_w * gain / self._noise_w) * self._bandwidth_hz / _LN2

    def _uplink_rate_bps(self, gain: np.ndarray) -> np.ndarray:
        """Every device's uplink rate at ``gain``: Shannon, or the payload bits per second on air
        of the rate model (its MCS's TBS over the expected HARQ transmissions per TB)."""
        if self._rate_model is None:
            return self._rate_bps(gain, self._uplink_power_w)
        n_prb = np.full(gain.shape, self._full_band_prbs)
        sinr, occupied_hz = self.world.link_abstraction_sinr(self._uplink_power_w * gain, n_prb)
        return self._rate_model.airtime_rate_bps(sinr, occupied_hz, n_prb=n_prb)

    def expected_rate_bps(self, devices: np.ndarray) -> np.ndarray:
        """The devices' uplink rates now at their large-scale gain (path loss, shadowing,
        antennas; no fast fading): what a server can know without per-block feedback."""
        self._link_now()  # the step's large-scale gains (drawing no fading but the block's own)
        return self._uplink_rate_bps(self._large[np.asarray(devices, dtype=np.int64)])

    def rate_bps(self, device: int) -> float:
        """The device's uplink rate now (full band, radio.tx_power_w)."""
        return self._link_now()[2].item(device)

    def _downlink_rate_bps(self, device: int) -> float:
        # One device's: each dispatch reads one downlink rate, not the block's 10^4.
        return float(self._rate_bps(self._link_now()[1].item(device), self._downlink_power_w))

    def _compute_cost(self, device: int, local_iters: int, train_bits: int) -> tuple[float, float]:
        """(seconds, joules) of a job's local training, from every device's cost at (I, n)."""
        if local_iters == self._last_compute_key[0] and train_bits == self._last_compute_key[1]:
            costs = self._last_compute  # the server dispatches at one (I, n) for long stretches
            return costs[0][device], costs[1][device]
        key = (int(local_iters), int(train_bits))
        costs = self._compute.get(key)
        if costs is None:
            n = self.config.num_devices
            seconds, joules = self.world.compute_cost(np.arange(n), np.full(n, key[0]), np.full(n, key[1]))
            costs = self._compute[key] = (seconds.tolist(), joules.tolist())  # Python floats: the same values, read faster
        self._last_compute_key, self._last_compute = key, costs
        return costs[0][device], costs[1][device]

    # -- jobs ----------------------------------------------------------------------------------
    def dispatch(self, device: int, *, local_iters: int, train_bits: int, uplink_bits: float, downlink_bits: float, version: int) -> Job:
        """Start ``device``'s job now: download the model (version ``version``), train, upload."""
        device = int(device)
        free = self._free
        if free is None:
            free = self._free_mask()
        if not free[device]:  # online & awake & idle, kept per event
            raise ValueError(f"device {device} is not idle and online at {self.now_s} s")
        download_s = 0.0
        if self._downlink_power_w is not None and downlink_bits > 0:
            download_s = float(downlink_bits / self._downlink_rate_bps(device))
        seconds, joules = self._compute_cost(device, local_iters, train_bits)
        self._dispatched += 1
        now = self.now_s
        ready_s = now + download_s + seconds + self._grant_delay_s  # its first transmission, once granted
        job = Job(
            self._dispatched, device, int(version), int(local_iters), int(train_bits), float(uplink_bits), now, download_s, seconds,
            self._rx_power_w * download_s, joules, ready_s,
        )
        self.jobs[device] = job
        self._set_free(device, 0)
        tokens = self._token
        token = tokens[device] = tokens[device] + 1
        if self._plan_ahead and ready_s < self._step_fast_until_s:
            # Ready in this step: its upload's start rate is known now, like an in-step rate change.
            job.ready_ahead = True
            block = int(math.floor(ready_s / self._coherence_s))
            self._open_upload(job, ready_s, *self._block_link(block))  # no battery to check: planning is for mains power
        else:
            self._seq += 1
            heapq.heappush(self._queue, (ready_s, READY, self._seq, device, token))
        return job

    def advance(self) -> Job | None:
        """Run events until a job completes (returned: delivered or dropped) or a device switches
        on or off or wakes (None). None too when no event is left (the events of lost jobs
        included): then ``pending_events`` is 0 and nothing will ever happen again."""
        queue, switches, tokens, jobs, pop = self._queue, self._switches, self._token, self.jobs, heapq.heappop  # locals: the hot path
        mains = not self._finite_batteries
        while True:
            if switches and (not queue or switches[0] < queue[0]):
                time_s, kind, _, device, token = pop(switches)
            elif queue:
                time_s, kind, _, device, token = pop(queue)
            else:
                return None  # the queue held only cancelled events: the world has run out
            if token >= 0 and token != tokens[device]:
                continue  # a cancelled job's event
            self._events += 1
            self._last_kind = kind
            if time_s < self._step_fast_until_s and mains:
                self.now_s = time_s  # same step, nothing to harvest (_move_to's fast path)
            else:
                self._move_to(time_s)
            if kind == FINISH:
                return self._arrive(jobs[device])
            if kind == RATE:
                job = jobs[device]
                self._events += len(job.ahead) + job.ready_ahead  # all before this step boundary
                job.ahead.clear()
                job.ready_ahead = False
                job.upload.change_rate(time_s, self._link_now()[2].item(device))
                self._schedule_upload(job, time_s)
            elif kind == READY:
                done = self._start_upload(jobs[device])
                if done is not None:
                    return done
            elif kind == WAKE:
                self._asleep[device] = 0
                self._set_free(device, self._online[device])  # asleep devices have no job
                return None
            else:
                return self._switch(device, kind == ON)

    def _switch(self, device: int, going_on: bool) -> Job | None:
        self._online[device] = going_on
        self._set_free(device, 1 if going_on and not self._asleep[device] and device not in self.jobs else 0)
        if self._onoff is not None:
            self._push(self._onoff.next_switch(self.now_s, going_on), OFF if going_on else ON, device, -1)
        if not going_on and device in self.jobs:
            return self._lose(self.jobs[device], "unavailable")
        return None

    def _start_upload(self, job: Job) -> Job | None:
        device = job.device
        if self._finite_batteries:
            before = job.energy_download_j + job.energy_compute_j
            if not self._can_pay(device, before):
                job.energy_compute_j = max(self._level(device) - job.energy_download_j, 0.0)
                return self._lose(job, "battery")
            self._drain(device, before)
        link = self._link
        if link is None or self._coherence_s is None or link[0] != int(math.floor(self.now_s / self._coherence_s)):
            link = self._link_now()  # not the cached block: the same check and refresh as _link_now
        self._open_upload(job, self.now_s, link[1], link[2])
        return None

    def _open_upload(self, job: Job, start_s: float, gain: np.ndarray, rate_bps: np.ndarray) -> None:
        """Start the upload at ``start_s`` (now, or later in this step when planned at dispatch)
        with its device's gain and rate in the block of ``start_s``, and schedule it."""
        device = job.device
        job.channel_gain = gain.item(device)
        if self._rate_model is not None:
            n_prb = np.array([self._full_band_prbs])
            sinr, occupied_hz = self.world.link_abstraction_sinr(self._uplink_power_w * gain[device:device + 1], n_prb)
            job.harq_loss_probability = float(self._rate_model.loss_probability(sinr, occupied_hz, [job.uplink_bits], n_prb=n_prb)[0])
        job.upload = InflightUpload(job.uplink_bits, rate_bps.item(device), start_s)
        self._schedule_upload(job, start_s)

    def _schedule_upload(self, job: Job, time_s: float) -> None:
        """Queue the upload's finish or its next rate change. Changes at coherence blocks inside the
        current mobility step are applied right away (the rate of a block ahead is known: this
        step's large-scale gain times the block's fading), each remembered with the state before
        it in ``job.ahead`` so a loss earlier than one can undo it; the step boundary is queued.
        The upload's state is kept in Python floats here with the same operations, in the same
        order, as InflightUpload.finish_s / change_rate and next_boundary_s (so the same bits)."""
        upload, device, periods = job.upload, job.device, self._periods_s
        remaining, rate, since, on_air = upload.remaining_bits, upload.rate_bps, upload.since_s, upload.on_air_s
        coherence, step_s = self._coherence_s, self._step_s
        plan, links = self._plan_ahead, self._links
        fast_until, step_index = self._step_fast_until_s, self._step_index
        ahead, segments, floor = job.ahead, upload.segments, math.floor
        while True:
            if remaining <= 0:
                finish = since
            else:
                finish = since + remaining / rate if rate > 0 else math.inf
            if coherence is not None:  # next_boundary_s(time_s, coherence, step_s), inlined
                change = (floor(time_s / coherence) + 1) * coherence
                if change <= time_s:
                    change += coherence
                other = (floor(time_s / step_s) + 1) * step_s
                if other <= time_s:
                    other += step_s
                if other < change:
                    change = other
            else:
                change = next_boundary_s(time_s, *periods)
            if finish <= change:
                kind, time_s = FINISH, finish
                break
            if not plan or (change >= fast_until and int(floor(change / step_s)) > step_index):  # below fast_until: this step
                kind, time_s = RATE, change  # _move_to steps the world there
                break
            ahead.append((change, remaining, rate, since, on_air))
            block = int(floor(change / coherence))
            link = links.get(block)
            if link is None:
                link = self._block_link(block)
            new_rate = link[1].item(device)
            elapsed = change - since  # InflightUpload.change_rate(change, new_rate)
            if 0.0 > elapsed:
                elapsed = 0.0
            remaining = remaining - rate * elapsed
            if 0.0 > remaining:
                remaining = 0.0
            on_air += elapsed
            since, rate = change, new_rate
            segments.append((change, new_rate))
            time_s = change
        upload.remaining_bits, upload.rate_bps, upload.since_s, upload.on_air_s = remaining, rate, since, on_air
        self._seq += 1
        heapq.heappush(self._queue, (time_s, kind, self._seq, device, self._token[device]))

    def _undo_ahead(self, job: Job) -> None:
        """Keep the planned rate changes up to now (a change at this instant is served before an
        'off'), undo the later ones, count the kept ones as events."""
        ahead, now = job.ahead, self.now_s
        kept = 0
        while kept < len(ahead) and ahead[kept][0] <= now:
            kept += 1
        if kept < len(ahead):
            upload = job.upload
            _, upload.remaining_bits, upload.rate_bps, upload.since_s, upload.on_air_s = ahead[kept]
            del upload.segments[len(upload.segments) - (len(ahead) - kept):]
        self._events += kept
        ahead.clear()

    @property
    def events_processed(self) -> int:
        """Device events so far: the queue's (availability switches, wake-ups, training done, step
        boundaries of uploads, arrivals) plus each in-step rate change an upload went through by
        now: the same count as queueing every change."""
        now, served_at_now = self.now_s, self._last_kind > RATE  # a change at now precedes a later kind
        pending = 0
        ready_at_now = self._last_kind > READY
        for job in self.jobs.values():
            if job.ready_ahead and (job.ready_s < now or (job.ready_s == now and ready_at_now)):
                pending += 1
            for change_s, *_ in job.ahead:
                if change_s < now or (change_s == now and served_at_now):
                    pending += 1
        return self._events + pending

    def _arrive(self, job: Job) -> Job:
        self._events += len(job.ahead) + job.ready_ahead  # all before the finish
        job.ahead.clear()
        job.ready_ahead = False
        upload, now = job.upload, self.now_s
        elapsed = now - upload.since_s  # upload.advance(now), inlined; its remaining bits are 0 on arrival
        if 0.0 > elapsed:
            elapsed = 0.0
        upload.on_air_s += elapsed
        upload.since_s = now
        upload.remaining_bits = 0.0
        energy = self._uplink_power_w * upload.on_air_s
        if self._finite_batteries:  # mains power always pays
            if not self._can_pay(job.device, energy):
                job.energy_uplink_j = self._level(job.device)
                return self._lose(job, "battery")
            self._drain(job.device, energy)
        job.energy_uplink_j = energy
        if job.harq_loss_probability > 0.0 and numpy_stream(self.world.seed, "harq", job.job).random() < job.harq_loss_probability:
            job.drop_reason = "harq_exhausted"  # sent in full and paid for, not decoded
            return self._close(job)
        job.delivered = True
        return self._close(job)

    def _lose(self, job: Job, reason: str) -> Job:
        if job.ready_ahead:  # only an 'off' loses a planned job (mains power)
            job.ready_ahead = False
            if self.now_s >= job.ready_s:  # its ready came first (at the same instant too: served before 'off')
                self._events += 1
            else:  # still training: the upload it was planned to start never began
                job.upload, job.channel_gain = None, math.nan
                job.ahead.clear()
        if job.upload is not None and reason == "unavailable":
            self._undo_ahead(job)
            job.upload.advance(self.now_s)
            job.energy_uplink_j = self.config.radio.tx_power_w * job.upload.on_air_s
            self._drain(job.device, job.energy_uplink_j)
        elif job.upload is None and reason == "unavailable":
            # Gone while downloading or training: it spent the share of the work it did.
            share = (self.now_s - job.dispatched_s) / max(job.ready_s - job.dispatched_s, 1e-300)
            job.energy_download_j *= min(share, 1.0)
            job.energy_compute_j *= min(share, 1.0)
            self._drain(job.device, job.energy_download_j + job.energy_compute_j)
        else:  # battery: it spent what it had
            self._drain(job.device, math.inf)
        job.drop_reason = reason
        return self._close(job)

    def _close(self, job: Job) -> Job:
        device, now = job.device, self.now_s
        job.finish_s = now
        geometry = self._geometry
        if geometry is None:
            geometry = self._geom()
        job.distance_m = geometry[4].item(device)
        job.position_m = geometry[3][device]  # a view: that step's positions are read-only
        del self.jobs[device]
        self._set_free(device, self._online[device])  # a busy device is awake
        self._token[device] += 1  # its pending events are void
        if self._finite_batteries:  # mains power never empties (battery_j stays inf)
            job.battery_j = self._level(device)
            if job.battery_j <= 0.0:
                self._sleep(device)
        return job

    def refused(self, device: int, *, local_iters: int, train_bits: int, version: int, reason: str) -> Job:
        """A job that never ran: ``device``'s ClientApp failed when it was dispatched (``reason``).
        It takes no time and no energy and leaves the device idle; its row says where the device
        is and what its battery holds now."""
        device, now = int(device), self.now_s
        job = Job(0, device, int(version), int(local_iters), int(train_bits), 0.0, now, 0.0, 0.0, 0.0, 0.0, now, finish_s=now, drop_reason=reason)
        geometry = self._geom()
        job.distance_m = geometry[4].item(device)
        job.position_m = geometry[3][device]
        job.battery_j = self._level(device)
        return job

    # -- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything events have changed, as plain values and numpy arrays: the World's state
        (batteries, motion and their generators), the clock, both heaps with their counters, the
        jobs in flight (uploads, planned rate changes), who is online, asleep and idle (in pick
        order), the on/off process's generator and the step's large-scale gains (kept: a static
        world computes them once). The rest are caches, rebuilt from these with the same bits."""
        return {
            "world": self.world.state_dict(),
            "now_s": self.now_s,
            "events": self._events,
            "last_kind": self._last_kind,
            "queue": list(self._queue),
            "switches": list(self._switches),
            "seq": self._seq,
            "token": list(self._token),
            "dispatched": self._dispatched,
            "online": np.array(self.online),
            "asleep": np.array(self.asleep),
            "idle": None if self._free is None else list(self._idle),
            "step_index": self._step_index,
            "harvested_until_s": self._harvested_until_s,
            "large": None if self._large is None else np.array(self._large),
            "jobs": [_job_state(job) for job in self.jobs.values()],
            "onoff": None if self._onoff is None else self._onoff.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a ``state_dict`` of an AsyncWorld built from the same config and seed."""
        self.world.load_state_dict(state["world"])
        self.now_s = state["now_s"]
        self._events, self._last_kind, self._seq, self._dispatched = state["events"], state["last_kind"], state["seq"], state["dispatched"]
        self._queue, self._switches = [tuple(e) for e in state["queue"]], [tuple(e) for e in state["switches"]]
        self._token = list(state["token"])
        self._online[:] = np.asarray(state["online"], dtype=bool).tobytes()  # in place: online and asleep are views
        self._asleep[:] = np.asarray(state["asleep"], dtype=bool).tobytes()
        self._free = None
        if state["idle"] is not None:
            self._idle = list(state["idle"])
            self._free = bytearray(self.config.num_devices)
            for place, device in enumerate(self._idle):
                self._free[device], self._slot[device] = 1, place
        self._step_index = state["step_index"]
        self._step_fast_until_s = self._fast_until(self._step_index)
        self._harvested_until_s = state["harvested_until_s"]
        self._large = None if state["large"] is None else np.array(state["large"])
        self._link, self._geometry = None, None
        self._links.clear()
        self.jobs = {}
        for saved in state["jobs"]:
            job = _job_of_state(saved)
            self.jobs[job.device] = job
        if self._onoff is not None:
            self._onoff.load_state_dict(state["onoff"])

    # -- batteries -----------------------------------------------------------------------------
    def _level(self, device: int) -> float:
        return float(self.world.battery.level_j[device]) if self._finite_batteries else math.inf

    def _can_pay(self, device: int, energy_j: float) -> bool:
        return self._level(device) >= energy_j

    def _drain(self, device: int, energy_j: float) -> None:
        if self._finite_batteries and energy_j > 0:
            self.world.battery.drain(np.array([min(energy_j, self._level(device))]), np.array([device]))

    def _sleep(self, device: int) -> None:
        battery = self.world.battery
        self._asleep[device] = 1
        self._set_free(device, 0)
        harvest = float(battery.harvest_w[device])
        if harvest > 0:  # recharged to wake_fraction of capacity by harvesting alone
            target = self.config.availability.wake_fraction * float(battery.capacity_j[device])
            self._push(self.now_s + (target - float(battery.level_j[device])) / harvest, WAKE, device, -1)


def _job_state(job: Job) -> dict[str, Any]:
    """A job in flight as plain values (its upload as its five fields, segments included)."""
    state = {f.name: getattr(job, f.name) for f in fields(Job) if f.name not in ("upload", "position_m")}
    upload = job.upload
    state["ahead"] = list(job.ahead)
    state["upload"] = None if upload is None else [upload.remaining_bits, upload.rate_bps, upload.since_s, upload.on_air_s, list(upload.segments)]
    return state


def _job_of_state(state: dict[str, Any]) -> Job:
    values = dict(state)
    upload = values.pop("upload")
    values["ahead"] = [tuple(change) for change in values["ahead"]]
    job = Job(**values)
    if upload is not None:
        remaining, rate, since, on_air, segments = upload
        job.upload = InflightUpload(remaining, rate, since, on_air)
        job.upload.segments[:] = [tuple(segment) for segment in segments]  # not the one __post_init__ adds
    return job
